"""CS3D vs C3D: complexity, estimated energy and CPU latency of the Table IV variants.

All five ablation rows of the CS3D paper's Table IV (``c3d``, ``c3d_ssn``,
``c3d_factorized``, ``c3d_attention``, ``cs3d``) at the paper's input 3 x 16 x 112 x 112:
params, thop GMACs beside the paper's figures (C3D 21.29 G, C3D + factorized 4.26 G,
CS3D 4.68 G), the soft-spike-aware estimated energy (Horowitz 45 nm fp32) and the
CS3D/C3D ratios -- GMACs (the paper's "CS3D needs 21.97% of C3D's energy" is
4.68 / 21.29), estimated energy, and median latency at batch 4 on this CPU, measured in the
same run. Estimated energy depends on the network's activity: the weights used are stated
in the output (seeded random initialisation with BatchNorm statistics calibrated on the
example input unless checkpoints are given). Usage::

    python benchmarks/energy_cs3d_vs_c3d.py [--runs 3] [--latency-batch 4] [--json out.json]
        [--weights cs3d=ckpt.pt ...] [--no-calibrate-bn] [--input-kind events] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from snnfer.atomic import atomic_write_text
from snnfer.energy.compare import PAPER_ENERGY_RATIO, PAPER_GMACS, compare_models

VARIANTS = ("c3d", "c3d_ssn", "c3d_factorized", "c3d_attention", "cs3d")
PAPER_INPUT = (16, 3, 112, 112)  # (T, C, H, W) = the paper's 3 x 16 x 112 x 112


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed latency runs (median)")
    parser.add_argument("--latency-batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--input-kind", default="uniform", choices=("uniform", "events"))
    parser.add_argument("--tech", default="45nm-fp32")
    parser.add_argument("--no-calibrate-bn", action="store_true")
    parser.add_argument("--weights", nargs="*", default=[], help="name=checkpoint.pt")
    parser.add_argument("--json", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: one latency run at batch 1 (counts are unchanged)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.latency_batch = 1, 1
    torch.set_num_threads(args.threads)
    weights = dict(item.split("=", 1) for item in args.weights)

    start = time.perf_counter()
    comparison = compare_models(
        VARIANTS, PAPER_INPUT, preset="paper", tech=args.tech, latency_batch=args.latency_batch,
        latency_runs=args.runs, weights=weights, calibrate_bn=not args.no_calibrate_bn,
        input_kind=args.input_kind, seed=args.seed)
    elapsed = time.perf_counter() - start

    print("## Table IV variants at 3 x 16 x 112 x 112\n")
    print(comparison.to_markdown())
    c3d, cs3d = comparison.row("c3d"), comparison.row("cs3d")
    fact = comparison.row("c3d_factorized")
    print("\n## CS3D vs C3D\n")
    print("| quantity | snnfer | paper |\n|---|---:|---:|")
    for name, row in (("C3D", c3d), ("C3D + factorized", fact), ("CS3D", cs3d)):
        print(f"| GMACs (thop), {name} | {row.gmacs:.3f} | {PAPER_GMACS[row.name]:.2f} |")
    print(f"| CS3D / C3D GMACs (the paper's energy ratio) | {_pct(cs3d.gmacs / c3d.gmacs)} "
          f"| {_pct(PAPER_ENERGY_RATIO)} |")
    print(f"| CS3D / C3D estimated energy, dense MACs | "
          f"{_pct(cs3d.dense_estimated_mj / c3d.dense_estimated_mj)} | - |")
    print(f"| CS3D / C3D estimated energy, zero-skipping (soft-spike aware) | "
          f"{_pct(cs3d.estimated_mj / c3d.estimated_mj)} | - |")
    print(f"| CS3D / C3D median latency, batch {args.latency_batch}, this CPU | "
          f"{_pct(cs3d.latency_ms / c3d.latency_ms)} | - |")
    print(f"command: python benchmarks/energy_cs3d_vs_c3d.py "
          f"{' '.join(sys.argv[1:] if argv is None else argv)} ({elapsed:.0f} s)")
    if args.json:
        atomic_write_text(args.json, json.dumps(comparison.to_dict(layers=True), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
