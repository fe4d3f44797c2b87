"""``snnfer demo``: the README's main job on embedded synthetic data.

Generates the synthetic FER benchmark (``snnfer.data.synthetic.SyntheticFER``: 7 classes,
``subjects`` x ``clips_per_class`` clips per class, DVS-emulated), trains the ``small``
presets of CS3D and C3D (``--all`` adds the RNN, LSTM and Transformer baselines of CS3D
Table II) with one recipe for all (same data, epochs, optimiser, schedule and batch), tests
them on subjects never seen in training, and reports test accuracy, UAR, UF1 (mean +- sd over
seeds), parameters, GMACs, estimated energy, latency and training time. Everything lands in
``snnfer-demo/``: one run directory per seed and model, ``results.md``, ``summary.json`` and
``plots/comparison.png``. Re-running the same command resumes: finished runs are only
re-evaluated, the generated data is cached.

The defaults were tuned so that the default demo (CS3D and C3D, one seed) finishes in about
5 minutes on 2 CPU cores and both models end far above chance (14.3 %) on held-out subjects.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnfer.atomic import atomic_write_text
from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError
from snnfer.fastpath.allocator import freed_memory_kept
from snnfer.train.config import preset_config
from snnfer.train.run import run_training, write_json

__all__ = ["ALL_MODELS", "DEFAULT_MODELS", "DemoSettings", "auto_threads", "demo_config",
           "run_demo"]

DEFAULT_MODELS = ("cs3d", "c3d")
ALL_MODELS = ("cs3d", "c3d", "rnn", "lstm", "transformer")


@dataclass
class DemoSettings:
    """Sizes and recipe of the demo (every model gets the same).

    ``subjects`` synthetic subjects with ``clips_per_class`` clips of each of ``num_classes``
    expressions; ``test_subjects`` of them are held out for testing and ``val_subjects`` of
    the rest select the best epoch. Adam (``lr``) with one warm-up epoch and cosine decay,
    ``epochs`` epochs of batch ``batch_size``. ``threads``: torch CPU threads; ``None`` picks
    :func:`auto_threads` (the cores other work leaves idle).
    """

    models: Sequence[str] = DEFAULT_MODELS
    seeds: Sequence[int] = (0,)
    epochs: int = 20
    subjects: int = 12
    clips_per_class: int = 4
    test_subjects: int = 3
    val_subjects: int = 1
    num_classes: int = 7
    batch_size: int = 16
    lr: float = 2e-3
    threads: int | None = None
    out: str | Path = "snnfer-demo"
    device: str = "auto"
    progress: bool = True
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)

    def check(self) -> DemoSettings:
        if not self.models or not self.seeds:
            raise ArgumentError("the demo needs at least one model and one seed")
        for name, value, low in (("epochs", self.epochs, 1), ("subjects", self.subjects, 3),
                                 ("clips_per_class", self.clips_per_class, 1),
                                 ("test_subjects", self.test_subjects, 1),
                                 ("val_subjects", self.val_subjects, 0),
                                 ("batch_size", self.batch_size, 1)):
            if value < low:
                raise ArgumentError(f"demo {name} must be >= {low}, got {value}")
        if self.test_subjects + self.val_subjects >= self.subjects:
            raise ArgumentError(f"demo: {self.test_subjects} test + {self.val_subjects} "
                                f"validation subjects leave none of the {self.subjects} "
                                "subjects for training")
        if self.threads is not None and self.threads < 1:
            raise ArgumentError(f"demo threads must be >= 1, got {self.threads}")
        return self


def auto_threads(cores: int | None = None, load: float | None = None) -> int:
    """torch threads for a machine with ``cores`` cores (default: torch's thread count)
    running ``load`` other processes (default: the 1-minute load average): the idle cores,
    at least one. More threads than idle cores make every training step wait for the
    slowest thread: on a shared 2-core machine at load 4, two threads made a CS3D step 3-4x
    slower than one."""
    cores = torch.get_num_threads() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # Windows: no load average
            return cores
    return max(1, min(cores, int((os.cpu_count() or cores) - load + 0.5)))


def dataset_options(settings: DemoSettings, seed: int) -> dict[str, Any]:
    """Options of the synthetic dataset for ``seed`` (the data differ per seed)."""
    opts: dict[str, Any] = {}
    if settings.dataset == "synthetic":
        opts = {"num_classes": settings.num_classes, "num_subjects": settings.subjects,
                "clips_per_class": settings.clips_per_class, "seed": seed}
    return {**opts, **settings.dataset_options}


def demo_config(settings: DemoSettings, model: str, seed: int,
                options: dict[str, Any]) -> Any:
    """The run config of one demo model: the ``small`` preset with the demo's recipe."""
    rest = settings.subjects - settings.test_subjects
    return preset_config("small", model).updated({
        "data": {"dataset": settings.dataset, "options": options,
                 "protocol": "subject_holdout", "batch_size": settings.batch_size,
                 "test_fraction": settings.test_subjects / settings.subjects,
                 "val_fraction": settings.val_subjects / rest},
        "optim": {"name": "adam", "lr": settings.lr, "weight_decay": 0.0},
        "schedule": {"name": "cosine", "warmup_epochs": 1.0, "warmup_start_factor": 0.1},
        "train": {"epochs": settings.epochs, "seed": seed, "device": settings.device,
                  "progress": settings.progress},
    })


def _say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def run_demo(settings: DemoSettings,
             dataset_factory: Callable[[int], FERDataset] | None = None) -> dict[str, Any]:
    """Train and compare the models; returns the summary (also written to ``out``)."""
    from snnfer.models import model_entrypoint
    from snnfer.train.data import build_dataset

    settings.check()
    for name in settings.models:
        model_entrypoint(name)  # unknown names fail before any work
    threads_before = torch.get_num_threads()
    threads = settings.threads if settings.threads is not None else auto_threads()
    _say(f"snnfer demo: {', '.join(settings.models)}; seeds {list(settings.seeds)}; "
         f"{threads} CPU thread(s)")
    torch.set_num_threads(threads)
    try:
        rows = _train_all(settings, dataset_factory, build_dataset)
    finally:
        torch.set_num_threads(threads_before)
    out = Path(settings.out)
    summary = {"settings": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in vars(settings).items() if k != "out"},
               "threads": threads, "freed_memory_kept": freed_memory_kept(), "rows": rows,
               "aggregate": aggregate(rows, settings.models)}
    table = results_table(summary["aggregate"], len(settings.seeds), settings.num_classes)
    summary["table"] = table
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "results.md", table + "\n")
    from snnfer.train.plots import plot_model_comparison

    plot_model_comparison(summary["aggregate"], out / "plots" / "comparison.png")
    return summary


