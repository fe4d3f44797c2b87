"""Evaluation protocols: fixed/holdout split, held-out subjects, stratified k-fold, LOSO,
Spiking-FER ``folds.csv``.

Each protocol turns a :class:`~snnfer.data.FERDataset` into a list of :class:`Fold` (index
lists into the dataset), using only sample metadata (no loading). Splits are seeded and
deterministic. Every class must appear in every training split; random (stratified holdout
and k-fold) test splits must also contain every class; a dataset's own fixed split and the
subject-wise and ``folds.csv`` test splits may not (a subject rarely shows every expression).
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
    "read_folds_csv",
    "stratified_partition",
    "subject_holdout_split",
]

PROTOCOLS = ("holdout", "subject_holdout", "kfold", "loso", "folds_csv")
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
    has one, otherwise a stratified random ``test_fraction`` split.

    A fixed split with only train and validation subsets (NEFER publishes 420 training and
    125 validation sequences and reports on the latter) is evaluated on its validation
    subset; the epoch is then selected on ``val_fraction`` of the training subset."""
    labels = dataset.labels
    fixed = _fixed_subsets(dataset)
    if fixed is not None and not fixed.get("test") and fixed.get("val"):
        fixed = {"train": fixed.get("train", []), "test": fixed["val"]}
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


def _subjects_of(dataset: FERDataset, protocol: str) -> list[str]:
    subjects = dataset.subjects
    missing = [i for i, s in enumerate(subjects) if s is None]
    if missing:
        first = dataset.samples[missing[0]].sequence
        raise DatasetError(f"protocol {protocol!r} needs a subject for every sample, but "
                           f"{len(missing)} sample(s) have none (first: index {missing[0]}, "
                           f"sequence {first!r})")
    names = sorted(set(subjects))
    if len(names) < 2:
        raise DatasetError(f"protocol {protocol!r} needs at least two subjects, found {names}")
    return names


def subject_holdout_split(dataset: FERDataset, test_fraction: float = 0.2,
                          val_fraction: float = 0.1, seed: int = 0) -> Fold:
    """Subject-independent holdout: ``round(test_fraction * S)`` of the ``S`` subjects (at
    least one, chosen with ``seed``) form the test set, ``round(val_fraction * rest)`` of the
    remaining subjects the validation set (at least one when ``val_fraction > 0`` and three
    or more subjects remain; with fewer, validation clips are carved stratified from the
    training subjects). No subject is in two parts."""
    names = _subjects_of(dataset, "subject_holdout")
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    n_test = min(max(1, round(test_fraction * len(names))), len(names) - 1)
    test_subjects, rest = set(order[:n_test]), order[n_test:]
    n_val = 0
    if val_fraction > 0 and len(rest) >= 3:
        n_val = min(max(1, round(val_fraction * len(rest))), len(rest) - 1)
    val_subjects = set(rest[:n_val])
    subjects = dataset.subjects
    test = [i for i, s in enumerate(subjects) if s in test_subjects]
    val = [i for i, s in enumerate(subjects) if s in val_subjects]
    train = [i for i, s in enumerate(subjects) if s not in test_subjects and s not in val_subjects]
    if not val_subjects:
        train, val = _carve_val(train, dataset.labels, val_fraction, seed)
    return Fold("subject_holdout", train, test, val)


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
    names = _subjects_of(dataset, "loso")
    subjects = dataset.subjects
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


