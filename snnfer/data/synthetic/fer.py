"""SyntheticFER: procedurally rendered face clips with facial-action-unit motion, as events.

Each clip is a face-like image sequence (face oval, eyes with lids, iris and lashes, brows,
nose, mouth, cheeks) over a textured background. The expression of the clip's class is the
FACS action-unit prototype of that emotion (EMFACS; e.g. happiness = AU6 cheek raiser + AU12
lip-corner puller, surprise = AU1+2 brow raise + AU5 lid raise + AU26 jaw drop), played with
a random onset, speed and intensity. Nuisances that every class shares make a single frame
ambiguous: per-subject geometry (a resting smile or frown, brow height and tilt), head
translation and roll, blinks, lighting gain/gradient/flicker and sensor noise. Classes also
share action units (fear and surprise both raise brows and lids, anger and disgust both
lower brows and narrow the eyes), so telling them apart needs the spatial pattern and the
time course of the motion - the information an event camera records. The frames go through
the DVS emulator (V2E pixel model), and samples are ``[T, C, H, W]`` event tensors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from snnfer.data.synthetic.base import ClipSpec, SyntheticClipDataset
from snnfer.data.synthetic.render import (
    blend,
    blink_profile,
    curve_band,
    ellipse,
    expression_envelope,
    per_frame,
    smooth_walk,
    value_noise,
)
from snnfer.errors import ArgumentError

__all__ = ["FER_ACTION_UNITS", "FER_CLASSES", "SyntheticFER"]

FER_CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

#: Action-unit targets per class at full intensity (normalised face units; y up is positive
#: for raises). brow_raise: AU1+2 (or lowering, AU4); brow_inner: AU1 (+) / AU4 (-);
#: brow_in: drawing the brows together (AU4); lid_upper: AU5 (+) / droop (-); lid_lower:
#: AU6/AU7; cheek: AU6; nose_wrinkle: AU9; upper_lip: AU10; lip_corner: AU12 (+) / AU15 (-);
#: mouth_width: AU20 (+) / AU23 (-); mouth_open: AU25/26; lip_press: AU23/24.
FER_ACTION_UNITS: dict[str, dict[str, float]] = {
    "anger": {"brow_raise": -0.1, "brow_inner": -0.12, "brow_in": 0.09, "lid_upper": 0.4,
              "lid_lower": 0.6, "mouth_width": -0.15, "lip_press": 0.6},
    "disgust": {"brow_raise": -0.06, "brow_inner": -0.045, "brow_in": 0.045, "lid_lower": 0.7,
                "nose_wrinkle": 1.0, "upper_lip": 0.1, "lip_corner": -0.035,
                "mouth_open": 0.035},
    "fear": {"brow_raise": 0.12, "brow_inner": 0.09, "brow_in": 0.06, "lid_upper": 1.0,
             "mouth_width": 0.15, "mouth_open": 0.1, "lip_corner": -0.02},
    "happiness": {"lid_lower": 0.6, "cheek": 2.0, "lip_corner": 0.15, "mouth_width": 0.12,
                  "mouth_open": 0.035},
    "sadness": {"brow_inner": 0.13, "brow_in": 0.045, "lid_upper": -0.6, "lip_corner": -0.12,
                "mouth_width": -0.03},
    "surprise": {"brow_raise": 0.18, "lid_upper": 1.2, "mouth_open": 0.25, "mouth_width": -0.09},
    "neutral": {},
}


def _subject_geometry(seed: int, subject: int) -> dict[str, float]:
    r = np.random.default_rng([seed, subject, 0xFACE])
    u = r.uniform
    return {
        "face_cx": u(-0.04, 0.04), "face_cy": u(0.0, 0.08), "face_rx": u(0.6, 0.72),
        "face_ry": u(0.78, 0.9), "skin": u(130, 190), "bg": u(50, 110), "eye_dx": u(0.24, 0.32),
        "eye_y": u(-0.22, -0.12), "eye_rx": u(0.1, 0.13), "eye_open": u(0.045, 0.065),
        "iris_r": u(0.04, 0.05), "iris": u(30, 80), "sclera": u(200, 235),
        "brow_gap": u(0.1, 0.15), "brow_hw": u(0.1, 0.14), "brow_th": u(0.04, 0.06),
        "brow_bend": u(0.01, 0.035), "brow": u(30, 70), "brow_tilt": u(-0.02, 0.02),
        "mouth_y": u(0.4, 0.5), "mouth_hw": u(0.15, 0.22), "lip_th": u(0.035, 0.05),
        "mouth_curve": u(-0.025, 0.025), "lip": u(70, 110), "nose_y": u(0.18, 0.26),
        "nostril_dx": u(0.05, 0.07), "texture_seed": int(r.integers(2**31)),
    }


class SyntheticFER(SyntheticClipDataset):
    """Synthetic facial-expression event clips: ``([T, C, H, W], label)``.

    Args:
        num_classes: the first ``num_classes`` of :data:`FER_CLASSES` (2-7); or pass
            ``classes`` (names from :data:`FER_CLASSES`) to choose.
        num_subjects: subjects (``metadata["subject"]`` = ``s00``, ...; use for LOSO).
        clips_per_class: clips per subject and class.
        size: H = W of the frames and events (small preset: 48; paper preset: 112).
        frames: T, time bins of the default representation (16).
        channels: C of the default representation (2 = ON/OFF counts; 3 = the CS3D
            paper's 3-channel frames); ignored when ``transform`` is given.
        num_frames / fps: rendered frames per clip and their rate (clip length = ratio).
        intensity: range of expression intensities (1 = the prototype amplitude).
        transform: events -> tensor (default: polarity frames with ``frames`` bins).
        augment: event augmentation ``(events, sensor_size) -> events``.
        seed: everything (geometry, timing, noise, emulator) follows from it.
        preset / emulator_options: DVS emulator preset and overrides.
        cache_dir: store the generated events; a second construction loads them.

    ``SyntheticFER.preset("small")`` / ``("paper")`` give the lead's input presets.
    """

    motions = FER_ACTION_UNITS

    def __init__(
        self,
        num_classes: int = 7,
        classes: Sequence[str] | None = None,
        num_subjects: int = 10,
        clips_per_class: int = 4,
        size: int = 48,
        frames: int = 16,
        channels: int = 2,
        num_frames: int = 32,
        fps: float = 30.0,
        intensity: tuple[float, float] = (0.5, 1.0),
        transform: Callable | None = None,
        augment: Callable | None = None,
        seed: int = 0,
        preset: str = "clean",
        emulator_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if classes is None:
            if not 2 <= num_classes <= len(FER_CLASSES):
                raise ArgumentError(f"num_classes must be in 2..{len(FER_CLASSES)}, got "
                                    f"{num_classes}")
            classes = FER_CLASSES[:num_classes]
        self.channels = int(channels)
        super().__init__(classes, num_subjects, clips_per_class, size, frames, num_frames, fps,
                         transform, augment, seed, preset, cache_dir, None, emulator_options,
                         channels, intensity)

    @classmethod
    def preset(cls, name: str = "small", **overrides) -> SyntheticFER:
        """``small``: T=16, C=2, 48 x 48; ``paper``: T=16, C=3, 112 x 112 (cs3d.txt §IV-A)."""
        presets = {"small": {"size": 48, "frames": 16, "channels": 2},
                   "paper": {"size": 112, "frames": 16, "channels": 3}}
        if name not in presets:
            raise ArgumentError(f"preset must be one of {sorted(presets)}, got {name!r}")
        return cls(**{**presets[name], **overrides})

    def make_geometry(self, subject: int) -> dict[str, float]:
        """Face geometry, tones and texture seed of ``subject``."""
        return _subject_geometry(self.seed, subject)

    def render(self, spec: ClipSpec) -> tuple[torch.Tensor, None]:
        g = self.geometry(spec.subject)
        rng = spec.rng()
        n, grid, px = self.num_frames, self.grid, self.grid.pixel
        col = per_frame

        # expression time course and per-clip jitter of each action unit
        level = rng.uniform(*self.intensity)
        onset, rise = rng.uniform(0.05, 0.4), rng.uniform(0.15, 0.4)
        hold = rng.uniform(0.2, 0.6)
        env = expression_envelope(n, onset, rise, hold, rng.uniform(0.0, 0.3)) * level
        aus = {k: v * rng.uniform(0.7, 1.3) for k, v in FER_ACTION_UNITS[spec.class_name].items()}
        au = lambda k: col(env * aus.get(k, 0.0))  # noqa: E731

        # nuisances shared by every class: head motion, blinks, gaze, lighting, noise
        dx, dy = col(smooth_walk(rng, n, 0.035)), col(smooth_walk(rng, n, 0.035))
        roll = col(smooth_walk(rng, n, math.radians(3.0)))
        x, y = grid.moved(dx + g["face_cx"], dy + g["face_cy"], roll, rng.uniform(0.94, 1.06))
        duration = n / self.fps
        n_blinks = rng.poisson(0.8)
        if spec.class_name == "surprise":
            n_blinks = min(n_blinks, 1)
        blinks = sorted(rng.uniform(0, duration, n_blinks).tolist())
        blink = col(blink_profile(n, self.fps, blinks))
        gaze_x, gaze_y = col(smooth_walk(rng, n, 0.02)), col(smooth_walk(rng, n, 0.01))

        tex = np.random.default_rng(g["texture_seed"])
        bg = g["bg"] + 25 * value_noise(tex, self.size, self.size, 4)
        skin_tex = 6 * value_noise(tex, self.size, self.size, 8)
        img = bg.expand(n, -1, -1).clone()
        face = ellipse(x, y, 0.0, 0.0, g["face_rx"], g["face_ry"], px)
        shade = g["skin"] * (1 - 0.15 * (x / g["face_rx"]) ** 2 - 0.1 * (y / g["face_ry"]) ** 2)
        img = blend(img, shade + skin_tex, face)

        for side in (-1.0, 1.0):  # image-left and image-right half of the face
            ex = side * g["eye_dx"]
            # cheek raise (AU6): a brighter bulge moving up under the eye
            if "cheek" in aus:
                cheek_y = g["eye_y"] + 0.2 - 0.05 * au("cheek")
                bulge = torch.exp(-((x - ex) ** 2 / 0.012 + (y - cheek_y) ** 2 / 0.004))
                img = img + 11 * au("cheek") * bulge * face
            # eye: upper/lower half-ellipses, sclera, iris, pupil, lash line
            open_u = g["eye_open"] * (1 + au("lid_upper")) * (1 - blink)
            open_l = g["eye_open"] * 0.7 * (1 - au("lid_lower")) * (1 - 0.7 * blink)
            ry = torch.where(y < g["eye_y"], open_u + 1e-4, open_l + 1e-4)
            eye = ellipse(x, y, ex, g["eye_y"], g["eye_rx"], ry, px)
            img = blend(img, g["sclera"], eye)
            iris = ellipse(x, y, ex + gaze_x, g["eye_y"] + gaze_y, g["iris_r"], g["iris_r"], px)
            img = blend(img, g["iris"], iris * eye)
            pupil = ellipse(x, y, ex + gaze_x, g["eye_y"] + gaze_y, g["iris_r"] * 0.45,
                            g["iris_r"] * 0.45, px)
            img = blend(img, 15.0, pupil * eye)
            lash = curve_band(x, y, ex, g["eye_y"] - open_u, g["eye_rx"] * 1.05, 0.018,
                              open_u, 0.0, px, taper=0.6)
            img = blend(img, 35.0, lash)
            # brow: raised/lowered, inner end up (AU1) or down (AU4), drawn together
            inner = g["brow_tilt"] + au("brow_inner")
            bx = ex - side * au("brow_in")
            by = g["eye_y"] - g["eye_open"] - g["brow_gap"] - au("brow_raise")
            brow = curve_band(x, y, bx, by, g["brow_hw"], g["brow_th"], g["brow_bend"],
                              side * inner, px)
            img = blend(img, g["brow"], brow)
            # nostrils, flaring up with the nose wrinkle (AU9)
            nostril = ellipse(x, y, side * g["nostril_dx"], g["nose_y"] - 0.02 * au("nose_wrinkle"),
                              0.03, 0.016, px)
            img = blend(img, 60.0, nostril)
        # nose wrinkles (AU9): short horizontal creases on the bridge
        for k in range(3 if "nose_wrinkle" in aus else 0):
            crease = curve_band(x, y, 0.0, g["nose_y"] - 0.2 + 0.04 * k, 0.06, 0.012, 0.01, 0.0, px)
            img = blend(img, g["skin"] * 0.55, crease * 0.8 * au("nose_wrinkle").clamp(0, 1))

        # mouth: corners up (AU12) / down (AU15), stretch/tighten, jaw drop, upper lip raise
        my = g["mouth_y"] - au("upper_lip")
        hw = g["mouth_hw"] * (1 + au("mouth_width") / 0.2)
        bend = -(g["mouth_curve"] + au("lip_corner"))
        opening = au("mouth_open") + 0.004
        inside = ellipse(x, y, 0.0, my + opening / 2, hw * 0.8, opening / 2, px)
        img = blend(img, 25.0, inside)
        th = g["lip_th"] * (1 - 0.5 * au("lip_press"))
        upper = curve_band(x, y, 0.0, my, hw, th, bend, 0.0, px, taper=0.7)
        lower = curve_band(x, y, 0.0, my + opening + au("upper_lip"), hw * 0.9, th * 1.2,
                           bend * 0.8, 0.0, px, taper=0.7)
        img = blend(img, g["lip"], torch.maximum(upper, lower))

        # lighting: per-clip gain and linear gradient, slow flicker; sensor noise
        phi = rng.uniform(0, 2 * math.pi)
        light = rng.uniform(0.6, 1.3) * (1 + rng.uniform(0, 0.4) * (
            grid.x * math.cos(phi) + grid.y * math.sin(phi)))
        flicker = col(1 + 0.01 * torch.sin(torch.linspace(0, rng.uniform(2, 8), n)))
        img = img * light * flicker
        img = img + torch.from_numpy(rng.normal(0, rng.uniform(0.5, 2.5), img.shape).astype(
            np.float32))
        return img.clamp_(1.0, 255.0), None
