"""Every registered snnfer model: size, thop MACs, and small-preset training-step speed.

For each model: parameters and thop MACs at its paper input (CS3D family and the sequence
baselines 3 x 16 x 112 x 112, Spiking-FER 2 x 6 x 128 x 128), parameters and MACs of the
``preset="small"`` build at its own input, and the median wall time of one forward and
one forward+backward pass of the small build at batch ``--batch`` (binary event clips
with 20 % ones), with the ratio to C3D measured in the same run. The paper's figures
are printed beside snnfer's. Usage::

    python benchmarks/model_zoo.py [--batch 16] [--repeats 5] [--threads 2] [--json out.json]
    python benchmarks/model_zoo.py --quick     # smoke test: batch 4, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import thop
import torch

from snnfer.atomic import atomic_path
from snnfer.models import create_model

MODELS = ("c3d", "c3d_ssn", "c3d_factorized", "c3d_attention", "cs3d",
          "rnn", "lstm", "transformer", "spiking_fer")
PAPER_GMACS = {"c3d": "21.29", "c3d_factorized": "4.26", "cs3d": "4.68"}


def _macs(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    macs, _ = thop.profile(model, (torch.zeros(1, *shape),), verbose=False)
    return macs


def _median_s(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(name: str, batch: int, repeats: int) -> dict[str, float | str]:
    paper = create_model(name, 7, 3 if name != "spiking_fer" else 2)
    small = create_model(name, 7, 2, preset="small")
    x = (torch.rand(batch, *small.default_input_shape) < 0.2).float()

    def forward() -> None:
        with torch.no_grad():
            small(x)

    def train_step() -> None:
        small.zero_grad(set_to_none=True)
        small(x).sum().backward()

    return {
        "model": name,
        "paper_input": "x".join(map(str, paper.default_input_shape[1:2]
                                    + paper.default_input_shape[:1]
                                    + paper.default_input_shape[2:])),
        "params_m": sum(p.numel() for p in paper.parameters()) / 1e6,
        "gmacs": _macs(paper, paper.default_input_shape) / 1e9,
        "paper_gmacs": PAPER_GMACS.get(name, "-"),
        "small_params_m": sum(p.numel() for p in small.parameters()) / 1e6,
        "small_mmacs": _macs(small, small.default_input_shape) / 1e6,
        "forward_ms": 1e3 * _median_s(forward, repeats),
        "train_step_ms": 1e3 * _median_s(train_step, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="default 16 (quick: 4)")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 4, 1 repeat")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.batch = args.batch or (4 if args.quick else 16)
    args.repeats = args.repeats or (1 if args.quick else 5)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = [measure(name, args.batch, args.repeats) for name in args.models]
    ref = next((r for r in rows if r["model"] == "c3d"), rows[0])
    print(f"torch {torch.__version__}, {args.threads} threads, small preset at batch "
          f"{args.batch}, median of {args.repeats}; ratios vs {ref['model']}\n")
    print("| model | paper input | params (M) | GMACs (thop) | paper GMACs | small params (M) "
          "| small MMACs | small fwd (ms) | small fwd+bwd (ms) | fwd+bwd / c3d |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['paper_input']} | {r['params_m']:.2f} | {r['gmacs']:.3f} | "
              f"{r['paper_gmacs']} | {r['small_params_m']:.3f} | {r['small_mmacs']:.1f} | "
              f"{r['forward_ms']:.0f} | {r['train_step_ms']:.0f} | "
              f"{r['train_step_ms'] / ref['train_step_ms']:.2f} |")
    if args.json:
        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
