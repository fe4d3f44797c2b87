"""Checkpoints: weights-only round trip, RNG capture, clear errors for bad/incompatible files."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from snnfer.errors import CheckpointError
from snnfer.train.checkpoint import (
    capture_rng,
    check_compatible,
    load_checkpoint,
    load_model_state,
    resolve_checkpoint,
    restore_rng,
    save_checkpoint,
)


def _state(model: nn.Module) -> dict:
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    return {"model_name": "lin", "num_classes": 3, "classes": ["a", "b", "c"],
            "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2,
            "rng": [capture_rng()], "config": {"train": {"epochs": 3}}}


def test_round_trip_is_weights_only(tmp_path):
    model = nn.Linear(4, 3)
    path = save_checkpoint(tmp_path / "c.pt", _state(model))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == "snnfer-checkpoint" and ckpt["epoch"] == 2
    assert torch.equal(ckpt["model"]["weight"], model.weight)
    # every entry loads under torch's weights-only unpickler
    torch.load(path, weights_only=True)


def test_rng_capture_restores_python_numpy_torch():
    state = capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(3))
    random.random(), np.random.rand(), torch.rand(5)  # move on
    restore_rng(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_rng_state_survives_a_weights_only_file(tmp_path):
    save_checkpoint(tmp_path / "r.pt", {**_state(nn.Linear(4, 3)), "rng": [capture_rng()]})
    expected = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng(load_checkpoint(tmp_path / "r.pt")["rng"][0])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert expected[:2] == got[:2] and torch.equal(expected[2], got[2])


def test_missing_truncated_foreign_and_unsafe_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    good = save_checkpoint(tmp_path / "good.pt", _state(nn.Linear(4, 3)))
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save(nn.Linear(2, 2).state_dict(), tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an snnfer checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    # a pickled module (code) is refused by the weights-only loader
    torch.save({"format": "snnfer-checkpoint", "obj": nn.Linear(2, 2)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="non-tensor objects"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"format": "snnfer-checkpoint", "model": {}}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"lacks entries \['model_name'"):
        load_checkpoint(tmp_path / "partial.pt")


def test_incompatible_model_or_classes():
    ckpt = {"model_name": "cs3d", "num_classes": 7, "classes": list("abcdefg")}
    check_compatible(ckpt, model_name="cs3d", num_classes=7, classes=list("abcdefg"))
    with pytest.raises(CheckpointError, match="holds model 'cs3d' but model 'c3d' was requested"):
        check_compatible(ckpt, model_name="c3d")
    with pytest.raises(CheckpointError, match="trained for 7 classes .* data has 6 classes"):
        check_compatible(ckpt, num_classes=6)
    with pytest.raises(CheckpointError, match="names or order differ"):
        check_compatible(ckpt, classes=list("gfedcba"))


def test_load_model_state_names_the_mismatch():
    with pytest.raises(CheckpointError,
                       match=r"shape mismatch.*weight: \(3, 4\) vs model \(5, 4\)"):
        load_model_state(nn.Linear(4, 5), nn.Linear(4, 3).state_dict())
    with pytest.raises(CheckpointError, match="missing weight.*'1.weight'"):
        load_model_state(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)),
                         nn.Sequential(nn.Linear(4, 4)).state_dict())


def test_resolve_checkpoint(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    best = save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", _state(nn.Linear(4, 3)))
    assert resolve_checkpoint(tmp_path / "run") == best
    assert resolve_checkpoint(best) == best
    (tmp_path / "multi" / "fold-0" / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="multi-fold run; pass one fold directory"):
        resolve_checkpoint(tmp_path / "multi")
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(tmp_path / "absent")