def _train_all(settings: DemoSettings, dataset_factory: Callable[[int], FERDataset] | None,
               build_dataset: Callable[..., FERDataset]) -> list[dict[str, Any]]:
    out = Path(settings.out)
    rows: list[dict[str, Any]] = []
    total = len(settings.models) * len(settings.seeds)
    step = 0
    started = time.monotonic()
    took: dict[str, float] = {}  # seconds per model (first seed), for the time-to-go
    for seed in settings.seeds:
        options = dataset_options(settings, seed)
        if dataset_factory is not None:
            dataset = dataset_factory(seed)
        else:
            _say(f"generating the synthetic FER dataset (seed {seed}) ...")
            t0 = time.monotonic()
            cached = {"cache_dir": str(out / "cache")} if settings.dataset == "synthetic" else {}
            dataset = build_dataset(settings.dataset, None, {**options, **cached})
            _say(f"{len(dataset)} clips of {len(dataset.classes)} classes in "
                 f"{time.monotonic() - t0:.1f} s")
        for name in settings.models:
            step += 1
            _say(f"[{step}/{total}] training {name} (small preset, seed {seed}, "
                 f"{settings.epochs} epochs, {len(dataset)} clips, test on "
                 f"{settings.test_subjects} held-out subjects)")
            run_dir = out / f"seed-{seed}" / name
            t0 = time.monotonic()
            result = run_training(demo_config(settings, name, seed, options), run_dir,
                                  dataset=dataset, resume=(run_dir / "config.yaml").is_file())
            s = result.summary
            took.setdefault(name, time.monotonic() - t0)
            elapsed = time.monotonic() - started
            _say(f"[{step}/{total}] {name}: test accuracy {100 * s['test']['accuracy']:.1f}% "
                 f"in {time.monotonic() - t0:.0f} s; {elapsed / 60:.1f} min so far, about "
                 f"{_to_go(settings, seed, name, took, elapsed / step) / 60:.1f} min to go")
            cost = s.get("cost") or {}
            rows.append({"model": name, "seed": seed, "accuracy": s["test"]["accuracy"],
                         "uar": s["test"]["uar"], "uf1": s["test"]["uf1"],
                         "params": cost.get("params"), "gmacs": cost.get("gmacs"),
                         "energy_mj": cost.get("energy_mj"), "latency_ms": cost.get("latency_ms"),
                         "train_s": sum(h.get("time_s", 0.0) for h in s.get("history", [])),
                         "best_epoch": s.get("best_epoch"), "run_dir": str(run_dir)})
    return rows


