"""Prediction inputs (tensors, two modalities) and the demo's report."""

from __future__ import annotations

import json

import pytest
import torch

from snnfer.errors import ArgumentError
from snnfer.train.demo import (
    DemoSettings,
    aggregate,
    dataset_options,
    demo_config,
    results_table,
    run_demo,
)
from snnfer.train.predict import Predictor
from snnfer.train.run import run_training
from tests.train_fixtures import ToyFER, ToyPair, tiny_config


def test_predictor_from_checkpoint_matches_the_model(tmp_path):
    run_training(tiny_config(train={"epochs": 1}), tmp_path / "run")
    pred = Predictor.from_checkpoint(tmp_path / "run", device="cpu")
    x, _ = ToyFER(per_class=1, shape=(6, 2, 10, 10))[1]  # resampled to the model's 4x2x8x8
    torch.save(x, tmp_path / "x.pt")
    out = pred.predict(tmp_path / "x.pt")
    assert set(out.probabilities) == {"class0", "class1", "class2"}
    assert sum(out.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    from snnfer.train.data import resample_to
    from snnfer.train.trainer import forward

    with torch.no_grad():
        ref = torch.softmax(forward(pred.model, resample_to(x, (4, 2, 8, 8))[None]), 1)[0]
    assert [out.probabilities[c] for c in pred.classes] == pytest.approx(ref.tolist(), abs=1e-6)
    with pytest.raises(ArgumentError, match="does not exist"):
        pred.predict(tmp_path / "nope.h5")


def test_two_modality_prediction_and_event_only_input(tmp_path):
    cfg = tiny_config(model={"name": "toy_fusion"}, data={"dataset": "toy_pair"},
                      train={"epochs": 1})
    run_training(cfg, tmp_path / "run")
    pred = Predictor.from_checkpoint(tmp_path / "run", device="cpu")
    assert pred.modalities == ("event", "rgb")
    torch.save(ToyPair(per_class=1)[0][0], tmp_path / "pair.pt")
    assert pred.predict(tmp_path / "pair.pt").label in pred.classes
    (tmp_path / "clip.h5").write_bytes(b"")
    with pytest.raises(ArgumentError, match="takes modalities \\['event', 'rgb'\\]; an event file"):
        pred.predict(tmp_path / "clip.h5")


def test_demo_trains_each_model_and_reports_mean_sd(tmp_path):
    settings = DemoSettings(models=["toy_snn"], seeds=[0, 1], epochs=1, out=tmp_path / "demo",
                            progress=False, dataset="toy", threads=1)
    summary = run_demo(settings, dataset_factory=lambda seed: ToyFER(per_class=8, seed=seed))
    assert summary["threads"] == 1  # the torch threads the runs used (None = auto)
    assert summary["freed_memory_kept"] is False  # only the CLI turns it on
    rows = summary["rows"]
    assert [(r["model"], r["seed"]) for r in rows] == [("toy_snn", 0), ("toy_snn", 1)]
    (agg,) = summary["aggregate"]
    accs = [r["accuracy"] for r in rows]
    assert agg["accuracy"] == pytest.approx(sum(accs) / 2)
    assert agg["accuracy_sd"] == pytest.approx(abs(accs[0] - accs[1]) / 2**0.5)
    out = tmp_path / "demo"
    assert json.loads((out / "summary.json").read_text())["table"] == summary["table"]
    assert (out / "results.md").read_text().startswith("| model | accuracy | UAR | UF1 |")
    assert (out / "plots" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "seed-1" / "toy_snn" / "checkpoints" / "best.pt").is_file()
    # a second call resumes: the finished runs are kept and give the same numbers
    again = run_demo(settings, dataset_factory=lambda seed: ToyFER(per_class=8, seed=seed))
    assert [r["accuracy"] for r in again["rows"]] == accs


def test_results_table_and_energy_ratio():
    rows = [{"model": m, "seed": s, "accuracy": a, "uar": a, "uf1": a, "params": p,
             "gmacs": g, "energy_mj": e, "latency_ms": 2.0}
            for m, s, a, p, g, e in [("cs3d", 0, 0.8, 2e6, 1.0, 2.0),
                                     ("cs3d", 1, 0.6, 2e6, 1.0, 2.0),
                                     ("c3d", 0, 0.5, 8e6, 4.0, 10.0),
                                     ("c3d", 1, 0.5, 8e6, 4.0, 14.0)]]
    agg = aggregate(rows, ["cs3d", "c3d"])
    assert agg[1]["energy_mj"] == pytest.approx(12.0)          # energy: mean over seeds
    assert agg[1]["energy_mj_sd"] == pytest.approx(8 ** 0.5)   # sample sd of (10, 14)
    table = results_table(agg, 2)
    assert "| cs3d | 70.0 ± 14.1% |" in table
    assert "| c3d | 50.0 ± 0.0% |" in table and "| 8.000 | 4 | 12 ± 2.828 | 2 | n/a |" in table
    assert "CS3D / C3D estimated energy: 16.67%" in table
    assert "CS3D / C3D GMACs: 25.00%" in table


def test_demo_recipe_is_the_same_for_every_model():
    settings = DemoSettings(epochs=5, lr=3e-3, subjects=10, test_subjects=2, val_subjects=2)
    opts = dataset_options(settings, seed=4)
    assert opts == {"num_classes": 7, "num_subjects": 10, "clips_per_class": 4, "seed": 4}
    cfgs = {m: demo_config(settings, m, 4, opts) for m in ("cs3d", "c3d", "transformer")}
    for cfg in cfgs.values():
        assert cfg.model.preset == "small" and cfg.data.protocol == "subject_holdout"
        assert (cfg.optim.name, cfg.optim.lr, cfg.train.epochs, cfg.train.seed) == (
            "adam", 3e-3, 5, 4)
        # 2 of 10 subjects for testing, 2 of the other 8 for validation
        assert round(cfg.data.test_fraction * 10) == 2 and round(cfg.data.val_fraction * 8) == 2
    a, b = cfgs["cs3d"].to_dict(), cfgs["c3d"].to_dict()
    a["model"]["name"] = b["model"]["name"]
    assert a == b  # only the model differs
    with pytest.raises(ArgumentError, match="leave none of the 4 subjects"):
        run_demo(DemoSettings(subjects=4, test_subjects=3, val_subjects=1))
    with pytest.raises(ArgumentError, match="demo epochs must be >= 1"):
        run_demo(DemoSettings(epochs=0))


def test_demo_time_to_go_uses_each_models_own_time():
    from snnfer.train.demo import _to_go

    s = DemoSettings(models=["cs3d", "c3d", "rnn"], seeds=[0, 1])
    # after cs3d of seed 0 (100 s): c3d and rnn unknown -> mean run time, then seed 1
    assert _to_go(s, 0, "cs3d", {"cs3d": 100.0}, 100.0) == 100 * 5
    took = {"cs3d": 100.0, "c3d": 40.0, "rnn": 10.0}
    assert _to_go(s, 0, "rnn", took, 50.0) == 150.0  # all of seed 1
    assert _to_go(s, 1, "c3d", took, 50.0) == 10.0 and _to_go(s, 1, "rnn", took, 50.0) == 0


def test_demo_threads_follow_the_idle_cores():
    import os

    from snnfer.train.demo import auto_threads

    cpus = os.cpu_count()
    assert auto_threads(cores=cpus, load=0.0) == cpus
    assert auto_threads(cores=cpus, load=cpus - 1.0) == 1
    assert auto_threads(cores=cpus, load=cpus + 3.0) == 1  # at least one thread
    assert auto_threads(cores=1, load=0.0) == 1  # never more than torch would use
