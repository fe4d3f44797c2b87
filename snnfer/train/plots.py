"""PNG plots of a run, written atomically: curves, confusion matrix, per-layer firing rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnfer.atomic import atomic_path
from snnfer.optional import require

__all__ = [
    "plot_bars",
    "plot_confusion",
    "plot_curves",
    "plot_firing_rates",
    "plot_model_comparison",
]


def _subplots(ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.8)) -> tuple[Any, Any]:
    """A figure from matplotlib's object API: no pyplot, no global backend change (a notebook
    that trains a run keeps its inline figures)."""
    require("matplotlib", "train", "plots")
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(1, ncols)


def _save(fig: Any, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix[1:] or "png")
    return path


def plot_curves(history: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Loss (left) and accuracy/UAR (right) per epoch for the train and validation splits."""
    fig, (ax_loss, ax_acc) = _subplots(2, figsize=(10, 3.8))
    epochs = [int(h["epoch"]) for h in history]
    for key, style in (("train_loss", "-"), ("val_loss", "--")):
        vals = [h.get(key) for h in history]
        if any(v is not None for v in vals):
            ax_loss.plot(epochs, [np.nan if v is None else v for v in vals], style, marker="o",
                         label=key.replace("_", " "))
    for key, style in (("train_accuracy", "-"), ("val_accuracy", "--"), ("val_uar", ":")):
        vals = [h.get(key) for h in history]
        if any(v is not None for v in vals):
            ax_acc.plot(epochs, [np.nan if v is None else 100 * v for v in vals], style,
                        marker="o", label=key.replace("_", " "))
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="%", title="accuracy", ylim=(0, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_confusion(confusion: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path,
                   title: str = "confusion matrix") -> Path:
    """Row-normalised confusion matrix (recall per true class) with the counts annotated."""
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    fig, ax = _subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.7 * n))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall")
    return _save(fig, path)


def plot_firing_rates(rates: Mapping[str, float], path: str | Path,
                      title: str = "per-layer firing rate (non-zero fraction)") -> Path:
    """Horizontal bars: the fraction of non-zero neuron outputs per spiking layer."""
    return plot_bars({k: 100 * v for k, v in rates.items()}, path, title=title, xlabel="%")


def plot_bars(values: Mapping[str, float], path: str | Path, *, title: str = "",
              xlabel: str = "") -> Path:
    """Horizontal bar chart of named values (layers, models)."""
    names = list(values)
    fig, ax = _subplots(figsize=(7, 0.6 + 0.32 * max(len(names), 1)))
    ax.barh(range(len(names)), [values[k] for k in names], color="tab:orange")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_model_comparison(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Three panels per model: test accuracy (with sd error bars), GMACs, estimated energy."""
    names = [r["model"] for r in rows]
    fig, axes = _subplots(3, figsize=(12, 3.5))
    panels = (("accuracy", "test accuracy (%)", 100.0), ("gmacs", "GMACs per clip", 1.0),
              ("energy_mj", "estimated energy (mJ)", 1.0))
    for ax, (key, title, scale) in zip(axes, panels):
        vals = [(r.get(key) or 0.0) * scale for r in rows]
        errs = [(r.get(f"{key}_sd") or 0.0) * scale for r in rows]
        ax.bar(names, vals, yerr=errs if any(errs) else None, color="tab:blue", capsize=3)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
