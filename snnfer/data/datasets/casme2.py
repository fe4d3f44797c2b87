"""CASME II micro-expressions (Yan et al., PLoS ONE 2014), converted to events.

Layout (/work/shared/REFERENCE.md)::

    CASME2/
      CASME2-coding-20140508.xlsx          # or a .csv export of the same sheet
      CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ...
      Cropped/sub01/EP02_01f/reg_img46.jpg ...

The coding sheet has the columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
Action Units and Estimated Emotion (happiness, disgust, repression, surprise, sadness, fear,
others); frame numbers are those in the image names. Recorded at 200 fps. Label sets:
``"5"`` - the usual 5 classes (happiness, disgust, repression, surprise, others; sadness and
fear have too few samples and are dropped), ``"3"`` - MEGC 2019's composite classes
(negative = disgust, repression, anger, contempt, fear, sadness; positive = happiness;
surprise; ``others`` dropped), ``"7"`` - every estimated emotion.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from snnfer.data.base import SampleInfo
from snnfer.data.convert import ClipConverter
from snnfer.data.datasets.common import (
    Augmentation,
    EventDataset,
    Representation,
    check_root,
    column_index,
    norm_name,
)
from snnfer.data.video import IMAGE_SUFFIXES, read_frames
from snnfer.errors import ArgumentError, DatasetError, VideoError
from snnfer.optional import require

__all__ = ["CASME2", "CASME2_EMOTIONS", "FIVE_CLASSES", "MEGC2019_CLASSES", "read_sheet"]

CASME2_EMOTIONS = ("happiness", "disgust", "repression", "surprise", "sadness", "fear", "others")
FIVE_CLASSES = ("happiness", "disgust", "repression", "surprise", "others")
MEGC2019_CLASSES = ("negative", "positive", "surprise")
MEGC2019_MAP = {"disgust": "negative", "repression": "negative", "anger": "negative",
                "contempt": "negative", "fear": "negative", "sadness": "negative",
                "happiness": "positive", "surprise": "surprise"}
CASME2_FPS = 200.0
_COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
            "Estimated Emotion")
_FRAME_DIRS = {"raw": ("CASME2_RAW_selected", "img"), "cropped": ("Cropped", "reg_img")}
_FRAME_NUMBER = re.compile(r"(\d+)$")


def read_sheet(path: str | os.PathLike) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the first sheet of an ``.xlsx`` (openpyxl) or a ``.csv`` file."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"annotation sheet {p} does not exist")
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        openpyxl = require("openpyxl", "data", "reading .xlsx coding sheets")
        try:
            book = openpyxl.load_workbook(p, read_only=True, data_only=True)
        except Exception as exc:  # zipfile/XML errors of a corrupt workbook
            raise DatasetError(f"annotation sheet {p} is not a readable .xlsx file: {exc}") \
                from exc
        try:
            rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    elif p.suffix.lower() in (".csv", ".tsv", ".txt"):
        text = p.read_text(encoding="utf-8-sig", errors="replace")
        try:
            dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", ",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(text.splitlines(), dialect))
    else:
        raise DatasetError(f"annotation sheet {p}: unsupported format {p.suffix!r} (expected "
                           ".xlsx or .csv)")
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise DatasetError(f"annotation sheet {p} is empty")
    header = ["" if c is None else str(c).strip() for c in rows[0]]
    return header, rows[1:]


def _frame_number(value: Any) -> int | None:
    """A frame number cell: int, float or numeric text; ``/``, empty or 0 -> None."""
    if value is None:
        return None
    try:
        n = int(float(str(value).strip()))
    except ValueError:
        return None
    return n if n > 0 else None


def _subject(value: Any) -> str:
    text = str(value).strip()
    if text.lower().startswith("sub"):
        text = text[3:]
    try:
        return f"sub{int(float(text)):02d}"
    except ValueError:
        return str(value).strip()


def _frames_by_number(folder: Path) -> dict[int, Path]:
    out = {}
    for p in folder.iterdir():
        m = _FRAME_NUMBER.search(p.stem)
        if p.suffix.lower() in IMAGE_SUFFIXES and m:
            out[int(m.group(1))] = p
    return out


class CASME2(EventDataset):
    """CASME II clips (onset..offset) converted to events: ``([T, C, H, W], label)``.

    Args:
        root: the folder holding the coding sheet and ``CASME2_RAW_selected`` / ``Cropped``.
        labels: ``"5"``, ``"3"`` (MEGC 2019) or ``"7"``.
        frames: ``"cropped"``, ``"raw"`` or ``"auto"`` (cropped if present).
        coding: path of the coding sheet (default: ``root/*coding*.xlsx`` or ``.csv``).
        clip: frame range, ``"onset-offset"`` or ``"onset-apex"``.
        converter: :class:`ClipConverter` (default 200 fps, 112 x 112, ``clean`` preset;
            pass ``align_faces=True`` for the raw frames) or its options as keywords.
        transform / augment / cache_dir: see :class:`EventDataset`.
        skip_missing: drop rows whose frame folder is missing instead of raising.

    Metadata: ``subject`` (``sub01``), ``sequence`` (Filename), ``extra``: ``onset``,
    ``apex``, ``offset``, ``action_units``, ``emotion`` (the sheet's estimated emotion).
    """

    def __init__(self, root: str | os.PathLike, labels: str = "5", frames: str = "auto",
                 coding: str | os.PathLike | None = None, clip: str = "onset-offset",
                 converter: ClipConverter | None = None, transform: Representation | None = None,
                 augment: Augmentation | None = None, cache_dir: str | os.PathLike | None = None,
                 skip_missing: bool = False, **converter_options):
        super().__init__(transform, augment, cache_dir)
        self.root = check_root(root, "CASME II")
        label_sets = {"5": FIVE_CLASSES, "3": MEGC2019_CLASSES, "megc2019": MEGC2019_CLASSES,
                      "7": CASME2_EMOTIONS, "all": CASME2_EMOTIONS}
        if str(labels).lower() not in label_sets:
            raise ArgumentError(f"labels must be '5', '3' (MEGC2019) or '7', got {labels!r}")
        if clip not in ("onset-offset", "onset-apex"):
            raise ArgumentError(f"clip must be 'onset-offset' or 'onset-apex', got {clip!r}")
        if converter is not None and converter_options:
            raise ArgumentError("pass either converter= or converter options, not both")
        options = {"fps": CASME2_FPS, **converter_options}
        self.converter = converter or ClipConverter(**options)
        self.classes = list(label_sets[str(labels).lower()])
        self.labels_name, self.clip = str(labels).lower(), clip
        self.frames_kind = self._frames_kind(frames)
        self.coding = self._find_coding(coding)
        header, rows = read_sheet(self.coding)
        col = {c: column_index(header, c, self.coding) for c in _COLUMNS}
        frame_root = self.root / _FRAME_DIRS[self.frames_kind][0]
        self.samples, self.missing = [], []
        for line, row in enumerate(rows, start=2):
            cell = lambda c: row[col[c]] if col[c] < len(row) else None  # noqa: E731, B023
            emotion = norm_name(cell("Estimated Emotion") or "")
            name = self._class_of(emotion, line)
            if name is None:
                continue
            subject, filename = _subject(cell("Subject")), str(cell("Filename")).strip()
            folder = frame_root / subject / filename
            if not folder.is_dir():
                self.missing.append(str(folder))
                continue
            onset, apex = _frame_number(cell("OnsetFrame")), _frame_number(cell("ApexFrame"))
            offset = _frame_number(cell("OffsetFrame"))
            stop = apex if clip == "onset-apex" and apex is not None else offset
            self.samples.append(SampleInfo(
                label=self.classes.index(name), sequence=filename, subject=subject,
                path=str(folder),
                extra={"onset": onset, "apex": apex, "offset": offset, "emotion": emotion,
                       "action_units": str(cell("Action Units") or ""),
                       "cache_params": {"range": [onset, stop]}}))
        if self.missing and not skip_missing:
            raise DatasetError(f"{len(self.missing)} clip folder(s) listed in {self.coding} are "
                               f"missing (first: {self.missing[0]}); pass skip_missing=True to "
                               "use the clips present")
        self.cache_params = {"converter": self.converter.params()}

    def _frames_kind(self, frames: str) -> str:
        if frames == "auto":
            return "cropped" if (self.root / _FRAME_DIRS["cropped"][0]).is_dir() else "raw"
        if frames not in _FRAME_DIRS:
            raise ArgumentError(f"frames must be 'cropped', 'raw' or 'auto', got {frames!r}")
        if not (self.root / _FRAME_DIRS[frames][0]).is_dir():
            raise DatasetError(f"CASME II frame folder {self.root / _FRAME_DIRS[frames][0]} "
                               "does not exist")
        return frames

    def _find_coding(self, coding: str | os.PathLike | None) -> Path:
        if coding is not None:
            p = Path(coding)
            return p if p.is_absolute() or p.exists() else self.root / p
        found = sorted(p for p in self.root.iterdir() if p.is_file() and "coding" in
                       p.name.lower() and p.suffix.lower() in (".xlsx", ".csv"))
        if not found:
            raise DatasetError(f"no CASME II coding sheet (*coding*.xlsx or .csv) in {self.root}; "
                               "pass coding=PATH")
        return found[0]

    def _class_of(self, emotion: str, line: int) -> str | None:
        """Class name of a sheet emotion, or None if the label set drops it."""
        if emotion not in CASME2_EMOTIONS and emotion not in MEGC2019_MAP:
            raise DatasetError(f"{self.coding} line {line}: Estimated Emotion {emotion!r} is "
                               f"not one of {', '.join(CASME2_EMOTIONS)}")
        if self.labels_name in ("3", "megc2019"):
            return MEGC2019_MAP.get(emotion)
        return emotion if emotion in self.classes else None

    def clip_frames(self, index: int) -> list[Path]:
        """Frame files of sample ``index`` in its frame range (onset..offset, inclusive)."""
        s = self.samples[index]
        frames = _frames_by_number(Path(s.path))
        if not frames:
            raise VideoError(f"CASME II clip {s.path} holds no frames")
        lo, hi = s.extra["cache_params"]["range"]
        lo = lo if lo is not None else min(frames)
        hi = hi if hi is not None else max(frames)
        picked = [frames[k] for k in sorted(frames) if lo <= k <= hi]
        if len(picked) < 2:
            raise VideoError(f"CASME II clip {s.path}: frames {lo}..{hi} of the coding sheet "
                             f"select {len(picked)} image(s) (folder has {min(frames)}.."
                             f"{max(frames)})")
        return picked

    def read_sample_events(self, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        frames = read_frames(self.clip_frames(index))
        fps = self.converter.fps or CASME2_FPS
        return self.converter.frames_to_events(frames, fps, self.samples[index].path)
