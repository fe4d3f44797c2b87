"""`snnfer inspect`: statistics against hand-computed values, PNG preview, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snnfer.cli import main
from snnfer.data.events import make_events, write_events
from snnfer.data.inspect import event_stats, inspect_file
from tests.conftest import require


def small_stream() -> np.ndarray:
    # 4 events over 2 s, 3 ON / 1 OFF, 3 distinct pixels, pixel (1, 0) has 2 events
    return make_events([1_000_000, 1_500_000, 2_000_000, 3_000_000], [1, 1, 2, 0],
                       [0, 0, 1, 2], [1, 0, 1, 1])


def test_event_stats_hand_computed():
    s = event_stats(small_stream(), (4, 3), path="x")
    assert (s.n_events, s.n_on, s.n_off) == (4, 3, 1)
    assert (s.t_first_us, s.t_last_us, s.duration_s) == (1_000_000, 3_000_000, 2.0)
    assert s.rate_hz == 2.0 and s.on_fraction == 0.75
    assert (s.active_pixels, s.max_pixel_events) == (3, 2)
    assert s.active_fraction == 3 / 12 and s.mean_pixel_rate_hz == pytest.approx(4 / 3 / 2)


def test_cli_prints_stats_and_writes_png(tmp_path, capsys):
    require("matplotlib")
    path, png = tmp_path / "s.npz", tmp_path / "s.png"
    ev = small_stream()
    ev["x"][1], ev["y"][1] = 3, 2  # the OFF event on a pixel of its own
    write_events(path, ev, (4, 3))
    assert main(["inspect", str(path), "--png", str(png), "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert "events:          4" in out and "ON / OFF:        3 / 1 (ON fraction 0.750)" in out
    assert "duration:        2.000000 s" in out and "event rate:      2.0 ev/s" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[1] > img.shape[0]  # two panels side by side
    red = (img[..., 0] > 0.9) & (img[..., 1] < 0.5) & (img[..., 2] < 0.5)
    blue = (img[..., 2] > 0.9) & (img[..., 0] < 0.5) & (img[..., 1] < 0.5)
    assert red.any() and blue.any()  # ON drawn red, OFF blue
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_json_and_sensor_size(tmp_path, capsys):
    (tmp_path / "e.txt").write_text("0.5 1 2 1\n1.5 3 4 0\n")
    assert main(["inspect", str(tmp_path / "e.txt"), "--json", "--sensor-size", "10,8"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["sensor_size"] == [10, 8] and stats["n_events"] == 2
    assert stats["duration_s"] == 1.0 and stats["on_fraction"] == 0.5


def test_inspect_accepts_an_empty_stream(tmp_path):
    write_events(tmp_path / "z.npz", make_events([], [], [], []), (5, 5))
    s = inspect_file(tmp_path / "z.npz")
    assert s.n_events == 0 and s.rate_hz == 0.0 and s.sensor_size == (5, 5)


def test_cli_bad_input_gives_clear_errors(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: no such event file" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("5 0 0 1\n2 0 0 1\n")
    assert main(["inspect", str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt: field 't' is not sorted" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "bad.txt"), "--sensor-size", "ten"]) == 2
    assert "--sensor-size must be W,H" in capsys.readouterr().err
