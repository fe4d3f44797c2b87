"""FerDVS: Spiking-FER's event versions of ADFES, CASIA, CK+ and MMI (Barchid et al., 2023).

Layout (Barchid/spiking-fer; /work/shared/REFERENCE.md)::

    FerDVS/<Dataset>/folds.csv                  # subject;sequence;label;fold0;...;fold9
    FerDVS/<Dataset>/<subject>/<seq:03d>.h5     # dataset "events" [N, 4] = t, x, y, p

with ``<Dataset>`` one of ADFESDVS, CASIADVS, CKPlusDVS, MMIDVS, a 200 x 200 sensor, and 6
classes (happy, fear, surprise, anger, disgust, sadness; 1-based in ``folds.csv``). The
published ``folds.csv`` has no header; in fold ``k``, ``1`` marks a test sample (10 random
~80/20 splits, not subject-independent).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from snnfer.data.base import SampleInfo
from snnfer.data.datasets.common import (
    Augmentation,
    EventDataset,
    Representation,
    check_root,
    norm_name,
)
from snnfer.errors import ArgumentError, DatasetError

__all__ = ["FERDVS_CLASSES", "FERDVS_DATASETS", "FerDVS"]

FERDVS_CLASSES = ("happy", "fear", "surprise", "anger", "disgust", "sadness")
FERDVS_DATASETS = ("ADFESDVS", "CASIADVS", "CKPlusDVS", "MMIDVS")
FERDVS_SENSOR = (200, 200)
_ALIASES = {norm_name(a): d for d in FERDVS_DATASETS
            for a in (d, d[:-3], d.replace("Plus", "+")[:-3])}


def _read_folds(path: Path) -> list[tuple[str, str, int, list[int]]]:
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.reader(fh, delimiter=";"), start=1):
            row = [c.strip() for c in row]
            if not any(row):
                continue
            if line == 1 and (len(row) < 3 or not row[2].lstrip("-").isdigit()):
                if row[:3] != ["subject", "sequence", "label"]:
                    raise DatasetError(f"{path} line 1: expected 'subject;sequence;label;fold0"
                                       f";...' or a data row, got {';'.join(row)!r}")
                continue  # header
            if len(row) < 4:
                raise DatasetError(f"{path} line {line}: {len(row)} ';'-separated fields, "
                                   "expected subject;sequence;label;fold0;...;fold9")
            try:
                label, flags = int(row[2]), [int(v) for v in row[3:]]
            except ValueError as exc:
                raise DatasetError(f"{path} line {line}: label and fold flags must be integers, "
                                   f"got {';'.join(row[2:])!r}") from exc
            if not 1 <= label <= len(FERDVS_CLASSES):
                raise DatasetError(f"{path} line {line}: label {label} outside 1.."
                                   f"{len(FERDVS_CLASSES)} ({', '.join(FERDVS_CLASSES)})")
            rows.append((row[0], row[1], label - 1, flags))
    if not rows:
        raise DatasetError(f"{path} holds no samples")
    return rows


class FerDVS(EventDataset):
    """A FerDVS dataset: ``([T, C, H, W], label)`` per sequence.

    Args:
        root: the FerDVS folder (holding ``<Dataset>/``) or one dataset's folder itself (the
            one holding ``folds.csv``, under any name).
        dataset: ADFESDVS, CASIADVS, CKPlusDVS or MMIDVS (also ADFES, CASIA, CK+, MMI);
            default: the root's own folder name when it is one of these, else ADFESDVS.
        fold: which ``folds.csv`` column defines ``split`` and ``extra["subset"]`` (0-9).
        split: ``"train"``, ``"test"`` or ``None`` (every sample; ``subset`` still set).
        transform / augment / cache_dir: see :class:`EventDataset`.

    Metadata: ``subject`` (e.g. ``S001``), ``sequence`` (``001``), ``extra``: ``subset``,
    ``folds`` (the ten 0/1 test flags).
    """

    def __init__(self, root: str | os.PathLike, dataset: str | None = None, fold: int = 0,
                 split: str | None = None, transform: Representation | None = None,
                 augment: Augmentation | None = None,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__(transform, augment, cache_dir)
        base = check_root(root, "FerDVS")
        # root is either the FerDVS folder (holding <Dataset>/) or one dataset's folder (it
        # holds folds.csv); a dataset folder named like a FerDVS set names the dataset
        own = _ALIASES.get(norm_name(base.name)) if (base / "folds.csv").is_file() else None
        name = (own or "ADFESDVS") if dataset is None else _ALIASES.get(norm_name(dataset))
        if name is None:
            raise ArgumentError(f"dataset {dataset!r} is not a FerDVS dataset; choose from "
                                f"{', '.join(FERDVS_DATASETS)}")
        if own is not None and own != name:
            raise ArgumentError(f"root {str(base)!r} is the {own} folder but dataset={dataset!r} "
                                f"asks for {name}; pass the FerDVS folder or {name}'s own")
        self.dataset = name
        self.root = base if (base / "folds.csv").is_file() else base / name
        folds = self.root / "folds.csv"
        if not folds.is_file():
            raise DatasetError(f"FerDVS folds file {folds} does not exist (expected "
                               f"<root>/{name}/folds.csv next to the <subject>/ folders)")
        if split not in (None, "train", "test"):
            raise ArgumentError(f"split must be 'train', 'test' or None, got {split!r}")
        rows = _read_folds(folds)
        n_folds = min(len(r[3]) for r in rows)
        if not 0 <= fold < n_folds:
            raise ArgumentError(f"fold must be in 0..{n_folds - 1} ({folds} has {n_folds} fold "
                                f"columns), got {fold}")
        self.fold, self.split = fold, split
        self.classes = list(FERDVS_CLASSES)
        self.samples = []
        for subject, seq, label, flags in rows:
            subset = "test" if flags[fold] == 1 else "train"
            if split is not None and subset != split:
                continue
            seq = seq.zfill(3) if seq.isdigit() else Path(seq).stem
            path = self.root / subject / f"{seq}.h5"
            if not path.is_file():
                raise DatasetError(f"{folds} lists subject {subject} sequence {seq} but "
                                   f"{path} does not exist")
            self.samples.append(SampleInfo(label=label, sequence=seq, subject=subject,
                                           path=str(path),
                                           extra={"subset": subset, "folds": flags}))

    def read_sample_events(self, index: int):
        from snnfer.data.events import read_events

        return read_events(self.samples[index].path, sensor_size=FERDVS_SENSOR)