def _to_go(settings: DemoSettings, seed: int, model: str, took: dict[str, float],
           mean: float) -> float:
    """Seconds left: each remaining run takes as long as the same model did before (or the
    mean run time for models not trained yet)."""
    models, seeds = list(settings.models), list(settings.seeds)
    left = models[models.index(model) + 1:] + models * (len(seeds) - seeds.index(seed) - 1)
    return sum(took.get(m, mean) for m in left)


def aggregate(rows: list[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over seeds per model of accuracy, UAR, UF1 and the
    estimated energy (it depends on the trained network's activity); parameters and GMACs
    are the same for every seed; latency and training time: median over seeds."""
    out = []
    for name in models:
        mine = [r for r in rows if r["model"] == name]
        agg: dict[str, Any] = {"model": name, "seeds": len(mine)}
        for key in ("accuracy", "uar", "uf1", "energy_mj"):
            vals = [r[key] for r in mine if r.get(key) is not None]
            agg[key] = statistics.fmean(vals) if vals else None
            agg[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        for key in ("params", "gmacs"):
            agg[key] = mine[0][key]
        for key in ("latency_ms", "train_s"):
            vals = [r[key] for r in mine if r.get(key) is not None]
            agg[key] = statistics.median(vals) if vals else None
        out.append(agg)
    return out


def results_table(agg: list[dict[str, Any]], num_seeds: int, num_classes: int | None = None
                  ) -> str:
    """Markdown table of the aggregate (plus CS3D/C3D ratios when both ran)."""
    sd = num_seeds > 1
    head = ("| model | accuracy | UAR | UF1 | params (M) | GMACs | energy (mJ) | latency (ms) "
            "| train (s) |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for a in agg:
        cells = [_pm(a[k], a[f"{k}_sd"], sd) for k in ("accuracy", "uar", "uf1")]
        params = "n/a" if a["params"] is None else f"{a['params'] / 1e6:.3f}"
        train = "n/a" if a.get("train_s") is None else f"{a['train_s']:.0f}"
        energy = _num(a["energy_mj"]) + (f" ± {_num(a['energy_mj_sd'])}"
                                          if sd and a["energy_mj"] is not None else "")
        lines.append(f"| {a['model']} | {' | '.join(cells)} | {params} | {_num(a['gmacs'])} | "
                     f"{energy} | {_num(a['latency_ms'])} | {train} |")
    by = {a["model"]: a for a in agg}
    if "cs3d" in by and "c3d" in by:
        lines.append("")
        for key, what in (("energy_mj", "estimated energy"), ("gmacs", "GMACs"),
                          ("latency_ms", "latency"), ("train_s", "training time")):
            a, b = by["cs3d"].get(key), by["c3d"].get(key)
            if a is not None and b:
                lines.append(f"CS3D / C3D {what}: {100 * a / b:.2f}%  ")
    note = f"mean ± sd over {num_seeds} seeds" if sd else "one seed"
    chance = f"; chance level {100 / num_classes:.1f}%" if num_classes else ""
    return ("\n".join(lines) + f"\n\nTest on held-out subjects of the synthetic benchmark, "
            f"{note}{chance}. GMACs, energy (45 nm, zero-skipping, trained weights) and latency "
            "per clip (batch 1, this machine; latency and train: median over seeds); train = "
            "wall time of all epochs.")


def _pm(v: Any, s: Any, show_sd: bool) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.1f} ± {100 * s:.1f}%" if show_sd else f"{100 * v:.1f}%"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}"

