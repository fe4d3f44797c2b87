"""FerDVS loader on a miniature Spiking-FER layout (header-less folds.csv, v2e HDF5)."""

from __future__ import annotations

import pytest

from snnfer.data.datasets import FerDVS
from snnfer.data.transforms import ToCountFrames
from snnfer.errors import ArgumentError, DatasetError, EventFormatError
from tests.dataset_fixtures import make_ferdvs_tree

pytest.importorskip("h5py")


@pytest.mark.parametrize("header", [False, True])
def test_samples_labels_and_folds(tmp_path, header):
    fx = make_ferdvs_tree(tmp_path, subjects=3, header=header)
    ds = FerDVS(tmp_path, dataset="ADFES", fold=2, transform=ToCountFrames(n_bins=4))
    assert ds.classes == ["happy", "fear", "surprise", "anger", "disgust", "sadness"]
    assert len(ds) == 18 and ds.dataset == "ADFESDVS"
    for i, s in enumerate(ds.samples):
        label, flags, n = fx["info"][(s.subject, s.sequence)]
        assert s.label == label and s.extra["folds"] == flags
        assert s.extra["subset"] == ("test" if flags[2] else "train")
        x, y = ds[i]
        assert x.shape == (4, 2, 200, 200) and y == label
        assert int(x.sum()) == n  # the right file: 100 * j events
    test = FerDVS(fx["base"], dataset="ADFESDVS", fold=2, split="test")  # root = dataset dir
    assert len(test) == sum(f[2] for _, f, _ in fx["info"].values())
    assert {s.extra["subset"] for s in test.samples} == {"test"}


def test_root_may_be_one_datasets_folder_under_any_name(tmp_path):
    """`--data /data/FerDVS/CKPlusDVS` names its dataset; a renamed dataset folder works too;
    a root that is one set's folder but a dataset argument naming another is an error."""
    fx = make_ferdvs_tree(tmp_path, dataset="CKPlusDVS", subjects=2)
    ck = FerDVS(fx["base"])                                     # dataset from the folder name
    assert ck.dataset == "CKPlusDVS" and len(ck) == 12
    assert FerDVS(fx["base"], dataset="CK+").dataset == "CKPlusDVS"
    with pytest.raises(ArgumentError, match="is the CKPlusDVS folder but dataset='MMI'"):
        FerDVS(fx["base"], dataset="MMI")
    renamed = fx["base"].rename(tmp_path / "ck_events")
    other = FerDVS(renamed, dataset="CK+")                      # any folder holding folds.csv
    assert other.dataset == "CKPlusDVS" and len(other) == 12
    assert [s.path for s in other.samples] == [
        s.path.replace(str(fx["base"]), str(renamed)) for s in ck.samples]


def test_bad_input(tmp_path):
    fx = make_ferdvs_tree(tmp_path, subjects=1)
    with pytest.raises(ArgumentError, match="not a FerDVS dataset"):
        FerDVS(tmp_path, dataset="AffectNet")
    with pytest.raises(DatasetError, match="CASIADVS/folds.csv does not exist"):
        FerDVS(tmp_path, dataset="CASIA")
    with pytest.raises(ArgumentError, match="fold must be in 0..9"):
        FerDVS(tmp_path, fold=10)
    folds = fx["base"] / "folds.csv"
    good = folds.read_text()
    folds.write_text(good.replace("S001;001;1;", "S001;001;9;", 1))
    with pytest.raises(DatasetError, match="folds.csv line 1: label 9 outside 1..6"):
        FerDVS(tmp_path)
    folds.write_text(good.replace("S001;002;2;", "S001;002;two;", 1))
    with pytest.raises(DatasetError, match="line 2: label and fold flags must be integers"):
        FerDVS(tmp_path)
    folds.write_text(good + "S009;001;1;0;0;0;0;0;0;0;0;0;0\n")
    with pytest.raises(DatasetError, match="S009/001.h5 does not exist"):
        FerDVS(tmp_path)
    folds.write_text(good)
    (fx["base"] / "S001" / "003.h5").write_bytes(b"\x89HDF\r\n truncated")
    ds = FerDVS(tmp_path)
    with pytest.raises(EventFormatError, match="003.h5"):
        ds[[s.sequence for s in ds.samples].index("003")]
