"""``torchrun --nproc_per_node 2 -m snnfer train`` on CPU (gloo): same result as one process
with the same global batch, rank-0-only outputs, and a crashing worker fails the job fast."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import tests.train_fixtures  # noqa: F401  (registers the toy model/dataset)
from snnfer.train.checkpoint import load_checkpoint
from snnfer.train.config import RunConfig
from snnfer.train.run import run_training

ROOT = Path(__file__).resolve().parents[1]
# 24 toy clips: 6 test, 6 validation, 12 training -> 6 per rank, one batch per epoch
SETS = ["data.test_fraction=0.25", "data.val_fraction=0.25", "model.kwargs={dropout: 0.0}",
        "train.tensorboard=false", "optim.lr=0.01"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(out: Path, batch: int, extra: list[str], timeout: float = 240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "snnfer", "train", "--import", "tests.train_fixtures", "--model", "toy_snn",
           "--dataset", "toy", "--preset", "small", "--epochs", "3", "--batch-size", str(batch),
           "--out", str(out), "--no-progress", "--device", "cpu"]
    for s in SETS + extra:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.monotonic() - t0


@pytest.mark.slow
def test_two_cpu_processes_match_one_process(tmp_path):
    proc, _ = _torchrun(tmp_path / "ddp", batch=6, extra=[])
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_cfg = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")["config"]
    # the same recipe in one process with the same global batch (6 per rank x 2 ranks)
    ddp_cfg["data"]["batch_size"] = 12
    cfg = RunConfig.from_dict(ddp_cfg)
    single = run_training(cfg, tmp_path / "single")
    a = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")
    assert a["world_size"] == 2 and len(a["rng"]) == 2  # one RNG state per rank
    for k in b["model"]:
        if b["model"][k].is_floating_point():
            torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-4, atol=1e-5)
    ddp = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    # metrics are reduced over both ranks: the whole split is counted, once
    assert ddp["test"]["num_samples"] == 6
    assert ddp["test"]["confusion"] == single.summary["test"]["confusion"]
    for h_ddp, h_one in zip(ddp["history"], single.summary["history"]):
        assert h_ddp["train_loss"] == pytest.approx(h_one["train_loss"], rel=1e-4)
        assert h_ddp["train_accuracy"] == h_one["train_accuracy"]
        assert h_ddp["val_accuracy"] == h_one["val_accuracy"]
    # rank 0 alone writes: one log, one CSV with one row per epoch
    assert len((tmp_path / "ddp" / "metrics.csv").read_text().strip().splitlines()) == 4
    assert (tmp_path / "ddp" / "train.log").read_text().count("epoch 1:") == 1


@pytest.mark.slow
def test_a_crashing_worker_fails_the_job_fast(tmp_path):
    proc, seconds = _torchrun(tmp_path / "crash", batch=6,
                              extra=["model.kwargs={dropout: 0.0, crash_on_rank: 1}",
                                     "train.dist_timeout_s=60"], timeout=180)
    assert proc.returncode != 0
    assert "toy worker on rank 1 crashed on purpose" in proc.stderr
    assert seconds < 120, f"the job took {seconds:.0f} s to fail"
