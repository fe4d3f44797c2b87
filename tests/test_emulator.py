"""DVSEmulator: analytic expectations of the V2E pixel model, noise statistics, API, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnfer.data.emulator import PRESETS, DVSEmulator, lin_log
from snnfer.data.events import validate_events
from snnfer.errors import ArgumentError, InputShapeError, UnknownNameError


def ramp_frames(n: int, step: float, h: int = 8, w: int = 8, start: float = math.log(50.0)):
    """Frames whose log intensity rises by ``step`` per frame (DN above the lin-log knee)."""
    return np.exp(start + step * np.arange(n))[:, None, None] * np.ones((n, h, w))


def per_pixel(ev: np.ndarray, size, polarity: int | None = None) -> np.ndarray:
    sel = ev if polarity is None else ev[ev["p"] == polarity]
    counts = np.zeros(size[::-1], np.int64)
    np.add.at(counts, (sel["y"], sel["x"]), 1)
    return counts


def test_reference_check_figure_640_on_events():
    """REFERENCE.md: a 21-frame log ramp of +0.1/frame on 8x8 pixels gives 640 ON events."""
    for upsample in (1, "auto"):
        emu = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=upsample)
        ev = emu(ramp_frames(21, 0.1), np.arange(21) / 30)
        assert len(ev) == 640 and ev["p"].sum() == 640
        assert (per_pixel(ev, (8, 8)) == 10).all()


@pytest.mark.parametrize("timestamps", ["linear", "uniform"])
@pytest.mark.parametrize("sign", [1, -1])
def test_ramp_of_n_thresholds_gives_n_evenly_spaced_events(timestamps, sign):
    n, thr, dt = 5, 0.2, 0.04
    frames = np.exp(np.log(80.0) + sign * np.array([0.0, n * thr]))[:, None, None] * np.ones(
        (2, 3, 4))
    emu = DVSEmulator.from_preset("clean", sigma_thres=0.0, timestamps=timestamps, upsample=1)
    ev = emu(frames, [1.0, 1.0 + dt])
    assert len(ev) == n * 12
    assert set(ev["p"].tolist()) == {1 if sign > 0 else 0}
    for y in range(3):
        for x in range(4):
            t = ev["t"][(ev["x"] == x) & (ev["y"] == y)]
            expected = 1_000_000 + np.rint((np.arange(n) + 1) * dt * 1e6 / n)
            np.testing.assert_array_equal(t, expected)


def test_linear_timestamps_are_threshold_crossing_times():
    # log change of 0.5 with threshold 0.2: crossings at 0.2/0.5 and 0.4/0.5 of the interval
    frames = np.exp(np.log(60.0) + np.array([0.0, 0.5]))[:, None, None] * np.ones((2, 1, 1))
    ev = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1)(frames, [0.0, 0.01])
    assert ev["t"].tolist() == [4000, 8000]


def test_v2e_timestamp_rule_uses_the_busiest_pixel():
    """timestamps="v2e": event i of every pixel at t0 + (i + 1) dt / K, K = max count (v2e's
    EventEmulator), shot noise at the frame time; "uniform" uses each pixel's own count."""
    lo, hi = math.log(60.0), [0.6, 0.2]  # pixel 0: 3 thresholds, pixel 1: 1 threshold
    frames = np.exp(lo + np.array([[0.0, 0.0], hi]))[:, None, :]
    slots = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1, timestamps="v2e")
    ev = slots(frames, [0.0, 0.03])
    assert ev[["t", "x"]].tolist() == [(10000, 0), (10000, 1), (20000, 0), (30000, 0)]
    uniform = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1,
                                      timestamps="uniform")(frames, [0.0, 0.03])
    assert uniform[["t", "x"]].tolist() == [(10000, 0), (20000, 0), (30000, 0), (30000, 1)]
    noisy = DVSEmulator.from_preset("clean", shot_noise_rate_hz=2000.0, timestamps="v2e")
    ev = noisy(np.full((4, 6, 6), 90, np.uint8), [0.0, 0.01, 0.02, 0.03])
    assert len(ev) > 0 and set(ev["t"].tolist()) <= {10000, 20000, 30000}


