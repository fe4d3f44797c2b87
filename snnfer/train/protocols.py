"""Evaluation protocols: fixed/holdout split, stratified k-fold, LOSO, Spiking-FER ``folds.csv``.

Each protocol turns a :class:`~snnfer.data.FERDataset` into a list of :class:`Fold` (index
lists into the dataset), using only sample metadata (no loading). Splits are seeded and
deterministic. Every class must appear in every training split; holdout and k-fold test
splits must also contain every class (leave-one-subject-out and ``folds.csv`` test splits
may not, since a subject rarely shows every expression: their report pools all folds).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError, DatasetError, UnknownNameError

__all__ = [
    "Fold",
    "folds_csv_split",
    "holdout_split",
    "kfold_split",
    "loso_split",
    "make_folds",
    "stratified_partition",
]

PROTOCOLS = ("holdout", "kfold", "loso", "folds_csv")
_SUBSET_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                   "validation": "val", "test": "test", "testing": "test"}


@dataclass
class Fold:
    """One train/validation/test partition (indices into the dataset)."""

    name: str
    train: list[int]
    test: list[int]
    val: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "train": self.train, "val": self.val, "test": self.test}


def stratified_partition(
    indices: Sequence[int], labels: Sequence[int], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Split ``indices`` into (rest, part) with ``round(fraction * n_c)`` of each class in part.

    A class with a single sample stays in ``rest``; with two or more samples at least one goes
    to ``part`` and at least one stays in ``rest``.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = defaultdict(list)
    for i in indices:
        by_class[int(labels[i])].append(int(i))
    rest, part = [], []
    for c in sorted(by_class):
        idx = np.array(by_class[c])
        rng.shuffle(idx)
        n = len(idx)
        k = 0 if n < 2 else min(max(1, round(fraction * n)), n - 1)
        part += idx[:k].tolist()
        rest += idx[k:].tolist()
    return sorted(rest), sorted(part)


def _fixed_subsets(dataset: FERDataset) -> dict[str, list[int]] | None:
    subsets: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(dataset.samples):
        raw = s.extra.get("subset", s.extra.get("split"))
        if raw is None:
            return None
        key = _SUBSET_ALIASES.get(str(raw).lower())
        if key is None:
            raise DatasetError(f"sample {i} ({s.sequence!r}) has subset {raw!r}; expected one "
                               f"of {sorted(_SUBSET_ALIASES)}")
        subsets[key].append(i)
    return subsets


def holdout_split(dataset: FERDataset, test_fraction: float = 0.2, val_fraction: float = 0.1,
                  seed: int = 0) -> Fold:
    """The dataset's fixed split (samples' ``extra["subset"]``, e.g. SEE's 1,638/767) if it
    has one, otherwise a stratified random ``test_fraction`` split."""
    labels = dataset.labels
    fixed = _fixed_subsets(dataset)
    if fixed is not None:
        if not fixed.get("train") or not fixed.get("test"):
            raise DatasetError(f"the dataset's fixed split has {len(fixed.get('train', []))} "
                               f"training and {len(fixed.get('test', []))} test samples; both "
                               "must be non-empty")
        train, val = fixed["train"], fixed.get("val", [])
        if not val and val_fraction > 0:
            train, val = stratified_partition(train, labels, val_fraction, seed + 1)
        return Fold("holdout", train, fixed["test"], val)
    train, test = stratified_partition(range(len(labels)), labels, test_fraction, seed)
    train, val = _carve_val(train, labels, val_fraction, seed)
    return Fold("holdout", train, test, val)


def _carve_val(train: list[int], labels: Sequence[int], val_fraction: float, seed: int
               ) -> tuple[list[int], list[int]]:
    if val_fraction <= 0:
        return train, []
    return stratified_partition(train, labels, val_fraction, seed + 1)


def kfold_split(dataset: FERDataset, folds: int = 5, val_fraction: float = 0.1,
                seed: int = 0) -> list[Fold]:
    """Stratified k-fold: each class's shuffled samples are dealt round-robin to the folds."""
    if folds < 2:
        raise ArgumentError(f"k-fold needs folds >= 2, got {folds}")
    labels = dataset.labels
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in sorted(set(labels)):
        idx = np.flatnonzero(np.asarray(labels) == c)
        rng.shuffle(idx)
        assignment[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)  # continue the deal where the previous class stopped
    out = []
    for k in range(folds):
        test = np.flatnonzero(assignment == k).tolist()
        train = np.flatnonzero(assignment != k).tolist()
        train, val = _carve_val(train, labels, val_fraction, seed + k)
        out.append(Fold(f"fold-{k}", train, test, val))
    return out


