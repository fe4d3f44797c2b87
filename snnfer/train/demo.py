"""``snnfer demo``: the README's main job on embedded synthetic data.

Generates the synthetic FER benchmark (``snnfer.data.synthetic.SyntheticFER``), trains the
``small`` presets of CS3D and C3D (``--all`` adds the RNN, LSTM and Transformer baselines of
CS3D Table II) for each seed, and reports test accuracy, UAR, UF1 (mean +- sd over seeds),
parameters, GMACs, estimated energy and latency. Everything lands in ``snnfer-demo/``:
one run directory per seed and model, ``results.md``, ``summary.json`` and
``plots/comparison.png``. Re-running the same command resumes: finished runs are only
re-evaluated.
"""

from __future__ import annotations

import inspect
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnfer.atomic import atomic_write_text
from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError
from snnfer.train.config import preset_config
from snnfer.train.run import run_training, write_json

__all__ = ["ALL_MODELS", "DEFAULT_MODELS", "DemoSettings", "run_demo"]

DEFAULT_MODELS = ("cs3d", "c3d")
ALL_MODELS = ("cs3d", "c3d", "rnn", "lstm", "transformer")


@dataclass
class DemoSettings:
    """Sizes of the demo. The defaults are planned to finish within 10 minutes on 2 CPU cores."""

    models: Sequence[str] = DEFAULT_MODELS
    seeds: Sequence[int] = (0,)
    epochs: int = 6
    samples_per_class: int = 40
    num_classes: int = 7
    batch_size: int = 16
    out: str | Path = "snnfer-demo"
    device: str = "auto"
    progress: bool = True
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)


def synthetic_options(factory: Callable[..., Any], num_classes: int, seed: int,
                      samples_per_class: int) -> dict[str, Any]:
    """Keyword arguments for the synthetic dataset: class count, seed and size, named as the
    dataset's constructor names them (``samples_per_class`` or ``num_samples``)."""
    params = inspect.signature(factory).parameters
    opts: dict[str, Any] = {"num_classes": num_classes, "seed": seed}
    if "samples_per_class" in params:
        opts["samples_per_class"] = samples_per_class
    elif "num_samples" in params:
        opts["num_samples"] = samples_per_class * num_classes
    return {k: v for k, v in opts.items() if k in params or any(
        p.kind is p.VAR_KEYWORD for p in params.values())}


def _say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def run_demo(settings: DemoSettings,
             dataset_factory: Callable[[int], FERDataset] | None = None) -> dict[str, Any]:
    """Train and compare the models; returns the summary (also written to ``out``)."""
    from snnfer.models import model_entrypoint
    from snnfer.train.data import _DATASETS, _resolve, build_dataset

    if not settings.models or not settings.seeds:
        raise ArgumentError("the demo needs at least one model and one seed")
    for name in settings.models:
        model_entrypoint(name)  # unknown names fail before any work
    out = Path(settings.out)
    rows: list[dict[str, Any]] = []
    total = len(settings.models) * len(settings.seeds)
    step = 0
    started = time.monotonic()
    for seed in settings.seeds:
        if dataset_factory is not None:
            dataset, options = dataset_factory(seed), {}
        else:
            factory = _resolve(_DATASETS[settings.dataset][0])
            options = {**synthetic_options(factory, settings.num_classes, seed,
                                           settings.samples_per_class),
                       **settings.dataset_options}
            _say(f"generating the synthetic FER dataset (seed {seed}) ...")
            dataset = build_dataset(settings.dataset, None, options)
        for name in settings.models:
            step += 1
            _say(f"[{step}/{total}] training {name} (small preset, seed {seed}, "
                 f"{settings.epochs} epochs, {len(dataset)} clips)")
            cfg = preset_config("small", name).updated({
                "data": {"dataset": settings.dataset, "options": options,
                         "protocol": "holdout", "batch_size": settings.batch_size},
                "train": {"epochs": settings.epochs, "seed": seed, "device": settings.device,
                          "progress": settings.progress},
            })
            run_dir = out / f"seed-{seed}" / name
            result = run_training(cfg, run_dir, dataset=dataset,
                                  resume=(run_dir / "config.yaml").is_file())
            s = result.summary
            elapsed = time.monotonic() - started
            _say(f"[{step}/{total}] {name}: test accuracy {100 * s['test']['accuracy']:.1f}%; "
                 f"{elapsed / 60:.1f} min so far, about "
                 f"{elapsed / step * (total - step) / 60:.1f} min to go")
            cost = s.get("cost") or {}
            rows.append({"model": name, "seed": seed, "accuracy": s["test"]["accuracy"],
                         "uar": s["test"]["uar"], "uf1": s["test"]["uf1"],
                         "params": cost.get("params"), "gmacs": cost.get("gmacs"),
                         "energy_mj": cost.get("energy_mj"), "latency_ms": cost.get("latency_ms"),
                         "run_dir": str(run_dir)})
    summary = {"settings": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in vars(settings).items() if k != "out"},
               "rows": rows, "aggregate": aggregate(rows, settings.models)}
    table = results_table(summary["aggregate"], len(settings.seeds))
    summary["table"] = table
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "results.md", table + "\n")
    from snnfer.train.plots import plot_model_comparison

    plot_model_comparison(summary["aggregate"], out / "plots" / "comparison.png")
    return summary


def aggregate(rows: list[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over seeds per model (costs: first seed, latency:
    median)."""
    out = []
    for name in models:
        mine = [r for r in rows if r["model"] == name]
        agg: dict[str, Any] = {"model": name, "seeds": len(mine)}
        for key in ("accuracy", "uar", "uf1"):
            vals = [r[key] for r in mine if r[key] is not None]
            agg[key] = statistics.fmean(vals) if vals else None
            agg[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        for key in ("params", "gmacs", "energy_mj"):
            agg[key] = mine[0][key]
        lat = [r["latency_ms"] for r in mine if r["latency_ms"] is not None]
        agg["latency_ms"] = statistics.median(lat) if lat else None
        out.append(agg)
    return out


def results_table(agg: list[dict[str, Any]], num_seeds: int) -> str:
    """Markdown table of the aggregate (plus the CS3D/C3D energy ratio when both ran)."""
    sd = num_seeds > 1
    head = "| model | accuracy | UAR | UF1 | params (M) | GMACs | energy (mJ) | latency (ms) |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for a in agg:
        cells = [_pm(a[k], a[f"{k}_sd"], sd) for k in ("accuracy", "uar", "uf1")]
        params = "n/a" if a["params"] is None else f"{a['params'] / 1e6:.3f}"
        lines.append(f"| {a['model']} | {' | '.join(cells)} | {params} | {_num(a['gmacs'])} | "
                     f"{_num(a['energy_mj'])} | {_num(a['latency_ms'])} |")
    by = {a["model"]: a for a in agg}
    if "cs3d" in by and "c3d" in by:
        for key, what in (("energy_mj", "estimated energy"), ("gmacs", "GMACs"),
                          ("latency_ms", "latency")):
            a, b = by["cs3d"][key], by["c3d"][key]
            if a is not None and b:
                lines.append(f"\nCS3D / C3D {what}: {100 * a / b:.2f}%")
    note = f"mean ± sd over {num_seeds} seeds" if sd else "one seed"
    return "\n".join(lines) + f"\n\nTest split of the synthetic benchmark, {note}."


def _pm(v: Any, s: Any, show_sd: bool) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.1f} ± {100 * s:.1f}%" if show_sd else f"{100 * v:.1f}%"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}"