def test_v2e_rule_matches_linear_counts_and_refractory_across_chunks():
    rng = np.random.default_rng(3)
    frames = rng.integers(30, 255, (8, 12, 10)).astype(np.uint8)
    ts = np.arange(8) / 30
    a = DVSEmulator.from_preset("v2e-default", upsample=1, timestamps="v2e")(frames, ts)
    b = DVSEmulator.from_preset("v2e-default", upsample=1)(frames, ts)
    validate_events(a, (10, 12))
    np.testing.assert_array_equal(per_pixel(a, (10, 12), 1), per_pixel(b, (10, 12), 1))
    np.testing.assert_array_equal(per_pixel(a, (10, 12), 0), per_pixel(b, (10, 12), 0))
    # one threshold per frame, frames 0.8 ms apart, R = 1 ms, one frame per chunk (so the
    # last-event time is carried across chunks). As in v2e a dropped event leaves its change
    # in the memorised level: frame 2 drops 1600; frame 3 has 2 events (2000, 2400) and
    # keeps 2000; frame 4 keeps 3200 of (2800, 3200); frame 5 drops both; frame 6 keeps 4267
    frames = np.exp(math.log(60.0) + 0.2 * np.arange(7))[:, None, None] * np.ones((7, 1, 1))
    for chunk in (1, 1 << 18):
        emu = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1, timestamps="v2e",
                                      refractory_period_s=0.001, chunk_pixels=chunk)
        ev = emu(frames, np.arange(7) * 0.0008)
        assert ev["t"].tolist() == [800, 2000, 3200, 4267]


def test_upsampling_keeps_linear_log_crossings():
    """Linear-in-log upsampling with linear timestamps reproduces the same events."""
    rng = np.random.default_rng(0)
    frames = rng.integers(30, 255, (6, 10, 12)).astype(np.uint8)
    ts = np.arange(6) / 25
    base = DVSEmulator.from_preset("clean", upsample=1)(frames, ts)
    auto = DVSEmulator.from_preset("clean", upsample="auto")(frames, ts)
    fixed = DVSEmulator.from_preset("clean", upsample=7)(frames, ts)
    for other in (auto, fixed):
        assert len(other) == len(base)
        key = np.lexsort((base["t"], base["p"], base["y"], base["x"]))  # by pixel, then time
        key_o = np.lexsort((other["t"], other["p"], other["y"], other["x"]))
        np.testing.assert_array_equal(base[["x", "y", "p"]][key], other[["x", "y", "p"]][key_o])
        assert np.abs(base["t"][key].astype(np.int64) - other["t"][key_o]).max() <= 1


def test_static_scene_without_noise_emits_nothing():
    frames = np.random.default_rng(1).integers(0, 256, (1, 16, 16)).repeat(30, 0)
    ts = np.arange(30) / 30
    for preset in ("clean", "v2e-default"):
        emu = DVSEmulator.from_preset(preset, leak_rate_hz=0.0, shot_noise_rate_hz=0.0)
        assert len(emu(frames, ts)) == 0


def test_sigma_spreads_counts_exactly_by_pixel_thresholds():
    """Monotonic ramp of total log change D: pixel i emits floor(D / thr_i) ON events."""
    emu = DVSEmulator.from_preset("clean", sigma_thres=0.05, seed=3, upsample=1)
    ev = emu(ramp_frames(41, 0.05, h=20, w=20), np.arange(41) / 30)
    counts = per_pixel(ev, (20, 20), polarity=1)
    thr = emu.pos_thresholds.numpy()
    np.testing.assert_array_equal(counts, np.floor(2.0 / thr + 1e-6))
    assert abs(thr.std() - 0.05) < 0.01 and counts.std() > 1.0  # sigma 0.05 -> spread
    clean = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1)
    assert (per_pixel(clean(ramp_frames(41, 0.05, 20, 20), np.arange(41) / 30), (20, 20))
            == 10).all()


def test_leak_rate_matches_parameter():
    """Static scene: leak lowers the memorised level by rate * thr per second -> ON events at
    ``leak_rate_hz`` times the per-pixel log-normal factor (mean exp((ln10 cov)^2 / 2))."""
    n, fps, rate = 201, 20, 3.0
    frames = np.full((n, 24, 24), 100, np.uint8)
    emu = DVSEmulator.from_preset("clean", leak_rate_hz=rate, leak_jitter_fraction=0.1,
                                  noise_rate_cov_decades=0.1, sigma_thres=0.0, seed=2)
    ev = emu(frames, np.arange(n) / fps)
    duration = (n - 1) / fps
    assert ev["p"].all()
    counts = per_pixel(ev, (24, 24))
    expected = rate * duration * math.exp((math.log(10) * 0.1) ** 2 / 2) - 0.5  # floor
    assert abs(counts.mean() - expected) < 0.03 * expected
    exact = DVSEmulator.from_preset("clean", leak_rate_hz=rate, sigma_thres=0.0)
    ev = exact(frames, np.arange(n) / fps)  # no jitter, no spread: exactly rate * T
    assert (per_pixel(ev, (24, 24)) == int(rate * duration)).all()
    gaps = np.diff(ev["t"][(ev["x"] == 0) & (ev["y"] == 0)])
    assert np.abs(gaps - 1e6 / rate).max() <= 2  # float32 state: µs-level rounding


