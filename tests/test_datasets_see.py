"""SEE loader on a miniature copy of the SEE layout (tests/dataset_fixtures.make_see_tree)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from snnfer.data.datasets.see import SEE, parse_see_sequence
from snnfer.errors import ArgumentError, DatasetError
from tests.dataset_fixtures import make_see_tree

pytest.importorskip("cv2")


@pytest.fixture
def see(tmp_path):
    return make_see_tree(tmp_path, subjects=3, frames=6)


def test_split_labels_and_metadata(see):
    train = SEE(see["root"], split="train", frames=4, size=16)
    test = SEE(see["root"], split="test", frames=4, size=16)
    everything = SEE(see["root"])  # default: both subsets, tagged in extra["subset"]
    assert len(train) == 14 and len(test) == 7 and len(everything) == 21
    assert sorted({s.extra["subset"] for s in everything.samples}) == ["test", "train"]
    assert train.classes == see["labels"]
    assert sorted(train.labels) == sorted(list(range(7)) * 2)
    assert set(test.subjects) == {"S01"} and set(train.subjects) == {"S00", "S02"}
    # the misspelt neutraL folder is used for the 'neutral' class
    i = train.labels.index(see["labels"].index("neutral"))
    assert "/neutraL/" in train.samples[i].path
    meta = train.metadata(0)
    assert meta["subset"] == "train" and meta["segment"] == [1, 4]
    assert meta["condition"] in {"normal", "overexposure", "low", "hdr"}
    assert set(train.conditions) | set(test.conditions) == {"normal", "overexposure", "low",
                                                            "hdr"}


def test_items_are_both_modalities_from_the_annotated_segment(see):
    ds = SEE(see["root"], split="test", frames=4, size=(12, 16))
    for i in range(len(ds)):
        x, label = ds[i]
        assert set(x) == {"event", "rgb"}
        assert x["rgb"].shape == (4, 3, 12, 16) and x["event"].shape == (4, 3, 12, 16)
        assert x["rgb"].dtype == torch.float32
        # segment [1, 4] of a 6-frame clip, 4 frames: frames 1, 2, 3, 4 (gray 10*label + k)
        k = np.arange(1, 5)
        np.testing.assert_allclose(x["rgb"].mean(dim=(1, 2, 3)) * 255, 10 * label + k, atol=1.5)
        np.testing.assert_allclose(x["event"].mean(dim=(1, 2, 3)) * 255, 100 + 10 * label + k,
                                   atol=1.5)


def test_lighting_filter_modalities_and_cache(see, tmp_path, monkeypatch):
    low = SEE(see["root"], split=None, lighting=["Low"], frames=2, size=8)
    assert len(low) > 0 and set(low.conditions) == {"low"}
    rgb_only = SEE(see["root"], split="test", modalities=("rgb",), frames=2, size=8)
    assert set(rgb_only[0][0]) == {"rgb"}
    cache = tmp_path / "cache"
    a = SEE(see["root"], split="test", frames=3, size=8, cache_dir=cache)
    first = a[0][0]
    assert len(list(cache.glob("*.npz"))) == 1
    import snnfer.data.datasets.see as see_module

    def no_decoding(*args, **kwargs):
        raise AssertionError("frames decoded although cached")

    monkeypatch.setattr(see_module, "read_frames", no_decoding)
    cached = SEE(see["root"], split="test", frames=3, size=8, cache_dir=cache)
    assert torch.equal(cached[0][0]["rgb"], first["rgb"])  # served from the cache file
    # a different setting is a different cache entry (and needs decoding)
    with pytest.raises(AssertionError, match="decoded although cached"):
        SEE(see["root"], split="test", frames=2, size=8, cache_dir=cache)[0]


def test_without_json_labels_come_from_folders(tmp_path):
    see = make_see_tree(tmp_path, subjects=1, with_json=False)
    ds = SEE(see["root"], split=None, frames=2, size=8)
    assert ds.classes == ["angry", "disgust", "fear", "happiness", "neutral", "sadness",
                          "surprise"]
    assert len(ds) == 7 and ds.metadata(0)["subset"] is None
    with pytest.raises(DatasetError, match="emotion.json"):
        SEE(see["root"], split="train")


def test_parse_sequence_name():
    f = parse_see_sequence("0012_S07_F_23_2_Overexposed_happiness_54_1")
    assert f["id"] == "S07" and f["lighting"] == "overexposure" and f["length"] == "54"
    assert parse_see_sequence("1_2_M_30_0_HDR_fear_20_2")["lighting"] == "hdr"


# -- bad input ----------------------------------------------------------------------------
def test_bad_layouts_and_annotations(see, tmp_path):
    root = see["root"]
    with pytest.raises(DatasetError, match="does not exist"):
        SEE(tmp_path / "nowhere")
    ann = json.loads((root / "emotion.json").read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"labels": ann["labels"]}))
    with pytest.raises(DatasetError, match="bad.json: missing key 'database'"):
        SEE(root, annotation=bad)
    first = see["names"][0]
    broken = json.loads(json.dumps(ann))
    broken["database"][first]["annotations"]["label"] = "boredom"
    bad.write_text(json.dumps(broken))
    with pytest.raises(DatasetError, match="label 'boredom' is not in labels"):
        SEE(root, annotation=bad)
    del broken["database"][first]["annotations"]
    bad.write_text(json.dumps(broken))
    with pytest.raises(DatasetError, match=f"database\\['{first}'\\] lacks"):
        SEE(root, annotation=bad)
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not readable JSON"):
        SEE(root, annotation=bad)
    with pytest.raises(DatasetError, match="annotation file .* does not exist"):
        SEE(root, annotation=tmp_path / "missing.json")
    with pytest.raises(DatasetError, match="has 3 '_'-separated fields"):
        parse_see_sequence("0001_S01_F")
    with pytest.raises(DatasetError, match="lighting field 'Dusk'"):
        parse_see_sequence("1_2_M_30_0_Dusk_fear_20_2")
    with pytest.raises(ArgumentError, match="modalities"):
        SEE(root, modalities=("depth",))
    with pytest.raises(ArgumentError, match="lighting"):
        SEE(root, lighting=["moonlight"])


def test_missing_modality_folder_and_sequences(see):
    root = see["root"]
    shutil.rmtree(root / "event" / "fear" / see["names"][2])
    with pytest.raises(DatasetError, match="1 annotated SEE sequence.*missing"):
        SEE(root, split=None)
    assert len(SEE(root, split=None, skip_missing=True)) == 20
    shutil.rmtree(root / "event")
    with pytest.raises(DatasetError, match="SEE/event does not exist"):
        SEE(root)
    assert len(SEE(root, split=None, modalities=("rgb",))) == 21