def read_folds_csv(csv_path: str | Path) -> dict[tuple[str, str], list[int]]:
    """(subject, normalised sequence) -> test flags per fold, from a Spiking-FER ``folds.csv``.

    Rows are ``subject;sequence;label;f0;f1;...`` (``1`` = test in that fold). The file
    published with Spiking-FER has no header; a first line ``subject;sequence;label;fold0;...``
    is accepted too (then only the ``fold*`` columns are read).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise DatasetError(f"folds file {str(path)!r} does not exist")
    table: dict[tuple[str, str], list[int]] = {}
    fold_cols: list[int] | None = None
    width = 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.reader(fh, delimiter=";"), start=1):
            row = [c.strip() for c in row]
            if not "".join(row):
                continue
            if fold_cols is None and not table and not _is_int(row[2] if len(row) > 2 else ""):
                fold_cols = [i for i, h in enumerate(row) if h.lower().startswith("fold")]
                if row[:2] != ["subject", "sequence"] or not fold_cols:
                    raise DatasetError(
                        f"{str(path)!r} line {line}: expected data rows 'subject;sequence;label;"
                        f"0;1;...' (Spiking-FER, no header) or the header 'subject;sequence;"
                        f"label;fold0;...', got {';'.join(row)!r}")
                width = len(row)
                continue
            cols = fold_cols if fold_cols is not None else list(range(3, len(row)))
            if len(row) < max(width, 4) or not cols:
                raise DatasetError(f"{str(path)!r} line {line}: {len(row)} ';'-separated fields, "
                                   "expected subject;sequence;label and at least one fold flag")
            flags = [row[i] for i in cols]
            if not all(f in ("0", "1") for f in flags):
                raise DatasetError(f"{str(path)!r} line {line}: fold flags must be 0 or 1, got "
                                   f"{flags}")
            table[(row[0], _norm_sequence(row[1]))] = [int(f) for f in flags]
    if not table:
        raise DatasetError(f"folds file {str(path)!r} holds no rows")
    if len({len(v) for v in table.values()}) > 1:
        raise DatasetError(f"{str(path)!r}: rows have different numbers of fold flags "
                           f"{sorted({len(v) for v in table.values()})}")
    return table


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def folds_csv_split(dataset: FERDataset, csv_path: str | Path | None = None,
                    val_fraction: float = 0.1, seed: int = 0) -> list[Fold]:
    """Spiking-FER's ``folds.csv`` protocol: fold ``k`` tests the samples flagged 1 in column k.

    With ``csv_path`` the flags are read from that file (:func:`read_folds_csv`; header-less
    as published, or with a header) and samples are matched on (subject, sequence), where
    ``003``, ``3`` and ``003.h5`` are the same sequence; a sample without a row raises
    :class:`DatasetError`, rows without a sample (a partial conversion) are ignored.
    Without ``csv_path`` the flags the loader read (``extra["folds"]``, as
    :class:`snnfer.data.FerDVS` stores them) are used, so the protocol and the loader's
    ``fold=``/``extra["subset"]`` always agree.
    """
    if csv_path is None:
        rows = [s.extra.get("folds") for s in dataset.samples]
        if any(r is None for r in rows):
            raise DatasetError("protocol 'folds_csv' needs data.folds_csv (a folds.csv file) "
                               "or a dataset whose samples carry extra['folds'] (FerDVS)")
        where = "the dataset's extra['folds']"
    else:
        table = read_folds_csv(csv_path)
        where = repr(str(csv_path))
        rows = []
        for i, s in enumerate(dataset.samples):
            key = (str(s.subject), _norm_sequence(s.sequence))
            if key not in table:
                raise DatasetError(f"{where} has no row for sample {i} (subject {s.subject!r}, "
                                   f"sequence {s.sequence!r})")
            rows.append(table[key])
    if len({len(r) for r in rows}) != 1:
        raise DatasetError(f"{where}: samples have different numbers of fold flags")
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
    elif protocol == "subject_holdout":
        result = [subject_holdout_split(dataset, test_fraction, val_fraction, seed)]
    elif protocol == "kfold":
        result = kfold_split(dataset, folds, val_fraction, seed)
    elif protocol == "loso":
        result = loso_split(dataset, val_fraction, seed)
    elif protocol == "folds_csv":
        if folds_csv is None and not all("folds" in s.extra for s in dataset.samples):
            if root is None or not (Path(root) / "folds.csv").is_file():
                raise DatasetError("protocol 'folds_csv' needs data.folds_csv, a data root "
                                   "holding folds.csv, or a dataset whose samples carry "
                                   "extra['folds'] (FerDVS)")
            folds_csv = Path(root) / "folds.csv"
        result = folds_csv_split(dataset, folds_csv, val_fraction, seed)
    else:
        raise UnknownNameError("protocol", protocol, PROTOCOLS)
    # random splits must test every class; a dataset's published split (SEE, a FerDVS fold)
    # is taken as it is, like the subject-wise protocols
    strict = protocol == "kfold" or (protocol == "holdout" and _fixed_subsets(dataset) is None)
    for fold in result:
        check_fold(dataset, fold, require_all_test_classes=strict)
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
