"""Checkpoints: atomic save, ``weights_only`` load, compatibility checks, RNG state capture.

A checkpoint is a dict of tensors, primitives and containers only (so that
``torch.load(..., weights_only=True)`` reads it and nothing in it is executed)::

    format, version, model_name, num_classes, classes, input_shape, in_channels, fold,
    model, optimizer, scheduler, scaler, epoch (completed epochs), history, best,
    rng (one dict per rank: python, numpy, torch, cuda), sampler {seed, epoch}, config
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnfer.atomic import atomic_path
from snnfer.errors import CheckpointError

__all__ = [
    "FORMAT",
    "capture_rng",
    "check_compatible",
    "load_checkpoint",
    "load_model_state",
    "resolve_checkpoint",
    "restore_rng",
    "save_checkpoint",
]

FORMAT = "snnfer-checkpoint"
VERSION = 1
_REQUIRED = ("model_name", "num_classes", "classes", "model", "config")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus format/version tags) atomically; returns the path."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a clear :class:`CheckpointError` if it is
    missing, unreadable, not an snnfer checkpoint or lacks required entries."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} (truncated, not a torch "
                              f"file, or holding non-tensor objects): {first}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an snnfer checkpoint (no "
                              f"format={FORMAT!r} entry); plain state dicts can be loaded with "
                              "model.load_state_dict(torch.load(path, weights_only=True))")
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks entries {missing}")
    return ckpt


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file, or ``<run>/checkpoints/<which>.pt`` for a (fold) run directory."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"run directory or checkpoint {str(path)!r} does not exist")
    candidate = path / "checkpoints" / f"{which}.pt"
    if candidate.is_file():
        return candidate
    folds = sorted(p.name for p in path.iterdir() if (p / "checkpoints").is_dir())
    if folds:
        raise CheckpointError(f"{str(path)!r} is a multi-fold run; pass one fold directory: "
                              f"{', '.join(str(path / f) for f in folds)}")
    raise CheckpointError(f"no checkpoint in {str(path)!r} (expected {str(candidate)!r})")


def check_compatible(ckpt: dict[str, Any], *, model_name: str | None = None,
                     num_classes: int | None = None, classes: list[str] | None = None,
                     source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` if the checkpoint was made for another model or classes."""
    if model_name is not None and ckpt["model_name"] != model_name:
        raise CheckpointError(f"{source} holds model {ckpt['model_name']!r} but model "
                              f"{model_name!r} was requested")
    if num_classes is not None and ckpt["num_classes"] != num_classes:
        raise CheckpointError(f"{source} was trained for {ckpt['num_classes']} classes "
                              f"{ckpt['classes']} but the data has {num_classes} classes"
                              + (f" {classes}" if classes else ""))
    if classes is not None and list(ckpt["classes"]) != list(classes):
        raise CheckpointError(f"{source} was trained on classes {ckpt['classes']} but the data "
                              f"has classes {list(classes)} (names or order differ)")


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint"
                     ) -> None:
    """``model.load_state_dict(state)`` with a one-line error naming mismatched entries."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es), e.g. {shapes[0]}")
        if missing:
            parts.append(f"{len(missing)} missing weight(s), e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected weight(s), e.g. {unexpected[0]!r}")
        raise CheckpointError(f"{source} does not fit this model ({type(model).__name__}): "
                              + "; ".join(parts))
    model.load_state_dict(state)


def capture_rng() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states as weights-only-safe values."""
    np_state = np.random.get_state()
    out: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), int(pos), int(has_gauss),
                         float(gauss)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
