"""Representations and augmentations: hand-computed values, tonic cross-checks, statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnfer.data.events import make_events, validate_events
from snnfer.data.transforms import (
    BACKGROUND_SEVERITY,
    BackgroundNoise,
    Compose,
    DropByArea,
    DropByTime,
    DropRandom,
    EventDrop,
    FaceMirror,
    FlipHorizontal,
    FlipPolarity,
    RandomApply,
    RandomFlipTensor,
    RandomResizedCrop,
    Resize,
    TimeReversal,
    ToBinaryFrames,
    ToCountFrames,
    ToThreeChannelFrames,
    ToVoxelGrid,
    spiking_fer_transforms,
)
from snnfer.errors import ArgumentError, InputShapeError
from tests.conftest import require

SIZE = (40, 30)


def random_events(n: int = 3000, seed: int = 0, size=SIZE, t_max: int = 1_000_000):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, t_max, n)), rng.integers(0, size[0], n),
                       rng.integers(0, size[1], n), rng.integers(0, 2, n))


# ----------------------------------------------------------------------------- representations
def test_count_frames_by_time_hand_computed():
    # span = 99 - 0 + 1 = 100 us, 4 bins of 25 us: t 0,24 -> bin 0; 25 -> 1; 75, 99 -> 3
    ev = make_events([0, 24, 25, 75, 99], [1, 1, 2, 3, 3], [0, 0, 1, 2, 2], [1, 1, 0, 1, 0])
    f = ToCountFrames(n_bins=4)(ev, (4, 3))
    assert f.shape == (4, 2, 3, 4) and f.dtype == torch.float32
    assert f[0, 1, 0, 1] == 2 and f[1, 0, 1, 2] == 1
    assert f[3, 1, 2, 3] == 1 and f[3, 0, 2, 3] == 1
    assert f.sum() == 5 and f[2].sum() == 0
    merged = ToCountFrames(n_bins=4, polarity="merge")(ev, (4, 3))
    assert merged.shape == (4, 1, 3, 4) and merged[3, 0, 2, 3] == 2
    binary = ToBinaryFrames(n_bins=4)(ev, (4, 3))
    assert torch.equal(binary, (f > 0).float())


def test_count_frames_by_count_matches_tonic_event_bins():
    tonic = require("tonic")
    ev = random_events(3000)  # divisible by T: tonic and snnfer use the same bins
    ours = ToCountFrames(n_bins=6, by="count")(ev, SIZE)
    theirs = tonic.transforms.ToFrame(sensor_size=(*SIZE, 2), n_event_bins=6)(ev)
    np.testing.assert_array_equal(ours.numpy(), theirs)


def test_time_windows_match_tonic_time_window():
    tonic = require("tonic")
    ev = random_events(4000, seed=3)
    window = 150_000
    theirs = tonic.transforms.ToFrame(sensor_size=(*SIZE, 2), time_window=window)(ev)
    ours = ToCountFrames(n_bins=len(theirs), window_us=window)(ev, SIZE)
    np.testing.assert_array_equal(ours.numpy(), theirs)


def test_spiking_fer_central_frames_match_tonic_event_count():
    """Spiking-FER: frames of 2,500 events, the central T of them (tonic event_count)."""
    tonic = require("tonic")
    ev = random_events(23_700, seed=4)  # 9 full slices -> central 6 start at slice 1
    theirs = tonic.functional.to_frame_numpy(ev, (*SIZE, 2), event_count=2500)
    gap = (len(theirs) - 6) // 2
    ours = ToCountFrames(n_bins=6, by="count", events_per_bin=2500)(ev, SIZE)
    np.testing.assert_array_equal(ours.numpy(), theirs[gap:gap + 6])
    few = random_events(6000, seed=5)  # fewer than 6 x 2500: six equal-count bins
    f = ToCountFrames(n_bins=6, by="count", events_per_bin=2500)(few, SIZE)
    assert f.sum(dim=(1, 2, 3)).tolist() == [1000.0] * 6


def test_voxel_grid_bilinear_in_time():
    # t* = 4 t / 100: t=0 -> bin 0; t=30 (t*=1.2) 0.8 in bin 1, 0.2 in 2; t=100 -> bin 4
    ev = make_events([0, 30, 100], [0, 1, 2], [0, 0, 0], [1, 0, 1])
    v = ToVoxelGrid(n_bins=5)(ev, (3, 1))
    assert v.shape == (5, 1, 1, 3)
    expected = np.zeros((5, 3))
    expected[0, 0] = 1
    expected[1, 1], expected[2, 1] = -0.8, -0.2  # OFF event counts -1
    expected[4, 2] = 1
    np.testing.assert_allclose(v[:, 0, 0].numpy(), expected)


def test_voxel_grid_matches_formula_on_random_events():
    ev = random_events(400, seed=7, size=(6, 5))
    t = (ev["t"] - ev["t"][0]) * 7 / (ev["t"][-1] - ev["t"][0])  # 8 bins -> scale to 0..7
    ref = np.zeros((8, 2, 5, 6))
    for ti, x, y, p in zip(t, ev["x"], ev["y"], ev["p"]):
        for b in range(8):
            ref[b, 0 if p == 0 else 1, y, x] += max(0.0, 1 - abs(ti - b))
    split = ToVoxelGrid(n_bins=8, polarity="split")(ev, (6, 5))
    np.testing.assert_allclose(split.numpy(), ref, atol=1e-5)
    signed = ToVoxelGrid(n_bins=8)(ev, (6, 5))
    np.testing.assert_allclose(signed[:, 0].numpy(), ref[:, 1] - ref[:, 0], atol=1e-5)


def test_three_channel_v2e_rendering():
    # pixel (0,0): 2 ON -> (2 + 3) / 6; pixel (1,0): 5 ON -> clipped 1.0; (2,0): 1 OFF -> 2/6
    ev = make_events(np.arange(8), [0, 0, 1, 1, 1, 1, 1, 2], [0] * 8, [1, 1, 1, 1, 1, 1, 1, 0])
    f = ToThreeChannelFrames(n_bins=1)(ev, (4, 1))
    assert f.shape == (1, 3, 1, 4)
    np.testing.assert_allclose(f[0, 0, 0].numpy(), [5 / 6, 1.0, 2 / 6, 0.5], rtol=1e-6)
    assert torch.equal(f[:, 0], f[:, 1]) and torch.equal(f[:, 0], f[:, 2])


def test_three_channel_on_off_time():
    ev = make_events([0, 10, 20, 40], [0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 1, 1])
    f = ToThreeChannelFrames(n_bins=1, mode="on_off_time")(ev, (3, 1))
    np.testing.assert_allclose(f[0, 0, 0].numpy(), [1, 2, 0])  # ON counts
    np.testing.assert_allclose(f[0, 1, 0].numpy(), [1, 0, 0])  # OFF counts
    np.testing.assert_allclose(f[0, 2, 0].numpy(), [0.125, 0.75, 0])  # mean of t / 40


def test_representation_sensor_size_from_call_or_field():
    ev = random_events(100)
    assert ToCountFrames(n_bins=2, sensor_size=SIZE)(ev).shape == (2, 2, 30, 40)
    assert ToCountFrames(n_bins=2, sensor_size=(10, 10))(ev, SIZE).shape == (2, 2, 30, 40)
    with pytest.raises(ArgumentError, match="ToCountFrames: no sensor size"):
        ToCountFrames(n_bins=2)(ev)


def test_empty_events_give_zero_frames():
    empty = make_events([], [], [], [])
    for rep in (ToCountFrames(3), ToVoxelGrid(3), ToThreeChannelFrames(3, mode="on_off_time")):
        out = rep(empty, (5, 4))
        assert out.shape[0] == 3 and out.shape[-2:] == (4, 5) and out.abs().sum() == 0


def test_representation_bad_arguments():
    with pytest.raises(ArgumentError, match="n_bins"):
        ToCountFrames(n_bins=0)
    with pytest.raises(ArgumentError, match="by must be"):
        ToCountFrames(by="space")
    with pytest.raises(ArgumentError, match="events_per_bin needs by='count'"):
        ToCountFrames(events_per_bin=10)
    with pytest.raises(ArgumentError, match="mode"):
        ToThreeChannelFrames(mode="rgb")
    with pytest.raises(ArgumentError, match="sensor_size"):
        ToCountFrames(n_bins=2)(random_events(10), (0, 5))


# ----------------------------------------------------------------------------- event augmentations
def test_flip_horizontal_and_polarity():
    ev = random_events(500)
    flipped, size = FlipHorizontal(p=1.0, seed=0)(ev, SIZE)
    assert size == SIZE
    np.testing.assert_array_equal(flipped["x"], SIZE[0] - 1 - ev["x"])
    np.testing.assert_array_equal(flipped["t"], ev["t"])
    assert FlipHorizontal(p=0.0)(ev, SIZE)[0] is ev
    inverted, _ = FlipPolarity(p=1.0, seed=0)(ev, SIZE)
    np.testing.assert_array_equal(inverted["p"], 1 - ev["p"])
    big = random_events(20000, seed=1)
    some, _ = FlipPolarity(p=0.2, seed=3)(big, SIZE)
    frac = np.mean(some["p"] != big["p"])
    assert abs(frac - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 20000)  # binomial, 4 sigma
    assert ev["x"].tolist() == random_events(500)["x"].tolist()  # input untouched


def test_time_reversal():
    ev = random_events(300)
    rev, _ = TimeReversal(p=1.0, seed=0)(ev, SIZE)
    validate_events(rev, SIZE)
    np.testing.assert_array_equal(rev["t"], (ev["t"][-1] + ev["t"][0] - ev["t"])[::-1])
    np.testing.assert_array_equal(rev["p"], 1 - ev["p"][::-1])
    twice, _ = TimeReversal(p=1.0)(rev, SIZE)
    np.testing.assert_array_equal(twice, ev)


def test_drop_by_time_removes_one_interval():
    ev = random_events(20000, seed=2)
    kept, _ = DropByTime(ratio=0.5, seed=0)(ev, SIZE)
    gone = np.setdiff1d(ev["t"], kept["t"])
    assert gone.max() - gone.min() <= 0.5 * (ev["t"][-1] - ev["t"][0])
    assert not np.any((kept["t"] > gone.min()) & (kept["t"] < gone.max()))
    assert abs(len(kept) / len(ev) - 0.5) < 0.02  # uniform times: half the events


def test_drop_by_area_removes_a_box():
    ev = random_events(20000, seed=2)
    kept, _ = DropByArea(ratio=0.25, seed=1)(ev, SIZE)
    key = lambda e: set(zip(e["t"].tolist(), e["x"].tolist(), e["y"].tolist()))  # noqa: E731
    gone = np.array(sorted(key(ev) - key(kept)))
    assert np.ptp(gone[:, 1]) < 10 and np.ptp(gone[:, 2]) < 7  # box 10 x 7 pixels
    inside = ((ev["x"] >= gone[:, 1].min()) & (ev["x"] <= gone[:, 1].max())
              & (ev["y"] >= gone[:, 2].min()) & (ev["y"] <= gone[:, 2].max()))
    assert len(gone) == inside.sum()
    assert abs(len(gone) / len(ev) - 70 / 1200) < 0.01


def test_drop_random_exact_count_and_order():
    ev = random_events(1000)
    kept, _ = DropRandom(ratio=0.3, seed=0)(ev, SIZE)
    assert len(kept) == 700
    validate_events(kept, SIZE)
    assert np.isin(kept, ev).all()


def test_event_drop_uses_all_four_strategies():
    ev = random_events(2000)
    drop = EventDrop(seed=0)
    sizes = [len(drop(ev, SIZE)[0]) for _ in range(60)]
    assert sizes.count(2000) >= 5  # identity ~1/4 of the time
    assert len(set(sizes)) > 20


def test_background_noise_severity_adds_twenty_percent():
    assert BACKGROUND_SEVERITY[4] == 0.2
    ev = random_events(5000)
    noisy, _ = BackgroundNoise(severity=5, seed=0)(ev, SIZE)
    assert len(noisy) == 6000
    validate_events(noisy, SIZE)
    assert np.isin(ev, noisy).all()


def test_seeds_reproduce_and_global_seed_is_followed():
    ev = random_events(1000)
    a = EventDrop(seed=5)
    b = EventDrop(seed=5)
    for _ in range(5):
        np.testing.assert_array_equal(a(ev, SIZE)[0], b(ev, SIZE)[0])
    torch.manual_seed(11)
    x = DropRandom(ratio=(0.1, 0.9))(ev, SIZE)[0]
    torch.manual_seed(11)
    y = DropRandom(ratio=(0.1, 0.9))(ev, SIZE)[0]
    np.testing.assert_array_equal(x, y)


def test_event_augmentation_bad_arguments():
    with pytest.raises(ArgumentError, match="ratio"):
        DropByTime(ratio=1.5)
    with pytest.raises(ArgumentError, match="p must be"):
        FlipHorizontal(p=2)
    with pytest.raises(ArgumentError, match="severity"):
        BackgroundNoise(severity=9)
    with pytest.raises(ArgumentError, match="exactly one"):
        BackgroundNoise(severity=2, fraction=0.1)
    with pytest.raises(ArgumentError, match="EVENT_DTYPE"):
        FlipHorizontal(p=1)(np.zeros(3, dtype=[("t", "f8")]), SIZE)


# ----------------------------------------------------------------------------- tensor augmentations
def test_face_mirror_makes_frames_symmetric():
    x = torch.rand(3, 2, 8, 10)
    m = FaceMirror(p=1.0, seed=0)(x)
    assert torch.equal(m, m.flip(-1))
    assert torch.equal(m[..., :5], x[..., :5]) or torch.equal(m[..., 5:], x[..., 5:])
    assert FaceMirror(p=0.0)(x) is x


def test_resize_and_random_resized_crop():
    x = (torch.rand(4, 2, 60, 80) > 0.7).float()
    r = Resize(128)(x)
    assert r.shape == (4, 2, 128, 128) and set(r.unique().tolist()) <= {0.0, 1.0}
    crop = RandomResizedCrop(32, scale=(0.25, 0.25), ratio=(1.0, 1.0), seed=0)
    top, left, h, w = crop.box(60, 80)
    assert (h, w) == (35, 35) and 0 <= top <= 25 and 0 <= left <= 45
    out = RandomResizedCrop(32, seed=0)(x)
    assert out.shape == (4, 2, 32, 32) and set(out.unique().tolist()) <= {0.0, 1.0}
    flipped = RandomFlipTensor(p=1.0)(x)
    assert torch.equal(flipped, x.flip(-1))
    with pytest.raises(InputShapeError, match=r"\[T, C, H, W\]"):
        Resize(8)(torch.zeros(2, 3, 4))


# ----------------------------------------------------------------------------- composition
def test_compose_and_random_apply():
    ev = random_events(600)
    pipe = Compose([FlipHorizontal(p=1.0), ToCountFrames(n_bins=3), RandomFlipTensor(p=1.0)])
    direct = ToCountFrames(n_bins=3)(ev, SIZE)
    assert torch.equal(pipe(ev, SIZE), direct)  # two horizontal flips cancel
    events_only = Compose([FlipHorizontal(p=1.0)])
    out, size = events_only(ev, SIZE)
    assert size == SIZE and np.array_equal(out["x"], SIZE[0] - 1 - ev["x"])
    assert RandomApply(transform=FlipHorizontal(p=1.0), p=0.0)(ev, SIZE)[0] is ev
    with pytest.raises(ArgumentError, match="events -> representation -> tensor"):
        Compose([ToCountFrames(n_bins=3), FlipHorizontal()])
    with pytest.raises(ArgumentError, match="stage"):
        Compose([lambda e, s: (e, s)])


def test_spiking_fer_pipeline():
    ev = random_events(20000, size=(200, 200))
    train = spiking_fer_transforms(train=True, seed=0)
    x = train(ev, (200, 200))
    assert x.shape == (6, 2, 128, 128) and set(x.unique().tolist()) <= {0.0, 1.0}
    evaluation = spiking_fer_transforms(train=False)
    a, b = evaluation(ev, (200, 200)), evaluation(ev, (200, 200))
    assert torch.equal(a, b) and a.shape == (6, 2, 128, 128)
