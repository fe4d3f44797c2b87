"""``snnfer evaluate``: a trained checkpoint on its test split or on new data.

``evaluate_checkpoint(RUN_DIR | CHECKPOINT)`` rebuilds the model from the checkpoint's
config, checks that the data's classes match the checkpoint's (a clear
:class:`~snnfer.errors.CheckpointError` otherwise, before anything runs), and evaluates:

- ``split="test"`` (default) with the training data: the run's own test split, recomputed
  from the stored protocol and seed (verified against ``splits.json`` when present);
- ``split="all"``, or any other data (``data=``/``dataset=``): every sample.

Outputs (``out_dir``): ``metrics.json``, ``metrics.md``, ``predictions.csv``,
``confusion.png``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnfer.atomic import atomic_write_text
from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError, DatasetError
from snnfer.train.checkpoint import (
    check_compatible,
    load_checkpoint,
    load_model_state,
    resolve_checkpoint,
)
from snnfer.train.config import RunConfig
from snnfer.train.data import FERSubset, build_dataset
from snnfer.train.distributed import resolve_device
from snnfer.train.metrics import FERMetrics
from snnfer.train.protocols import make_folds
from snnfer.train.run import build_model, write_json
from snnfer.train.trainer import EvalResult, evaluate_model

__all__ = ["EvaluationReport", "evaluate_checkpoint", "load_trained_model", "metrics_markdown"]


@dataclass
class EvaluationReport:
    """Result of :func:`evaluate_checkpoint`."""

    result: EvalResult
    dataset: FERDataset
    checkpoint: Path
    split: str
    out_dir: Path | None
    model_name: str = "model"

    def to_markdown(self) -> str:
        """The metrics tables and, for data with conditions (SEE lighting), the result in
        HEC-Net's Table 1 layout (WAR, UAR, accuracy per condition and per emotion)."""
        return metrics_markdown(self.result.metrics, self.model_name)


def metrics_markdown(metrics: FERMetrics, label: str) -> str:
    """``metrics.to_markdown()`` plus a Table 1 row when the data has conditions."""
    from snnfer.train.see_tables import table1_markdown

    text = metrics.to_markdown()
    if metrics.per_condition:
        text += ("\n\nIn the layout of HEC-Net's Table 1 (%):\n\n"
                 + table1_markdown({label: metrics}))
    return text


def load_trained_model(path: str | Path, device: str = "auto"):
    """(model in eval mode, checkpoint dict, config) from a run directory or checkpoint."""
    ckpt_path = resolve_checkpoint(path)
    ckpt = load_checkpoint(ckpt_path)
    cfg = RunConfig.from_dict(ckpt["config"], where=f"config stored in {ckpt_path}")
    shape = ckpt.get("input_shape")
    in_channels = None
    if isinstance(shape, list):
        in_channels = int(shape[1])
    elif isinstance(shape, dict) and shape:  # the model's modalities in its declared order
        in_channels = int(next(iter(shape.values()))[1])
    model = build_model(cfg.model, int(ckpt["num_classes"]), in_channels)
    load_model_state(model, ckpt["model"], f"checkpoint {str(ckpt_path)!r}")
    model.to(resolve_device(device)).eval()
    return model, ckpt, cfg, ckpt_path


def evaluate_checkpoint(path: str | Path, *, data: str | None = None, dataset: str | None = None,
                        options: dict[str, Any] | None = None, split: str = "test",
                        out_dir: str | Path | None = None, batch_size: int | None = None,
                        device: str = "auto", progress: bool = True,
                        data_set: FERDataset | None = None) -> EvaluationReport:
    """Evaluate a checkpoint; see the module docstring. ``data`` is ``"synthetic"`` or a path."""
    if split not in ("test", "all"):
        raise ArgumentError(f"split must be 'test' or 'all', got {split!r}")
    model, ckpt, cfg, ckpt_path = load_trained_model(path, device)
    same_data = data is None and dataset is None and options is None and data_set is None
    if data_set is None:
        name, root = cfg.data.dataset, cfg.data.root
        if data is not None:
            name, root = ("synthetic", None) if data == "synthetic" else (dataset or "folder", data)
        elif dataset is not None:
            name = dataset
        opts = cfg.data.options if options is None else options
        data_set = build_dataset(name, root, opts)
    check_compatible(ckpt, num_classes=len(data_set.classes), classes=list(data_set.classes),
                     source=f"checkpoint {str(ckpt_path)!r}")
    indices = list(range(len(data_set)))
    if split == "test" and same_data:
        indices = _test_indices(cfg, data_set, ckpt, ckpt_path)
    elif split == "test":
        split = "all"
    shape = ckpt.get("input_shape") if cfg.data.resize else None
    subset = FERSubset(data_set, indices, shape)
    from snnfer.train.logging import RunLogger

    logger = RunLogger(None, progress=progress, tensorboard=False)
    bs = batch_size or cfg.data.eval_batch_size or cfg.data.batch_size
    result = evaluate_model(model, subset, device=next(model.parameters()).device, batch_size=bs,
                            num_workers=cfg.data.num_workers, bar=logger.bar, desc="evaluate")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        _write_outputs(out, result, subset, ckpt, ckpt_path, split)
    return EvaluationReport(result=result, dataset=subset, checkpoint=ckpt_path, split=split,
                            out_dir=out, model_name=str(ckpt["model_name"]))


def _test_indices(cfg: RunConfig, data_set: FERDataset, ckpt: dict[str, Any], ckpt_path: Path
                  ) -> list[int]:
    folds = make_folds(data_set, cfg.data.protocol, test_fraction=cfg.data.test_fraction,
                       val_fraction=cfg.data.val_fraction, folds=cfg.data.folds,
                       seed=cfg.train.seed, folds_csv=cfg.data.folds_csv, root=cfg.data.root)
    names = {f.name: f for f in folds}
    fold = names.get(ckpt.get("fold", "holdout"))
    if fold is None:
        raise DatasetError(f"fold {ckpt.get('fold')!r} of checkpoint {str(ckpt_path)!r} is not "
                           f"among the protocol's folds {sorted(names)}; use --split all")
    for parent in (ckpt_path.parent.parent, ckpt_path.parent.parent.parent):
        splits = parent / "splits.json"
        if splits.is_file():
            stored = {f["name"]: f["test"] for f in json.loads(splits.read_text())["folds"]}
            if fold.name in stored:
                now = [data_set.samples[i].sequence for i in fold.test]
                if now != stored[fold.name]:
                    raise DatasetError(f"the data's test split for {fold.name} differs from the "
                                       f"one stored in {str(splits)!r} (the data changed since "
                                       "training); use --split all")
            break
    return fold.test


def _write_outputs(out: Path, result: EvalResult, subset: FERSubset, ckpt: dict[str, Any],
                   ckpt_path: Path, split: str) -> None:
    from snnfer.train import plots
    from snnfer.train.logging import write_csv

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"checkpoint": str(ckpt_path), "model": ckpt["model_name"],
                                      "split": split, "loss": result.loss,
                                      **result.metrics.to_dict()})
    atomic_write_text(out / "metrics.md",
                      metrics_markdown(result.metrics, str(ckpt["model_name"])) + "\n")
    write_csv(out / "predictions.csv", result.rows(subset))
    plots.plot_confusion(result.metrics.confusion, subset.classes, out / "confusion.png",
                         title=f"{ckpt['model_name']} ({split})")
