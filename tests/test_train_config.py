"""Run configs: the papers' presets, strict YAML loading, lr schedules."""

from __future__ import annotations

import math

import pytest
import torch

from snnfer.errors import ConfigError, UnknownNameError
from snnfer.train.config import RunConfig, load_config, preset_config
from snnfer.train.optim import build_optimizer, build_scheduler, lr_factor


def test_paper_presets_follow_the_papers():
    cs3d = preset_config("paper", "cs3d")  # cs3d.txt §IV-C: Adam, lr 1e-4, batch 16
    assert (cs3d.optim.name, cs3d.optim.lr, cs3d.data.batch_size) == ("adam", 1e-4, 16)
    assert cs3d.schedule.name == "constant" and cs3d.model.preset == "paper"
    for name in ("c3d", "rnn", "lstm", "transformer", "c3d_factorized"):
        assert preset_config("paper", name).optim == cs3d.optim
    hec = preset_config("paper", "hecnet_snn")  # hec-net.txt: AdamW 1e-4, wd 1e-4, cosine, 150
    assert (hec.optim.name, hec.optim.lr, hec.optim.weight_decay) == ("adamw", 1e-4, 1e-4)
    assert (hec.schedule.name, hec.train.epochs, hec.data.batch_size) == ("cosine", 150, 16)
    sf = preset_config("paper", "spiking_fer")  # Spiking-FER: SGD 5e-3, m 0.9, wd 5e-4, 500
    assert (sf.optim.name, sf.optim.lr, sf.optim.momentum, sf.optim.weight_decay) == (
        "sgd", 5e-3, 0.9, 5e-4)
    assert (sf.train.epochs, sf.data.batch_size) == (500, 32)
    seen = preset_config("paper", "seen")  # SEEN: SGD 0.015, StepLR 0.94 per epoch, 180
    assert (seen.optim.lr, seen.schedule.name, seen.schedule.gamma) == (0.015, "exponential", 0.94)


def test_small_preset_is_cpu_sized():
    small = preset_config("small", "cs3d")
    assert small.model.preset == "small" and small.train.epochs <= 10
    assert small.optim.name == "adam" and small.optim.lr == pytest.approx(1e-3)
    with pytest.raises(UnknownNameError, match="unknown preset 'huge'"):
        preset_config("huge")


def test_yaml_layering_and_roundtrip(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("preset: small\nmodel: {name: hecnet}\noptim: {lr: 3e-4, weight_decay: 1e-2}\n"
                 "train: {epochs: 7}\n")
    cfg = load_config(f, overrides={"train": {"seed": 5}})
    assert cfg.model.preset == "small" and cfg.optim.name == "adamw"
    # YAML 1.1 reads 3e-4 (no dot) as a string; float fields accept it
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert (cfg.train.epochs, cfg.train.seed) == (7, 5)
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml())
    assert load_config(again) == cfg


@pytest.mark.parametrize("text, match", [
    ("optim: {lrr: 0.1}\n", r"unknown config key\(s\) \['optim.lrr'\]; accepted in 'optim'"),
    ("trian: {epochs: 3}\n", r"unknown config key\(s\) \['trian'\]"),
    ("train: {epochs: three}\n", "'train.epochs' must be an integer, got 'three'"),
    ("train: {epochs: 0}\n", "'train.epochs' must be >= 1, got 0"),
    ("optim: {name: rmsprop}\n", r"'optim.name' must be one of \['adam', 'adamw', 'sgd'\]"),
    ("data: {batch_size: 2.5}\n", "'data.batch_size' must be an integer"),
    ("train: {deterministic: 1}\n", "'train.deterministic' must be true or false"),
    ("data: [1, 2]\n", "section 'data' must be a mapping"),
    ("- a\n- b\n", "must hold a mapping of sections"),
    ("optim: {lr: [1\n", "is not valid YAML"),
])
def test_bad_yaml_is_a_clear_config_error(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_from_dict_rejects_unknown_nested_keys():
    with pytest.raises(ConfigError, match=r"\['schedule.warmup'\]"):
        RunConfig.from_dict({"schedule": {"warmup": 3}})


def _factor(name, e, **kw):
    cfg = preset_config().schedule
    cfg.name = name
    for k, v in kw.items():
        setattr(cfg, k, v)
    return lr_factor(cfg, 10, e, base_lr=1e-3)


def test_lr_schedules_analytic():
    # linear warm-up from 0.1 to 1 over 2 epochs
    assert _factor("constant", 1.0, warmup_epochs=2, warmup_start_factor=0.1) == pytest.approx(0.55)
    assert _factor("constant", 5.0, warmup_epochs=2) == 1.0
    # cosine from 1 to min_lr/lr over the 8 post-warm-up epochs
    assert _factor("cosine", 2.0, warmup_epochs=2) == pytest.approx(1.0)
    assert _factor("cosine", 6.0, warmup_epochs=2) == pytest.approx(0.5)
    assert _factor("cosine", 10.0, warmup_epochs=2, min_lr=1e-4) == pytest.approx(0.1)
    assert _factor("cosine", 3.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.3)))
    # SEEN: x 0.94 each epoch; step: x 0.1 every 3 epochs
    assert _factor("exponential", 5.5, gamma=0.94) == pytest.approx(0.94**5)
    assert _factor("step", 6.0, step_size=3, gamma=0.1) == pytest.approx(0.01)
    assert _factor("step", 5.9, step_size=3, gamma=0.1) == pytest.approx(0.1)


def test_scheduler_steps_per_iteration():
    cfg = preset_config("paper", "hecnet")
    cfg.schedule.warmup_epochs = 1.0
    cfg.schedule.warmup_start_factor = 0.5
    opt = build_optimizer(cfg.optim, [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["weight_decay"] == 1e-4
    sched = build_scheduler(cfg.schedule, opt, epochs=3, steps_per_epoch=4)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5e-4) and lrs[2] == pytest.approx(0.75e-4)
    assert lrs[4] == pytest.approx(1e-4)  # warm-up done, cosine starts at the base lr
    assert lrs[8] == pytest.approx(0.5e-4)  # half-way through the 2 cosine epochs
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)
