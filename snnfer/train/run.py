"""A whole experiment: dataset -> protocol folds -> train each fold -> test -> reports.

Run directory (one fold: everything at the top level; several folds: one sub-directory per
fold plus the pooled report at the top)::

    config.yaml  splits.json  summary.json  metrics.md
    <fold>/checkpoints/{last,best}.pt  metrics.csv  train.log  tensorboard/
    <fold>/plots/{curves,confusion,firing_rates}.png  predictions.csv  summary.json

Everything that can be checked is checked before the first training step: the model
name, the data path, dataset options, non-empty data, every class in every training split,
the model's input shape (one forward pass on a real sample) and, with ``resume``, the
checkpoint's model, classes and config.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnfer.atomic import atomic_write_text
from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError, CheckpointError, InputShapeError
from snnfer.fastpath.allocator import freed_memory_kept
from snnfer.train.config import ModelConfig, RunConfig
from snnfer.train.data import FERSubset, build_dataset, collate
from snnfer.train.distributed import DistContext, init_distributed
from snnfer.train.metrics import compute_metrics
from snnfer.train.modalities import (
    input_channels,
    model_input_shape,
    native_data_options,
    takes_one_tensor,
)
from snnfer.train.protocols import Fold, make_folds
from snnfer.train.trainer import Trainer, forward, seed_everything

__all__ = ["RunResult", "build_model", "model_input_shape", "run_training", "write_json"]


def write_json(path: str | Path, data: Any) -> None:
    """Atomic, indented JSON (NaN written as null)."""
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2) + "\n")


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.integer, np.floating)):
        return _json_safe(v.item())
    return v


def build_model(cfg: ModelConfig, num_classes: int, in_channels: int | None) -> nn.Module:
    """``snnfer.models.create_model(name, num_classes, in_channels, preset=..., **kwargs)``."""
    from snnfer.models import create_model

    kw = dict(cfg.kwargs)
    kw.setdefault("preset", cfg.preset)
    if in_channels is not None:
        kw["in_channels"] = in_channels
    return create_model(cfg.name, num_classes=num_classes, **kw)


def _shape_of(x: Any) -> Any:
    return {k: list(v.shape) for k, v in x.items()} if isinstance(x, dict) else list(x.shape)


@dataclass
class RunResult:
    """Outcome of :func:`run_training`: the run directory and the summary written there."""

    run_dir: Path
    summary: dict[str, Any]


def _default_out(cfg: RunConfig, dist: DistContext) -> Path:
    name = f"runs/{cfg.model.name}-{cfg.data.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(dist.broadcast_object(name))


def run_training(config: RunConfig, out_dir: str | Path | None = None, *, resume: bool = False,
                 dataset: FERDataset | None = None,
                 callbacks: Sequence[Callable[[Trainer, dict[str, Any]], None]] = (),
                 dist: DistContext | None = None) -> RunResult:
    """Train and test ``config`` under its protocol; see the module docstring."""
    cfg = config.validate()
    from snnfer.models import model_entrypoint

    model_entrypoint(cfg.model.name)  # unknown model -> UnknownNameError listing the models
    own_dist = dist is None
    dist = dist or init_distributed(cfg.train.device, cfg.train.dist_timeout_s)
    try:
        return _run(cfg, out_dir, resume, dataset, callbacks, dist)
    finally:
        if own_dist:
            dist.shutdown()


def _run(cfg: RunConfig, out_dir: str | Path | None, resume: bool, dataset: FERDataset | None,
         callbacks: Sequence[Callable[..., None]], dist: DistContext) -> RunResult:
    out = Path(out_dir) if out_dir is not None else _default_out(cfg, dist)
    # decided on rank 0 (which writes config.yaml later) so that no rank sees it half-way
    has_run = dist.broadcast_object((out / "config.yaml").is_file())
    if has_run and not resume:
        raise ArgumentError(f"{str(out)!r} already holds a run; pass --resume to continue it "
                            "or choose another --out")
    if resume and not has_run:
        raise CheckpointError(f"nothing to resume in {str(out)!r} (no config.yaml there)")
    if dataset is None:
        cfg = _with_native_data_options(cfg)
        dataset = build_dataset(cfg.data.dataset, cfg.data.root, cfg.data.options)
    folds = make_folds(dataset, cfg.data.protocol, test_fraction=cfg.data.test_fraction,
                       val_fraction=cfg.data.val_fraction, folds=cfg.data.folds,
                       seed=cfg.train.seed, folds_csv=cfg.data.folds_csv, root=cfg.data.root)
    if cfg.data.fold is not None:
        if cfg.data.fold >= len(folds):
            raise ArgumentError(f"data.fold={cfg.data.fold} but protocol {cfg.data.protocol!r} "
                                f"has {len(folds)} folds (0..{len(folds) - 1})")
        folds = [folds[cfg.data.fold]]
    if resume:
        _check_resumable(cfg, dataset, out, folds)
    sample, _ = dataset[0]
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    probe, in_channels = _probe_model(cfg.model, len(dataset.classes), sample)
    if isinstance(sample, dict) and len(sample) == 1 and takes_one_tensor(probe):
        # a one-modality dict (e.g. SEE(modalities=["event"])) for a one-input model (CS3D)
        sample = next(iter(sample.values()))
    input_shape = model_input_shape(probe, sample)
    if not cfg.data.resize and _shape_of(sample) != input_shape:
        raise InputShapeError(f"samples have shape {_shape_of(sample)} but model "
                              f"{cfg.model.name!r} ({cfg.model.preset}) expects {input_shape}; set "
                              "data.resize: true or change the dataset options")
    _probe_forward(probe, FERSubset(dataset, [0], input_shape), cfg.model.name)
    del probe
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if not has_run:
            atomic_write_text(out / "config.yaml", cfg.to_yaml())
        write_json(out / "splits.json", {
            "protocol": cfg.data.protocol, "classes": dataset.classes,
            "folds": [{"name": f.name, **{part: [dataset.samples[i].sequence for i in idx]
                                          for part, idx in (("train", f.train), ("val", f.val),
                                                            ("test", f.test))}}
                      for f in folds]})
    dist.barrier()
    fold_summaries = []
    for fold in folds:
        fold_dir = out if len(folds) == 1 else out / fold.name
        done = fold_dir / "summary.json"
        if resume and done.is_file() and len(folds) > 1:
            fold_summaries.append(json.loads(done.read_text(encoding="utf-8")))
            continue
        fold_summaries.append(_run_fold(cfg, dataset, fold, fold_dir, input_shape, in_channels,
                                        resume, callbacks, dist))
    summary = _pooled_summary(cfg, dataset, fold_summaries) if len(folds) > 1 else fold_summaries[0]
    if dist.is_main:
        write_json(out / "summary.json", summary)
        atomic_write_text(out / "metrics.md", _summary_markdown(summary))
    dist.barrier()
    return RunResult(run_dir=out, summary=summary)


def _with_native_data_options(cfg: RunConfig) -> RunConfig:
    """Fill a paired loader's ``frames``/``size`` from the model's input (see
    :func:`snnfer.train.modalities.native_data_options`); stored in config.yaml."""
    from snnfer.train.data import dataset_factory

    factory = dataset_factory(cfg.data.dataset)
    options = native_data_options(cfg.model, factory, cfg.data.options)
    if options == cfg.data.options:
        return cfg
    return cfg.updated({"data": {"options": options}}, where="data options").validate()


def _probe_model(cfg: ModelConfig, num_classes: int, sample: Any) -> tuple[nn.Module, int]:
    """(model, in_channels): a single-tensor sample gives ``in_channels`` = its channels; a
    paired sample the channels of the model's first declared modality (rebuilt if needed)."""
    if not isinstance(sample, dict):
        in_channels = int(sample.shape[1])
        return build_model(cfg, num_classes, in_channels), in_channels
    probe = build_model(cfg, num_classes, None)
    in_channels = input_channels(probe, {k: tuple(v.shape) for k, v in sample.items()})
    if getattr(probe, "in_channels", None) != in_channels:
        probe = build_model(cfg, num_classes, in_channels)
    return probe, in_channels


