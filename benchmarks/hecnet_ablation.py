"""HEC-Net on synthetic SEE: the paper's Table 2 ablation and a lighting table (Table 1 layout).

Trains every row of HEC-Net's Table 2 (``snnfer.models.TABLE2_ROWS``) and the issue's
model set -- ``hecnet``, ``hecnet_snn`` (``spiking="event"`` and ``"all"``),
``hecnet_event``, ``hecnet_rgb``, ``seen`` -- at their ``small`` presets with snnfer's
trainer (``small`` training preset: AdamW/SGD as in the papers, one warm-up epoch, cosine
decay) on :class:`~snnfer.data.SyntheticSEE`, over several seeds, and prints markdown:

1. Table 2: WAR / UAR (mean ± sd over seeds) next to the paper's figures;
2. the lighting table: WAR, UAR, accuracy per lighting condition (normal / overexposure /
   low light / HDR), "low - normal", params, GMACs and estimated energy per model;
3. the same models in the full layout of Table 1 (accuracy per emotion too).

Protocol: ``SyntheticSEE(num_subjects, clips_per_class=4)`` (every subject records every
emotion under all four lighting conditions), subject-independent split -- the last
``--test-subjects`` subjects are the test set -- the dataset seed and the training seed
both equal to the run's seed, no validation split (the best epoch is chosen on the
training UAR, so the test set never selects anything). Clips are sampled at each model's
own T and size (HEC-Net small: 8 x 64 x 64; SEEN small: 4 x 48 x 48).

Cost: params; GMACs = dense multiply-accumulates per clip counted by ``snnfer.energy``
(convolutions, linear layers, norms and the attention matmuls); estimated energy =
``estimate_energy`` on the *trained* weights over ``--energy-clips`` test clips
(45 nm, zero-skipping: binary spikes -> ACs, SSN soft spikes and ReLU zeros -> MACs x
non-zero rate), per clip.

Resumable: each (row, seed) run lives in ``OUT/<row>/seed<k>/``; finished runs are reused,
an interrupted one is resumed from its last checkpoint. ``--quick`` is a smoke run (tiny
widths, 16x16 clips, 2 subjects, 1 epoch, seed 0) used by the tests.

    python benchmarks/hecnet_ablation.py                       # full run (see the notes)
    python benchmarks/hecnet_ablation.py --quick --out /tmp/quick
    python benchmarks/hecnet_ablation.py --seeds 0,1,2 --epochs 12 --out runs/ablation
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnfer.atomic import atomic_write_text
from snnfer.data.synthetic import SyntheticSEE
from snnfer.errors import ArgumentError
from snnfer.models import TABLE2_ROWS
from snnfer.train import list_datasets, preset_config, register_dataset, run_training
from snnfer.train.see_tables import table1_markdown, table1_values

#: HEC-Net Table 2 (hec-net.txt §4.3): WAR, UAR (%) on SEE
PAPER_TABLE2 = {
    "RGB Stream Only (ResNet-18)": (83.5, 84.2),
    "Event Stream Only (ResNet-18)": (84.8, 85.6),
    "w/o STFE on RGB (Standard ResNet)": (88.5, 89.6),
    "w/o STFE on Event (Standard ResNet)": (87.1, 88.2),
    "One-way Interaction (from rgb to event)": (89.8, 90.6),
    "One-way Interaction (from event to rgb)": (89.4, 90.1),
    "w/o TPA (Single Temporal Scale)": (90.2, 90.8),
    "w/o Trilinear Interpolation": (90.5, 91.1),
    "HEC-Net (Ours)": (91.5, 92.3),
}
#: the lighting table's models: (label, registry name, kwargs)
LIGHTING_MODELS = (
    ("hecnet", "hecnet", {}),
    ("hecnet_snn (spiking=event)", "hecnet_snn", {"spiking": "event"}),
    ("hecnet_snn (spiking=all)", "hecnet_snn", {"spiking": "all"}),
    ("hecnet_event", "hecnet_event", {}),
    ("hecnet_rgb", "hecnet_rgb", {}),
    ("seen", "seen", {}),
)
QUICK_HEC = {"widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "out_stride": 8,
             "window_size": 2, "num_heads": 2, "mlp_ratio": 1.0, "head_hidden": 16,
             "image_size": 16, "num_frames": 4}
QUICK_SEEN = {"image_size": 16, "widths": [8, 16, 16], "fc_hidden": 16}
DATASET = "synthetic_see_subject_split"


def synthetic_see_subject_split(num_subjects: int = 10, clips_per_class: int = 4,
                                test_subjects: int = 2, size: int = 64, frames: int = 8,
                                channels: int = 3, seed: int = 0,
                                cache_dir: str | None = None) -> SyntheticSEE:
    """SyntheticSEE whose last ``test_subjects`` subjects form the test subset (the
    trainer's holdout protocol reads ``extra["subset"]``)."""
    data = SyntheticSEE(num_subjects=num_subjects, clips_per_class=clips_per_class, size=size,
                        frames=frames, channels=channels, seed=seed, cache_dir=cache_dir)
    held_out = {f"s{i:02d}" for i in range(num_subjects - test_subjects, num_subjects)}
    for s in data.samples:
        s.extra["subset"] = "test" if s.subject in held_out else "train"
    return data


@dataclass(frozen=True)
class Config:
    """One trained configuration: a row key, its label, registry name and kwargs."""

    key: str
    label: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def configs() -> tuple[list[Config], dict[str, str], dict[str, str]]:
    """Unique configurations plus the Table 2 and lighting rows (label -> config key)."""
    unique: dict[str, Config] = {}
    table2, lighting = {}, {}

    def add(label: str, model: str, kw: dict[str, Any]) -> str:
        key = model + "".join(f"-{k}={v}" for k, v in sorted(kw.items()))
        unique.setdefault(key, Config(key, label, model, dict(kw)))
        return key

    for label, model, kw in TABLE2_ROWS:
        table2[label] = add(label, model, kw)
    for label, model, kw in LIGHTING_MODELS:
        lighting[label] = add(label, model, kw)
    return list(unique.values()), table2, lighting


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a finished run's numbers depend on besides its configuration and seed."""
    return {"quick": bool(args.quick), "epochs": args.epochs, "subjects": args.subjects,
            "test_subjects": args.test_subjects, "batch_size": args.batch_size,
            "energy_clips": args.energy_clips}


def run_config(c: Config, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train + test one configuration (reusing a finished run made with the same settings;
    results written before settings were recorded are reused as they are) and price it."""
    run_dir = Path(args.out) / c.key / f"seed{seed}"
    settings = run_settings(args)
    if (run_dir / "result.json").is_file():
        done = json.loads((run_dir / "result.json").read_text())
        if done.get("settings", settings) != settings:
            raise ArgumentError(f"{run_dir} holds a run finished with {done['settings']}, this "
                                f"run asks for {settings}; pass another --out")
        return done
    kwargs = dict(c.kwargs)
    if args.quick:
        kwargs.update(QUICK_SEEN if c.model == "seen" else QUICK_HEC)
    options = {"num_subjects": args.subjects, "clips_per_class": 4,
               "test_subjects": args.test_subjects, "seed": seed,
               "cache_dir": str(Path(args.out) / "cache")}
    cfg = preset_config("small", c.model).updated({
        "model": {"kwargs": kwargs},
        "data": {"dataset": DATASET, "options": options, "protocol": "holdout",
                 "val_fraction": 0.0, "batch_size": args.batch_size},
        "train": {"epochs": args.epochs, "seed": seed, "progress": False,
                  "tensorboard": False}})
    start = time.perf_counter()
    resume = (run_dir / "config.yaml").is_file()
    summary = run_training(cfg, run_dir, resume=resume).summary
    result = {"test": summary["test"], "params": summary["cost"]["params"],
              "gmacs": summary["cost"]["gmacs"], "train_s": time.perf_counter() - start,
              **clip_energy(run_dir, args.energy_clips), "settings": settings}
    atomic_write_text(run_dir / "result.json", json.dumps(result, indent=2))
    return result


@torch.no_grad()
def clip_energy(run_dir: Path, clips: int) -> dict[str, float]:
    """Estimated energy (mJ per clip) of the trained model over the first test clips:
    zero-skipping (soft-spike aware) and dense (every MAC priced, as on a GPU)."""
    from snnfer.energy import count_ops, price
    from snnfer.train import evaluate_checkpoint
    from snnfer.train.data import collate
    from snnfer.train.evaluate import load_trained_model

    model, _, _, _ = load_trained_model(run_dir, "cpu")
    test = evaluate_checkpoint(run_dir, progress=False).dataset
    x, _ = collate([test[i] for i in range(min(clips, len(test)))])
    ops = count_ops(model, x)
    return {"energy_mj": price(ops, zero_skipping=True).per_sample_mj,
            "dense_energy_mj": price(ops, zero_skipping=False).per_sample_mj}


def _mean_sd(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    import statistics

    vals = [scale * v for v in values if v is not None]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.fmean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def table2_markdown(table2: dict[str, str], results: dict[str, list[dict]]) -> str:
    lines = ["| variant (Table 2) | snnfer model | WAR (%) | UAR (%) | paper WAR | paper UAR |",
             "|---|---|---:|---:|---:|---:|"]
    for label, key in table2.items():
        runs = results[key]
        war = _mean_sd([r["test"]["accuracy"] for r in runs], 100)
        uar = _mean_sd([r["test"]["uar"] for r in runs], 100)
        pw, pu = PAPER_TABLE2[label]
        lines.append(f"| {label} | `{key}` | {war} | {uar} | {pw} | {pu} |")
    return "\n".join(lines)


def lighting_markdown(lighting: dict[str, str], results: dict[str, list[dict]]) -> str:
    conds = ["Normal", "Overexposure", "Low-light", "HDR"]
    lines = ["| model | WAR (%) | UAR (%) | " + " | ".join(conds) +
             " | low - normal | params (M) | GMACs | est. energy (mJ/clip) | dense est. (mJ) |",
             "|---|" + "---:|" * (len(conds) + 7)]
    for label, key in lighting.items():
        runs = results[key]
        vals = [table1_values(r["test"]) for r in runs]
        cells = [_mean_sd([v[c] for v in vals], 100) for c in ["WAR", "UAR", *conds]]
        drop = _mean_sd([v["Low-light"] - v["Normal"] for v in vals], 100)
        cost = [f"{runs[0]['params'] / 1e6:.3f}", f"{runs[0]['gmacs']:.3f}",
                _mean_sd([r["energy_mj"] for r in runs], digits=3),
                _mean_sd([r["dense_energy_mj"] for r in runs], digits=3)]
        lines.append(f"| {label} | " + " | ".join([*cells, drop, *cost]) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--subjects", type=int, default=10, help="SyntheticSEE subjects")
    p.add_argument("--test-subjects", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--energy-clips", type=int, default=16)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest on a shared 2-core machine)")
    p.add_argument("--only", default=None, help="comma-separated config keys to run")
    p.add_argument("--out", default=None,
                   help="run folder (default runs/hecnet_ablation, runs/hecnet_ablation-quick "
                        "with --quick); finished runs in it are reused")
    p.add_argument("--json", default=None,
                   help="also write the per-run results (results.json's content) here")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: tiny widths, 16x16, 2 subjects, 1 epoch, seed 0")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = "runs/hecnet_ablation" + ("-quick" if args.quick else "")
    if args.quick:
        args.seeds, args.epochs, args.subjects, args.test_subjects = "0", 1, 2, 1
        args.energy_clips = 2
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if DATASET not in list_datasets():
        register_dataset(DATASET, synthetic_see_subject_split, needs_root=False)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    unique, table2, lighting = configs()
    if args.only:
        keep = set(args.only.split(","))
        unique = [c for c in unique if c.key in keep]
        table2 = {k: v for k, v in table2.items() if v in keep}
        lighting = {k: v for k, v in lighting.items() if v in keep}
    results: dict[str, list[dict]] = {}
    start = time.perf_counter()
    for i, c in enumerate(unique):
        for seed in seeds:
            results.setdefault(c.key, []).append(run_config(c, seed, args))
        elapsed = (time.perf_counter() - start) / 60
        print(f"[{i + 1}/{len(unique)}] {c.key}: {elapsed:.1f} min so far", flush=True)
    header = (f"SyntheticSEE: {args.subjects} subjects x 7 emotions x 4 lighting conditions, "
              f"last {args.test_subjects} subjects = test; small presets"
              f"{' (quick: tiny widths, 16x16)' if args.quick else ''}; {args.epochs} epochs; "
              f"seeds {seeds}; mean ± sd over seeds; "
              f"wall time {(time.perf_counter() - start) / 60:.1f} min")
    text = "\n\n".join([
        header,
        "### Table 2 ablation (WAR/UAR on the synthetic test subjects)",
        table2_markdown(table2, results),
        "### Lighting conditions (accuracy %, Table 1's columns) and cost per clip",
        lighting_markdown(lighting, results),
        "### Table 1 layout (accuracy per condition and per emotion, %)",
        table1_markdown({label: [r["test"] for r in results[key]]
                         for label, key in lighting.items()}),
    ]) + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.md", text)
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2))
    print(text)
    return text


if __name__ == "__main__":
    main()
