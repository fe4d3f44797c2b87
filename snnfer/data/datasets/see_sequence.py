"""One paired event + RGB image sequence, as ``snnfer predict`` reads it for two-modality models.

Two layouts are recognised (:func:`find_sequence_pair`):

- a sequence folder inside a SEE tree, ``SEE/event/<emotion>/<sequence>`` or
  ``SEE/frame/<emotion>/<sequence>``: the other modality is the same path with ``event``
  and ``frame`` swapped; when ``emotion.json`` (in ``SEE/`` or next to it) lists the
  sequence, its annotated segment is used, exactly as the :class:`~snnfer.data.SEE` loader
  does, so a prediction sees the same clip as ``snnfer evaluate``;
- a clip folder holding the two image sequences as sub-folders ``event/`` and ``frame/``
  (or ``rgb/``), e.g. an own recording exported in SEE's format; all frames are used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from snnfer.data.datasets.see import _find_annotation, load_frame_stack
from snnfer.errors import DatasetError

__all__ = ["find_sequence_pair", "load_sequence_pair"]

_DIRS = {"event": ("event",), "rgb": ("frame", "rgb")}


def find_sequence_pair(path: str | os.PathLike) -> dict[str, Path] | None:
    """``{"event": folder, "rgb": folder}`` for a SEE sequence folder or a paired clip
    folder (see the module docstring); ``None`` if ``path`` is neither. A SEE sequence
    whose counterpart folder is missing raises :class:`DatasetError` naming it."""
    p = Path(path)
    if not p.is_dir():
        return None
    subdirs = {m: next((p / d for d in names if (p / d).is_dir()), None)
               for m, names in _DIRS.items()}
    if all(subdirs.values()):
        return {m: d for m, d in subdirs.items() if d is not None}
    if len(p.parts) >= 3 and p.parent.parent.name in ("event", "frame"):
        here = p.parent.parent.name
        other = "frame" if here == "event" else "event"
        twin = p.parent.parent.parent / other / p.parent.name / p.name
        if not twin.is_dir():
            raise DatasetError(f"{p} looks like a SEE {here} sequence but its {other} "
                               f"sequence {twin} does not exist; a two-modality model needs "
                               "both")
        return {"event": p if here == "event" else twin, "rgb": twin if here == "event" else p}
    return None


def _annotated_segment(event_dir: Path) -> Any:
    """The segment ``emotion.json`` gives the sequence of a SEE-layout folder, else None."""
    root = event_dir.parent.parent.parent
    if event_dir.parent.parent.name != "event":
        return None
    ann = _find_annotation(root, None)
    if ann is None:
        return None
    try:
        database = json.loads(ann.read_text(encoding="utf-8")).get("database", {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise DatasetError(f"SEE annotation {ann} is not readable JSON: {exc}") from exc
    for key, rec in database.items():
        if Path(key).name == event_dir.name and isinstance(rec, dict):
            return (rec.get("annotations") or {}).get("segment")
    return None


def load_sequence_pair(path: str | os.PathLike, frames: int, size: int | tuple[int, int] | None,
                       modalities: Sequence[str] = ("event", "rgb")) -> dict[str, torch.Tensor]:
    """``{modality: float32 [T, C, H, W] in [0, 1]}`` of the pair at ``path``, ``frames``
    images per modality at ``size`` (the SEE loader's sampling and quantisation)."""
    pair = find_sequence_pair(path)
    if pair is None:
        raise DatasetError(f"{path} is not a paired sequence: expected a SEE sequence folder "
                           "(SEE/event|frame/<emotion>/<sequence>) or a folder with event/ and "
                           "frame/ image sub-folders")
    segment = _annotated_segment(pair["event"])
    return {m: torch.from_numpy(load_frame_stack(pair[m], frames, size, segment)).float()
            .div_(255.0) for m in modalities}
