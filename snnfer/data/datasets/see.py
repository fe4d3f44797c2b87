"""SEE: single-eye emotion recognition with event and RGB frames (Zhang et al., SEEN, 2023).

Layout (the public release; see /work/shared/REFERENCE.md)::

    SEE/
      emotion.json                                  # split + labels (may also sit next to SEE/)
      event/<emotion>/<sequence>/00000.jpg ...      # event frames, 33 ms accumulations
      frame/<emotion>/<sequence>/00000.jpg ...      # intensity (RGB) frames

Emotion folders: angry, disgust, fear, happiness, neutral (published as ``neutraL``; both
spellings and any case are accepted), sadness, surprise. Sequence names are
``[seq]_[ID]_[sex]_[age]_[degree]_[lighting]_[emotion]_[length]_[take]`` with lighting
``normal | Overexposed | Low | HDR``. ``emotion.json``:
``{"labels": [...], "database": {name: {"subset": "training" | "testing",
"annotations": {"label": ..., "segment": [start, end]}}}}``; the ``labels`` order defines the
class ids (1,638 training / 767 testing sequences in the full set).

HEC-Net (hec-net.txt §4) and SEEN use both modalities, so items are dicts
``{"event": [T, 3, H, W], "rgb": [T, 3, H, W]}`` of float32 in [0, 1].
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnfer.data.base import FERDataset, SampleInfo
from snnfer.data.datasets.common import (
    DiskCache,
    check_root,
    frames_to_tensor,
    norm_name,
    sample_indices,
    source_signature,
)
from snnfer.data.video import list_frames, read_frames
from snnfer.errors import ArgumentError, DatasetError

__all__ = ["LIGHTING_CONDITIONS", "SEE", "SEE_EMOTIONS", "load_frame_stack",
           "parse_see_sequence"]

SEE_EMOTIONS = ("angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
LIGHTING_CONDITIONS = ("normal", "overexposure", "low", "hdr")
_LIGHTING = {"normal": "normal", "overexposed": "overexposure", "overexposure": "overexposure",
             "low": "low", "lowlight": "low", "hdr": "hdr"}
_SEQ_FIELDS = ("seq", "id", "sex", "age", "degree", "lighting", "emotion", "length", "take")
_MODALITY_DIRS = {"event": "event", "rgb": "frame"}


def parse_see_sequence(name: str) -> dict[str, str]:
    """Fields of a SEE sequence name; ``lighting`` is canonical (normal|overexposure|low|hdr).

    >>> parse_see_sequence("0012_S07_F_23_2_Overexposed_happiness_54_1")["lighting"]
    'overexposure'
    """
    parts = Path(name).name.split("_")
    if len(parts) != len(_SEQ_FIELDS):
        raise DatasetError(
            f"SEE sequence name {name!r} has {len(parts)} '_'-separated fields; expected "
            f"{len(_SEQ_FIELDS)}: " + "_".join(f"[{f}]" for f in _SEQ_FIELDS))
    fields = dict(zip(_SEQ_FIELDS, parts))
    light = _LIGHTING.get(norm_name(fields["lighting"]))
    if light is None:
        raise DatasetError(f"SEE sequence {name!r}: lighting field {fields['lighting']!r} is not "
                           "one of normal, Overexposed, Low, HDR")
    fields["lighting_raw"], fields["lighting"] = fields["lighting"], light
    return fields


def _find_annotation(root: Path, annotation: str | os.PathLike | None) -> Path | None:
    if annotation is not None:
        p = Path(annotation)
        p = p if p.is_absolute() or p.exists() else root / p
        if not p.is_file():
            raise DatasetError(f"SEE annotation file {p} does not exist")
        return p
    for cand in (root / "emotion.json", root.parent / "emotion.json"):
        if cand.is_file():
            return cand
    return None


def _sequence_index(root: Path, modality_dir: str) -> dict[str, tuple[str, Path]]:
    """``sequence name -> (emotion folder name, sequence folder)`` for one modality."""
    base = root / modality_dir
    if not base.is_dir():
        raise DatasetError(f"SEE folder {base} does not exist; expected {root}/event and "
                           f"{root}/frame with one folder per emotion")
    index = {}
    for emo in sorted(p for p in base.iterdir() if p.is_dir()):
        for seq in emo.iterdir():
            if seq.is_dir():
                index[seq.name] = (emo.name, seq)
    return index


class SEE(FERDataset):
    """The SEE dataset: ``(dict(event=[T,3,H,W], rgb=[T,3,H,W]), label)`` per sequence.

    Args:
        root: the ``SEE`` folder (holding ``event/`` and ``frame/``).
        split: ``"train"``, ``"test"`` or ``None`` (default: all, each sample's
            ``extra["subset"]`` telling which; the trainer's holdout protocol uses it).
        annotation: path of the split JSON (default ``root/emotion.json`` or next to root);
            without one, labels come from the emotion folders and there is no split.
        frames: T, frames sampled uniformly over the annotated segment.
        size: output side (or ``(H, W)``); HEC-Net uses 224, SEEN 90.
        modalities: which of ``"event"``, ``"rgb"`` to load.
        lighting: keep only these conditions (e.g. ``["low"]``).
        augment: callable on the dict of tensors (applied to both modalities together).
        cache_dir: cache decoded, resized frame stacks here.
        skip_missing: drop annotated sequences absent on disk instead of raising.

    Metadata: ``subject`` (the ID field), ``condition`` (lighting), ``extra``: ``subset``,
    ``segment``, ``sex``, ``age``, ``degree``, ``take``, ``length``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        annotation: str | os.PathLike | None = None,
        frames: int = 8,
        size: int | tuple[int, int] | None = 224,
        modalities: Sequence[str] = ("event", "rgb"),
        lighting: Sequence[str] | None = None,
        augment: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
        cache_dir: str | os.PathLike | None = None,
        skip_missing: bool = False,
    ):
        self.root = check_root(root, "SEE")
        bad = [m for m in modalities if m not in _MODALITY_DIRS]
        if bad or not modalities:
            raise ArgumentError(f"modalities must be a non-empty subset of ('event', 'rgb'), "
                                f"got {tuple(modalities)}")
        if frames < 1:
            raise ArgumentError(f"frames must be >= 1, got {frames}")
        self.modalities, self.frames, self.size = tuple(modalities), int(frames), size
        self.split = _norm_split(split)
        self.augment = augment
        self.cache = DiskCache(cache_dir) if cache_dir is not None else None
        wanted_light = None
        if lighting is not None:
            wanted_light = {_LIGHTING.get(norm_name(c), c) for c in lighting}
            unknown = wanted_light - set(LIGHTING_CONDITIONS)
            if unknown:
                raise ArgumentError(f"lighting {sorted(unknown)} unknown; choose from "
                                    f"{list(LIGHTING_CONDITIONS)}")
        index = {m: _sequence_index(self.root, _MODALITY_DIRS[m]) for m in self.modalities}
        ann = _find_annotation(self.root, annotation)
        if ann is None and self.split is not None:
            raise DatasetError(f"no SEE split file emotion.json in {self.root} or its parent; "
                               f"pass annotation=PATH, or split=None to use every sequence")
        entries = (self._entries_from_json(ann) if ann is not None
                   else self._entries_from_folders(index[self.modalities[0]]))
        self.samples = []
        missing = []
        for name, label, subset, segment in entries:
            if self.split is not None and subset != self.split:
                continue
            fields = parse_see_sequence(name)
            if wanted_light is not None and fields["lighting"] not in wanted_light:
                continue
            if any(name not in index[m] for m in self.modalities):
                missing.append(name)
                continue
            paths = {m: str(index[m][name][1]) for m in self.modalities}
            self.samples.append(SampleInfo(
                label=label, sequence=name, subject=fields["id"], condition=fields["lighting"],
                path=paths[self.modalities[0]],
                extra={"subset": subset, "segment": segment, "paths": paths,
                       **{k: fields[k] for k in ("sex", "age", "degree", "take", "length")}}))
        if missing and not skip_missing:
            where = ", ".join(f"{self.root}/{_MODALITY_DIRS[m]}" for m in self.modalities)
            raise DatasetError(
                f"{len(missing)} annotated SEE sequence(s) are missing under {where} (first: "
                f"{missing[0]!r}); pass skip_missing=True to use the sequences present")
        self.missing = missing

    def _entries_from_json(self, path: Path) -> list[tuple[str, int, str | None, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetError(f"SEE annotation {path} is not readable JSON: {exc}") from exc
        if not isinstance(data, dict) or "database" not in data:
            raise DatasetError(f"SEE annotation {path}: missing key 'database' (expected "
                               "{'labels': [...], 'database': {name: {...}}})")
        labels = data.get("labels") or list(SEE_EMOTIONS)
        self.classes = [str(c) for c in labels]
        by_name = {norm_name(c): i for i, c in enumerate(self.classes)}
        entries = []
        for key, rec in sorted(data["database"].items()):
            where = f"SEE annotation {path}: database[{key!r}]"
            if not isinstance(rec, dict) or "annotations" not in rec or "subset" not in rec:
                raise DatasetError(f"{where} lacks 'subset' or 'annotations'")
            ann = rec["annotations"]
            if not isinstance(ann, dict) or "label" not in ann:
                raise DatasetError(f"{where}: annotations lack 'label'")
            raw = ann["label"]
            if isinstance(raw, int) and 0 <= raw < len(self.classes):
                label = raw
            elif norm_name(raw) in by_name:
                label = by_name[norm_name(raw)]
            else:
                raise DatasetError(f"{where}: label {raw!r} is not in labels {self.classes}")
            seg = ann.get("segment")
            entries.append((Path(key).name, label, _norm_split(rec["subset"], where), seg))
        return entries

    def _entries_from_folders(self, index: dict[str, tuple[str, Path]]):
        emotions = sorted({norm_name(emo) for emo, _ in index.values()})
        self.classes = [e for e in SEE_EMOTIONS if e in emotions] + [
            e for e in emotions if e not in SEE_EMOTIONS]
        return [(name, self.classes.index(norm_name(emo)), None, None)
                for name, (emo, _) in sorted(index.items())]

    def _frame_stack(self, folder: str, segment: Any) -> np.ndarray:
        return load_frame_stack(folder, self.frames, self.size, segment)

    def load(self, index: int) -> dict[str, torch.Tensor]:
        s = self.samples[index]

        def create() -> dict[str, np.ndarray]:
            return {m: self._frame_stack(s.extra["paths"][m], s.extra["segment"])
                    for m in self.modalities}

        params = {"loader": "SEE", "frames": self.frames, "size": self.size,
                  "segment": s.extra["segment"], "modalities": self.modalities,
                  "others": [source_signature(p) for p in s.extra["paths"].values()]}
        stacks = self.cache.arrays(s.path, params, create) if self.cache else create()
        out = {m: torch.from_numpy(stacks[m]).float().div_(255.0) for m in self.modalities}
        return self.augment(out) if self.augment is not None else out


def load_frame_stack(folder: str | os.PathLike, frames: int,
                     size: int | tuple[int, int] | None, segment: Any = None) -> np.ndarray:
    """uint8 ``[T, C, H, W]`` of one SEE image sequence: ``frames`` images spread uniformly
    over the inclusive ``segment`` ``[start, end]`` (clamped; default all), resized to ``size``."""
    files = list_frames(folder)
    lo, hi = 0, len(files) - 1
    if segment is not None and len(segment) == 2:
        lo = min(max(int(segment[0]), 0), hi)
        hi = min(max(int(segment[1]), lo), hi)
    idx = lo + sample_indices(hi - lo + 1, frames)
    stack = read_frames([files[i] for i in idx])
    return frames_to_tensor(stack, size).mul_(255).round_().to(torch.uint8).numpy()


def _norm_split(split: str | None, where: str = "split") -> str | None:
    if split is None or str(split).lower() in ("all", "none"):
        return None
    key = {"train": "train", "training": "train", "test": "test", "testing": "test",
           "val": "val", "validation": "val"}.get(str(split).lower())
    if key is None:
        raise DatasetError(f"{where}: subset {split!r} must be 'training'/'train' or "
                           "'testing'/'test'")
    return key
