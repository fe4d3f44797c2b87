"""NEFER: neuromorphic event-based facial expression recognition (Berlincioni et al., CVPRW 2023).

Layout (/work/shared/REFERENCE.md)::

    NEFER/
      train.csv, val.csv (or any CSV named on construction)     # no header
      event_frames/<path>/frame_NN.png     # temporal binary event representation
      rgb_frames/<path>/frame_NN.png
      event_raw/...                        # raw event streams

Each CSV row is ``user,seq,path/frame_NN.png,label`` - one row per frame; rows of the same
(user, seq) form one sequence (51 frames; 420 training / 125 validation sequences, 7 Ekman
classes). Labels may be class indices (into :data:`NEFER_CLASSES` or ``classes``) or names.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from snnfer.data.base import FERDataset, SampleInfo
from snnfer.data.datasets.common import (
    DiskCache,
    apply_augment,
    check_root,
    default_representation,
    frames_to_tensor,
    norm_name,
    sample_indices,
    source_signature,
)
from snnfer.data.video import natural_sort_key, read_frames
from snnfer.errors import ArgumentError, DatasetError

__all__ = ["NEFER", "NEFER_CLASSES"]

NEFER_CLASSES = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
_FOLDERS = {"event": "event_frames", "rgb": "rgb_frames", "event_raw": "event_raw"}
_SPLIT_NAMES = {"train": ("train", "training"), "val": ("val", "validation", "valid"),
                "test": ("test", "testing")}
_RAW_SUFFIXES = (".h5", ".hdf5", ".npz", ".aedat4", ".txt", ".csv")


def _canonical_split(split: str | None) -> str | None:
    if split is None or str(split).lower() == "all":
        return None
    for key, names in _SPLIT_NAMES.items():
        if str(split).lower() in names:
            return key
    return str(split)


def _find_csv(root: Path, split: str) -> Path:
    names = _SPLIT_NAMES.get(split, (split,))
    for name in names:
        for pattern in (f"{name}.csv", f"*{name}*.csv"):
            found = sorted(root.glob(pattern)) + sorted(root.glob(f"*/{pattern}"))
            if found:
                return found[0]
    raise DatasetError(f"no NEFER annotation CSV for split {split!r} in {root} (looked for "
                       f"{', '.join(n + '.csv' for n in names)}); pass annotation=PATH")


class NEFER(FERDataset):
    """NEFER sequences: ``(x, label)`` with ``x`` ``[T, 3, H, W]`` (event or RGB frames), a
    dict of both (``modality="both"``), or ``[T, C, H, W]`` from the raw events
    (``modality="event_raw"``, via ``transform``).

    Args:
        root: the NEFER folder.
        split: ``"train"``, ``"val"`` (or ``"test"``), used to find ``<split>.csv``; ``None``
            (default) reads every split's CSV found, each sample's ``extra["subset"]`` telling
            which (the trainer's holdout protocol uses it).
        annotation: the CSV path (overrides ``split``'s file).
        modality: ``"event"``, ``"rgb"``, ``"both"`` or ``"event_raw"``.
        frames / size: T frames sampled uniformly; output side (or ``(H, W)``).
        classes: names for integer labels (default :data:`NEFER_CLASSES`).
        transform / augment: for ``event_raw`` (see ``EventDataset``); for frame modalities
            ``augment`` is applied to the tensor (or dict).
        cache_dir: cache decoded frame stacks / raw events.

    Metadata: ``subject`` (user), ``sequence`` (``user/seq``), ``extra``: ``subset``,
    ``frames`` (number of annotated frames), ``dir`` (the sequence's relative folder).
    """

    def __init__(self, root: str | os.PathLike, split: str | None = None,
                 annotation: str | os.PathLike | None = None, modality: str = "event",
                 frames: int = 16, size: int | tuple[int, int] | None = 112,
                 classes: Sequence[str] | None = None, transform: Callable | None = None,
                 augment: Callable | None = None, cache_dir: str | os.PathLike | None = None):
        self.root = check_root(root, "NEFER")
        if modality not in ("event", "rgb", "both", "event_raw"):
            raise ArgumentError(f"modality must be 'event', 'rgb', 'both' or 'event_raw', got "
                                f"{modality!r}")
        if frames < 1:
            raise ArgumentError(f"frames must be >= 1, got {frames}")
        self.modality, self.frames, self.size = modality, int(frames), size
        self.split = _canonical_split(split)
        self.augment = augment
        self.transform = transform or default_representation(frames=self.frames)
        self.cache = DiskCache(cache_dir) if cache_dir is not None else None
        for m in ("event", "rgb") if modality == "both" else (modality,):
            if not (self.root / _FOLDERS[m]).is_dir():
                raise DatasetError(f"NEFER folder {self.root / _FOLDERS[m]} does not exist")
        if annotation is not None:
            self.annotations = {self.split: Path(annotation)}
        elif self.split is not None:
            self.annotations = {self.split: _find_csv(self.root, self.split)}
        else:  # every split found, each sample keeps its subset (for the trainer's holdout)
            self.annotations = {}
            for key in _SPLIT_NAMES:
                try:
                    self.annotations[key] = _find_csv(self.root, key)
                except DatasetError:
                    continue
            if not self.annotations:
                raise DatasetError(f"no NEFER annotation CSV (train.csv, val.csv, ...) in "
                                   f"{self.root}; pass annotation=PATH")
        self._read_annotations(classes)

    def _read_annotations(self, classes: Sequence[str] | None) -> None:
        seqs: dict[tuple[str, str], dict] = {}
        for subset, path in self.annotations.items():
            if not path.is_file():
                raise DatasetError(f"NEFER annotation {path} does not exist")
            n_before = len(seqs)
            with path.open(newline="", encoding="utf-8-sig") as fh:
                for line, row in enumerate(csv.reader(fh), start=1):
                    self._add_row(seqs, [c.strip() for c in row], subset, path, line)
            if len(seqs) == n_before:
                raise DatasetError(f"NEFER annotation {path} holds no rows")
        path = ", ".join(str(p) for p in self.annotations.values())
        raw = [e["label"] for e in seqs.values()]
        if all(v.lstrip("-").isdigit() for v in raw):
            self.classes = list(classes or NEFER_CLASSES)
            bad = [v for v in raw if not 0 <= int(v) < len(self.classes)]
            if bad:
                raise DatasetError(f"{path}: label {bad[0]} outside 0..{len(self.classes) - 1} "
                                   f"({', '.join(self.classes)})")
            to_label = lambda v: int(v)  # noqa: E731
        else:
            self.classes = list(classes or sorted({norm_name(v) for v in raw}))
            index = {norm_name(c): i for i, c in enumerate(self.classes)}
            unknown = sorted({v for v in raw if norm_name(v) not in index})
            if unknown:
                raise DatasetError(f"{path}: labels {unknown} are not in classes {self.classes}")
            to_label = lambda v: index[norm_name(v)]  # noqa: E731
        self.samples = []
        first = "event_raw" if self.modality == "event_raw" else (
            "rgb" if self.modality == "rgb" else "event")
        for (user, seq), e in sorted(seqs.items(), key=lambda kv: (natural_sort_key(kv[0][0]),
                                                                     natural_sort_key(kv[0][1]))):
            frames = sorted(e["frames"], key=lambda p: natural_sort_key(p.as_posix()))
            seq_dir = frames[0].parent
            path = (self._raw_file(seq_dir) if first == "event_raw"
                    else self.root / _FOLDERS[first] / seq_dir)
            self.samples.append(SampleInfo(
                label=to_label(e["label"]), sequence=f"{user}/{seq}", subject=user,
                path=str(path), extra={"subset": e["subset"], "frames": len(frames),
                                       "dir": seq_dir.as_posix(), "files": frames}))

    @staticmethod
    def _add_row(seqs: dict, row: list[str], subset: str | None, path: Path, line: int) -> None:
        if not any(row):
            return
        if len(row) != 4:
            raise DatasetError(f"{path} line {line}: {len(row)} fields, expected 4: "
                               "user,seq,path/frame_NN.png,label")
        user, seq, frame, label = row
        rel = Path(frame)
        if rel.parts and rel.parts[0] in _FOLDERS.values():
            rel = Path(*rel.parts[1:])
        entry = seqs.setdefault((user, seq), {"frames": [], "label": label, "line": line,
                                              "subset": subset, "file": path})
        if entry["label"] != label or entry["subset"] != subset:
            raise DatasetError(f"{path} line {line}: sequence {user}/{seq} has label {label!r} "
                               f"here but {entry['label']!r} on line {entry['line']} of "
                               f"{entry['file'].name}")
        entry["frames"].append(rel)

    def _raw_file(self, seq_dir: Path) -> Path:
        base = self.root / _FOLDERS["event_raw"] / seq_dir
        for cand in [base.with_suffix(s) for s in _RAW_SUFFIXES] + sorted(
                p for p in (base.iterdir() if base.is_dir() else [])
                if p.suffix.lower() in _RAW_SUFFIXES):
            if cand.is_file():
                return cand
        raise DatasetError(f"no raw event file for NEFER sequence {seq_dir} (looked for "
                           f"{base}.<{'|'.join(s[1:] for s in _RAW_SUFFIXES)}> and inside {base})")

    def _stack(self, modality: str, index: int) -> torch.Tensor:
        s = self.samples[index]
        files = s.extra["files"]
        picked = [self.root / _FOLDERS[modality] / files[i]
                  for i in sample_indices(len(files), self.frames)]
        missing = [p for p in picked if not p.is_file()]
        if missing:
            raise DatasetError(f"NEFER frame {missing[0]} listed in "
                               f"{self.annotations[s.extra['subset']]} does not exist")
        return frames_to_tensor(read_frames(picked), self.size)

    def load(self, index: int):
        s = self.samples[index]
        if self.modality == "event_raw":
            from snnfer.data.events import read_events

            def create():
                return read_events(s.path)

            events, size = (self.cache.events(s.path, {"loader": "NEFER"}, create)
                            if self.cache else create())
            return apply_augment(self.augment, events, size, self.transform)
        mods = ("event", "rgb") if self.modality == "both" else (self.modality,)

        def create_arrays():
            return {m: self._stack(m, index).mul(255).round().to(torch.uint8).numpy()
                    for m in mods}

        if self.cache is not None:
            params = {"loader": "NEFER", "frames": self.frames, "size": self.size,
                      "mods": mods, "dirs": [source_signature(self.root / _FOLDERS[m] /
                                                              s.extra["dir"]) for m in mods]}
            arrays = self.cache.arrays(s.path, params, create_arrays)
        else:
            arrays = create_arrays()
        out = {m: torch.from_numpy(arrays[m]).float().div_(255.0) for m in mods}
        x = out if self.modality == "both" else out[self.modality]
        return self.augment(x) if self.augment is not None else x
