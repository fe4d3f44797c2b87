"""FER metrics: accuracy (WAR), UAR, UF1 (hsta.txt Eq. 17), per-class recall, confusion matrix.

With ``C`` classes, ``TP_i``, ``FP_i``, ``FN_i`` the true/false positives and false negatives of
class ``i`` and ``N_i`` its number of samples (hsta.txt Eq. 17, the MEGC2019 metrics)::

    UF1 = sum_i 2 TP_i / (2 TP_i + FP_i + FN_i) / C
    UAR = sum_i TP_i / N_i / C
    ACC = sum_i TP_i / sum_i N_i          (= WAR, the recall weighted by N_i / N)

A class that is absent from the evaluated labels has an undefined recall (``N_i = 0``); it
is left out of the UAR mean, and left out of the UF1 mean when it was also never predicted
(``2 TP + FP + FN = 0``). A class absent from the labels but predicted has F1 = 0. This is
why leave-one-subject-out reports pool the predictions of all folds (MEGC2019's composite
UF1/UAR) instead of averaging per-fold values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnfer.errors import ArgumentError

__all__ = ["FERMetrics", "compute_metrics", "confusion_matrix", "metrics_from_confusion"]


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """``cm[i, j]`` = number of samples of true class ``i`` predicted as ``j`` (int64)."""
    t = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ArgumentError(f"y_true has {t.size} labels but y_pred has {p.size} predictions")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            bad = int(np.flatnonzero((arr < 0) | (arr >= num_classes))[0])
            raise ArgumentError(f"{name}[{bad}] = {int(arr[bad])} is not a class index in "
                                f"[0, {num_classes})")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


@dataclass
class FERMetrics:
    """Metrics of one evaluation. Rates are fractions in [0, 1]; NaN when undefined."""

    accuracy: float
    uar: float
    uf1: float
    per_class_recall: list[float]
    per_class_f1: list[float]
    support: list[int]
    confusion: list[list[int]]
    num_samples: int
    per_condition: dict[str, dict[str, float]] = field(default_factory=dict)
    classes: list[str] | None = None

    @property
    def war(self) -> float:
        """Weighted average recall, identical to accuracy."""
        return self.accuracy

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, list):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        return clean({
            "accuracy": self.accuracy, "war": self.accuracy, "uar": self.uar, "uf1": self.uf1,
            "num_samples": self.num_samples, "classes": self.classes,
            "per_class_recall": self.per_class_recall, "per_class_f1": self.per_class_f1,
            "support": self.support, "confusion": self.confusion,
            "per_condition": self.per_condition,
        })

    def to_markdown(self) -> str:
        """A summary table, a per-class table and (if any) a per-condition table."""
        names = self.classes or [str(i) for i in range(len(self.support))]
        lines = ["| metric | value |", "|---|---:|",
                 f"| accuracy (WAR) | {_pct(self.accuracy)} |",
                 f"| UAR | {_pct(self.uar)} |", f"| UF1 | {_pct(self.uf1)} |",
                 f"| samples | {self.num_samples} |", "",
                 "| class | support | recall | F1 |", "|---|---:|---:|---:|"]
        for name, n, r, f in zip(names, self.support, self.per_class_recall, self.per_class_f1):
            lines.append(f"| {name} | {n} | {_pct(r)} | {_pct(f)} |")
        if self.per_condition:
            lines += ["", "| condition | samples | accuracy (WAR) | UAR |", "|---|---:|---:|---:|"]
            for cond, m in self.per_condition.items():
                lines.append(f"| {cond} | {int(m['num_samples'])} | {_pct(m['accuracy'])} | "
                             f"{_pct(m['uar'])} |")
        return "\n".join(lines)


def _pct(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}%"


def _rates(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)  # N_i
    predicted = cm.sum(axis=0)
    fp, fn = predicted - tp, support - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
    return tp, support, recall, f1


def metrics_from_confusion(
    cm: np.ndarray, classes: Sequence[str] | None = None
) -> FERMetrics:
    """Accuracy/WAR, UAR and UF1 (hsta Eq. 17) and per-class values from a confusion matrix."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ArgumentError(f"confusion matrix must be square [C, C], got shape {cm.shape}")
    tp, support, recall, f1 = _rates(cm)
    n = int(support.sum())
    acc = float(tp.sum() / n) if n else math.nan
    uar = float(np.nanmean(recall)) if np.any(~np.isnan(recall)) else math.nan
    uf1 = float(np.nanmean(f1)) if np.any(~np.isnan(f1)) else math.nan
    return FERMetrics(
        accuracy=acc, uar=uar, uf1=uf1, per_class_recall=[float(v) for v in recall],
        per_class_f1=[float(v) for v in f1], support=[int(v) for v in support],
        confusion=cm.astype(np.int64).tolist(), num_samples=n,
        classes=list(classes) if classes is not None else None,
    )


def compute_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    num_classes: int,
    classes: Sequence[str] | None = None,
    conditions: Sequence[str | None] | None = None,
) -> FERMetrics:
    """All metrics of :class:`FERMetrics`; ``conditions`` (e.g. SEE lighting) adds a
    per-condition accuracy/UAR breakdown (samples with condition ``None`` are skipped)."""
    if classes is not None and len(classes) != num_classes:
        raise ArgumentError(f"{len(classes)} class names given for num_classes={num_classes}")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    out = metrics_from_confusion(cm, classes)
    if conditions is not None:
        conds = list(conditions)
        t, p = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
        if len(conds) != t.size:
            raise ArgumentError(f"{len(conds)} conditions given for {t.size} samples")
        for cond in sorted({c for c in conds if c is not None}):
            mask = np.array([c == cond for c in conds])
            m = metrics_from_confusion(confusion_matrix(t[mask], p[mask], num_classes))
            out.per_condition[cond] = {"accuracy": m.accuracy, "uar": m.uar, "uf1": m.uf1,
                                       "num_samples": float(m.num_samples)}
    return out
