"""``torchrun --nproc_per_node 2 -m snnfer train --model cs3d --data synthetic`` (gloo, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnfer.train.checkpoint import load_checkpoint
from snnfer.train.evaluate import evaluate_checkpoint
from tests.test_ddp import _free_port

ROOT = Path(__file__).resolve().parents[1]
SETS = ["model.kwargs={input_size: [8, 32, 32], width_mult: 0.125, fc_dim: 32}",
        "data.options={num_classes: 3, num_subjects: 3, clips_per_class: 4, size: 32, "
        "frames: 8, num_frames: 12}", "data.protocol=subject_holdout",
        "data.test_fraction=0.34", "data.val_fraction=0", "train.tensorboard=false"]


@pytest.mark.slow
def test_torchrun_trains_the_real_cs3d_on_synthetic_data(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "snnfer", "train", "--model", "cs3d", "--data", "synthetic", "--preset",
           "small", "--epochs", "2", "--batch-size", "4", "--out", str(out), "--no-progress",
           "--device", "cpu"]
    for s in SETS:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1  # only rank 0 reports
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2 and ckpt["epoch"] == 2
    summary = json.loads((out / "summary.json").read_text())
    (fold,) = json.loads((out / "splits.json").read_text())["folds"]
    # one of three subjects is the test set: 12 clips, each counted exactly once over ranks
    assert summary["test"]["num_samples"] == len(fold["test"]) == 12
    assert len({name.split("_")[0] for name in fold["test"]}) == 1
    # the checkpoint, evaluated in one process, reproduces the metrics both ranks reduced
    report = evaluate_checkpoint(out, progress=False, device="cpu")
    assert report.result.metrics.confusion == summary["test"]["confusion"]
    assert summary["cost"]["gmacs"] > 0 and summary["firing_rates"]
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 3