@pytest.mark.parametrize(("intensity", "rate"), [(0, 10.0), (255, 10.0), (0, 2.0)])
def test_shot_noise_rate_matches_parameter(intensity, rate):
    """v2e shot noise: per pixel rate/2 each for ON and OFF, times (1 - 0.75 inten01); at 2 Hz
    the candidates are sampled directly instead of one draw per pixel (same law)."""
    n, fps = 401, 100
    frames = np.full((n, 30, 30), intensity, np.uint8)
    emu = DVSEmulator.from_preset("clean", shot_noise_rate_hz=rate, sigma_thres=0.0, seed=5)
    ev = emu(frames, np.arange(n) / fps)
    validate_events(ev, emu.sensor_size)
    inten01 = (intensity + 20) / 275
    expected = rate * (1 - 0.75 * inten01) * (n - 1) / fps * 900  # events, all pixels
    sd = math.sqrt(expected)
    assert abs(len(ev) - expected) < 4 * sd
    assert abs(ev["p"].sum() - expected / 2) < 4 * math.sqrt(expected / 2)


def test_refractory_period_spaces_events():
    frames = np.exp(np.log(40.0) + np.array([0.0, 3.0]))[:, None, None] * np.ones((2, 4, 4))
    free = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1)(frames, [0, 0.01])
    assert len(free) == 15 * 16  # 3.0 / 0.2 events, 667 us apart
    emu = DVSEmulator.from_preset("clean", sigma_thres=0.0, upsample=1,
                                  refractory_period_s=0.0015)
    ev = emu(frames, [0, 0.01])
    for x in range(4):
        t = ev["t"][(ev["x"] == x) & (ev["y"] == 0)]
        assert np.diff(t).min() >= 1500
        np.testing.assert_array_equal(t, free["t"][(free["x"] == x) & (free["y"] == 0)][::3])


def test_lowpass_filter_delays_events_by_its_time_constant():
    """A step from 50 to 200 DN through the intensity-dependent IIR: the k-th event comes at
    the first substep m with 1 - (1 - eps)^m >= k thr / D, eps = inten01 dt / tau."""
    cutoff, sub = 20.0, 40
    frames = np.array([50.0, 200.0])[:, None, None] * np.ones((2, 1, 1))
    emu = DVSEmulator.from_preset("clean", sigma_thres=0.0, cutoff_hz=cutoff, upsample=sub)
    ev = emu(frames, [0.0, 0.2])
    dt, tau = 0.2 / sub, 1 / (2 * math.pi * cutoff)
    d_total = math.log(200.0) - math.log(50.0)
    lp, expected = math.log(50.0), []
    for m in range(1, sub + 1):  # the IIR target ramps linearly in log within the interval
        target = math.log(50.0) + d_total * m / sub
        inten01 = (math.exp(target) + 20) / 275
        lp += min(1.0, inten01 * dt / tau) * (target - lp)
        while len(expected) < int((lp - math.log(50.0)) / 0.2 + 1e-6):
            expected.append(m)
    assert len(ev) == len(expected) == 6
    assert ev["p"].all()
    substep_of_event = np.ceil(ev["t"] / (dt * 1e6) - 1e-6).astype(int)
    np.testing.assert_array_equal(substep_of_event, expected)


def test_seeded_deterministic_and_streaming_equals_batch():
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (12, 9, 11)).astype(np.uint8)
    ts = np.arange(12) / 30
    a = DVSEmulator.from_preset("noisy", seed=7)(frames, ts)
    b = DVSEmulator.from_preset("noisy", seed=7)(frames, ts)
    c = DVSEmulator.from_preset("noisy", seed=8)(frames, ts)
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)
    emu = DVSEmulator.from_preset("clean", seed=1)
    batch = emu(frames, ts)
    emu.reset()
    streamed = np.concatenate([emu.step(f, t) for f, t in zip(frames, ts)])
    np.testing.assert_array_equal(streamed, batch)
    again = emu(frames, ts)  # __call__ resets: same events again
    np.testing.assert_array_equal(again, batch)


