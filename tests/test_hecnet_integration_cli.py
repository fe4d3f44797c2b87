"""``snnfer train / evaluate / predict / energy`` with two-modality models: SyntheticSEE and
the SEE layout (fixture), SEE sequence folders as predict inputs, Table 1 layout, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from snnfer.cli import main
from snnfer.data.datasets import SEE
from snnfer.data.datasets.see_sequence import find_sequence_pair, load_sequence_pair
from snnfer.errors import DatasetError, InputShapeError
from snnfer.models import create_model
from snnfer.train import compute_metrics, evaluate_checkpoint
from snnfer.train.config import ModelConfig
from snnfer.train.modalities import input_channels, model_input_shape, native_data_options
from snnfer.train.see_tables import table1_markdown, table1_values
from tests.conftest import error_line
from tests.dataset_fixtures import make_see_tree
from tests.test_hecnet_integration import SEE_OPTIONS, TINY_HEC, TINY_SEEN

COMMON = ["--preset", "small", "--epochs", "1", "--no-progress", "--set", "data.batch_size=8",
          "--set", "train.tensorboard=false"]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _kwargs(kw: dict) -> list[str]:
    return ["--set", f"model.kwargs={json.dumps(kw)}"]


def test_cli_hecnet_snn_on_synthetic_see(tmp_path, capsys):
    run = tmp_path / "run"
    options = {**SEE_OPTIONS, "cache_dir": str(tmp_path / "cache")}
    assert main(["train", "--model", "hecnet_snn", "--dataset", "synthetic_see", *COMMON,
                 *_kwargs(TINY_HEC), "--set", f"data.options={json.dumps(options)}",
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "In the layout of HEC-Net's Table 1 (%):" in out
    assert "| hecnet_snn |" in out
    # the filled-in clip options (frames/size from the model) are part of the stored config,
    # so resuming checks the same config and continues
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3
    capsys.readouterr()
    assert main(["evaluate", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    row = table1_values(summary["test"])
    expected = "| hecnet_snn | " + " | ".join(f"{100 * v:.1f}" for v in row.values()) + " |"
    assert expected in out
    assert list(row)[:6] == ["WAR", "UAR", "Normal", "Overexposure", "Low-light", "HDR"]
    from snnfer.data.synthetic import SyntheticSEE

    x, _ = SyntheticSEE(**options, frames=4, size=16)[0]
    torch.save(x, tmp_path / "clip.pt")
    assert main(["predict", str(run), str(tmp_path / "clip.pt"), "--json"]) == 0
    (pred,) = json.loads(capsys.readouterr().out)
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert pred["label"] == max(pred["probabilities"], key=pred["probabilities"].get)
    torch.save({"event": x["event"]}, tmp_path / "events_only.pt")
    assert main(["predict", str(run), str(tmp_path / "events_only.pt")]) == 2
    assert "sample lacks modality(ies) ['rgb']" in error_line(capsys)


@pytest.fixture
def see_tree(tmp_path):
    # 3 subjects x 7 emotions, 6 frames per sequence (segment [1, 4]), subject 2 is the test set
    return make_see_tree(tmp_path, subjects=3, test_subjects=(2,))


def test_cli_seen_on_the_see_layout_uses_the_published_split(see_tree, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "seen", "--dataset", "see", "--data", str(see_tree["root"]),
                 *COMMON, *_kwargs(TINY_SEEN), "--set", "data.val_fraction=0",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    splits = json.loads((run / "splits.json").read_text())["folds"][0]
    testing = sorted(k for k, v in see_tree["database"].items() if v["subset"] == "testing")
    assert sorted(splits["test"]) == testing and len(splits["train"]) == 14
    assert main(["evaluate", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| model | WAR | UAR | Normal | Overexposure | Low-light | HDR | angry |" in out
    # predict from either folder of a SEE sequence = the evaluated sample (same segment)
    report = evaluate_checkpoint(run, progress=False)
    sample = report.dataset.samples[3]
    paths = sample.extra["paths"]
    assert main(["predict", str(run), paths["event"], paths["rgb"], "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    for pred in preds:
        probs = [pred["probabilities"][c] for c in report.dataset.classes]
        np.testing.assert_allclose(probs, report.result.probabilities[3], rtol=1e-5, atol=1e-6)


def test_sequence_pairs_sample_the_annotated_segment_or_all_frames(see_tree, tmp_path):
    name = see_tree["names"][9]  # label 2 (fear): frame k has gray 20 + k, event 120 + k
    event_dir = see_tree["root"] / "event" / "fear" / name
    pair = find_sequence_pair(event_dir)
    assert pair == {"event": event_dir, "rgb": see_tree["root"] / "frame" / "fear" / name}
    x = load_sequence_pair(event_dir, frames=4, size=8)
    # segment [1, 4] of emotion.json, as the SEE loader reads it
    np.testing.assert_allclose(x["rgb"][:, 0, 4, 4] * 255, [21, 22, 23, 24], atol=1.5)
    np.testing.assert_allclose(x["event"][:, 0, 4, 4] * 255, [121, 122, 123, 124], atol=1.5)
    loader = SEE(see_tree["root"], frames=4, size=8)
    index = [s.sequence for s in loader.samples].index(name)
    for m in ("event", "rgb"):
        assert torch.equal(loader[index][0][m], x[m])
    # own recording: clip/event + clip/frame, no annotation -> all 6 frames spread over T
    clip = tmp_path / "clip"
    shutil.copytree(event_dir, clip / "event")
    shutil.copytree(pair["rgb"], clip / "frame")
    y = load_sequence_pair(clip, frames=4, size=8, modalities=("rgb",))
    assert set(y) == {"rgb"}
    np.testing.assert_allclose(y["rgb"][:, 0, 4, 4] * 255, [20, 22, 23, 25], atol=1.5)
    assert find_sequence_pair(tmp_path) is None


def test_sequence_without_its_twin_is_a_clear_error(see_tree, tmp_path, capsys):
    name = see_tree["names"][0]
    shutil.rmtree(see_tree["root"] / "frame" / "angry" / name)
    with pytest.raises(DatasetError, match="frame sequence .* does not exist"):
        find_sequence_pair(see_tree["root"] / "event" / "angry" / name)
    with pytest.raises(DatasetError, match="not a paired sequence"):
        load_sequence_pair(tmp_path, 4, 8)


def test_two_modality_models_reject_mismatched_data(tmp_path, capsys):
    # a two-modality model on single-tensor data
    assert main(["train", "--model", "hecnet", "--dataset", "synthetic", *COMMON,
                 *_kwargs(TINY_HEC), "--set",
                 'data.options={"num_subjects": 2, "clips_per_class": 2, "size": 16}',
                 "--out", str(tmp_path / "a")]) == 2
    assert "takes modalities ['event', 'rgb'] but the data gives a single tensor" in \
        error_line(capsys)
    # a single-input model (no modalities) on paired data
    model = nn.Conv3d(3, 4, 1)
    model.default_input_shape = (4, 3, 16, 16)
    with pytest.raises(InputShapeError, match="declare model.modalities"):
        model_input_shape(model, {"event": torch.rand(4, 3, 16, 16),
                                  "rgb": torch.rand(4, 3, 16, 16)})
    hec = create_model("hecnet", preset="small", **TINY_HEC)
    with pytest.raises(InputShapeError, match=r"missing \['rgb'\]"):
        model_input_shape(hec, {"event": torch.rand(4, 3, 16, 16)})
    rgb_only = create_model("hecnet_rgb", preset="small", **TINY_HEC)
    with pytest.raises(InputShapeError, match="first modality 'rgb' is not in the data"):
        input_channels(rgb_only, {"event": (4, 2, 16, 16)})
    assert input_channels(rgb_only, {"event": (4, 2, 16, 16), "rgb": (4, 3, 16, 16)}) == 3
    assert input_channels(hec, {"rgb": (4, 3, 16, 16), "event": (4, 2, 16, 16)}) == 2


def test_single_stream_models_take_their_modality_by_name():
    model = create_model("hecnet_event", preset="small", **TINY_HEC).eval()
    x = torch.rand(2, 4, 3, 16, 16)
    assert torch.equal(model(x), model(event=x))
    with pytest.raises(InputShapeError, match=r"takes only the 'event' modality; got input\(s\) "
                                              r"\['rgb'\]"):
        model(event=x, rgb=x)
    with pytest.raises(InputShapeError, match="exactly one clip"):
        model(x, event=x)
    with pytest.raises(InputShapeError, match="exactly one clip"):
        model()


def test_native_data_options_follow_the_model():
    from snnfer.data.synthetic import SyntheticFER, SyntheticSEE

    seen = ModelConfig("seen", "small")
    assert native_data_options(seen, SyntheticSEE, {}) == {"frames": 4, "size": 48}
    assert native_data_options(ModelConfig("hecnet", "paper"), SEE, {"size": 90}) == \
        {"size": 90, "frames": 8}  # what the config sets wins
    # models without modalities, and loaders without frames/size: options unchanged
    assert native_data_options(ModelConfig("cs3d", "small"), SyntheticFER, {}) == {}

    def loader(root, labels="5"):
        raise AssertionError("not called")

    assert native_data_options(seen, loader, {"labels": "3"}) == {"labels": "3"}


def test_seen_trains_on_a_batch_of_one():
    """SEEN's branch-weight BatchNorm sees [B, C, 1, 1]: one sample uses the running
    statistics and leaves them unchanged; two samples update them as plain BatchNorm."""
    model = create_model("seen", preset="small", **TINY_SEEN).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in bns]
    x = {m: torch.rand(1, 4, 3, 16, 16) for m in ("event", "rgb")}
    model(**x).sum().backward()
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, bns))
    model(**{m: v.repeat(2, 1, 1, 1, 1) + torch.rand(2, 1, 1, 1, 1) for m, v in x.items()})
    assert not all(torch.equal(b, m.running_mean) for b, m in zip(before, bns))


def test_seen_normalises_inputs_as_published():
    """input_norm="see" = SEEN's mean.py statistics applied before the network; 2-channel
    count maps keep their events as they are; bad statistics are errors."""
    from snnfer.errors import ArgumentError
    from snnfer.models.seen import SEE_INPUT_NORM

    torch.manual_seed(1)
    normed = create_model("seen", preset="small", **TINY_SEEN).eval()
    raw = create_model("seen", preset="small", input_norm=None, **TINY_SEEN).eval()
    raw.load_state_dict(normed.state_dict())
    x = {m: torch.rand(2, 4, 3, 16, 16) for m in ("event", "rgb")}
    by_hand = {m: (v - SEE_INPUT_NORM[m][0]) / SEE_INPUT_NORM[m][1] for m, v in x.items()}
    torch.testing.assert_close(normed(**x), raw(**by_hand))
    assert set(create_model("seen", in_channels=2, **TINY_SEEN).input_norm) == {"rgb"}
    with pytest.raises(ArgumentError, match="std must be > 0"):
        create_model("seen", input_norm={"rgb": (0.5, 0.0)}, **TINY_SEEN)
    with pytest.raises(ArgumentError, match="input_norm must be"):
        create_model("seen", input_norm="imagenet", **TINY_SEEN)


def test_table1_layout_values_and_mean_sd():
    classes = ["happy", "sad", "angry"]
    # normal: 3/4 right, low: 1/4 right
    y = [0, 1, 2, 0, 0, 1, 2, 0]
    p = [0, 1, 2, 1, 1, 0, 2, 1]
    cond = ["normal"] * 4 + ["low"] * 4
    m = compute_metrics(y, p, 3, classes, conditions=cond)
    assert table1_values(m) == pytest.approx({
        "WAR": 0.5, "UAR": (1 / 4 + 1 / 2 + 1) / 3, "Normal": 0.75, "Low-light": 0.25,
        "happy": 0.25, "sad": 0.5, "angry": 1.0})
    m2 = compute_metrics(y, y, 3, classes, conditions=cond)
    text = table1_markdown({"a": m, "b": [m, m2.to_dict()]})
    lines = text.splitlines()
    assert lines[0] == "| model | WAR | UAR | Normal | Low-light | happy | sad | angry |"
    assert lines[2] == "| a | 50.0 | 58.3 | 75.0 | 25.0 | 25.0 | 50.0 | 100.0 |"
    # mean ± sample sd of 50 and 100 = 75.0 ± 35.4
    assert lines[3].startswith("| b | 75.0 ± 35.4 | 79.2 ± 29.5 | 87.5 ± 17.7 | 62.5 ± 53.0 |")


def test_energy_cli_on_every_two_modality_model(tmp_path, capsys):
    out = tmp_path / "energy.json"
    names = ["hecnet", "hecnet_snn", "hecnet_event", "hecnet_rgb", "seen"]
    assert main(["energy", "--models", *names, "--preset", "small", "--runs", "0",
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    rows = {r["name"]: r for r in json.loads(out.read_text())["models"]}
    assert list(rows) == names
    for name in names:
        model = create_model(name, preset="small")
        assert rows[name]["params"] == sum(p.numel() for p in model.parameters())
        assert f"| {name} | {rows[name]['input']} |" in table
    assert rows["seen"]["input"] == "event:3x4x48x48, rgb:3x4x48x48"
    assert rows["hecnet_event"]["input"] == "event:3x8x64x64"
    assert rows["hecnet_rgb"]["input"] == "rgb:3x8x64x64"
    # same architecture, same dense count; the event-native SNN's soft spikes skip zeros
    assert rows["hecnet_snn"]["gmacs"] == rows["hecnet"]["gmacs"]
    snn = rows["hecnet_snn"]
    assert snn["estimated_mj"] < snn["dense_estimated_mj"]
    assert rows["hecnet_event"]["gmacs"] + rows["hecnet_rgb"]["gmacs"] < rows["hecnet"]["gmacs"]
