"""CASME II loader: coding sheet (xlsx / csv), frame folders, 5-class and MEGC2019 labels."""

from __future__ import annotations

import pytest
import torch

from snnfer.data.datasets import CASME2
from snnfer.data.datasets.casme2 import read_sheet
from snnfer.data.transforms import ToCountFrames
from snnfer.errors import ArgumentError, DatasetError
from tests.dataset_fixtures import CASME2_HEADER, CASME2_ROWS, make_casme2_tree

pytest.importorskip("cv2")
COUNT = ToCountFrames(n_bins=2, polarity="merge")


@pytest.fixture
def casme(tmp_path):
    pytest.importorskip("openpyxl")
    make_casme2_tree(tmp_path)
    return tmp_path


def test_five_class_labels_metadata_and_frame_range(casme):
    ds = CASME2(casme, size=16, transform=COUNT)
    assert ds.classes == ["happiness", "disgust", "repression", "surprise", "others"]
    # sadness and fear rows are not part of the 5-class protocol
    assert [s.sequence for s in ds.samples] == ["EP02_01f", "EP03_02", "EP09_01", "EP01_11f",
                                                "EP02_02f"]
    assert [ds.classes[y] for y in ds.labels] == ["happiness", "disgust", "repression",
                                                  "surprise", "others"]
    m = ds.metadata(1)
    assert (m["subject"], m["onset"], m["apex"], m["offset"]) == ("sub01", 131, None, 141)
    assert m["action_units"] == "4" and "/Cropped/sub01/EP03_02" in m["path"]
    # onset..offset inclusive: frames 46..56 of a folder holding 44..58
    names = [p.name for p in ds.clip_frames(0)]
    assert names[0] == "reg_img46.jpg" and names[-1] == "reg_img56.jpg" and len(names) == 11
    x, y = ds[0]
    assert x.shape == (2, 1, 16, 16) and x.sum() > 0 and y == 0


def test_megc2019_and_seven_classes_and_csv_sheet(tmp_path):
    make_casme2_tree(tmp_path, sheet="csv", kind="CASME2_RAW_selected")
    three = CASME2(tmp_path, labels="3", size=16, transform=COUNT)
    assert three.classes == ["negative", "positive", "surprise"]
    mapped = {s.sequence: three.classes[s.label] for s in three.samples}
    assert mapped == {"EP02_01f": "positive", "EP03_02": "negative", "EP09_01": "negative",
                      "EP01_11f": "surprise", "EP13_01": "negative", "EP18_03": "negative"}
    seven = CASME2(tmp_path, labels="7", frames="raw", clip="onset-apex", size=16,
                   transform=COUNT)
    assert len(seven) == len(CASME2_ROWS)
    assert [p.name for p in seven.clip_frames(2)][-1] == "img25.jpg"  # EP09_01: apex 25
    # unknown apex ('/') falls back to the offset
    assert [p.name for p in seven.clip_frames(1)][-1] == "img141.jpg"


def test_events_are_cached_per_clip_range(casme, tmp_path):
    cache = tmp_path / "cache"
    a = CASME2(casme, size=16, transform=COUNT, cache_dir=cache)
    x = a[0][0]
    assert len(list(cache.glob("*.npz"))) == 1
    b = CASME2(casme, size=16, transform=COUNT, cache_dir=cache, clip="onset-apex")
    b[0]
    assert len(list(cache.glob("*.npz"))) == 2  # another range is another entry
    assert torch.equal(CASME2(casme, size=16, transform=COUNT, cache_dir=cache)[0][0], x)


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("sheet", ["xlsx", "csv"])
def test_missing_annotation_column_names_file_and_column(tmp_path, sheet):
    if sheet == "xlsx":
        pytest.importorskip("openpyxl")
    header = [h for h in CASME2_HEADER if h != "Estimated Emotion"]
    rows = [r[:-1] for r in CASME2_ROWS]
    path = make_casme2_tree(tmp_path, sheet=sheet, header=header, rows=rows)
    with pytest.raises(DatasetError, match=f"{path.name}: missing annotation column "
                                           "'Estimated Emotion'.*found 'Subject'"):
        CASME2(tmp_path)


def test_bad_sheets_folders_and_labels(casme, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        CASME2(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no CASME II coding sheet"):
        CASME2(empty)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DatasetError, match="broken.xlsx is not a readable .xlsx"):
        read_sheet(broken)
    with pytest.raises(ArgumentError, match="labels must be"):
        CASME2(casme, labels="6")
    with pytest.raises(DatasetError, match="Cropped.*does not exist|CASME2_RAW_selected"):
        CASME2(casme, frames="raw")
    # a typo in the emotion column names the sheet line
    bad = tmp_path / "typo"
    rows = [*CASME2_ROWS[:2], (3, "EP02_02f", 11, 14, 18, "4", "hapiness")]
    make_casme2_tree(bad, sheet="csv", rows=rows)
    with pytest.raises(DatasetError, match="line 4: Estimated Emotion 'hapiness'"):
        CASME2(bad)
    # a clip folder missing on disk
    import shutil

    shutil.rmtree(casme / "Cropped" / "sub02" / "EP09_01")
    with pytest.raises(DatasetError, match="1 clip folder.*sub02/EP09_01"):
        CASME2(casme)
    assert len(CASME2(casme, skip_missing=True)) == 4