def loso_split(dataset: FERDataset, val_fraction: float = 0.1, seed: int = 0) -> list[Fold]:
    """Leave one subject out: one fold per subject (sorted), its samples as the test set."""
    subjects = dataset.subjects
    missing = [i for i, s in enumerate(subjects) if s is None]
    if missing:
        first = dataset.samples[missing[0]].sequence
        raise DatasetError(f"protocol 'loso' needs a subject for every sample, but {len(missing)} "
                           f"sample(s) have none (first: index {missing[0]}, sequence {first!r})")
    names = sorted(set(subjects))
    if len(names) < 2:
        raise DatasetError(f"protocol 'loso' needs at least two subjects, found {names}")
    labels = dataset.labels
    out = []
    for k, subj in enumerate(names):
        test = [i for i, s in enumerate(subjects) if s == subj]
        train = [i for i, s in enumerate(subjects) if s != subj]
        train, val = _carve_val(train, labels, val_fraction, seed + k)
        out.append(Fold(f"subject-{subj}", train, test, val))
    return out


def _norm_sequence(seq: object) -> str:
    stem = Path(str(seq)).stem if "." in str(seq) else str(seq)
    return str(int(stem)) if stem.isdigit() else stem


def folds_csv_split(dataset: FERDataset, csv_path: str | Path, val_fraction: float = 0.1,
                    seed: int = 0) -> list[Fold]:
    """Spiking-FER's ``folds.csv`` (``subject;sequence;label;fold0..fold9``, 1 = test).

    Samples are matched on (subject, sequence); ``003``, ``3`` and ``003.h5`` are the same
    sequence. A sample without a row raises :class:`DatasetError`; rows without a sample
    (a partial conversion) are ignored.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise DatasetError(f"folds file {str(path)!r} does not exist")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=";")
        header = [h.strip() for h in next(reader, [])]
        fold_cols = [i for i, h in enumerate(header) if h.startswith("fold")]
        if header[:2] != ["subject", "sequence"] or not fold_cols:
            raise DatasetError(f"{str(path)!r}: expected the header "
                               f"'subject;sequence;label;fold0;...', got {';'.join(header)!r}")
        table: dict[tuple[str, str], list[int]] = {}
        for line, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < len(header):
                raise DatasetError(f"{str(path)!r} line {line}: {len(row)} fields, expected "
                                   f"{len(header)}")
            try:
                flags = [int(row[i]) for i in fold_cols]
            except ValueError as exc:
                raise DatasetError(f"{str(path)!r} line {line}: fold flags must be 0 or 1, got "
                                   f"{[row[i] for i in fold_cols]}") from exc
            table[(row[0].strip(), _norm_sequence(row[1].strip()))] = flags
    rows = []
    for i, s in enumerate(dataset.samples):
        key = (str(s.subject), _norm_sequence(s.sequence))
        if key not in table:
            raise DatasetError(f"{str(path)!r} has no row for sample {i} (subject {s.subject!r}, "
                               f"sequence {s.sequence!r})")
        rows.append(table[key])
    flags = np.asarray(rows)
    labels = dataset.labels
    out = []
    for k in range(flags.shape[1]):
        test = np.flatnonzero(flags[:, k] == 1).tolist()
        train = np.flatnonzero(flags[:, k] != 1).tolist()
        train, val = _carve_val(train, labels, val_fraction, seed + k)
        out.append(Fold(f"fold-{k}", train, test, val))
    return out


def make_folds(dataset: FERDataset, protocol: str = "holdout", *, test_fraction: float = 0.2,
               val_fraction: float = 0.1, folds: int = 5, seed: int = 0,
               folds_csv: str | Path | None = None, root: str | Path | None = None) -> list[Fold]:
    """The folds of ``protocol``, each checked with :func:`check_fold`."""
    if protocol == "holdout":
        result = [holdout_split(dataset, test_fraction, val_fraction, seed)]
    elif protocol == "kfold":
        result = kfold_split(dataset, folds, val_fraction, seed)
    elif protocol == "loso":
        result = loso_split(dataset, val_fraction, seed)
    elif protocol == "folds_csv":
        if folds_csv is None:
            if root is None:
                raise DatasetError("protocol 'folds_csv' needs data.folds_csv or a data root "
                                   "holding folds.csv")
            folds_csv = Path(root) / "folds.csv"
        result = folds_csv_split(dataset, folds_csv, val_fraction, seed)
    else:
        raise UnknownNameError("protocol", protocol, PROTOCOLS)
    for fold in result:
        check_fold(dataset, fold, require_all_test_classes=protocol in ("holdout", "kfold"))
    return result


def check_fold(dataset: FERDataset, fold: Fold, require_all_test_classes: bool = True) -> None:
    """Raise :class:`DatasetError` if a class is missing from the fold's training split
    (or, with ``require_all_test_classes``, from its test split) or a split is empty."""
    labels = np.asarray(dataset.labels)
    for part in ("train", "test"):
        idx = getattr(fold, part)
        if not idx:
            raise DatasetError(f"{fold.name}: the {part} split is empty")
        if part == "test" and not require_all_test_classes:
            continue
        present = set(labels[idx].tolist())
        absent = [c for c in range(len(dataset.classes)) if c not in present]
        if absent:
            names = [f"{dataset.classes[c]!r} (label {c})" for c in absent]
            counts = np.bincount(labels, minlength=len(dataset.classes))
            raise DatasetError(
                f"{fold.name}: the {part} split has no samples of class(es) {', '.join(names)} "
                f"(dataset counts per class: {counts.tolist()}); every class needs samples in "
                f"the {part} split -- add data, or use fewer folds / a larger split fraction"
            )
