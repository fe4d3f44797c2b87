"""SyntheticFER: structure, determinism, cache, action-unit motion, learnable but not trivial."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnfer.data import FERDataset
from snnfer.data.synthetic import FER_CLASSES, SyntheticFER
from snnfer.data.synthetic.base import single_thread
from snnfer.data.synthetic.render import Grid, ellipse, expression_envelope
from snnfer.data.transforms import ToCountFrames
from snnfer.errors import ArgumentError
from tests.dataset_fixtures import linear_probe_accuracy

SMALL = {"num_subjects": 2, "clips_per_class": 1}


def test_structure_subjects_and_small_preset_shape():
    ds = SyntheticFER(num_classes=7, num_subjects=3, clips_per_class=2)
    assert isinstance(ds, FERDataset) and len(ds) == 3 * 7 * 2
    assert ds.classes == list(FER_CLASSES)
    assert sorted(set(ds.subjects)) == ["s00", "s01", "s02"]
    assert np.bincount(ds.labels).tolist() == [6] * 7
    x, y = ds[5]
    assert x.shape == (16, 2, 48, 48) and x.dtype == torch.float32 and 0 <= y < 7
    meta = ds.metadata(5)
    assert meta["subject"] == "s00" and meta["class"] == ds.classes[y]
    assert ds.sensor_size == (48, 48)
    for i in range(len(ds)):
        ev, size = ds.events(i)
        assert len(ev) > 100 and np.all(np.diff(ev["t"]) >= 0)
        assert ev["x"].max() < 48 and ev["y"].max() < 48 and set(np.unique(ev["p"])) <= {0, 1}


def test_paper_preset_and_configurable_shape():
    ds = SyntheticFER.preset("paper", num_classes=2, num_subjects=1, clips_per_class=1)
    assert ds[0][0].shape == (16, 3, 112, 112)
    ds = SyntheticFER(num_classes=2, size=32, frames=8, channels=1, **SMALL)
    assert ds[0][0].shape == (8, 1, 32, 32)
    custom = SyntheticFER(num_classes=2, transform=ToCountFrames(n_bins=4), **SMALL)
    assert custom[0][0].shape == (4, 2, 48, 48)
    six = SyntheticFER(num_classes=6, **SMALL)
    assert six.classes == list(FER_CLASSES[:6]) and "neutral" not in six.classes
    chosen = SyntheticFER(classes=["happiness", "surprise"], **SMALL)
    assert chosen.classes == ["happiness", "surprise"]


def test_deterministic_by_seed():
    a = SyntheticFER(num_classes=3, seed=3, **SMALL)
    b = SyntheticFER(num_classes=3, seed=3, **SMALL)
    c = SyntheticFER(num_classes=3, seed=4, **SMALL)
    for i in range(len(a)):
        np.testing.assert_array_equal(a.events(i)[0], b.events(i)[0])
    assert any(len(a.events(i)[0]) != len(c.events(i)[0]) for i in range(len(a)))
    # a clip's frames do not depend on which other clips the grid holds
    big = SyntheticFER(num_classes=3, seed=3, num_subjects=3, clips_per_class=1)
    torch.testing.assert_close(a.render(a.specs[4])[0], big.render(big.specs[4])[0])


def test_disk_cache_roundtrip(tmp_path):
    a = SyntheticFER(num_classes=2, cache_dir=tmp_path, **SMALL)
    assert a.generated and len(list(tmp_path.glob("SyntheticFER-*.npz"))) == 1
    b = SyntheticFER(num_classes=2, cache_dir=tmp_path, **SMALL)
    assert not b.generated
    for i in range(len(a)):
        np.testing.assert_array_equal(a.events(i)[0], b.events(i)[0])
        assert torch.equal(a[i][0], b[i][0])
    SyntheticFER(num_classes=2, cache_dir=tmp_path, seed=1, **SMALL)
    assert len(list(tmp_path.glob("SyntheticFER-*.npz"))) == 2  # other params, other file


def test_action_units_cause_the_motion():
    # expressive classes produce more events than neutral clips (only blinks, head motion)
    ds = SyntheticFER(classes=["surprise", "neutral"], num_subjects=4, clips_per_class=3,
                      intensity=(1.0, 1.0))
    counts = np.array([len(ds.events(i)[0]) for i in range(len(ds))])
    labels = np.array(ds.labels)
    assert counts[labels == 0].mean() > 1.5 * counts[labels == 1].mean()
    # the surprise jaw drop opens a dark mouth: at the apex the mouth region is darker
    spec = ds.specs[0]
    frames = ds.render(spec)[0]
    g = ds.geometry(spec.subject)
    row = int((g["mouth_y"] + g["face_cy"] + 0.1 + 1) / 2 * 48)
    assert frames[-1, row - 2:row + 3, 20:28].mean() < frames[0, row - 2:row + 3, 20:28].mean()


def test_render_primitives():
    grid = Grid.make(64)
    disc = ellipse(grid.x, grid.y, 0.0, 0.0, 0.5, 0.5, grid.pixel)
    # anti-aliased coverage integrates to the disc area (pi r^2 in units of pixel area)
    area_px = np.pi * (0.5 / grid.pixel) ** 2
    assert float(disc.sum()) == pytest.approx(area_px, rel=0.01)
    flat = ellipse(grid.x, grid.y, 0.0, 0.0, 0.4, 0.001, grid.pixel)
    assert flat[:, :10].sum() == 0 and flat[:, -10:].sum() == 0  # no bleeding sideways
    env = expression_envelope(101, onset=0.2, rise=0.3, hold=0.2, decay=0.2)
    assert env[:20].max() == 0 and env[50:70].min() == pytest.approx(1.0)
    assert env[-1] == pytest.approx(0.0, abs=1e-6)


def test_bad_arguments():
    for kwargs, match in [({"num_classes": 1}, "num_classes"), ({"num_classes": 8}, "num_classes"),
                          ({"classes": ["joy", "anger"]}, "classes"),
                          ({"intensity": (0.0, 1.0)}, "intensity"),
                          ({"size": 8}, "size"), ({"num_frames": 1}, "num_frames"),
                          ({"channels": 5}, "channels"), ({"fps": 0}, "fps")]:
        with pytest.raises(ArgumentError, match=match):
            SyntheticFER(**{**SMALL, **kwargs})
    with pytest.raises(ArgumentError, match="preset"):
        SyntheticFER.preset("huge")


def _pooled(ds, mode: str) -> torch.Tensor:
    x = torch.log1p(torch.stack([ds[i][0] for i in range(len(ds))]))  # [N, T, C, H, W]
    n, t = x.shape[:2]
    if mode == "single_bin":
        x = x[:, t // 2:t // 2 + 1]
    else:
        x = x.reshape(n, 4, t // 4, *x.shape[2:]).sum(2)
    return torch.nn.functional.avg_pool2d(x.flatten(0, 2), 4).reshape(n, -1)


@pytest.mark.slow
def test_learnable_across_subjects_but_not_from_one_time_bin():
    """Linear probes on held-out subjects (4 folds of 2 subjects, 7 classes, chance 14%):
    the time course of the events is informative, a single time bin much less so."""
    ds = SyntheticFER(num_subjects=8, clips_per_class=4)
    labels = torch.tensor(ds.labels)
    subjects = np.array(ds.subjects)
    acc = {}
    with single_thread():  # many tiny ops: threads only add synchronisation
        for mode in ("temporal", "single_bin"):
            feats = _pooled(ds, mode)
            folds = [torch.from_numpy(np.isin(subjects, [f"s{j:02d}", f"s{j + 1:02d}"]))
                     for j in range(0, 8, 2)]
            acc[mode] = float(np.mean([linear_probe_accuracy(feats, labels, te) for te in folds]))
    assert acc["temporal"] > 0.4, acc  # well above chance (1/7)
    assert acc["single_bin"] < acc["temporal"] - 0.08, acc  # one bin is not enough
