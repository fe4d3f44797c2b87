"""SyntheticSEE: SEE-like two-modality items, lighting on RGB only, events from the clean signal."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from snnfer.data.datasets.see import LIGHTING_CONDITIONS, SEE_EMOTIONS
from snnfer.data.synthetic import SyntheticSEE
from snnfer.data.synthetic.base import single_thread
from snnfer.data.synthetic.see import BACKGROUND_HZ
from snnfer.errors import ArgumentError
from tests.dataset_fixtures import linear_probe_accuracy


@pytest.fixture(scope="module")
def see():
    return SyntheticSEE(num_subjects=2, clips_per_class=4, size=48)


def test_structure_matches_the_see_loader(see):
    assert see.classes == list(SEE_EMOTIONS) and len(see) == 2 * 7 * 4
    x, y = see[3]
    assert set(x) == {"event", "rgb"}
    assert x["event"].shape == (8, 3, 48, 48) and x["rgb"].shape == (8, 3, 48, 48)
    assert x["rgb"].dtype == torch.float32 and 0 <= float(x["rgb"].min()) <= 1
    assert see.modalities == ("event", "rgb")
    # every subject shows every emotion under all four lighting conditions
    seen = {(s.subject, s.label, s.condition) for s in see.samples}
    assert len(seen) == 2 * 7 * 4
    assert set(see.conditions) == set(LIGHTING_CONDITIONS)
    assert see.metadata(3)["condition"] in LIGHTING_CONDITIONS


def test_lighting_changes_rgb_frames_as_specified(see):
    stats = {c: [] for c in LIGHTING_CONDITIONS}
    for i, s in enumerate(see.samples):
        rgb = see.rgb_frames(i).astype(np.float32)
        stats[s.condition].append((rgb.mean(), (rgb >= 250).mean(), (rgb <= 25).mean()))
    mean = {c: np.mean(v, axis=0) for c, v in stats.items()}
    normal, low, over, hdr = (mean[c] for c in ("normal", "low", "overexposure", "hdr"))
    assert low[0] < 0.2 * normal[0]                     # low light: dark
    assert over[0] > 1.4 * normal[0] and over[1] > 0.4  # overexposure: clipped
    assert normal[1] < 0.05
    assert hdr[1] > 0.1 and hdr[2] > 0.1                # HDR: clipped and dark regions at once


def test_events_come_from_the_clean_signal(see):
    spec = see.specs[0]
    with single_thread():
        luma = see.render(spec)[0]
        for cond in LIGHTING_CONDITIONS:  # the emulator input does not depend on the lighting
            other = dataclasses.replace(spec, condition=cond)
            torch.testing.assert_close(see.render(other)[0], luma)
    # so the event counts of a class barely depend on the lighting (beyond background noise)
    counts = {c: [] for c in LIGHTING_CONDITIONS}
    for i, s in enumerate(see.samples):
        counts[s.condition].append(len(see.events(i)[0]))
    duration = (see.num_frames - 1) / see.fps
    noise = {c: BACKGROUND_HZ[c] * 48 * 48 * duration for c in LIGHTING_CONDITIONS}
    signal = {c: np.mean(v) - noise[c] for c, v in counts.items()}
    assert max(signal.values()) < 1.6 * min(signal.values())
    assert np.mean(counts["low"]) > np.mean(counts["normal"])  # more noise in the dark


def test_deterministic_and_cached(tmp_path):
    kw = {"num_subjects": 1, "clips_per_class": 1, "classes": ("happiness", "surprise"),
          "size": 32}
    a = SyntheticSEE(seed=5, cache_dir=tmp_path, **kw)
    b = SyntheticSEE(seed=5, cache_dir=tmp_path, **kw)
    c = SyntheticSEE(seed=6, **kw)
    assert a.generated and not b.generated
    for i in range(len(a)):
        np.testing.assert_array_equal(a.events(i)[0], b.events(i)[0])
        np.testing.assert_array_equal(a.rgb_frames(i), b.rgb_frames(i))
        assert torch.equal(a[i][0]["event"], b[i][0]["event"])
    assert not np.array_equal(a.rgb_frames(0), c.rgb_frames(0))


def test_channels_transform_and_augment():
    kw = {"num_subjects": 1, "clips_per_class": 1, "classes": ("angry", "fear"), "size": 32}
    two = SyntheticSEE(channels=2, frames=4, **kw)
    assert two[0][0]["event"].shape == (4, 2, 32, 32) and two[0][0]["rgb"].shape == (4, 3, 32, 32)

    def flip(item):
        return {k: v.flip(-1) for k, v in item.items()}

    flipped = SyntheticSEE(channels=2, frames=4, augment=flip, **kw)
    assert torch.equal(flipped[0][0]["rgb"], two[0][0]["rgb"].flip(-1))


def test_emotion_motion_differs(see):
    # surprise widens the eye, happiness squints: the visible sclera+iris area at the apex
    # (bright or dark eye pixels under normal light) grows for surprise relative to frame 0
    def eye_change(label):
        changes = []
        for i, s in enumerate(see.samples):
            if s.label == label and s.condition == "normal":
                with single_thread():
                    luma = see.render(see.specs[i])[0]
                skin = float(luma[0, -4:, :].mean())
                eye = (luma - skin).abs() > 40
                changes.append(float(eye[-6:].float().mean() - eye[:2].float().mean()))
        return np.mean(changes)

    assert eye_change(SEE_EMOTIONS.index("surprise")) > eye_change(
        SEE_EMOTIONS.index("happiness"))


def test_bad_arguments():
    with pytest.raises(ArgumentError, match="classes"):
        SyntheticSEE(classes=("angry", "bored"))
    with pytest.raises(ArgumentError, match="lighting"):
        SyntheticSEE(lighting=("moonlight",))
    with pytest.raises(ArgumentError, match="intensity"):
        SyntheticSEE(intensity=(1.0, 0.5))


@pytest.mark.slow
def test_events_stay_informative_in_low_light_while_rgb_does_not():
    """Linear probes on held-out subjects (7 emotions, chance 14%), per lighting condition:
    the paper's premise (hec-net.txt §1) - RGB degrades in low light, events hold."""
    ds = SyntheticSEE(num_subjects=8, clips_per_class=4, size=48, channels=2)
    labels = torch.tensor(ds.labels)
    subjects, low = np.array(ds.subjects), np.array(ds.conditions) == "low"

    def pooled(key):
        x = torch.stack([ds[i][0][key] for i in range(len(ds))])
        x = torch.log1p(x) if key == "event" else x
        n, t = x.shape[:2]
        x = x.reshape(n, 4, t // 4, *x.shape[2:]).mean(2)
        return torch.nn.functional.avg_pool2d(x.flatten(0, 2), 4).reshape(n, -1)

    acc = {}
    with single_thread():
        for key in ("event", "rgb"):
            feats = pooled(key)
            folds = [np.isin(subjects, [f"s{j:02d}", f"s{j + 1:02d}"]) for j in range(0, 8, 2)]
            acc[key] = np.mean([linear_probe_accuracy(
                feats, labels, torch.from_numpy(f & low), train=torch.from_numpy(~f))
                for f in folds])
    assert acc["event"] > 0.4, acc
    assert acc["event"] > acc["rgb"] + 0.15, acc
