"""The training loop for any ``nn.Module`` on any :class:`~snnfer.data.FERDataset`.

- neuron state is reset (``snnfer.neuron.reset``) before every batch, in training and
  evaluation; two-modality batches (dicts) are passed as ``model(**inputs)``;
- the papers' optimisers/schedules (:mod:`snnfer.train.optim`), linear warm-up, gradient
  clipping, label smoothing, mixed precision (fp16 + GradScaler or bf16 on CUDA; bf16 on
  CPU on request);
- ``checkpoints/last.pt`` after every epoch and ``checkpoints/best.pt`` when the selection
  metric improves, written atomically with everything needed to resume exactly
  (weights, optimiser, scheduler, scaler, epoch, history, per-rank RNG states, sampler
  seed/epoch, config). ``fit(resume=True)`` continues from ``last.pt`` and ends with the
  same weights and metrics as an uninterrupted run with the same seed;
- a non-finite loss (on any rank) stops training with :class:`TrainingError`; the last
  good checkpoint is left untouched, and a checkpoint is never written from non-finite
  weights;
- under ``torchrun`` the model is wrapped in DistributedDataParallel, each rank reads its
  share of the data, and metrics are reduced over ranks; only rank 0 logs and writes.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError, CheckpointError, TrainingError
from snnfer.neuron import reset
from snnfer.train.checkpoint import (
    capture_rng,
    check_compatible,
    load_checkpoint,
    load_model_state,
    restore_rng,
    save_checkpoint,
)
from snnfer.train.config import RunConfig
from snnfer.train.data import make_loader
from snnfer.train.distributed import DistContext, resolve_device
from snnfer.train.logging import RunLogger
from snnfer.train.metrics import (
    FERMetrics,
    compute_metrics,
    confusion_matrix,
    metrics_from_confusion,
)
from snnfer.train.optim import build_optimizer, build_scheduler

__all__ = ["EvalResult", "FitResult", "Trainer", "forward", "seed_everything"]

# config keys that may differ between an interrupted run and its resumption
RESUME_MUTABLE = {"train.epochs", "train.progress", "train.tensorboard", "train.device",
                  "train.dist_timeout_s", "data.num_workers", "data.eval_batch_size",
                  "data.root"}


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; in deterministic mode also pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def forward(model: nn.Module, x: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    """``model(**x)`` for a dict of modalities, else ``model(x)``."""
    return model(**x) if isinstance(x, dict) else model(x)


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    return x.to(device, non_blocking=True)


def _batch_size(x: Any) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


@dataclass
class EvalResult:
    """Evaluation of one dataset: metrics, mean loss and per-sample outputs (dataset order)."""

    metrics: FERMetrics
    loss: float
    labels: list[int]
    predictions: list[int]
    probabilities: np.ndarray

    def rows(self, dataset: FERDataset) -> list[dict[str, Any]]:
        """One dict per sample (sequence, subject, condition, label, prediction, probabilities)."""
        out = []
        for i, s in enumerate(dataset.samples):
            row = {"sequence": s.sequence, "subject": s.subject, "condition": s.condition,
                   "label": dataset.classes[self.labels[i]],
                   "prediction": dataset.classes[self.predictions[i]]}
            row.update({f"p_{c}": float(p) for c, p in zip(dataset.classes,
                                                            self.probabilities[i])})
            out.append(row)
        return out


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` produced."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_value: float
    select_metric: str
    checkpoint_dir: Path | None = None
    resumed_from: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Train ``model`` on ``train_set``, selecting the best epoch on ``val_set``.

    Example (``cfg`` a :class:`RunConfig`, the sets :class:`FERDataset` instances)::

        trainer = Trainer(model, train_set, val_set, config=cfg, run_dir="runs/x")
        result = trainer.fit()            # or fit(resume=True) after an interruption
        trainer.load_best()
        print(trainer.evaluate(test_set).metrics.to_markdown())
    """

    def __init__(self, model: nn.Module, train_set: FERDataset, val_set: FERDataset | None = None,
                 *, config: RunConfig, run_dir: str | Path | None = None,
                 model_name: str | None = None, input_shape: Any = None,
                 callbacks: Sequence[Callable[[Trainer, dict[str, Any]], None]] = (),
                 dist: DistContext | None = None, fold: str = "holdout",
                 logger: RunLogger | None = None,
                 input_pipeline: dict[str, Any] | None = None) -> None:
        self.cfg = config.validate()
        self.dist = dist or DistContext(device=resolve_device(config.train.device))
        self.device = self.dist.device
        self.train_set, self.val_set = train_set, val_set
        self.classes = list(train_set.classes)
        self.num_classes = len(self.classes)
        self.model_name = model_name or type(model).__name__
        self.input_shape = input_shape
        self.input_pipeline = input_pipeline  # how raw inputs become samples (predict)
        self.fold = fold
        self.callbacks = list(callbacks)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.ckpt_dir = self.run_dir / "checkpoints" if self.run_dir is not None else None
        self.model = model.to(self.device)
        self.net: nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.train_loader = make_loader(
            train_set, self.cfg.data.batch_size, train=True, seed=self.cfg.train.seed,
            balanced=self.cfg.data.balanced_sampler, num_workers=self.cfg.data.num_workers,
            num_replicas=self.dist.world_size, rank=self.dist.rank)
        self.optimizer = build_optimizer(self.cfg.optim, self.model.parameters())
        self.scheduler = build_scheduler(self.cfg.schedule, self.optimizer, self.cfg.train.epochs,
                                         len(self.train_loader))
        self.amp_dtype, use_scaler = self._amp_mode()
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.cfg.train.label_smoothing)
        self.history: list[dict[str, Any]] = []
        self.best_epoch, self.best_value = 0, -math.inf
        self.epoch = 0  # completed epochs
        self._best_state: dict[str, torch.Tensor] | None = None
        self.logger = logger
        self._owns_logger = logger is None

    # -- set-up -----------------------------------------------------------------------------
    def _amp_mode(self) -> tuple[torch.dtype | None, bool]:
        mode, dev = self.cfg.train.amp, self.device.type
        if mode == "off" or (mode == "auto" and dev != "cuda"):
            return None, False
        if mode == "fp16":
            if dev != "cuda":
                raise ArgumentError(f"train.amp='fp16' needs a CUDA device, got {dev!r}; "
                                    "use 'bf16' or 'off'")
            return torch.float16, True
        if mode == "bf16":
            return torch.bfloat16, False
        bf16 = torch.cuda.is_bf16_supported()
        return (torch.bfloat16, False) if bf16 else (torch.float16, True)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _select_value(self, record: dict[str, Any]) -> float:
        metric = self.cfg.train.select_metric
        split = "val" if self.val_set is not None and len(self.val_set) else "train"
        value = record.get(f"{split}_{metric}")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return -math.inf
        return -value if metric == "loss" else value

    # -- main loop --------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> FitResult:
        """Train for ``train.epochs`` epochs (continuing from ``last.pt`` with ``resume``)."""
        resumed_from = None
        last = self.ckpt_dir / "last.pt" if self.ckpt_dir is not None else None
        if resume and last is not None and last.is_file():
            self._restore(last)
            resumed_from = self.epoch
        else:
            seed_everything(self.cfg.train.seed + self.dist.rank, self.cfg.train.deterministic)
        if self.logger is None:
            self.logger = RunLogger(self.run_dir, enabled=self.is_main,
                                    progress=self.cfg.train.progress,
                                    tensorboard=self.cfg.train.tensorboard,
                                    start_epoch=self.epoch + 1)
        log = self.logger
        if resumed_from is not None:
            log.info(f"resumed from {last} after epoch {resumed_from}")
        total = self.cfg.train.epochs
        try:
            for epoch in range(self.epoch, total):
                t0 = time.perf_counter()
                record: dict[str, Any] = {"epoch": epoch + 1}
                record.update(self._train_epoch(epoch))
                if self.val_set is not None and len(self.val_set):
                    val = self.evaluate(self.val_set, desc=f"epoch {epoch + 1}/{total} val")
                    record.update({"val_loss": val.loss, "val_accuracy": val.metrics.accuracy,
                                   "val_uar": val.metrics.uar, "val_uf1": val.metrics.uf1})
                record["lr"] = self.optimizer.param_groups[0]["lr"]
                record["time_s"] = time.perf_counter() - t0
                self.history.append(record)
                self.epoch = epoch + 1
                value = self._select_value(record)
                improved = value > self.best_value or self.best_epoch == 0
                if improved:
                    self.best_epoch, self.best_value = self.epoch, value
                self._save(improved)
                log.log_epoch(self.history)
                for callback in self.callbacks:
                    callback(self, record)
        finally:
            if self._owns_logger:
                log.close()
        return FitResult(history=self.history, best_epoch=self.best_epoch,
                         best_value=self._display_best(),
                         select_metric=self.cfg.train.select_metric,
                         checkpoint_dir=self.ckpt_dir, resumed_from=resumed_from)

    def _display_best(self) -> float:
        if self.cfg.train.select_metric == "loss":
            return -self.best_value
        return self.best_value

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.net.train()
        sampler = self.train_loader.sampler
        sampler.set_epoch(epoch)
        loss_sum, count = 0.0, 0
        cm = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        desc = f"epoch {epoch + 1}/{self.cfg.train.epochs} train"
        bar = self.logger.bar(self.train_loader, total=len(self.train_loader), desc=desc)
        for step, (x, y) in enumerate(bar):
            x, y = _to(x, self.device), y.to(self.device, non_blocking=True)
            reset(self.model)
            with self._autocast():
                logits = forward(self.net, x)
                loss = self.criterion(logits.float(), y)
            self._check_finite(loss, epoch, step)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.cfg.train.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            n = _batch_size(y)
            loss_sum += float(loss.detach()) * n
            count += n
            cm += confusion_matrix(y.cpu().numpy(), logits.detach().argmax(1).cpu().numpy(),
                                   self.num_classes)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_sum / count:.4f}")
        totals = self.dist.all_reduce_sum(
            torch.tensor([loss_sum, float(count), *cm.reshape(-1).tolist()], dtype=torch.float64))
        loss_sum, count = float(totals[0]), float(totals[1])
        cm = totals[2:].round().long().numpy().reshape(self.num_classes, self.num_classes)
        m = metrics_from_confusion(cm)
        return {"train_loss": loss_sum / max(count, 1.0), "train_accuracy": m.accuracy,
                "train_uar": m.uar, "train_uf1": m.uf1}

    def _check_finite(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).item() else 1.0])
        if float(self.dist.all_reduce_sum(bad)) == 0:
            return
        last = self.ckpt_dir / "last.pt" if self.ckpt_dir is not None else None
        kept = (f"the last good checkpoint is {str(last)!r} (epoch {self.epoch})"
                if last is not None and last.is_file() else "no checkpoint was written yet")
        raise TrainingError(
            f"non-finite training loss ({float(loss.detach())}) at epoch {epoch + 1}, batch "
            f"{step + 1}{' on some rank' if self.dist.enabled else ''}; training stopped and "
            f"{kept}. Try a lower optim.lr, train.grad_clip, or train.amp=off")

    # -- evaluation -------------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, dataset: FERDataset, desc: str = "evaluate") -> EvalResult:
        """Metrics of the current weights on ``dataset`` (shared over ranks, then gathered)."""
        return evaluate_model(self.model, dataset, device=self.device, dist=self.dist,
                              batch_size=self.cfg.data.eval_batch_size or self.cfg.data.batch_size,
                              num_workers=self.cfg.data.num_workers, autocast=self._autocast,
                              bar=self.logger.bar if self.logger else None, desc=desc)

    # -- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The checkpoint payload of the current state (RNG states gathered from all ranks)."""
        rng = self.dist.all_gather_object(capture_rng())
        return {
            "model_name": self.model_name, "num_classes": self.num_classes,
            "classes": self.classes, "input_shape": _plain(self.input_shape), "fold": self.fold,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "history": copy.deepcopy(self.history),
            "best": {"epoch": self.best_epoch, "value": self.best_value,
                     "metric": self.cfg.train.select_metric},
            "rng": rng, "sampler": {"seed": self.cfg.train.seed, "epoch": self.epoch},
            "world_size": self.dist.world_size, "config": self.cfg.to_dict(),
            "input_pipeline": copy.deepcopy(self.input_pipeline),
        }

    def _save(self, improved: bool) -> None:
        bad = [n for n, p in self.model.state_dict().items()
               if p.is_floating_point() and not torch.isfinite(p).all()]
        if bad:
            raise TrainingError(f"weights became non-finite after epoch {self.epoch} (e.g. "
                                f"{bad[0]!r}); no checkpoint written for this epoch. Try a lower "
                                "optim.lr or train.grad_clip")
        state = self.state()  # collective: every rank takes part
        if self.ckpt_dir is None:
            if improved:
                self._best_state = {k: v.detach().clone() for k, v in state["model"].items()}
            return
        if self.is_main:
            save_checkpoint(self.ckpt_dir / "last.pt", state)
            if improved:
                save_checkpoint(self.ckpt_dir / "best.pt", state)
        self.dist.barrier()

    def _restore(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location="cpu")
        check_resumable(ckpt, path, self.model_name, self.classes, self.cfg)
        load_model_state(self.model, ckpt["model"], f"checkpoint {str(path)!r}")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.history = list(ckpt["history"])
        self.best_epoch = int(ckpt["best"]["epoch"])
        self.best_value = float(ckpt["best"]["value"])
        rng = ckpt["rng"]
        restore_rng(rng[self.dist.rank] if len(rng) == self.dist.world_size else rng[0])
        if self.cfg.train.deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True, warn_only=True)

    def load_best(self) -> int:
        """Load the best epoch's weights into the model; returns that epoch."""
        if self.ckpt_dir is not None and (self.ckpt_dir / "best.pt").is_file():
            ckpt = load_checkpoint(self.ckpt_dir / "best.pt", map_location="cpu")
            load_model_state(self.model, ckpt["model"])
            return int(ckpt["epoch"])
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        return self.best_epoch


