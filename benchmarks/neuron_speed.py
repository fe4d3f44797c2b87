"""Neuron forward+backward speed and peak memory: snnfer vs spikingjelly, snnTorch, Norse.

Shape [T=16, B=8, C=64, H=28, W=28] float32, 2 threads (``--threads``), median of N runs
after a warm-up. Every row runs in fresh subprocesses (one timed, one for memory). Peak
memory is the growth of the process's resident-set high-water mark (VmHWM, reset after two
warm-up runs) over the resident size before the timed runs, with the input and upstream
gradient already allocated; in the memory run glibc returns freed large blocks to the
OS (``MALLOC_MMAP_THRESHOLD_``), so the figure measures live memory rather than heap
fragmentation, the same way for every row. ``--quick`` (smoke test) uses a
[8, 4, 32, 28, 28] input, 3 repeats, 1 thread and one subprocess per row (memory then from
the timing run, default allocator). Usage::

    python benchmarks/neuron_speed.py [--repeats 7] [--threads 2] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnfer.atomic import atomic_write_text

SHAPE = (16, 8, 64, 28, 28)
QUICK_SHAPE = (8, 4, 32, 28, 28)

ROWS = {
    "snnfer LIFNode": "snnfer_lif",
    "snnfer SSN (stateless)": "snnfer_ssn",
    "snnfer SSN (stateful, decay 0.5)": "snnfer_ssn_stateful",
    "spikingjelly LIFNode (step_mode='m')": "sj_lif",
    "snnTorch Leaky (looped over T)": "snntorch_leaky",
    "Norse LIFBoxCell (looped over T)": "norse_lifbox",
}


def _build(kind: str):
    """Return ``run(x) -> y`` (multi-step) and a reset function."""
    import torch

    if kind.startswith("snnfer"):
        from snnfer.neuron import LIFNode, SoftSpikingNeuron, reset

        mod = {
            "snnfer_lif": lambda: LIFNode(tau=2.0),
            "snnfer_ssn": lambda: SoftSpikingNeuron(threshold=0.5),
            "snnfer_ssn_stateful": lambda: SoftSpikingNeuron(threshold=0.5, decay=0.5),
        }[kind]()
        return mod, lambda: reset(mod)
    if kind == "sj_lif":
        from spikingjelly.activation_based import functional, neuron

        mod = neuron.LIFNode(tau=2.0, step_mode="m")
        return mod, lambda: functional.reset_net(mod)
    if kind == "snntorch_leaky":
        import snntorch

        cell = snntorch.Leaky(beta=0.5)

        def run(x):
            mem = None
            out = []
            for xt in x:
                spk, mem = cell(xt, mem) if mem is not None else cell(xt)
                out.append(spk)
            return torch.stack(out)

        return run, lambda: cell.reset_mem()
    if kind == "norse_lifbox":
        import norse.torch as nt

        cell = nt.LIFBoxCell()

        def run(x):
            s = None
            out = []
            for xt in x:
                z, s = cell(xt, s)
                out.append(z)
            return torch.stack(out)

        return run, lambda: None
    raise SystemExit(f"unknown row {kind}")


def measure(kind: str, repeats: int, shape: tuple[int, ...] = SHAPE, threads: int = 2) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = (torch.randn(shape) * 0.8 + 0.6).requires_grad_(True)
    g = torch.randn(shape)
    run, reset = _build(kind)
    times = []
    for i in range(repeats + 2):  # two warm-up runs, not timed
        reset()
        x.grad = None
        if i == 2:
            # Peak memory of the timed runs only: reset the kernel's high-water mark
            # (VmHWM) after the warm-up, so one-time allocations (autograd engine,
            # kernels) are in the baseline for every row alike.
            Path("/proc/self/clear_refs").write_text("5")
            base = _status_kb("VmRSS")
        t0 = time.perf_counter()
        y = run(x)
        y.backward(g)
        dt = time.perf_counter() - t0
        if i >= 2:
            times.append(dt)
        del y
    peak = _status_kb("VmHWM")
    return {"median_ms": statistics.median(times) * 1e3, "peak_mb": (peak - base) / 1024}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=None, help="timed runs (default 7; quick 3)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 2; quick 1)")
    ap.add_argument("--quick", action="store_true", help="smoke test: small input, one run/row")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    ap.add_argument("--row", help=argparse.SUPPRESS)
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    shape = QUICK_SHAPE if args.quick else SHAPE
    threads = args.threads or (1 if args.quick else 2)
    if args.row:
        print(json.dumps(measure(args.row, repeats, shape, threads)))
        return
    # Memory runs use one allocator policy for every row: glibc serves large blocks with
    # mmap and returns them on free, so peak RSS tracks what is live at once rather than
    # heap fragmentation. Timing runs use the default allocator.
    mem_env = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    runs = (("both", {}),) if args.quick else (("time", {}), ("memory", mem_env))
    results = {}
    for label, kind in ROWS.items():
        row = {}
        for what, extra_env in runs:
            cmd = [sys.executable, __file__, "--row", kind, "--repeats", str(repeats),
                   "--threads", str(threads)]
            proc = subprocess.run(cmd + ["--quick"] * args.quick, capture_output=True,
                                  text=True, env={**os.environ, **extra_env})
            if proc.returncode != 0:
                row = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
                break
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if what in ("time", "both"):
                row["median_ms"] = r["median_ms"]
            if what in ("memory", "both"):
                row["peak_mb"] = r["peak_mb"]
        results[label] = row
    ref = results.get("spikingjelly LIFNode (step_mode='m')", {})
    print(f"Neuron forward+backward, input {list(shape)} float32, {threads} thread(s), "
          f"median of {repeats}" + (" (quick: memory from the timing run)" if args.quick else ""))
    print()
    print("| neuron | median ms | time vs spikingjelly | peak RSS growth MB "
          "| memory vs spikingjelly |")
    print("|---|---:|---:|---:|---:|")
    for label, r in results.items():
        if "error" in r:
            print(f"| {label} | error: {r['error']} | | | |")
            continue
        tr = r["median_ms"] / ref["median_ms"] if ref.get("median_ms") else float("nan")
        # a reference growth below 1 MB (allocator noise in --quick) gives no usable ratio
        mr = r["peak_mb"] / ref["peak_mb"] if ref.get("peak_mb", 0) >= 1 else float("nan")
        print(f"| {label} | {r['median_ms']:.1f} | {tr:.2f}x | {r['peak_mb']:.0f} | {mr:.2f}x |")
    if args.json:
        atomic_write_text(args.json, json.dumps({"shape": shape, "repeats": repeats,
                                                 "threads": threads,
                                                 "quick": args.quick, "rows": results}, indent=2))


if __name__ == "__main__":
    main()
