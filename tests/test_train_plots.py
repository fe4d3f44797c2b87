"""PNG plots of a run: valid images, written atomically, no global matplotlib state changed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from snnfer.train import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_plot_writes_a_png_and_leaves_no_temp_files(tmp_path):
    history = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.9, "train_accuracy": 0.2,
                "val_accuracy": 0.25},
               {"epoch": 2, "train_loss": 1.5, "val_loss": None, "train_accuracy": 0.4,
                "val_accuracy": 0.5, "val_uar": 0.45}]
    paths = [
        plots.plot_curves(history, tmp_path / "curves.png"),
        plots.plot_confusion([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png"),
        plots.plot_firing_rates({"l1": 0.2, "l2": 0.05}, tmp_path / "rates.png"),
        plots.plot_model_comparison([{"model": "cs3d", "accuracy": 0.7, "accuracy_sd": 0.05,
                                      "gmacs": 0.1, "energy_mj": 0.2},
                                     {"model": "c3d", "accuracy": 0.8, "gmacs": 0.5,
                                      "energy_mj": 2.0}], tmp_path / "cmp.png"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    for p in paths:
        w, h = _png_size(p)
        assert w > 100 and h > 100
    # the confusion figure grows with the number of classes
    big = plots.plot_confusion(np.eye(7, dtype=int), list("abcdefg"), tmp_path / "cm7.png")
    assert _png_size(big)[0] > _png_size(tmp_path / "cm.png")[0]


def test_plots_do_not_switch_the_global_backend(tmp_path):
    """A notebook that trains a run keeps its inline backend (pyplot is never imported)."""
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from snnfer.train import plots\n"
        f"plots.plot_curves([{{'epoch': 1, 'train_loss': 1.0}}], {str(tmp_path / 'c.png')!r})\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["svg", "False"]
