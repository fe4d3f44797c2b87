"""C3D and CS3D on this CPU with glibc's default allocator vs ``keep_freed_memory()``.

glibc returns every freed block above its mmap threshold to the kernel, so each large
activation of a step is page-faulted in again when it is next allocated.
:func:`snnfer.fastpath.allocator.keep_freed_memory` (what ``snnfer train`` turns on)
makes glibc reuse freed memory instead. This script measures what that changes for both
models alike: fast path, input 3 x 16 x 112 x 112, fp32, ``--threads`` (default 2).

Every (model, batch, allocator) runs in a fresh subprocess: one warm-up training step
with the default allocator (gradients and optimizer state exist from then on), then the
setting under test, ``--warmup`` more steps, ``--repeats`` timed training steps
(forward + cross-entropy + backward + SGD with momentum) and ``--repeats`` timed
inferences (median of each). Peak memory = growth of the resident set's high-water mark
over the resident set after the first step, so it includes what the kept heap retains.
Usage::

    python benchmarks/allocator_effect.py [--batches 1 4] [--repeats 5] [--threads 2]
        [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks.cs3d_speed import _build, _clip, _status_bytes, _timed, _train_step
from snnfer.atomic import atomic_write_text
from snnfer.fastpath.allocator import keep_freed_memory

MODELS = ("c3d", "cs3d")
ALLOCATORS = ("default", "kept")


def _median_seconds(fn, n: int) -> float:
    return statistics.median(_timed(fn) for _ in range(n))


def child(name: str, batch: int, allocator: str, threads: int, warmup: int,
          repeats: int) -> dict[str, float]:
    """Train-step and inference medians (s) and peak memory growth (bytes) of one model."""
    torch.set_num_threads(threads)
    model = _build(name).set_execution("fast")
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    x, y = _clip(batch), torch.zeros(batch, dtype=torch.long)

    def step() -> None:
        _train_step(model.train(), opt, x, y)

    def infer() -> None:
        with torch.no_grad():
            model.eval()(x)

    step()
    if allocator == "kept" and not keep_freed_memory():
        raise RuntimeError("keep_freed_memory() needs glibc")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (VmHWM)
    before = _status_bytes("VmRSS")
    for _ in range(warmup):
        step()
    train_s = _median_seconds(step, repeats)
    infer()
    infer_s = _median_seconds(infer, repeats)
    return {"train_s": train_s, "infer_s": infer_s,
            "peak_bytes": _status_bytes("VmHWM") - before}


def run_child(name: str, batch: int, allocator: str, args) -> dict[str, float] | None:
    cmd = [sys.executable, __file__, "--child", name, str(batch), allocator,
           "--threads", str(args.threads), "--warmup", str(args.warmup),
           "--repeats", str(args.repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{name} batch {batch} {allocator} failed:\n{proc.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:.0f}"


def _mb(r: dict | None) -> str:
    return "-" if r is None else f"{r['peak_bytes'] / 1e6:.0f}"


def _x(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def table(res: dict, batches: list[int]) -> str:
    lines = ["| batch | model | train step default (ms) | kept (ms) | speed-up | inference "
             "default (ms) | kept (ms) | speed-up | peak default (MB) | peak kept (MB) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in batches:
        for name in MODELS:
            d, k = res.get((b, name, "default")), res.get((b, name, "kept"))
            g = lambda r, key: None if r is None else r[key]  # noqa: E731
            lines.append(
                f"| {b} | {name} | {_ms(g(d, 'train_s'))} | {_ms(g(k, 'train_s'))} | "
                f"{_x(g(d, 'train_s'), g(k, 'train_s'))} | {_ms(g(d, 'infer_s'))} | "
                f"{_ms(g(k, 'infer_s'))} | {_x(g(d, 'infer_s'), g(k, 'infer_s'))} | "
                f"{_mb(d)} | {_mb(k)} |")
    return "\n".join(lines)


def ratios(res: dict, batches: list[int]) -> str:
    out = []
    for b in batches:
        for key, label in (("train_s", "training step"), ("infer_s", "inference")):
            parts = []
            for alloc in ALLOCATORS:
                c3d, cs3d = res.get((b, "c3d", alloc)), res.get((b, "cs3d", alloc))
                ok = c3d is not None and cs3d is not None
                parts.append(f"{alloc} {cs3d[key] / c3d[key]:.2f}x" if ok else f"{alloc} -")
            out.append(f"- batch {b}, CS3D / C3D {label}: " + ", ".join(parts))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write all numbers as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: batch 1, one timed run (~30 s)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, batch, allocator = args.child
        print(json.dumps(child(name, int(batch), allocator, args.threads, args.warmup,
                               args.repeats)))
        return 0
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        print("needs Linux (/proc) and glibc", file=sys.stderr)
        return 1
    if args.quick:
        args.batches, args.repeats, args.warmup = [1], 1, 0
    load0, start = os.getloadavg(), time.perf_counter()
    res = {}
    for b in args.batches:
        for name in MODELS:
            for alloc in ALLOCATORS:  # alternating, so machine load affects both alike
                res[(b, name, alloc)] = run_child(name, b, alloc, args)
    load1 = os.getloadavg()
    print(f"# Allocator: glibc default vs keep_freed_memory() ({args.threads} threads, fp32, "
          f"input 3x16x112x112, fast path, median of {args.repeats})\n")
    print(table(res, args.batches))
    print()
    print(ratios(res, args.batches))
    print(f"\nload average before/after: {load0[0]:.2f} / {load1[0]:.2f} ({os.cpu_count()} "
          f"CPUs); {time.perf_counter() - start:.0f} s")
    if args.json:
        atomic_write_text(args.json, json.dumps(
            {f"{b}:{n}:{a}": v for (b, n, a), v in res.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