def _check_resumable(cfg: RunConfig, dataset: FERDataset, out: Path, folds: list[Fold]) -> None:
    """Model, classes and config of every fold checkpoint must match before anything runs."""
    from snnfer.train.checkpoint import load_checkpoint
    from snnfer.train.trainer import check_resumable

    for fold in folds:
        last = (out if len(folds) == 1 else out / fold.name) / "checkpoints" / "last.pt"
        if last.is_file():
            check_resumable(load_checkpoint(last), last, cfg.model.name, list(dataset.classes),
                            cfg)


@torch.no_grad()
def _probe_forward(model: nn.Module, subset: FERSubset, name: str) -> None:
    from snnfer.neuron import reset

    x, _ = collate([subset[0]])
    model.eval()
    reset(model)
    try:
        logits = forward(model, x)
    except Exception as exc:
        raise InputShapeError(f"model {name!r} cannot take the data's samples (batch shape "
                              f"{_shape_of(x)}): {exc}") from exc
    if logits.shape != (1, len(subset.classes)):
        raise InputShapeError(f"model {name!r} returned logits of shape {tuple(logits.shape)}, "
                              f"expected (1, {len(subset.classes)})")
    reset(model)


def _run_fold(cfg: RunConfig, dataset: FERDataset, fold: Fold, fold_dir: Path, input_shape: Any,
              in_channels: int | None, resume: bool, callbacks: Sequence[Callable[..., None]],
              dist: DistContext) -> dict[str, Any]:
    from snnfer.train import plots
    from snnfer.train.cost import firing_rates, model_cost
    from snnfer.train.inputs import describe_pipeline
    from snnfer.train.logging import write_csv

    fit_shape = input_shape if cfg.data.resize else None
    train_set = FERSubset(dataset, fold.train, fit_shape)
    val_set = FERSubset(dataset, fold.val, fit_shape) if fold.val else None
    test_set = FERSubset(dataset, fold.test, fit_shape)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    model = build_model(cfg.model, len(dataset.classes), in_channels)
    pipeline = describe_pipeline(dataset, input_shape)
    trainer = Trainer(model, train_set, val_set, config=cfg, run_dir=fold_dir,
                      model_name=cfg.model.name, input_shape=input_shape, callbacks=callbacks,
                      dist=dist, fold=fold.name, input_pipeline=pipeline)
    fit = trainer.fit(resume=resume)
    best_epoch = trainer.load_best()
    test = trainer.evaluate(test_set, desc=f"{fold.name} test")
    summary = {
        "model": cfg.model.name, "preset": cfg.model.preset, "dataset": cfg.data.dataset,
        "protocol": cfg.data.protocol, "fold": fold.name, "classes": dataset.classes,
        "num_train": len(train_set), "num_val": len(fold.val), "num_test": len(test_set),
        "epochs": trainer.epoch, "best_epoch": best_epoch, "select_metric": fit.select_metric,
        "best_value": fit.best_value, "test": test.metrics.to_dict(), "test_loss": test.loss,
        "test_predictions": {"labels": test.labels, "predictions": test.predictions,
                             "conditions": test_set.conditions},
        "history": fit.history, "input_pipeline": pipeline,
        "freed_memory_kept": freed_memory_kept(),
    }
    if dist.is_main:
        example, _ = collate([test_set[i] for i in range(min(len(test_set), 8))])
        example = {k: v.to(trainer.device) for k, v in example.items()} if isinstance(
            example, dict) else example.to(trainer.device)
        summary["cost"] = model_cost(trainer.model, example)
        summary["firing_rates"] = firing_rates(trainer.model, example)
        plot_dir = fold_dir / "plots"
        plots.plot_curves(fit.history, plot_dir / "curves.png")
        plots.plot_confusion(test.metrics.confusion, dataset.classes, plot_dir / "confusion.png",
                             title=f"{cfg.model.name} {fold.name} test")
        if summary["firing_rates"]:
            plots.plot_firing_rates(summary["firing_rates"], plot_dir / "firing_rates.png")
        write_csv(fold_dir / "predictions.csv", test.rows(test_set))
        write_json(fold_dir / "summary.json", summary)
        atomic_write_text(fold_dir / "metrics.md", _summary_markdown(summary))
        trainer.logger.info(f"{fold.name}: test accuracy {100 * test.metrics.accuracy:.2f}% "
                            f"UAR {100 * test.metrics.uar:.2f}% UF1 {100 * test.metrics.uf1:.2f}% "
                            f"(best epoch {best_epoch})")
    summary = dist.broadcast_object(summary)
    return summary


