"""NEFER loader: header-less per-frame CSV rows grouped into sequences, three modalities."""

from __future__ import annotations

import numpy as np
import pytest

from snnfer.data.datasets import NEFER
from snnfer.data.transforms import ToCountFrames
from snnfer.errors import ArgumentError, DatasetError
from tests.dataset_fixtures import make_nefer_tree

pytest.importorskip("cv2")


@pytest.mark.parametrize("labels_as", ["int", "name"])
def test_sequences_labels_and_frames(tmp_path, labels_as):
    fx = make_nefer_tree(tmp_path, users=2, seqs=4, frames=5, labels_as=labels_as)
    train = NEFER(tmp_path, split="train", frames=5, size=(8, 10))
    val = NEFER(tmp_path, split="validation", frames=5, size=(8, 10))
    assert len(train) == 6 and len(val) == 2
    assert set(train.subjects) == {"user0", "user1"}
    for ds in (train, val):
        for i, s in enumerate(ds.samples):
            u, q = (int(v[-1]) for v in s.sequence.split("/"))
            label = (u + q) % 7
            assert ds.classes[s.label] == fx["names"][label]
            x, y = ds[i]
            assert x.shape == (5, 3, 8, 10)
            np.testing.assert_allclose(x.mean(dim=(1, 2, 3)) * 255, 200 - 20 * label
                                       - np.arange(5), atol=1)
    assert train.metadata(0)["subset"] == "train" and train.metadata(0)["frames"] == 5
    both = NEFER(tmp_path, frames=2, size=8)  # default: every split, tagged
    assert len(both) == 8
    assert sorted(s.extra["subset"] for s in both.samples) == ["train"] * 6 + ["val"] * 2


def test_rgb_both_and_raw_modalities(tmp_path):
    make_nefer_tree(tmp_path)
    rgb = NEFER(tmp_path, modality="rgb", frames=3, size=8)
    x, y = rgb[0]
    np.testing.assert_allclose(x.mean(dim=(1, 2, 3)) * 255, 20 * y + np.array([0, 2, 4]),
                               atol=1)
    both = NEFER(tmp_path, modality="both", frames=2, size=8, cache_dir=tmp_path / "cache")
    assert set(both[0][0]) == {"event", "rgb"}
    raw = NEFER(tmp_path, modality="event_raw", transform=ToCountFrames(n_bins=1))
    for i in range(len(raw)):
        x, y = raw[i]
        assert int(x.sum()) == 10 * (y + 1)


def test_bad_input(tmp_path):
    make_nefer_tree(tmp_path)
    with pytest.raises(DatasetError, match="no NEFER annotation CSV for split 'test'"):
        NEFER(tmp_path, split="test")
    with pytest.raises(ArgumentError, match="modality"):
        NEFER(tmp_path, modality="depth")
    bad = tmp_path / "bad.csv"
    bad.write_text("user0,seq0,user0/seq0/frame_00.png\n")
    with pytest.raises(DatasetError, match="bad.csv line 1: 3 fields, expected 4"):
        NEFER(tmp_path, annotation=bad)
    bad.write_text("user0,seq0,user0/seq0/frame_00.png,1\nuser0,seq0,user0/seq0/frame_01.png,2\n")
    with pytest.raises(DatasetError, match="line 2: sequence user0/seq0 has label '2'"):
        NEFER(tmp_path, annotation=bad)
    bad.write_text("user0,seq0,user0/seq0/frame_00.png,9\n")
    with pytest.raises(DatasetError, match="label 9 outside 0..6"):
        NEFER(tmp_path, annotation=bad)
    bad.write_text("user0,seq0,user0/seq0/frame_77.png,1\n")
    with pytest.raises(DatasetError, match="frame_77.png listed in .*bad.csv does not exist"):
        NEFER(tmp_path, annotation=bad)[0]
    import shutil

    shutil.rmtree(tmp_path / "rgb_frames")
    with pytest.raises(DatasetError, match="rgb_frames does not exist"):
        NEFER(tmp_path, modality="rgb")
