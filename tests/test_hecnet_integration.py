"""The two-modality path (issue 6): HEC-Net family and SEEN through train -> checkpoint ->
evaluate (Table 1 layout) -> predict, on a tiny SyntheticSEE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from snnfer.data.synthetic import SyntheticSEE
from snnfer.models import create_model
from snnfer.train import (
    Predictor,
    evaluate_checkpoint,
    load_checkpoint,
    preset_config,
    run_training,
)
from snnfer.train.evaluate import load_trained_model

# tiny sizes: 16x16 clips, T = 4 (the pyramid's minimum), one 2x2 window
TINY_HEC = {"widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "out_stride": 8, "window_size": 2,
            "num_heads": 2, "mlp_ratio": 1.0, "head_hidden": 16, "image_size": 16,
            "num_frames": 4}
TINY_SEEN = {"image_size": 16, "widths": [8, 16, 16], "fc_hidden": 16}
SEE_OPTIONS = {"num_subjects": 2, "clips_per_class": 4}
CONDITIONS = {"normal", "overexposure", "low", "hdr"}

# (id, model, kwargs, extra dataset options, modalities the model receives)
CASES = [
    ("hecnet", "hecnet", TINY_HEC, {}, ("event", "rgb")),
    ("hecnet-2ch", "hecnet", TINY_HEC, {"channels": 2}, ("event", "rgb")),
    ("hecnet_snn-all", "hecnet_snn", {**TINY_HEC, "spiking": "all", "neuron": "lif"}, {},
     ("event", "rgb")),
    ("hecnet_event", "hecnet_event", TINY_HEC, {}, ("event",)),
    ("hecnet_rgb", "hecnet_rgb", TINY_HEC, {}, ("rgb",)),
    ("seen", "seen", TINY_SEEN, {}, ("event", "rgb")),
]


def tiny_see_config(model: str, kwargs: dict, cache_dir, **data_options):
    """Small preset of ``model`` with tiny sizes, 1 epoch on a 56-clip SyntheticSEE."""
    return preset_config("small", model).updated({
        "model": {"kwargs": kwargs},
        "data": {"dataset": "synthetic_see", "batch_size": 8,
                 "options": {**SEE_OPTIONS, "cache_dir": str(cache_dir), **data_options}},
        "train": {"epochs": 1, "progress": False, "tensorboard": False}})


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny ops: one thread is several times faster than two on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def see_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("see-cache")


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def trained(request, tmp_path_factory, see_cache):
    case_id, name, kw, data_opts, mods = request.param
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp(case_id) / "run"
    result = run_training(tiny_see_config(name, kw, see_cache, **data_opts), run)
    return {"name": name, "kw": kw, "data": data_opts, "mods": mods, "run": run,
            "summary": result.summary}


def test_run_uses_native_clips_and_reports_lighting(trained):
    """Data sampled at the model's T and size, checkpoint input = the model's modalities,
    test metrics broken down by the four lighting conditions."""
    run, summary = trained["run"], trained["summary"]
    model = create_model(trained["name"], preset="small", **trained["kw"])
    t, _, size, _ = model.default_input_shape[trained["mods"][0]] if isinstance(
        model.default_input_shape, dict) else model.default_input_shape
    options = yaml.safe_load((run / "config.yaml").read_text())["data"]["options"]
    assert (options["frames"], options["size"]) == (t, size)
    ckpt = load_checkpoint(run / "checkpoints" / "best.pt")
    channels = {"event": trained["data"].get("channels", 3), "rgb": 3}
    assert ckpt["input_shape"] == {m: [t, channels[m], size, size] for m in trained["mods"]}
    assert list(ckpt["input_shape"]) == list(trained["mods"])
    test = summary["test"]
    assert set(test["per_condition"]) == CONDITIONS
    assert sum(c["num_samples"] for c in test["per_condition"].values()) == test["num_samples"]
    assert test["num_samples"] == summary["num_test"] == 14  # 20% of 56 clips, stratified
    table = (run / "metrics.md").read_text()
    assert "| model | WAR | UAR | Normal | Overexposure | Low-light | HDR | angry |" in table


def test_evaluate_reproduces_the_run_and_predict_matches_it(trained, tmp_path):
    run, summary = trained["run"], trained["summary"]
    report = evaluate_checkpoint(run, progress=False)
    assert report.result.metrics.to_dict() == summary["test"]
    assert report.result.predictions == summary["test_predictions"]["predictions"]
    model, _, _, _ = load_trained_model(run, "cpu")
    assert model.in_channels == (trained["data"].get("channels", 3)
                                 if trained["name"] != "hecnet_rgb" else 3)
    # predict one test clip saved as a .pt dict holding both modalities
    cfg = yaml.safe_load((run / "config.yaml").read_text())["data"]["options"]
    data = SyntheticSEE(**cfg)
    first = [i for i, s in enumerate(data.samples)
             if s.sequence == report.dataset.samples[0].sequence]
    x, label = data[first[0]]
    assert set(x) == {"event", "rgb"}
    torch.save(x, tmp_path / "clip.pt")
    pred = Predictor.from_checkpoint(run, device="cpu").predict(tmp_path / "clip.pt")
    probs = np.array([pred.probabilities[c] for c in data.classes])
    np.testing.assert_allclose(probs, report.result.probabilities[0], rtol=1e-5, atol=1e-6)
    assert label == report.result.labels[0]


def test_run_cost_is_the_energy_estimate_of_the_trained_model(trained):
    """summary.json's GMACs/energy = snnfer.energy on the trained weights and a test clip;
    neurons are priced in the spiking models only, binary LIF spikes as accumulates."""
    from snnfer.energy import count_ops, estimate_energy
    from snnfer.train.data import collate

    run, cost = trained["run"], trained["summary"]["cost"]
    report = evaluate_checkpoint(run, progress=False)
    model, _, _, _ = load_trained_model(run, "cpu")
    # the cost is per clip, averaged over the first (up to) 8 test clips
    n = min(len(report.dataset), 8)
    assert cost["energy_clips"] == n
    x, _ = collate([report.dataset[i] for i in range(n)])
    assert cost["gmacs"] == pytest.approx(count_ops(model, x).total_macs / n / 1e9, rel=1e-9)
    est = estimate_energy(model, x)
    assert cost["energy_mj"] == pytest.approx(est.total_mj / n, rel=1e-9)
    spiking = trained["name"] in ("hecnet_snn", "hecnet_event", "seen")
    assert any(r.source == "neuron" for r in est.rows) == spiking
    # LIF spikes are binary: the layers they feed are priced as accumulates (ACs)
    spike_driven = [r.layer for r in est.rows if r.module in ("Conv2d", "Linear")
                    and r.op_type == "AC"]
    if trained["name"] in ("hecnet_snn", "seen"):  # LIF neurons here
        assert spike_driven