def evaluate_model(model: nn.Module, dataset: FERDataset, *, device: torch.device,
                   dist: DistContext | None = None, batch_size: int = 16, num_workers: int = 0,
                   autocast: Callable[[], Any] | None = None,
                   bar: Callable[..., Any] | None = None, desc: str = "evaluate") -> EvalResult:
    """Evaluate ``model`` (resetting neurons before every batch); rank ``r`` of ``n`` reads
    samples ``r, r + n, ...`` and the per-sample outputs are gathered on every rank."""
    dist = dist or DistContext(device=device)
    loader = make_loader(dataset, batch_size, train=False, num_workers=num_workers,
                         num_replicas=dist.world_size, rank=dist.rank)
    was_training = model.training
    model.eval()
    logits_all, labels_all = [], []
    iterator = bar(loader, total=len(loader), desc=desc) if bar else loader
    with torch.inference_mode():
        for x, y in iterator:
            x = _to(x, device)
            reset(model)
            if autocast is not None:
                with autocast():
                    logits = forward(model, x)
            else:
                logits = forward(model, x)
            logits_all.append(logits.float().cpu())
            labels_all.append(y)
    reset(model)  # leave no inference-mode state behind
    model.train(was_training)
    n_cls = len(dataset.classes)
    local = (torch.cat(logits_all) if logits_all else torch.zeros(0, n_cls),
             torch.cat(labels_all) if labels_all else torch.zeros(0, dtype=torch.long))
    shards = dist.all_gather_object(local)
    logits = torch.zeros(len(dataset), n_cls)
    labels = torch.zeros(len(dataset), dtype=torch.long)
    for r, (lg, lb) in enumerate(shards):
        logits[r::dist.world_size] = lg
        labels[r::dist.world_size] = lb
    loss = float(nn.functional.cross_entropy(logits, labels)) if len(labels) else math.nan
    probs = torch.softmax(logits, dim=1).numpy()
    preds = logits.argmax(1).tolist()
    metrics = compute_metrics(labels.tolist(), preds, n_cls, dataset.classes,
                              conditions=dataset.conditions if any(dataset.conditions) else None)
    return EvalResult(metrics=metrics, loss=loss, labels=labels.tolist(), predictions=preds,
                      probabilities=probs)


def check_resumable(ckpt: dict[str, Any], path: Path, model_name: str, classes: list[str],
                    cfg: RunConfig) -> None:
    """:class:`CheckpointError` unless ``ckpt`` has this model, these classes and the same
    config (up to :data:`RESUME_MUTABLE` keys such as ``train.epochs``)."""
    check_compatible(ckpt, model_name=model_name, num_classes=len(classes), classes=classes,
                     source=f"checkpoint {str(path)!r}")
    diffs = config_differences(ckpt["config"], cfg.to_dict(), RESUME_MUTABLE)
    if diffs:
        raise CheckpointError(f"cannot resume from {str(path)!r}: the config differs in "
                              + "; ".join(diffs))


def config_differences(old: dict[str, Any], new: dict[str, Any], ignore: set[str],
                       prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts (``ignore`` skipped)."""
    out = []
    for key in sorted(set(old) | set(new)):
        dotted = prefix + key
        if dotted in ignore:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key not in ("options", "kwargs"):
            out += config_differences(a, b, ignore, dotted + ".")
        elif a != b:
            out.append(f"{dotted}: checkpoint {a!r} vs now {b!r}")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list, torch.Size)):
        return [int(v) for v in value]
    return value