def test_dense_texture_output_is_valid_and_uses_all_pixels():
    rng = np.random.default_rng(0)
    tex = rng.integers(24, 256, (32, 32 + 10), dtype=np.uint8)
    frames = np.stack([tex[:, i:i + 32] for i in range(10)])
    for workers in (1, 3):
        emu = DVSEmulator.from_preset("v2e-default", upsample=1, workers=workers,
                                      chunk_pixels=32 * 32 * 4)
        ev = emu(frames, np.arange(10) / 30)
        validate_events(ev, (32, 32))
        assert len(ev) > 9 * 32 * 32 and (per_pixel(ev, (32, 32)) > 0).all()
        if workers == 1:
            single = ev
    np.testing.assert_array_equal(ev, single)


def test_rgb_frames_use_bt601_luma_and_torch_input():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (5, 6, 7, 3)).astype(np.uint8)
    luma = (rgb.astype(np.float32) * np.array([0.299, 0.587, 0.114], np.float32)).sum(-1)
    ts = np.arange(5) / 30
    a = DVSEmulator.from_preset("clean")(rgb, ts)
    b = DVSEmulator.from_preset("clean")(torch.from_numpy(luma), ts)
    np.testing.assert_array_equal(a, b)
    emu = DVSEmulator.from_preset("clean")
    emu(rgb, ts)
    assert emu.sensor_size == (7, 6)


def test_lin_log_is_continuous_at_the_knee():
    x = torch.tensor([0.0, 10.0, 20.0, 20.0001, 255.0])
    y = lin_log(x)
    assert y[0] == 0 and abs(y[1] - math.log(20) / 2) < 1e-6
    assert abs(y[2] - math.log(20)) < 1e-6 and abs(y[3] - y[2]) < 1e-4
    assert abs(y[4] - math.log(255)) < 1e-6


def test_presets_use_v2e_names_and_values():
    assert PRESETS["clean"]["sigma_thres"] == 0.02 and PRESETS["clean"]["cutoff_hz"] == 0
    assert PRESETS["noisy"] == {**PRESETS["noisy"], "sigma_thres": 0.05, "cutoff_hz": 30.0,
                                "leak_rate_hz": 0.1, "shot_noise_rate_hz": 5.0}
    v = PRESETS["v2e-default"]
    assert (v["pos_thres"], v["neg_thres"], v["sigma_thres"], v["cutoff_hz"], v["leak_rate_hz"],
            v["shot_noise_rate_hz"], v["refractory_period_s"]) == (
        0.2, 0.2, 0.03, 300.0, 0.01, 0.001, 0.0005)
    emu = DVSEmulator.from_preset("noisy", pos_thres=0.3)
    assert emu.pos_thres == 0.3 and emu.cutoff_hz == 30.0
    assert "DVSEmulator(pos_thres=0.3" in repr(emu)


# ----------------------------------------------------------------------------- bad input
def test_bad_arguments_and_frames():
    with pytest.raises(UnknownNameError, match="emulator preset 'dirty'.*clean"):
        DVSEmulator.from_preset("dirty")
    with pytest.raises(ArgumentError, match="pos_thres must be > 0"):
        DVSEmulator(pos_thres=0)
    with pytest.raises(ArgumentError, match="leak_rate_hz"):
        DVSEmulator(leak_rate_hz=-1)
    with pytest.raises(ArgumentError, match="upsample"):
        DVSEmulator(upsample="fast")
    emu = DVSEmulator.from_preset("clean")
    with pytest.raises(InputShapeError, match=r"\[N, H, W\]"):
        emu(np.zeros((4, 5)), np.arange(4))
    with pytest.raises(InputShapeError, match="3 entries for 4 frames"):
        emu(np.zeros((4, 5, 5)), np.arange(3))
    with pytest.raises(ArgumentError, match="non-decreasing: frame 2"):
        emu(np.zeros((4, 5, 5)), [0, 1, 0.5, 2])
    with pytest.raises(ArgumentError, match=">= 0"):
        emu(np.zeros((2, 5, 5)), [-1, 0])
    emu(np.zeros((2, 5, 5)), [0, 0.1])
    with pytest.raises(InputShapeError, match=r"\(W, H\) = \(6, 5\).*\(5, 5\)"):
        emu.step(np.zeros((5, 6)), 0.2)
    with pytest.raises(ArgumentError, match="non-decreasing"):
        emu.step(np.zeros((5, 5)), 0.05)
