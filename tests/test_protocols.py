"""Protocols: holdout (fixed/stratified), k-fold, LOSO, Spiking-FER folds.csv, sampler."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from snnfer.data.base import SampleInfo
from snnfer.errors import DatasetError
from snnfer.train.data import BalancedSampler, make_loader
from snnfer.train.protocols import (
    folds_csv_split,
    holdout_split,
    kfold_split,
    loso_split,
    make_folds,
    read_folds_csv,
    stratified_partition,
    subject_holdout_split,
)
from tests.dataset_fixtures import make_ferdvs_tree
from tests.train_fixtures import ToyFER


def _labels(ds, idx):
    return Counter(ds.samples[i].label for i in idx)


def test_stratified_holdout_is_disjoint_stratified_and_seeded():
    ds = ToyFER(per_class=10)  # 30 samples, 10 per class
    fold = holdout_split(ds, test_fraction=0.2, val_fraction=0.25, seed=3)
    parts = [set(fold.train), set(fold.val), set(fold.test)]
    assert sum(map(len, parts)) == 30 and set().union(*parts) == set(range(30))
    assert _labels(ds, fold.test) == {0: 2, 1: 2, 2: 2}
    assert _labels(ds, fold.val) == {0: 2, 1: 2, 2: 2}  # round(0.25 * 8) per class
    assert holdout_split(ds, 0.2, 0.25, seed=3) == fold
    assert holdout_split(ds, 0.2, 0.25, seed=4).test != fold.test


def test_fixed_split_from_sample_subsets():
    ds = ToyFER(per_class=8, fixed_split=True)
    fold = holdout_split(ds, val_fraction=0.0)
    assert [ds.samples[i].extra["subset"] for i in fold.test] == ["test"] * len(fold.test)
    assert len(fold.test) == 6 and len(fold.train) == 18 and fold.val == []
    # a published train/validation split without a test subset (NEFER): evaluated on the
    # validation subset, the epoch selected on a stratified part of the training subset
    ds.samples = [SampleInfo(s.label, s.sequence, s.subject,
                             extra={"subset": "val" if s.extra["subset"] == "test" else "train"})
                  for s in ds.samples]
    fold2 = holdout_split(ds, val_fraction=1 / 6)
    assert fold2.test == fold.test
    assert sorted(fold2.train + fold2.val) == fold.train and _labels(ds, fold2.val) == {
        0: 1, 1: 1, 2: 1}


def test_stratified_partition_edge_cases():
    labels = [0, 1, 1]
    rest, part = stratified_partition(range(3), labels, 0.5, seed=0)
    assert 0 in rest  # a single-sample class stays in the training part
    assert len([i for i in part if labels[i] == 1]) == 1


def test_kfold_covers_every_sample_once_and_is_stratified():
    ds = ToyFER(per_class=10)
    folds = kfold_split(ds, folds=5, val_fraction=0.0, seed=0)
    tests = [i for f in folds for i in f.test]
    assert sorted(tests) == list(range(30))
    for f in folds:
        assert set(f.train).isdisjoint(f.test)
        assert _labels(ds, f.test) == {0: 2, 1: 2, 2: 2}


def test_loso_one_subject_per_fold():
    ds = ToyFER(per_class=8, subjects=4)
    folds = loso_split(ds, val_fraction=0.0)
    assert [f.name for f in folds] == ["subject-s00", "subject-s01", "subject-s02", "subject-s03"]
    for f in folds:
        subj = f.name.removeprefix("subject-")
        assert {ds.samples[i].subject for i in f.test} == {subj}
        assert subj not in {ds.samples[i].subject for i in f.train}
    assert sum(len(f.test) for f in folds) == len(ds)


def test_loso_needs_subjects():
    ds = ToyFER(per_class=4)
    ds.samples[2] = type(ds.samples[2])(label=ds.samples[2].label, sequence="x", subject=None)
    with pytest.raises(DatasetError, match="needs a subject for every sample.*index 2"):
        loso_split(ds)


def test_class_missing_from_training_split_is_an_error():
    ds = ToyFER(per_class=4, subjects=4)
    # class 2 only for subject s00: its LOSO fold has no class-2 training samples
    from snnfer.data.base import SampleInfo

    ds.samples = [s if s.label != 2 else SampleInfo(2, s.sequence, "s00", s.condition)
                  for s in ds.samples]
    with pytest.raises(DatasetError, match=r"subject-s00: the train split has no samples of "
                                           r"class\(es\) 'class2' \(label 2\)"):
        make_folds(ds, "loso")


def test_class_missing_from_holdout_test_split_is_an_error():
    ds = ToyFER(per_class=4)
    from snnfer.data.base import SampleInfo

    # class 1 has a single sample: it cannot be in both train and test
    keep = [s for s in ds.samples if s.label != 1] + [next(s for s in ds.samples if s.label == 1)]
    ds.samples = [SampleInfo(s.label, s.sequence, s.subject) for s in keep]
    with pytest.raises(DatasetError, match="the test split has no samples of class.*'class1'"):
        make_folds(ds, "holdout")


def _write_folds_csv(path, rows):
    header = "subject;sequence;label;" + ";".join(f"fold{k}" for k in range(3))
    path.write_text(header + "\n" + "\n".join(";".join(map(str, r)) for r in rows) + "\n")


def test_spiking_fer_folds_csv(tmp_path):
    ds = ToyFER(per_class=3, subjects=2)  # 9 samples, sequences "000".."008", labels i % 3
    rows = []
    for i, s in enumerate(ds.samples):
        flags = [1 if i // 3 == k else 0 for k in range(3)]
        rows.append([s.subject, int(s.sequence), s.label, *flags])  # "3" matches "003"
    rows.append(["s99", 7, 0, 1, 0, 0])  # a row without a sample is ignored
    _write_folds_csv(tmp_path / "folds.csv", rows)
    folds = folds_csv_split(ds, tmp_path / "folds.csv", val_fraction=0.0)
    assert [f.test for f in folds] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert folds[0].train == [3, 4, 5, 6, 7, 8]
    # make_folds finds <root>/folds.csv by default
    assert make_folds(ds, "folds_csv", root=tmp_path, val_fraction=0.0)[1].test == [3, 4, 5]


def test_folds_csv_errors(tmp_path):
    ds = ToyFER(per_class=2, subjects=2)
    _write_folds_csv(tmp_path / "f.csv", [[ds.samples[0].subject, 0, 0, 1, 0, 0]])
    with pytest.raises(DatasetError, match="has no row for sample 1"):
        folds_csv_split(ds, tmp_path / "f.csv")
    (tmp_path / "g.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DatasetError, match="g.csv' line 1: expected data rows .* or the header"):
        folds_csv_split(ds, tmp_path / "g.csv")
    (tmp_path / "h.csv").write_text("s00;000;1;0;2\n")
    with pytest.raises(DatasetError,
                       match=r"h.csv' line 1: fold flags must be 0 or 1, got \['0', '2'\]"):
        folds_csv_split(ds, tmp_path / "h.csv")
    (tmp_path / "i.csv").write_text("s00;000;1;0;1\ns01;001;1;0\n")
    with pytest.raises(DatasetError, match="different numbers of fold flags"):
        folds_csv_split(ds, tmp_path / "i.csv")
    with pytest.raises(DatasetError, match="needs data.folds_csv, a data root holding folds.csv"):
        make_folds(ds, "folds_csv", root=tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        folds_csv_split(ds, tmp_path / "missing.csv")


def test_headerless_spiking_fer_folds_csv(tmp_path):
    # the published file: no header, 1-based labels, ten 0/1 columns (1 = test)
    (tmp_path / "folds.csv").write_text("S001;001;4;0;0;0;1;1;0;0;1;0;1\n"
                                        "S001;2;1;1;0;0;0;0;0;0;0;0;0\n\n")
    table = read_folds_csv(tmp_path / "folds.csv")
    assert table == {("S001", "1"): [0, 0, 0, 1, 1, 0, 0, 1, 0, 1],
                     ("S001", "2"): [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]}
    # the same rows under a header give the same table
    (tmp_path / "h.csv").write_text("subject;sequence;label;" + ";".join(
        f"fold{k}" for k in range(10)) + "\n" + (tmp_path / "folds.csv").read_text())
    assert read_folds_csv(tmp_path / "h.csv") == table


@pytest.mark.parametrize("header", [False, True])
def test_folds_csv_protocol_agrees_with_the_ferdvs_loader(tmp_path, header):
    from snnfer.data import FerDVS

    fx = make_ferdvs_tree(tmp_path, subjects=4, header=header)
    ds = FerDVS(tmp_path)  # root = the FerDVS folder holding ADFESDVS/
    from_loader = make_folds(ds, "folds_csv", val_fraction=0.0)  # the loader's extra["folds"]
    from_file = make_folds(ds, "folds_csv", folds_csv=fx["base"] / "folds.csv", val_fraction=0.0)
    assert len(from_loader) == 10 and from_loader == from_file
    for k, fold in enumerate(from_loader):
        # fixture rule: sequence j of subject s is a test sample of fold k iff (s + j + k) % 5 == 0
        expected = sorted(i for i, smp in enumerate(ds.samples)
                          if (int(smp.subject[1:]) + int(smp.sequence) + k) % 5 == 0)
        assert fold.test == expected
        assert sorted(fold.train + fold.test) == list(range(len(ds)))
        # the loader's fold=k split (extra["subset"]) is the holdout of the same fold
        holdout = make_folds(FerDVS(tmp_path, fold=k), "holdout", val_fraction=0.0)[0]
        assert holdout.test == fold.test and holdout.train == fold.train


def test_subject_holdout_keeps_subjects_apart():
    ds = ToyFER(per_class=10, subjects=10)  # 30 samples over 10 subjects, 3 per subject
    fold = subject_holdout_split(ds, test_fraction=0.2, val_fraction=0.25, seed=1)
    subj = ds.subjects
    parts = [{subj[i] for i in idx} for idx in (fold.train, fold.val, fold.test)]
    assert [len(p) for p in parts] == [6, 2, 2]  # 2 test subjects, round(0.25 * 8) for val
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sorted(fold.train + fold.val + fold.test) == list(range(30))
    assert subject_holdout_split(ds, 0.2, 0.25, seed=1) == fold
    assert subject_holdout_split(ds, 0.2, 0.25, seed=2).test != fold.test
    assert make_folds(ds, "subject_holdout", test_fraction=0.2, val_fraction=0.25,
                      seed=1) == [fold]
    # too few subjects for a validation subject: validation carved from the training clips
    few = ToyFER(per_class=4, subjects=3)
    fold = subject_holdout_split(few, test_fraction=0.3, val_fraction=0.2, seed=0)
    assert len({few.subjects[i] for i in fold.test}) == 1
    assert not {few.subjects[i] for i in fold.test} & {few.subjects[i] for i in fold.val}
    assert fold.val and not set(fold.val) & set(fold.train)


def test_subject_holdout_needs_subjects():
    ds = ToyFER(per_class=4, subjects=2)
    ds.samples = [SampleInfo(s.label, s.sequence, None) for s in ds.samples]
    with pytest.raises(DatasetError, match="'subject_holdout' needs a subject for every sample"):
        make_folds(ds, "subject_holdout")
    ds.samples = [SampleInfo(s.label, s.sequence, "s0") for s in ds.samples]
    with pytest.raises(DatasetError, match="'subject_holdout' needs at least two subjects"):
        make_folds(ds, "subject_holdout")


def test_balanced_sampler_equalises_classes_and_is_seeded():
    labels = [0] * 80 + [1] * 15 + [2] * 5
    s = BalancedSampler(labels, seed=1)
    counts = Counter()
    for epoch in range(20):
        s.set_epoch(epoch)
        counts.update(labels[i] for i in s)
    # 2000 draws, 1/3 per class: each count within 5 sd of 666.7 (sd ~ 21)
    for c in range(3):
        assert abs(counts[c] - 2000 / 3) < 105
    s.set_epoch(3)
    a = list(s)
    s.set_epoch(3)
    assert list(s) == a
    s.set_epoch(4)
    assert list(s) != a


def test_balanced_sampler_shards_across_ranks():
    labels = [0] * 7 + [1] * 3
    shards = [list(BalancedSampler(labels, seed=0, num_replicas=2, rank=r)) for r in range(2)]
    whole = torch.multinomial(BalancedSampler(labels).weights, 10, replacement=True,
                              generator=torch.Generator().manual_seed(0)).tolist()
    assert shards[0] == whole[0::2] and shards[1] == whole[1::2]


def test_eval_loader_shards_without_padding():
    ds = ToyFER(per_class=3)  # 9 samples
    seen = []
    for rank in range(2):
        loader = make_loader(ds, 4, train=False, num_replicas=2, rank=rank)
        seen += list(loader.sampler)
    assert sorted(seen) == list(range(9))
