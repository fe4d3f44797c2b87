"""``snnfer train`` through the CLI on every real loader's miniature on-disk fixture.

Each run uses the real CS3D (``small`` preset shrunk to 8 x 32 x 32, width 1/8) for one
epoch; the assertions check that the loader was built with the given options, the protocol
made the expected folds, and the run directory holds a trained checkpoint and a summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnfer.cli import main
from tests.dataset_fixtures import (
    make_casme2_tree,
    make_event_folder,
    make_ferdvs_tree,
    make_nefer_tree,
    make_see_tree,
    make_video_folder,
)

TINY = "model.kwargs={input_size: [8, 32, 32], width_mult: 0.125, fc_dim: 32}"


def _train(out: Path, *args: str) -> dict:
    argv = ["train", "--model", "cs3d", "--preset", "small", "--epochs", "1", "--no-progress",
            "--out", str(out), "--set", TINY, "--set", "train.tensorboard=false",
            "--set", "data.batch_size=4", *args]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def _splits(out: Path) -> dict:
    return {f["name"]: f for f in json.loads((out / "splits.json").read_text())["folds"]}


def test_ferdvs_headerless_folds_holdout_and_folds_csv(tmp_path):
    fx = make_ferdvs_tree(tmp_path / "FerDVS", subjects=4)
    root = str(tmp_path / "FerDVS")
    s = _train(tmp_path / "hold", "--dataset", "ferdvs", "--data", root,
               "--set", "data.options={fold: 2}", "--set", "data.val_fraction=0")
    assert s["classes"] == ["happy", "fear", "surprise", "anger", "disgust", "sadness"]
    # the loader's fold 2 (extra["subset"]) is the test split: (subject + seq + 2) % 5 == 0
    test = sorted(f"{subj}/{seq}" for subj, seq in fx["info"]
                  if (int(subj[1:]) + int(seq) + 2) % 5 == 0)
    split = _splits(tmp_path / "hold")["holdout"]
    assert sorted(split["test"]) == sorted(t.split("/")[1] for t in test)
    assert s["num_test"] == len(test) and s["num_train"] == 24 - len(test)
    ckpt = torch.load(tmp_path / "hold" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["input_pipeline"]["file_sensor_size"] == [200, 200]
    # folds_csv: the header-less folds.csv read through the loader, fold 2 only
    s2 = _train(tmp_path / "csv", "--dataset", "ferdvs", "--data", root,
                "--protocol", "folds_csv", "--fold", "2", "--set", "data.val_fraction=0")
    assert s2["fold"] == "fold-2" and s2["num_test"] == len(test)
    assert _splits(tmp_path / "csv")["fold-2"]["test"] == split["test"]


def test_event_folder_stratified_holdout(tmp_path):
    make_event_folder(tmp_path / "ev", per_class=4, formats=("npz", "h5"))
    s = _train(tmp_path / "run", "--dataset", "folder", "--data", str(tmp_path / "ev"))
    assert s["classes"] == ["happy", "sad"] and s["num_test"] == 2  # round(0.2 * 4) per class
    assert s["num_train"] + s["num_val"] == 6
    # --data PATH without --dataset means an event folder
    s2 = _train(tmp_path / "run2", "--data", str(tmp_path / "ev"), "--protocol", "kfold",
                "--set", "data.folds=2", "--fold", "1", "--set", "data.val_fraction=0")
    assert s2["dataset"] == "folder" and s2["fold"] == "fold-1" and s2["num_test"] == 4


def test_representation_chosen_in_the_config(tmp_path):
    make_event_folder(tmp_path / "ev", per_class=4, formats=("npz",))
    spec = "data.options={transform: {name: ToThreeChannelFrames, params: {n_bins: 8}}}"
    s = _train(tmp_path / "run", "--data", str(tmp_path / "ev"), "--set", spec)
    assert s["input_pipeline"]["representation"]["name"] == "ToThreeChannelFrames"
    assert s["input_pipeline"]["representation"]["params"]["n_bins"] == 8
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["input_shape"] == [8, 3, 32, 32]  # CS3D's 3-channel input (cs3d.txt §IV-A)


def test_adfes_names_give_labels_and_subjects(tmp_path):
    make_video_folder(tmp_path / "ADFES", layout="adfes", size=32)
    s = _train(tmp_path / "run", "--dataset", "adfes", "--data", str(tmp_path / "ADFES"),
               "--protocol", "loso", "--set", "data.options={size: 32}",
               "--set", "data.val_fraction=0")
    assert s["classes"] == ["anger", "joy"]
    assert [f["fold"] for f in s["folds"]] == ["subject-F01", "subject-M02"]


def test_video_folder_converted_on_the_fly(tmp_path):
    made = make_video_folder(tmp_path / "vid", size=32)
    s = _train(tmp_path / "run", "--dataset", "video_folder", "--data", str(tmp_path / "vid"),
               "--set", "data.options={size: 32, cache_dir: " + str(tmp_path / "cache") + "}")
    assert s["classes"] == ["happy", "sad"] and s["num_test"] == 2
    assert len(list((tmp_path / "cache").glob("*.npz"))) == len(made)  # converted + cached
    pipe = s["input_pipeline"]
    assert pipe["video"]["size"] == 32 and pipe["video"]["align_faces"] is False
    assert pipe["representation"] == {"name": "ToCountFrames", "params": {
        "n_bins": 16, "by": "time", "sensor_size": None, "window_us": None,
        "events_per_bin": None, "polarity": "split", "binary": False}}


def test_casme2_megc_labels_loso(tmp_path):
    rows = [(subj, f"EP0{k}_0{subj}", 10, 13, 16, "12", emo)
            for subj in (1, 2, 3)
            for k, emo in enumerate(("happiness", "disgust", "surprise", "repression"))]
    make_casme2_tree(tmp_path / "CASME2", rows=rows)
    s = _train(tmp_path / "run", "--dataset", "casme2", "--data", str(tmp_path / "CASME2"),
               "--protocol", "loso", "--set", "data.options={labels: '3', size: 32}",
               "--set", "data.val_fraction=0")
    assert s["classes"] == ["negative", "positive", "surprise"]  # MEGC2019 composite labels
    assert [f["fold"] for f in s["folds"]] == ["subject-sub01", "subject-sub02",
                                                "subject-sub03"]
    assert s["pooled"]["num_samples"] == 12  # every clip tested once over the folds
    assert (tmp_path / "run" / "subject-sub02" / "checkpoints" / "best.pt").is_file()


def test_nefer_train_val_split(tmp_path):
    make_nefer_tree(tmp_path / "NEFER", users=7, seqs=8)
    s = _train(tmp_path / "run", "--dataset", "nefer", "--data", str(tmp_path / "NEFER"),
               "--set", "data.options={frames: 8, size: 32}")
    # NEFER has train.csv and val.csv: evaluated on the 7 validation sequences
    assert s["num_test"] == 7 and s["num_train"] + s["num_val"] == 49
    assert len(s["classes"]) == 7


def test_see_event_frames_for_a_one_input_model(tmp_path):
    fx = make_see_tree(tmp_path, subjects=2)
    s = _train(tmp_path / "run", "--dataset", "see", "--data", str(fx["root"]),
               "--set", "data.options={modalities: [event], frames: 8, size: 32}")
    # SEE's fixed split (emotion.json subsets): subject 1 is the test subject
    assert s["num_test"] == 7 and s["num_train"] + s["num_val"] == 7
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["input_shape"] == [8, 3, 32, 32]  # SEE event frames are 3-channel images


SYNTH = "data.options={num_classes: 3, num_subjects: 3, clips_per_class: 2, size: 32, " \
        "frames: 8, num_frames: 12}"


def test_synthetic_loso_and_subject_holdout(tmp_path):
    s = _train(tmp_path / "loso", "--data", "synthetic", "--protocol", "loso", "--set", SYNTH,
               "--set", "data.val_fraction=0")
    assert [f["fold"] for f in s["folds"]] == ["subject-s00", "subject-s01", "subject-s02"]
    assert [f["num_samples"] for f in s["folds"]] == [6, 6, 6]
    assert s["pooled"]["num_samples"] == 18
    s2 = _train(tmp_path / "subj", "--data", "synthetic", "--protocol", "subject_holdout",
                "--set", SYNTH, "--set", "data.test_fraction=0.34")
    split = _splits(tmp_path / "subj")["subject_holdout"]
    test_subjects = {name.split("_")[0] for name in split["test"]}
    train_subjects = {name.split("_")[0] for name in split["train"] + split["val"]}
    assert len(test_subjects) == 1 and not test_subjects & train_subjects
    assert s2["num_test"] == 6


@pytest.mark.parametrize("dataset,options,message", [
    ("ferdvs", "{fold: 12}", "fold must be in 0..9"),
    ("casme2", "{labels: '4'}", "labels must be '5', '3'"),
    ("folder", "{bogus: 1}", "does not accept option(s) ['bogus']"),
    ("folder", "{transform: ToFrames}", "unknown event representation 'ToFrames' in "
     "data.options.transform"),
    ("folder", "{transform: {name: ToCountFrames, params: {bins: 3}}}",
     "data.options.transform: bad parameters for ToCountFrames"),
])
def test_bad_loader_options_are_one_line_errors(tmp_path, capsys, dataset, options, message):
    make_ferdvs_tree(tmp_path / "d", subjects=2)
    make_casme2_tree(tmp_path / "d")
    make_event_folder(tmp_path / "d", per_class=2, formats=("npz",))
    argv = ["train", "--model", "cs3d", "--preset", "small", "--dataset", dataset, "--data",
            str(tmp_path / "d"), "--set", f"data.options={options}", "--out",
            str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert not (tmp_path / "run").exists()
