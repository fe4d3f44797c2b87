"""Generic folder datasets: event files by class folder, and videos converted on the fly.

* :class:`EventFolder`: ``root/<label>/<sample>.(h5|hdf5|npz|txt|csv|aedat4)``, optionally
  with subject folders in between (``root/<label>/<subject>/<sample>.h5``) - e.g. the output of
  ``snnfer convert`` on a ``<label>/<clip>`` tree.
* :class:`VideoFolder`: ``root/<label>/<video or frame folder>``, or any tree whose relative
  paths match a regular expression with named groups ``emotion`` and ``subject`` (how ADFES and
  SZU-EmoDage are read: :meth:`VideoFolder.adfes`, :meth:`VideoFolder.szu_emodage`); clips are
  converted to events by :class:`~snnfer.data.convert.ClipConverter` and cached.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from snnfer.data.base import SampleInfo
from snnfer.data.convert import ClipConverter, find_clips
from snnfer.data.datasets.common import (
    Augmentation,
    EventDataset,
    Representation,
    check_root,
)
from snnfer.data.video import natural_sort_key
from snnfer.errors import ArgumentError, DatasetError

__all__ = ["ADFES_PATTERN", "EVENT_SUFFIXES", "SZU_EMODAGE_PATTERN", "EventFolder",
           "VideoFolder"]

EVENT_SUFFIXES = (".h5", ".hdf5", ".npz", ".txt", ".csv", ".aedat4")

#: ADFES (van der Schalk et al. 2011): 22 models ``F01``-``F12``/``M01``-``M10`` (also with a
#: Mediterranean ``NE-``/``Med-`` prefix), 10 expressions, and forward / turning-toward /
#: turning-away versions. The distribution's exact file names are not public, so the pattern
#: only assumes the model code and the emotion word appear in the path, in this order,
#: e.g. ``F01-Anger-Face Forward.mpeg`` or ``M05/joy_turn_away.avi``.
ADFES_PATTERN = (r"(?i)(?P<subject>(?:[a-z]+-)?[FM]\d{2})\b.*?(?P<emotion>anger|contempt|disgust"
                 r"|embarrassment|fear|joy|neutral|pride|sadness|surprise)")
#: SZU-EmoDage (Han et al. 2023): its naming is not public either; the pattern takes the
#: first token with digits as the subject and a basic-emotion word after it, e.g.
#: ``S012_happy_2.mp4`` or ``subject12/surprise.avi``.
SZU_EMODAGE_PATTERN = (r"(?i)(?P<subject>[a-z]*\d+)[^/]*?[/_\- .]+.*?(?P<emotion>anger|angry"
                       r"|contempt|disgust|fear|happiness|happy|neutral|sadness|sad|surprise)")


def _class_folders(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_sort_key(p.name))


def _resolve_classes(found: Sequence[str], classes: Sequence[str] | None, root: Path
                     ) -> list[str]:
    if classes is None:
        return sorted(set(found))
    missing = sorted(set(classes) - set(found))
    if missing:
        raise DatasetError(f"classes {missing} have no samples under {root} (found "
                           f"{sorted(set(found))})")
    return list(classes)


def _subject_from(rel: Path, pattern: re.Pattern | None) -> str | None:
    if pattern is not None:
        m = pattern.search(rel.as_posix())
        return m.group("subject") if m and "subject" in pattern.groupindex else None
    # root/<label>/<subject>/<sample>: the folder between label and sample is the subject
    return rel.parts[1] if len(rel.parts) >= 3 else None


class EventFolder(EventDataset):
    """Event files sorted into class folders: ``root/<label>/[<subject>/]<sample>.<ext>``.

    Args:
        root: the folder of class folders.
        classes: class names (order = label ids) to keep; default every folder, sorted.
        subject_pattern: regex with a ``subject`` group, searched in the path relative to
            ``root``; default: the folder between the class folder and the file, if any.
        sensor_size: ``(W, H)`` for files that do not store it (else the file's, or the
            extent of its events).
        transform / augment / cache_dir: see :class:`EventDataset` (caching helps for slow
            formats such as text and AEDAT4).
    """

    def __init__(self, root: str | os.PathLike, classes: Sequence[str] | None = None,
                 subject_pattern: str | None = None,
                 sensor_size: tuple[int, int] | None = None,
                 transform: Representation | None = None, augment: Augmentation | None = None,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__(transform, augment, cache_dir)
        self.root = check_root(root, "event")
        self.sensor_size = sensor_size
        pattern = re.compile(subject_pattern) if subject_pattern else None
        found: dict[str, list[Path]] = {}
        for folder in _class_folders(self.root):
            files = [p for p in folder.rglob("*") if p.is_file()
                     and p.suffix.lower() in EVENT_SUFFIXES and not p.name.startswith(".")]
            if files:
                found[folder.name] = sorted(
                    files, key=lambda p: natural_sort_key(p.relative_to(self.root).as_posix()))
        if not found:
            raise DatasetError(f"no event files ({', '.join(EVENT_SUFFIXES)}) in class folders "
                               f"under {self.root}; expected {self.root}/<label>/<sample>.h5")
        self.classes = _resolve_classes(list(found), classes, self.root)
        self.samples = []
        for label, name in enumerate(self.classes):
            for p in found[name]:
                rel = p.relative_to(self.root)
                self.samples.append(SampleInfo(
                    label=label, sequence=rel.with_suffix("").as_posix(),
                    subject=_subject_from(rel, pattern), path=str(p)))
        self.cache_params = {"sensor_size": sensor_size}

    def read_sample_events(self, index: int):
        from snnfer.data.events import read_events

        return read_events(self.samples[index].path, sensor_size=self.sensor_size)


class VideoFolder(EventDataset):
    """FER videos (or frame folders) converted to events by the DVS emulator.

    Two layouts:

    * ``pattern=None``: ``root/<label>/<clip>`` where a clip is a video file or a folder of
      frames, optionally under a subject folder (``root/<label>/<subject>/<clip>``);
    * ``pattern=REGEX``: every clip under ``root`` whose path relative to ``root`` matches
      (``re.search``) a regex with a named group ``emotion`` (the label) and optionally
      ``subject``; clips that do not match are listed in ``self.unmatched``.

    Labels are lower-cased; ``label_map`` renames them (e.g. ``{"joy": "happiness"}``) and
    ``classes`` selects and orders them (other labels are dropped). Conversion settings
    (face alignment, size, emulator preset, fps) come from ``converter``; converted events
    are cached in ``cache_dir`` (strongly recommended: emulation is the slow part).
    """

    def __init__(self, root: str | os.PathLike, pattern: str | None = None,
                 classes: Sequence[str] | None = None, label_map: dict[str, str] | None = None,
                 converter: ClipConverter | None = None, transform: Representation | None = None,
                 augment: Augmentation | None = None, cache_dir: str | os.PathLike | None = None,
                 **converter_options):
        super().__init__(transform, augment, cache_dir)
        self.root = check_root(root, "video")
        if converter is not None and converter_options:
            raise ArgumentError(f"pass either converter= or converter options, not both "
                                f"(got {sorted(converter_options)})")
        self.converter = converter or ClipConverter(**converter_options)
        self.pattern = pattern
        rx = re.compile(pattern) if pattern else None
        if rx is not None and "emotion" not in rx.groupindex:
            raise ArgumentError(f"pattern {pattern!r} needs a named group (?P<emotion>...)")
        label_map = {k.lower(): v.lower() for k, v in (label_map or {}).items()}
        entries: list[tuple[str, str | None, Path]] = []
        self.unmatched: list[str] = []
        for clip in find_clips(self.root):
            rel = clip.relative_to(self.root)
            if rx is None:
                if len(rel.parts) < 2:
                    self.unmatched.append(rel.as_posix())
                    continue
                label, subject = rel.parts[0], _subject_from(rel, None)
            else:
                m = rx.search(rel.as_posix())
                if m is None:
                    self.unmatched.append(rel.as_posix())
                    continue
                label = m.group("emotion")
                subject = m.group("subject") if "subject" in rx.groupindex else None
            label = label.lower()
            entries.append((label_map.get(label, label), subject, clip))
        if not entries:
            how = (f"paths matching {pattern!r}" if rx else f"{self.root}/<label>/<video or "
                   "frame folder>")
            raise DatasetError(f"no clips found under {self.root}; expected {how}")
        self.classes = _resolve_classes([e[0] for e in entries],
                                        None if classes is None else [c.lower() for c in classes],
                                        self.root)
        wanted = {c: i for i, c in enumerate(self.classes)}
        self.samples = [
            SampleInfo(label=wanted[label], subject=subject, path=str(clip),
                       sequence=clip.relative_to(self.root).as_posix())
            for label, subject, clip in entries if label in wanted]
        self.cache_params = {"converter": self.converter.params()}

    def read_sample_events(self, index: int):
        return self.converter(self.samples[index].path)

    @classmethod
    def adfes(cls, root: str | os.PathLike, **kwargs) -> VideoFolder:
        """ADFES videos via :data:`ADFES_PATTERN` (override with ``pattern=``)."""
        kwargs.setdefault("pattern", ADFES_PATTERN)
        return cls(root, **kwargs)

    @classmethod
    def szu_emodage(cls, root: str | os.PathLike, **kwargs) -> VideoFolder:
        """SZU-EmoDage videos via :data:`SZU_EMODAGE_PATTERN`, emotion words unified
        (happy -> happiness, sad -> sadness, angry -> anger)."""
        kwargs.setdefault("pattern", SZU_EMODAGE_PATTERN)
        kwargs.setdefault("label_map", {"happy": "happiness", "sad": "sadness",
                                        "angry": "anger"})
        return cls(root, **kwargs)

