"""EventFolder and VideoFolder (incl. the ADFES pattern) on generated trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnfer.data.convert import ClipConverter
from snnfer.data.datasets import ADFES_PATTERN, SZU_EMODAGE_PATTERN, EventFolder, VideoFolder
from snnfer.data.transforms import DropRandom, FlipHorizontal, RandomFlipTensor, ToCountFrames
from snnfer.errors import ArgumentError, DatasetError, VideoError
from tests.dataset_fixtures import make_event_folder, make_video_folder

pytest.importorskip("cv2")
COUNT = ToCountFrames(n_bins=2, polarity="merge")


def test_event_folder_reads_every_format(tmp_path):
    counts = make_event_folder(tmp_path, formats=("npz", "h5", "txt"))
    ds = EventFolder(tmp_path, transform=COUNT)
    assert ds.classes == ["happy", "sad"] and len(ds) == 6
    for i, s in enumerate(ds.samples):
        rel = s.path[len(str(tmp_path)) + 1:]
        x, y = ds[i]
        assert x.shape == (2, 1, 24, 32) and int(x.sum()) == counts[rel]
        assert y == ds.classes.index(rel.split("/")[0]) and s.subject is None
    only = EventFolder(tmp_path, classes=["sad"], transform=COUNT)
    assert only.classes == ["sad"] and set(only.labels) == {0} and len(only) == 3


def test_event_folder_subjects_augment_and_cache(tmp_path):
    make_event_folder(tmp_path / "data", subjects=True)
    ds = EventFolder(tmp_path / "data", transform=COUNT)
    assert set(ds.subjects) == {"subj0", "subj1"}
    ds = EventFolder(tmp_path / "data", subject_pattern=r"sample(?P<subject>\d)", transform=COUNT)
    assert set(ds.subjects) == {"0", "1", "2"}
    dropped = EventFolder(tmp_path / "data", transform=COUNT,
                          augment=DropRandom(ratio=(0.5, 0.5), seed=0))
    assert dropped[0][0].sum() < ds[0][0].sum()
    flipped = EventFolder(tmp_path / "data", transform=ToCountFrames(n_bins=1),
                          augment=FlipHorizontal(p=1.0))
    plain = EventFolder(tmp_path / "data", transform=ToCountFrames(n_bins=1))
    assert torch.equal(flipped[0][0], plain[0][0].flip(-1))
    tensor_aug = EventFolder(tmp_path / "data", transform=ToCountFrames(n_bins=1),
                             augment=RandomFlipTensor(p=1.0))  # tensor stage: after binning
    assert torch.equal(tensor_aug[0][0], plain[0][0].flip(-1))
    cached = EventFolder(tmp_path / "data", transform=COUNT, cache_dir=tmp_path / "cache")
    first = cached[1][0]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    assert torch.equal(cached[1][0], first)


def test_event_folder_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        EventFolder(tmp_path / "missing")
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no event files"):
        EventFolder(tmp_path / "empty")
    make_event_folder(tmp_path / "d")
    with pytest.raises(DatasetError, match=r"classes \['angry'\] have no samples"):
        EventFolder(tmp_path / "d", classes=["angry"])


def test_video_folder_converts_videos_and_frame_folders(tmp_path):
    made = make_video_folder(tmp_path / "v")
    ds = VideoFolder(tmp_path / "v", size=16, transform=COUNT, cache_dir=tmp_path / "cache")
    assert ds.classes == ["happy", "sad"] and len(ds) == 4
    assert sorted(s.sequence for s in ds.samples) == sorted(made)
    assert [s.subject for s in ds.samples if "subj2" in s.sequence] == ["subj2"]
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (2, 1, 16, 16) and x.sum() > 20  # a moving blob makes events
        assert ds.classes[y] == made[ds.samples[i].sequence]
    # identical to converting the clip directly, and cached (second access reads the file)
    events, size = ClipConverter(size=16)(ds.samples[0].path)
    assert size == (16, 16) and torch.equal(ds[0][0], COUNT(events, size))
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 4


def test_video_folder_adfes_pattern(tmp_path):
    made = make_video_folder(tmp_path, layout="adfes")
    ds = VideoFolder.adfes(tmp_path, size=16, transform=COUNT)
    assert ds.classes == ["anger", "joy"]
    assert {(s.subject, ds.classes[s.label]) for s in ds.samples} == set(made.values())
    renamed = VideoFolder.adfes(tmp_path, size=16, transform=COUNT,
                                label_map={"joy": "happiness"}, classes=["happiness", "anger"])
    assert renamed.classes == ["happiness", "anger"]
    assert sorted(renamed.labels) == [0, 0, 1, 1]


def test_documented_patterns_match_example_names():
    import re

    m = re.search(ADFES_PATTERN, "F01-Anger-Face Forward.mpeg")
    assert m and (m["subject"], m["emotion"]) == ("F01", "Anger")
    m = re.search(ADFES_PATTERN, "Med-M05/joy_turn_away.avi")
    assert m and (m["subject"], m["emotion"]) == ("Med-M05", "joy")
    m = re.search(SZU_EMODAGE_PATTERN, "S012_happy_2.mp4")
    assert m and (m["subject"], m["emotion"]) == ("S012", "happy")
    m = re.search(SZU_EMODAGE_PATTERN, "subject12/surprise.avi")
    assert m and (m["subject"], m["emotion"]) == ("subject12", "surprise")


def test_video_folder_bad_input(tmp_path):
    make_video_folder(tmp_path / "v")
    with pytest.raises(ArgumentError, match="named group"):
        VideoFolder(tmp_path / "v", pattern=r"(?P<subject>\w+)")
    with pytest.raises(DatasetError, match="no clips found"):
        VideoFolder(tmp_path / "v", pattern=r"(?P<emotion>nothing_matches_this)")
    with pytest.raises(ArgumentError, match="either converter"):
        VideoFolder(tmp_path / "v", converter=ClipConverter(), size=16)
    # an unreadable video fails when loaded, naming the file
    (tmp_path / "v" / "sad" / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(999))
    ds = VideoFolder(tmp_path / "v", size=16, transform=COUNT)
    i = [s.sequence for s in ds.samples].index("sad/broken.mp4")
    with pytest.raises(VideoError, match="broken.mp4"):
        ds[i]
