"""``snnfer predict`` gives exactly the training data's tensor for the same clip.

Runs of the real CS3D (``small`` preset shrunk to 8 x 32 x 32) are trained for one epoch on
SyntheticFER, the FerDVS fixture and the video-folder fixture; predict's logits for an event
file (h5, npz, text), a video written by ``snnfer.data.video.write_video`` and a frame folder
must equal the model applied to the dataset's own (resampled) tensor of that clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snnfer.cli import main
from snnfer.data.events import write_events
from snnfer.errors import CheckpointError
from snnfer.train.config import preset_config
from snnfer.train.data import build_dataset, fit_input
from snnfer.train.predict import Predictor
from snnfer.train.run import run_training
from tests.conftest import require
from tests.dataset_fixtures import make_ferdvs_tree, make_video_folder

TINY = {"input_size": [8, 32, 32], "width_mult": 0.125, "fc_dim": 32}
SYNTH = {"num_classes": 3, "num_subjects": 2, "clips_per_class": 2, "size": 32, "frames": 8,
         "num_frames": 12}


def _train(out: Path, dataset: str, root: str | None = None, options=None, **data) -> Path:
    cfg = preset_config("small", "cs3d").updated({
        "model": {"kwargs": TINY},
        "data": {"dataset": dataset, "root": root, "options": options or {}, "batch_size": 4,
                 **data},
        "train": {"epochs": 1, "progress": False, "tensorboard": False}})
    return run_training(cfg, out).run_dir


def _reference(pred: Predictor, x: torch.Tensor) -> torch.Tensor:
    """The model on a dataset tensor, resampled like the training loader does."""
    with torch.no_grad():
        return pred.model(fit_input(x, pred.input_shape)[None])[0]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "run"
    _train(out, "synthetic", options=SYNTH, val_fraction=0.0, test_fraction=0.34)
    return out, build_dataset("synthetic", None, SYNTH)


def test_event_files_match_the_dataset_tensor(synthetic_run, tmp_path):
    run, ds = synthetic_run
    pred = Predictor.from_checkpoint(run, device="cpu")
    assert pred.pipeline["representation"]["name"] == "ToCountFrames"
    assert pred.pipeline["representation"]["params"]["n_bins"] == 8  # SyntheticFER frames=8
    assert pred.pipeline["video"]["align_faces"] is True and pred.pipeline["video"]["size"] == 32
    for i in (0, 5):
        events, size = ds.events(i)
        ref = _reference(pred, ds[i][0])
        for suffix in ("h5", "npz", "txt"):
            path = tmp_path / f"clip{i}.{suffix}"
            write_events(path, events, size)
            torch.testing.assert_close(pred.logits(path), ref, rtol=1e-5, atol=1e-6)
        probs = pred.predict(tmp_path / f"clip{i}.h5").probabilities
        assert list(probs) == ds.classes
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)


def test_ferdvs_files_use_the_loaders_sensor_size(tmp_path):
    make_ferdvs_tree(tmp_path / "FerDVS", subjects=4)
    run = _train(tmp_path / "run", "ferdvs", str(tmp_path / "FerDVS"), val_fraction=0.0)
    ds = build_dataset("ferdvs", str(tmp_path / "FerDVS"), {})
    pred = Predictor.from_checkpoint(run, device="cpu")
    i = next(k for k, s in enumerate(ds.samples) if s.sequence == "001")
    path = Path(ds.samples[i].path)  # 100 events with x < 100: no stored sensor size
    torch.testing.assert_close(pred.logits(path), _reference(pred, ds[i][0]), rtol=1e-5,
                               atol=1e-6)
    # reading the file with its own extent (100 x 94) would give another tensor
    own = Predictor(pred.model, pred.classes, pred.input_shape,
                    {**pred.pipeline, "file_sensor_size": None})
    assert not torch.allclose(own.load_input(path), pred.load_input(path))


def test_videos_and_frame_folders_match_the_video_dataset(tmp_path):
    made = make_video_folder(tmp_path / "vid", size=32)
    options = {"size": 32}
    run = _train(tmp_path / "run", "video_folder", str(tmp_path / "vid"), options,
                 val_fraction=0.0)
    ds = build_dataset("video_folder", str(tmp_path / "vid"), options)
    pred = Predictor.from_checkpoint(run, device="cpu")
    assert len(ds) == len(made) == 4
    kinds = set()
    for i, s in enumerate(ds.samples):  # two videos (.avi, .mp4) and two frame folders
        kinds.add(Path(s.path).suffix or "folder")
        torch.testing.assert_close(pred.logits(s.path), _reference(pred, ds[i][0]),
                                   rtol=1e-5, atol=1e-6)
    assert kinds == {".avi", ".mp4", "folder"}


def test_cli_predict_table_and_json(synthetic_run, tmp_path, capsys):
    run, ds = synthetic_run
    events, size = ds.events(3)
    write_events(tmp_path / "clip.npz", events, size)
    assert main(["predict", str(run), str(tmp_path / "clip.npz"), "--json",
                 "--device", "cpu"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    expected = Predictor.from_checkpoint(run, device="cpu").predict(tmp_path / "clip.npz")
    assert out["label"] == expected.label
    assert out["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    assert main(["predict", str(run), str(tmp_path / "clip.npz"), "--top", "2"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| input | prediction | top classes |")
    assert f"| {expected.label} |" in table


def test_face_video_is_aligned_on_the_fly(synthetic_run, tmp_path):
    from snnfer.data.convert import ClipConverter
    from snnfer.data.video import write_video
    from snnfer.train.inputs import build_representation

    face = require("skimage.data").astronaut()
    frames = np.stack([np.roll(face, (2 * k, 3 * k), axis=(0, 1)) for k in range(6)])
    write_video(tmp_path / "face.mp4", frames, fps=25)
    run, _ = synthetic_run
    pred = Predictor.from_checkpoint(run, device="cpu")
    # the run's converter: the face cropped and aligned to the 32 x 32 synthetic sensor
    conv = ClipConverter(align_faces=True, size=32, preset="clean")
    events, size = conv(tmp_path / "face.mp4")
    assert size == (32, 32)
    rep = build_representation(pred.pipeline["representation"])
    torch.testing.assert_close(pred.logits(tmp_path / "face.mp4"),
                               _reference(pred, rep(events, size)), rtol=1e-5, atol=1e-6)
    # --no-align: a centre crop instead (already-cropped clips)
    plain = Predictor.from_checkpoint(run, device="cpu", align_faces=False)
    assert not torch.allclose(plain.load_input(tmp_path / "face.mp4"),
                              pred.load_input(tmp_path / "face.mp4"))


def test_checkpoints_without_a_recorded_pipeline_and_custom_transforms(synthetic_run, tmp_path):
    run, ds = synthetic_run
    ckpt = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    events, size = ds.events(1)
    write_events(tmp_path / "clip.h5", events, size)
    # an older checkpoint: the loaders' default representation for T = 8, C = 2
    old = Predictor(Predictor.from_checkpoint(run, device="cpu").model, ckpt["classes"],
                    ckpt["input_shape"], None)
    assert old.pipeline["representation"]["params"]["n_bins"] == 8
    # (the training data used ToCountFrames(n_bins=8) too, so the logits agree)
    torch.testing.assert_close(old.logits(tmp_path / "clip.h5"),
                               _reference(old, ds[1][0]), rtol=1e-5, atol=1e-6)
    custom = Predictor(old.model, ckpt["classes"], ckpt["input_shape"],
                       {"representation": None, "file_sensor_size": None, "video": None})
    with pytest.raises(CheckpointError, match="not a recorded snnfer.data.transforms"):
        custom.predict(tmp_path / "clip.h5")
    torch.save(ds[1][0], tmp_path / "clip.pt")  # a ready tensor needs no representation
    assert custom.predict(tmp_path / "clip.pt").label in ds.classes
