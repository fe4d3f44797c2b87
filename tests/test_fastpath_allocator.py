"""``snnfer.fastpath.allocator``: glibc keeps freed memory, so large tensors stop faulting.

Each case runs in a subprocess (the setting is process-wide) and counts the minor page
faults of allocating, filling and freeing a 64 MB tensor: with glibc's defaults every
round faults every page in again; with :func:`keep_freed_memory` the heap is reused.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux"
                                or platform.libc_ver()[0] != "glibc", reason="glibc only")

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, resource, sys, torch
from snnfer.fastpath import allocator
torch.set_num_threads(1)
steps = sys.argv[1].split(",")
pages = (64 << 20) // 4096
out = {"applied": [], "kept": [], "faults": [], "released": []}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for s in steps:
    if s in ("keep", "unkeep"):
        out["applied"].append(allocator.keep_freed_memory(s == "keep"))
        out["kept"].append(allocator.freed_memory_kept())
    elif s == "release":
        out["released"].append(allocator.release_freed_memory())
    else:  # "round": allocate, fill, free 64 MB
        f0 = faults()
        t = torch.empty(pages * 1024)
        t.fill_(1.0)
        del t
        out["faults"].append((faults() - f0) / pages)
print(json.dumps(out))

"""


def _run(steps: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, ",".join(steps)], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout)


def test_default_glibc_faults_every_round_in_again():
    out = _run(["round"] * 5)
    assert all(f > 0.9 for f in out["faults"]), out  # each round: ~one fault per 4 kB page


def test_kept_memory_is_reused_without_faults():
    out = _run(["keep"] + ["round"] * 24 + ["release", "unkeep"])
    assert out["applied"] == [True, True] and out["kept"] == [True, False]
    # the heap grows over the first rounds (up to 8 of them in 40 runs: a freed block is a
    # few bytes short of the next aligned request until two neighbours merge), then
    # serves every round
    assert out["faults"][0] > 0.9
    assert all(f < 0.01 for f in out["faults"][16:]), [round(f, 2) for f in out["faults"]]
    assert out["released"] == [True]  # the trim returned the free heap to the kernel