def _pooled_summary(cfg: RunConfig, dataset: FERDataset, folds: list[dict[str, Any]]
                    ) -> dict[str, Any]:
    labels, preds, conds = [], [], []
    for f in folds:
        tp = f["test_predictions"]
        labels += tp["labels"]
        preds += tp["predictions"]
        conds += tp["conditions"]
    pooled = compute_metrics(labels, preds, len(dataset.classes), dataset.classes,
                             conditions=conds if any(c is not None for c in conds) else None)
    per_fold = [{"fold": f["fold"], "best_epoch": f["best_epoch"],
                 **{k: f["test"][k] for k in ("accuracy", "uar", "uf1", "num_samples")}}
                for f in folds]
    stats = {}
    for key in ("accuracy", "uar", "uf1"):
        vals = [f[key] for f in per_fold if f[key] is not None]
        stats[key] = {"mean": statistics.fmean(vals) if vals else None,
                      "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    return {"model": cfg.model.name, "preset": cfg.model.preset, "dataset": cfg.data.dataset,
            "protocol": cfg.data.protocol, "classes": dataset.classes, "folds": per_fold,
            "fold_mean_std": stats, "pooled": pooled.to_dict(), "test": pooled.to_dict(),
            "cost": folds[0].get("cost")}


def _summary_markdown(summary: dict[str, Any]) -> str:
    from snnfer.train.evaluate import metrics_markdown
    from snnfer.train.metrics import FERMetrics

    t = summary["test"]
    m = FERMetrics(accuracy=_nan(t["accuracy"]), uar=_nan(t["uar"]), uf1=_nan(t["uf1"]),
                   per_class_recall=[_nan(v) for v in t["per_class_recall"]],
                   per_class_f1=[_nan(v) for v in t["per_class_f1"]], support=t["support"],
                   confusion=t["confusion"], num_samples=t["num_samples"],
                   per_condition=t.get("per_condition") or {}, classes=t.get("classes"))
    title = f"# {summary['model']} on {summary['dataset']} ({summary['protocol']})"
    parts = [title, ""]
    if "folds" in summary:
        parts += ["Pooled over folds (predictions of every test fold together):", ""]
    parts.append(metrics_markdown(m, summary["model"]))
    if "folds" in summary:
        parts += ["", "| fold | accuracy | UAR | UF1 | samples |", "|---|---:|---:|---:|---:|"]
        for f in summary["folds"]:
            parts.append(f"| {f['fold']} | {_pct(f['accuracy'])} | {_pct(f['uar'])} | "
                         f"{_pct(f['uf1'])} | {f['num_samples']} |")
    cost = summary.get("cost")
    if cost:
        parts += ["", "| params | GMACs | energy (mJ) | latency (ms) |", "|---:|---:|---:|---:|",
                  f"| {cost['params']:,} | {_num(cost.get('gmacs'))} | "
                  f"{_num(cost.get('energy_mj'))} | {_num(cost.get('latency_ms'))} |"]
    return "\n".join(parts) + "\n"


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}"
