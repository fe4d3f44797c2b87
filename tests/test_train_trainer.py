"""Trainer and run pipeline on tiny models: exact resume, NaN stop, resets, outputs, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from snnfer.errors import ArgumentError, CheckpointError, InputShapeError, TrainingError
from snnfer.train.checkpoint import load_checkpoint
from snnfer.train.config import RunConfig
from snnfer.train.data import FERSubset
from snnfer.train.evaluate import evaluate_checkpoint
from snnfer.train.run import run_training
from snnfer.train.trainer import Trainer
from tests.train_fixtures import ToyFER, ToyPair, ToySNN, tiny_config


def _strip(history):
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


class _Interrupt:
    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, trainer, record) -> None:
        if record["epoch"] == self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("balanced", [False, True])
def test_resume_after_interruption_gives_identical_results(tmp_path, balanced):
    cfg = tiny_config(train={"epochs": 4}, data={"balanced_sampler": balanced},
                      schedule={"name": "cosine", "warmup_epochs": 1.0})
    full = run_training(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, tmp_path / "cut", callbacks=[_Interrupt(after=2)])
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["epoch"] == 2
    resumed = run_training(cfg, tmp_path / "cut", resume=True)
    assert _strip(resumed.summary["history"]) == _strip(full.summary["history"])
    assert resumed.summary["test"] == full.summary["test"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k, v in a["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    rows = (tmp_path / "cut" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4  # header + one row per epoch, no duplicate after the resume


def test_non_finite_loss_stops_with_last_good_checkpoint(tmp_path):
    cfg = tiny_config(train={"epochs": 3})
    steps = math.ceil(14 / cfg.data.batch_size)  # 14 training samples in the toy holdout split
    cfg = cfg.updated({"model": {"kwargs": {"nan_after": steps + 1}}})
    with pytest.raises(TrainingError, match=r"non-finite training loss \(nan\) at epoch 2, batch 2"
                                            r"; training stopped and the last good checkpoint "
                                            r"is .*last.pt' \(epoch 1\)"):
        run_training(cfg, tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()


def _split(ds):
    return FERSubset(ds, range(0, len(ds), 2)), FERSubset(ds, range(1, len(ds), 2))


def test_checkpoint_of_other_class_count_fails_before_training(tmp_path):
    cfg = tiny_config(train={"epochs": 1})
    train, val = _split(ToyFER(per_class=4))
    Trainer(ToySNN(3), train, val, config=cfg, run_dir=tmp_path, model_name="toy_snn").fit()
    before = (tmp_path / "checkpoints" / "last.pt").stat().st_mtime_ns
    train4, val4 = _split(ToyFER(num_classes=4, per_class=4))
    t = Trainer(ToySNN(4), train4, val4, config=cfg.updated({"train": {"epochs": 2}}),
                run_dir=tmp_path, model_name="toy_snn")
    with pytest.raises(CheckpointError, match="trained for 3 classes .* data has 4 classes"):
        t.fit(resume=True)
    assert t.history == [] and (tmp_path / "checkpoints" / "last.pt").stat().st_mtime_ns == before
    t2 = Trainer(ToySNN(3), train, val, config=cfg, run_dir=tmp_path, model_name="other")
    with pytest.raises(CheckpointError, match="holds model 'toy_snn' but model 'other'"):
        t2.fit(resume=True)
    t3 = Trainer(ToySNN(3), train, val, config=cfg.updated({"optim": {"lr": 0.5}}),
                 run_dir=tmp_path, model_name="toy_snn")
    with pytest.raises(CheckpointError, match="config differs in optim.lr"):
        t3.fit(resume=True)


class _ResetChecking(ToySNN):
    """Fails if the neuron still holds state from a previous batch."""

    def forward(self, x):
        assert self.lif.v is None, "neuron state was not reset before this batch"
        return super().forward(x)


def test_neurons_are_reset_before_every_batch():
    # 13 training samples with batch 4: the last batch is smaller, which a stale state
    # would also reject; evaluation batches are checked the same way
    ds = ToyFER(per_class=9)
    train, val = FERSubset(ds, range(13)), FERSubset(ds, range(13, 27))
    cfg = tiny_config(train={"epochs": 2}, data={"batch_size": 4})
    t = Trainer(_ResetChecking(3), train, val, config=cfg)
    result = t.fit()
    assert len(result.history) == 2
    assert t.evaluate(val).metrics.num_samples == 14


def test_gradient_clipping_bounds_the_update():
    ds = ToyFER(per_class=4)
    cfg = tiny_config(train={"epochs": 1, "grad_clip": 1e-3}, optim={"name": "sgd", "lr": 1.0,
                                                                       "momentum": 0.0},
                      schedule={"name": "constant", "warmup_epochs": 0.0},
                      data={"batch_size": 4, "val_fraction": 0.0})
    model = ToySNN(3, dropout=0.0)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    Trainer(model, FERSubset(ds, range(12)), None, config=cfg).fit()
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    # 3 steps of lr * (gradient clipped to norm 1e-3)
    assert 0 < torch.linalg.vector_norm(after - before) <= 3 * 1e-3 + 1e-7


def test_fp16_on_cpu_is_rejected():
    ds = ToyFER(per_class=2)
    with pytest.raises(ArgumentError, match="train.amp='fp16' needs a CUDA device"):
        Trainer(ToySNN(3), ds, None, config=tiny_config(train={"amp": "fp16", "device": "cpu"}))


def test_run_directory_contents(tmp_path):
    cfg = tiny_config(train={"epochs": 2, "tensorboard": True})
    result = run_training(cfg, tmp_path / "run")
    run = tmp_path / "run"
    assert RunConfig.from_dict(__import__("yaml").safe_load((run / "config.yaml").read_text())) \
        == cfg
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    for name in ("curves", "confusion", "firing_rates"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((run / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary))
    assert summary["cost"]["params"] == sum(p.numel() for p in ToySNN(3).parameters())
    # the toy's MACs: fc1 (128 -> 32) and fc2 (32 -> 3) for T = 4 / once, per sample (thop)
    assert summary["cost"]["gmacs"] == pytest.approx((4 * 128 * 32 + 32 * 3) / 1e9, rel=0.05)
    assert set(summary["firing_rates"]) == {"lif"}
    assert 0.0 <= summary["firing_rates"]["lif"] <= 1.0
    assert summary["test"]["num_samples"] == len(json.loads(
        (run / "splits.json").read_text())["folds"][0]["test"])
    assert (run / "predictions.csv").read_text().splitlines()[0].startswith(
        "sequence,subject,condition,label,prediction,p_class0")
    with pytest.raises(ArgumentError, match="already holds a run; pass --resume"):
        run_training(cfg, run)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        run_training(cfg, tmp_path / "empty", resume=True)


def test_evaluate_checkpoint_reproduces_the_test_metrics(tmp_path):
    cfg = tiny_config(train={"epochs": 2})
    result = run_training(cfg, tmp_path / "run")
    report = evaluate_checkpoint(tmp_path / "run", out_dir=tmp_path / "eval", progress=False)
    assert report.split == "test"
    assert json.loads(json.dumps(report.result.metrics.to_dict())) == result.summary["test"]
    assert (tmp_path / "eval" / "confusion.png").is_file()
    everything = evaluate_checkpoint(tmp_path / "run", split="all", progress=False)
    assert everything.result.metrics.num_samples == 24
    with pytest.raises(CheckpointError, match="trained for 3 classes"):
        evaluate_checkpoint(tmp_path / "run", data_set=ToyFER(num_classes=4, per_class=2))


def test_two_modality_training(tmp_path):
    cfg = tiny_config(model={"name": "toy_fusion"}, data={"dataset": "toy_pair"},
                      train={"epochs": 2})
    result = run_training(cfg, tmp_path / "run")
    assert len(result.summary["history"]) == 2
    assert result.summary["test"]["num_samples"] == 6
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert ckpt["input_shape"] == {"event": [4, 2, 8, 8], "rgb": [4, 3, 8, 8]}


def test_samples_are_resampled_to_the_model_input(tmp_path):
    ds = ToyFER(per_class=8, shape=(6, 2, 12, 10))
    result = run_training(tiny_config(train={"epochs": 1}), tmp_path / "a", dataset=ds)
    assert result.summary["test"]["num_samples"] == 6
    with pytest.raises(InputShapeError, match=r"samples have shape \[6, 2, 12, 10\] but model "
                                              r"'toy_snn' \(small\) expects \[4, 2, 8, 8\]"):
        run_training(tiny_config(data={"resize": False}), tmp_path / "b", dataset=ds)
    pair = ToyPair(per_class=8)
    with pytest.raises(InputShapeError, match="data has modalities"):
        run_training(tiny_config(), tmp_path / "c", dataset=pair)


def test_loso_run_pools_all_folds_and_resume_skips_finished_folds(tmp_path):
    ds = ToyFER(per_class=6, subjects=3)
    cfg = tiny_config(data={"protocol": "loso", "val_fraction": 0.0}, train={"epochs": 1})
    result = run_training(cfg, tmp_path / "run", dataset=ds)
    s = result.summary
    assert [f["fold"] for f in s["folds"]] == ["subject-s00", "subject-s01", "subject-s02"]
    assert s["pooled"]["num_samples"] == len(ds)
    assert sum(f["num_samples"] for f in s["folds"]) == len(ds)
    assert s["fold_mean_std"]["accuracy"]["mean"] == pytest.approx(
        sum(f["accuracy"] for f in s["folds"]) / 3)
    assert (tmp_path / "run" / "subject-s01" / "checkpoints" / "best.pt").is_file()
    epochs_run = []
    again = run_training(cfg, tmp_path / "run", dataset=ds, resume=True,
                         callbacks=[lambda t, r: epochs_run.append(r)])
    assert epochs_run == [] and again.summary["pooled"] == s["pooled"]
