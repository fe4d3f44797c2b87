"""snnfer convert: folder mirroring, resume, failure report, sharding, workers, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snnfer.cli import main
from snnfer.data.convert import (
    ClipConverter,
    convert_folder,
    find_clips,
    output_path,
    parse_shard,
    select_shard,
)
from snnfer.data.events import read_events
from snnfer.data.video import write_video
from snnfer.errors import ArgumentError, DatasetError, FaceNotFoundError, UnknownNameError
from tests.conftest import require
from tests.dataset_fixtures import moving_blob_clip, write_frame_folder

pytest.importorskip("cv2")
pytest.importorskip("av")


def _tree(root, corrupt: int = 1):
    """IN/happy/a.mp4, IN/happy/s1/b (frame folder), IN/sad/c.avi, + corrupt videos."""
    write_video(root / "happy" / "a.mp4", moving_blob_clip(6, 32, 0), fps=25)
    write_frame_folder(root / "happy" / "s1" / "b", moving_blob_clip(6, 32, 2))
    write_video(root / "sad" / "c.avi", moving_blob_clip(6, 32, 4), fps=25)
    for k in range(corrupt):
        (root / "sad" / f"broken{k}.mp4").write_bytes(np.random.default_rng(k).bytes(500))
    (root / "sad" / "notes.txt").write_text("not a clip")
    (root / ".hidden.mp4").write_bytes(b"")


def test_find_clips_and_mirrored_output_paths(tmp_path):
    _tree(tmp_path / "in")
    rels = [p.relative_to(tmp_path / "in").as_posix() for p in find_clips(tmp_path / "in")]
    assert rels == ["happy/a.mp4", "happy/s1/b", "sad/broken0.mp4", "sad/c.avi"]
    out = tmp_path / "out"
    assert output_path("happy/a.mp4", out, "h5") == out / "happy/a.h5"
    assert output_path("happy/s1/b", out, "npz") == out / "happy/s1/b.npz"
    with pytest.raises(DatasetError, match="does not exist"):
        find_clips(tmp_path / "nope")


def test_convert_folder_outputs_report_and_failures(tmp_path):
    _tree(tmp_path / "in")
    conv = ClipConverter(size=16)
    report = convert_folder(tmp_path / "in", tmp_path / "out", conv, progress=False)
    assert report.total == 4 and report.converted == ["happy/a.mp4", "happy/s1/b", "sad/c.avi"]
    assert [f["input"] for f in report.failed] == ["sad/broken0.mp4"]
    assert report.failed[0]["error"] == "VideoError" and "broken0.mp4" in report.failed[0][
        "message"]
    saved = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert saved["failed"] == report.failed and saved["settings"]["size"] == 16
    assert saved["events"] == report.events > 0
    for rel in report.converted:
        events, size = read_events(output_path(rel, tmp_path / "out", "h5"))
        assert size == (16, 16)
        direct, _ = conv(tmp_path / "in" / rel)  # same seed: identical events
        np.testing.assert_array_equal(events, direct)
    npz = convert_folder(tmp_path / "in", tmp_path / "npz", conv, fmt="npz", progress=False)
    assert (tmp_path / "npz" / "happy" / "s1" / "b.npz").is_file() and len(npz.converted) == 3


def test_resume_skips_finished_outputs_and_leaves_no_partial_files(tmp_path):
    _tree(tmp_path / "in", corrupt=0)
    out = tmp_path / "out"
    conv = ClipConverter(size=16)

    def stop_after_first(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_folder(tmp_path / "in", out, conv, progress=False, on_result=stop_after_first)
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["interrupted"] and report["converted"] == ["happy/a.mp4"]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["conversion_report.json", "happy/a.h5"]  # no temp files, no partials
    mtime = (out / "happy" / "a.h5").stat().st_mtime_ns
    again = convert_folder(tmp_path / "in", out, conv, progress=False)
    assert again.skipped == ["happy/a.mp4"] and again.converted == ["happy/s1/b", "sad/c.avi"]
    assert (out / "happy" / "a.h5").stat().st_mtime_ns == mtime
    third = convert_folder(tmp_path / "in", out, conv, progress=False)
    assert third.converted == [] and len(third.skipped) == 3


def test_shards_partition_the_inputs_deterministically(tmp_path):
    rels = [f"class{k % 3}/clip{k:03d}.mp4" for k in range(60)]
    shards = [select_shard(rels, (k, 3)) for k in range(3)]
    assert sorted(sum(shards, [])) == sorted(rels)  # every clip in exactly one shard
    assert all(len(s) >= 10 for s in shards)  # roughly a third each
    # a clip's shard does not depend on the listing (order or other files)
    assert select_shard(list(reversed(rels[:30])), (1, 3)) == list(reversed(
        [r for r in shards[1] if r in rels[:30]]))
    assert parse_shard("2/5") == (2, 5) and parse_shard(None) is None
    for bad in ("5/5", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ArgumentError, match="K/N"):
            parse_shard(bad)
    _tree(tmp_path / "in", corrupt=0)
    done = []
    for k in range(2):
        r = convert_folder(tmp_path / "in", tmp_path / "out", ClipConverter(size=16),
                           shard=f"{k}/2", progress=False)
        assert (tmp_path / "out" / f"conversion_report.shard-{k}-of-2.json").is_file()
        done += r.converted
    assert sorted(done) == ["happy/a.mp4", "happy/s1/b", "sad/c.avi"]


@pytest.mark.slow
def test_workers_give_identical_files(tmp_path):
    _tree(tmp_path / "in", corrupt=1)
    one = convert_folder(tmp_path / "in", tmp_path / "w1", ClipConverter(size=16), progress=False)
    two = convert_folder(tmp_path / "in", tmp_path / "w2", ClipConverter(size=16), workers=2,
                         progress=False)
    assert one.converted == two.converted and one.failed == two.failed
    for rel in one.converted:
        a, _ = read_events(output_path(rel, tmp_path / "w1", "h5"))
        b, _ = read_events(output_path(rel, tmp_path / "w2", "h5"))
        np.testing.assert_array_equal(a, b)


def test_align_faces_and_face_less_clips(tmp_path):
    img = require("skimage.data").astronaut()
    import cv2

    face = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
    clip = np.stack([np.roll(face, k, axis=1) for k in range(5)])
    write_video(tmp_path / "in" / "face.mp4", clip, fps=25)
    write_video(tmp_path / "in" / "blob.mp4", np.repeat(moving_blob_clip(5, 64, 1)[..., None], 3,
                                                        -1), fps=25)
    report = convert_folder(tmp_path / "in", tmp_path / "out", ClipConverter(align_faces=True,
                            size=32), progress=False)
    assert report.converted == ["face.mp4"]
    assert report.failed[0]["input"] == "blob.mp4"
    assert report.failed[0]["error"] == FaceNotFoundError.__name__
    assert "no face found in" in report.failed[0]["message"]
    events, size = read_events(tmp_path / "out" / "face.h5")
    assert size == (32, 32) and len(events) > 0


def test_converter_arguments():
    with pytest.raises(UnknownNameError, match="preset"):
        ClipConverter(preset="fancy")
    with pytest.raises(ArgumentError, match="size"):
        ClipConverter(size=4)
    with pytest.raises(ArgumentError, match="fps"):
        ClipConverter(fps=0)


# -- command line -------------------------------------------------------------------------
def test_cli_exit_codes(tmp_path, capsys):
    _tree(tmp_path / "in")
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--size", "16",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "4 clip(s): 3 converted, 0 already done, 1 failed" in out
    assert "failed sad/broken0.mp4: VideoError" in out
    # resume: nothing to do, still success
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--size", "16",
                 "--quiet"]) == 0
    assert "3 already done" in capsys.readouterr().out
    # every clip fails -> non-zero
    bad = tmp_path / "bad"
    for k in range(2):
        bad.mkdir(exist_ok=True)
        (bad / f"x{k}.mp4").write_bytes(b"junk" * 50)
    assert main(["convert", str(bad), str(tmp_path / "o2"), "--quiet"]) == 2
    assert "all 2 clip(s) failed" in capsys.readouterr().err
    assert json.loads((tmp_path / "o2" / "conversion_report.json").read_text())["failed"]
    # nothing to convert / bad options -> non-zero with the reason
    (tmp_path / "empty").mkdir()
    assert main(["convert", str(tmp_path / "empty"), str(tmp_path / "o3")]) == 2
    assert "no videos or frame folders" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "o4"), "--shard", "3/3"]) == 2
    assert "K/N" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "o5"), "--format", "mat"]) == 2
    assert "format" in capsys.readouterr().err


def test_cli_timestamps_rule_reaches_the_emulator(tmp_path):
    """--timestamps v2e converts with v2e's event-time rule: the same events as a converter
    built with that option, and (for this clip) other timestamps than the default rule."""
    write_video(tmp_path / "in" / "happy" / "a.mp4", moving_blob_clip(6, 32, 0), fps=25)
    for rule in ("v2e", None):
        args = ["--timestamps", rule] if rule else []
        assert main(["convert", str(tmp_path / "in"), str(tmp_path / f"out-{rule}"), "--size",
                     "16", "--quiet", *args]) == 0
    got, _ = read_events(tmp_path / "out-v2e" / "happy" / "a.h5")
    default, _ = read_events(tmp_path / "out-None" / "happy" / "a.h5")
    want, _ = ClipConverter(size=16, emulator_options={"timestamps": "v2e"})(
        tmp_path / "in" / "happy" / "a.mp4")
    np.testing.assert_array_equal(got, want)
    assert len(got) == len(default) and not np.array_equal(got["t"], default["t"])
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "bad"), "--timestamps",
                 "exact"]) == 2
