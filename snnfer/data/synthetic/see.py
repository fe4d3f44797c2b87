"""SyntheticSEE: paired RGB + event single-eye clips under four lighting conditions.

A procedural stand-in for the SEE dataset (SEEN, SIGGRAPH 2023; hec-net.txt §4): a close-up
of one (right) eye - skin with a per-subject pore texture, upper/lower eyelids, sclera, iris
and pupil with a highlight, lash line, lid crease and brow - whose motion carries the
emotion: blink dynamics, squint (lower lid up) and widening (upper lid up), brow raise or
lowering and furrow (inner end up or down, drawn inwards), cheek raise with crow's feet,
pupil size and gaze. Per-subject geometry, colours and texture vary, and blinks, gaze drift
and small headset shifts occur in every class.

The RGB frames see the lighting condition of the clip (SEE's four): ``normal``;
``low`` (about a tenth of the light plus read noise); ``overexposure`` (3x gain, clipped);
``hdr`` (a strong illumination gradient across the eye: one side dark, the other clipped).
The events come from the DVS emulator run on the clean, normally lit signal - an event
camera's log response and dynamic range keep the motion visible under bad light (hec-net.txt
§1) - plus background-activity noise that is stronger in low light and on HDR's dark side.
Items have the structure of :class:`~snnfer.data.datasets.SEE`:
``({"event": [T, C, H, W], "rgb": [T, 3, H, W]}, label)`` with the lighting in
``metadata(i)["condition"]``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from snnfer.data.datasets.common import sample_indices
from snnfer.data.datasets.see import LIGHTING_CONDITIONS, SEE_EMOTIONS
from snnfer.data.events import EVENT_DTYPE
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

__all__ = ["EYE_MOTION", "SyntheticSEE"]

#: Per emotion, at full intensity: lid_upper (+ widen / - droop, fraction of the opening),
#: lid_lower (squint from below), brow_raise (+ up), brow_inner (+ inner end up),
#: brow_in (drawn towards the nose), furrow (vertical creases), cheek (AU6 bulge, crow's
#: feet), pupil (dilation factor - 1), gaze_y (+ down), saccades, blinks (expected number),
#: blink_slow (blink duration factor), rise (onset speed range, fraction of the clip).
EYE_MOTION: dict[str, dict[str, Any]] = {
    "angry": {"brow_raise": -0.12, "brow_inner": -0.12, "brow_in": 0.08, "lid_upper": 0.15,
              "lid_lower": 0.35, "furrow": 1.0, "blinks": 0.3},
    "disgust": {"brow_raise": -0.07, "brow_inner": -0.05, "brow_in": 0.04, "lid_upper": -0.3,
                "lid_lower": 0.5, "furrow": 0.6, "cheek": 0.4, "blinks": 0.8},
    "fear": {"brow_raise": 0.12, "brow_inner": 0.1, "brow_in": 0.06, "lid_upper": 0.45,
             "lid_lower": 0.2, "pupil": 0.3, "saccades": 3, "blinks": 0.5},
    "happiness": {"brow_raise": -0.03, "lid_upper": -0.15, "lid_lower": 0.55, "cheek": 1.0,
                  "blinks": 0.8},
    "neutral": {"blinks": 1.0},
    "sadness": {"brow_inner": 0.14, "brow_raise": 0.02, "lid_upper": -0.35, "gaze_y": 0.08,
                "blinks": 1.0, "blink_slow": 1.8, "rise": (0.3, 0.5)},
    "surprise": {"brow_raise": 0.2, "lid_upper": 0.6, "pupil": 0.15, "blinks": 0.0,
                 "rise": (0.06, 0.15)},
}
_SKIN = ((225, 190, 165), (205, 160, 130), (170, 125, 95), (140, 100, 75))
_IRIS = ((90, 60, 40), (110, 90, 50), (70, 100, 140), (80, 110, 80))
#: background-activity noise per pixel (Hz) added to the events, per lighting condition
BACKGROUND_HZ = {"normal": 0.2, "overexposure": 0.2, "low": 2.0, "hdr": 0.6}


def _eye_geometry(seed: int, subject: int) -> dict[str, Any]:
    r = np.random.default_rng([seed, subject, 0xE7E])
    u = r.uniform
    return {
        "cx": u(-0.08, 0.08), "cy": u(0.05, 0.2), "hw": u(0.5, 0.62), "open_u": u(0.2, 0.28),
        "open_l": u(0.1, 0.15), "tilt": u(-0.06, 0.06), "iris_r": u(0.2, 0.25),
        "pupil": u(0.35, 0.45), "iris": np.array(_IRIS[r.integers(4)]) * u(0.8, 1.2),
        "skin": np.array(_SKIN[r.integers(4)]) * u(0.92, 1.05),
        "sclera": np.array([235.0, 230.0, 225.0]) * u(0.9, 1.0), "brow_gap": u(0.25, 0.35),
        "brow_hw": u(0.7, 0.85), "brow_th": u(0.1, 0.14), "brow_bend": u(0.08, 0.15),
        "brow_tilt": u(-0.05, 0.05), "brow": u(35, 70), "lash": u(0.04, 0.06),
        "texture_seed": int(r.integers(2**31)),
    }


class SyntheticSEE(SyntheticClipDataset):
    """Synthetic single-eye emotion clips, RGB + events, 4 lighting conditions.

    Args:
        num_subjects / clips_per_class: grid size; lighting cycles over the repeats, so
            ``clips_per_class`` = 4 gives every subject and emotion all four conditions.
        classes: emotions (default the 7 of :data:`SEE_EMOTIONS`, SEE's folder order).
        size: H = W of both modalities; frames: T of both modalities.
        channels: C of the default event representation: 3 (default, like SEE's event-frame
            images; :class:`~snnfer.data.transforms.ToThreeChannelFrames`), 2 (ON/OFF counts)
            or 1; ignored when ``transform`` is given.
        num_frames / fps: rendered frames per clip and their rate.
        lighting: the conditions to cycle through (default all four).
        augment: callable on the item dict (both modalities together).
        seed, preset, emulator_options, cache_dir, intensity: as for ``SyntheticFER``.
    """

    modalities = ("event", "rgb")
    motions = EYE_MOTION

    def __init__(
        self,
        num_subjects: int = 8,
        clips_per_class: int = 4,
        classes: Sequence[str] = SEE_EMOTIONS,
        size: int = 64,
        frames: int = 8,
        channels: int = 3,
        num_frames: int = 32,
        fps: float = 30.0,
        lighting: Sequence[str] = LIGHTING_CONDITIONS,
        intensity: tuple[float, float] = (0.5, 1.0),
        transform: Callable | None = None,
        augment: Callable | None = None,
        seed: int = 0,
        preset: str = "clean",
        emulator_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        bad = [c for c in lighting if c not in LIGHTING_CONDITIONS]
        if bad or not lighting:
            raise ArgumentError(f"lighting must be a non-empty subset of {LIGHTING_CONDITIONS}, "
                                f"got {list(lighting)}")
        self.lighting = tuple(lighting)
        super().__init__(classes, num_subjects, clips_per_class, size, frames, num_frames, fps,
                         transform, augment, seed, preset, cache_dir, self.lighting,
                         emulator_options, channels, intensity)

    def generation_params(self) -> dict[str, Any]:
        return {**super().generation_params(), "lighting": self.lighting}

    def make_geometry(self, subject: int) -> dict[str, Any]:
        """Eye geometry, colours and texture seed of ``subject``."""
        return _eye_geometry(self.seed, subject)

    # -- rendering ---------------------------------------------------------------------------
    def render(self, spec: ClipSpec) -> tuple[torch.Tensor, np.ndarray]:
        rng = spec.rng()
        clean = self._render_clean(spec, rng)  # [n, 3, H, W] float, normal light
        luma = clean[:, 0] * 0.299 + clean[:, 1] * 0.587 + clean[:, 2] * 0.114
        idx = torch.from_numpy(sample_indices(self.num_frames, self.frames))
        rgb = self._apply_lighting(clean[idx], spec.condition, rng)
        return luma.clamp(1.0, 255.0), rgb

    def _render_clean(self, spec: ClipSpec, rng: np.random.Generator) -> torch.Tensor:
        g = self.geometry(spec.subject)
        m = EYE_MOTION[spec.class_name]
        n, grid, px = self.num_frames, self.grid, self.grid.pixel
        col = per_frame
        rgb = lambda c: torch.as_tensor(np.asarray(c), dtype=torch.float32).reshape(3, 1, 1)  # noqa: E731

        level = rng.uniform(*self.intensity)
        rise = rng.uniform(*m.get("rise", (0.15, 0.35)))
        env = expression_envelope(n, rng.uniform(0.05, 0.35), rise, rng.uniform(0.2, 0.6),
                                  rng.uniform(0.0, 0.25)) * level
        amp = {k: v * rng.uniform(0.75, 1.25) for k, v in m.items()
               if isinstance(v, float) and k not in ("blinks", "blink_slow")}
        act = lambda k: col(env * amp.get(k, 0.0))  # noqa: E731

        # nuisances: headset slip, blinks, gaze drift and saccades
        dx, dy = col(smooth_walk(rng, n, 0.03)), col(smooth_walk(rng, n, 0.03))
        x, y = grid.moved(dx + g["cx"], dy + g["cy"], col(torch.zeros(n)) + g["tilt"] * 0.3)
        duration, slow = n / self.fps, m.get("blink_slow", 1.0)
        starts = rng.uniform(0, duration, rng.poisson(m.get("blinks", 0.8))).tolist()
        blink = col(blink_profile(n, self.fps, starts, 0.1 * slow, 0.15 * slow))
        gx = smooth_walk(rng, n, 0.05)
        for _ in range(int(m.get("saccades", 0))):  # quick jumps of gaze (fear)
            t0 = int(rng.integers(1, n))
            gx[t0:] += float(rng.uniform(-0.12, 0.12))
        gy = smooth_walk(rng, n, 0.03) + env * m.get("gaze_y", 0.0)
        gx, gy = col(gx * g["hw"]), col(gy)

        tex = np.random.default_rng(g["texture_seed"])
        pores = 10 * value_noise(tex, self.size, self.size, 8, octaves=3)
        skin = rgb(g["skin"]) * (1 - 0.12 * (x ** 2 + y ** 2)).unsqueeze(1) + pores
        img = skin.clone()

        # cheek raise: a brighter bulge under the eye and crow's feet at the outer corner
        if "cheek" in amp:
            bulge = torch.exp(-(x ** 2 / 0.3 + (y - g["open_l"] - 0.25 + 0.1 * act("cheek")) ** 2
                                / 0.02))
            img = img + (18 * act("cheek") * bulge).unsqueeze(1)
            for k in range(3):
                crease = curve_band(x, y, -g["hw"] - 0.12, -0.1 + 0.1 * k, 0.1, 0.025, 0.0,
                                    0.03 * (k - 1), px)
                img = blend(img, rgb(g["skin"] * 0.6), (crease * act("cheek").clamp(0, 1)
                                                         * 0.9).unsqueeze(1))
        if "furrow" in amp:  # vertical creases between the brows (inner side)
            for k in range(2):
                furrow = curve_band(y, x, -g["open_u"] - g["brow_gap"] + 0.1,
                                    g["hw"] + 0.1 + 0.08 * k, 0.15, 0.025, 0.0, 0.0, px)
                img = blend(img, rgb(g["skin"] * 0.55), (furrow * act("furrow").clamp(0, 1)
                                                          * 0.9).unsqueeze(1))

        # eyelids bound the visible eye: upper/lower half-ellipses
        open_u = g["open_u"] * (1 + act("lid_upper")) * (1 - blink) + 1e-3
        open_l = g["open_l"] * (1 - act("lid_lower")) * (1 - 0.8 * blink) + 1e-3
        ry = torch.where(y < 0, open_u, open_l)
        eye = ellipse(x, y, 0.0, 0.0, g["hw"], ry, px)
        crease_lid = curve_band(x, y, 0.0, -open_u - 0.12, g["hw"] * 0.9, 0.03, open_u * 0.8,
                                0.0, px)
        img = blend(img, rgb(g["skin"] * 0.7), crease_lid.unsqueeze(1))
        img = blend(img, rgb(g["sclera"]), eye.unsqueeze(1))
        ir = g["iris_r"]
        iris = ellipse(x, y, gx, gy, ir, ir, px) * eye
        img = blend(img, rgb(g["iris"]), iris.unsqueeze(1))
        pr = ir * g["pupil"] * (1 + act("pupil"))
        pupil = ellipse(x, y, gx, gy, pr, pr, px) * eye
        img = blend(img, rgb((12, 10, 10)), pupil.unsqueeze(1))
        glint = ellipse(x, y, gx + 0.35 * ir, gy - 0.35 * ir, 0.04, 0.04, px) * eye
        img = blend(img, rgb((250, 250, 250)), glint.unsqueeze(1))
        lash = curve_band(x, y, 0.0, -open_u, g["hw"] * 1.05, g["lash"], open_u, 0.0, px,
                          taper=0.6)
        img = blend(img, rgb((25, 20, 20)), lash.unsqueeze(1))
        lower = curve_band(x, y, 0.0, open_l, g["hw"] * 0.95, 0.02, -open_l, 0.0, px)
        img = blend(img, rgb(g["skin"] * 0.75), lower.unsqueeze(1))

        # brow: inner end (+x, towards the nose) up or down, whole brow raised or lowered
        by = -g["open_u"] - g["brow_gap"] - act("brow_raise")
        brow = curve_band(x, y, act("brow_in"), by, g["brow_hw"], g["brow_th"], g["brow_bend"],
                          -(g["brow_tilt"] + act("brow_inner")), px)
        img = blend(img, rgb([g["brow"]] * 3), brow.unsqueeze(1))
        return img

    def _apply_lighting(self, frames: torch.Tensor, condition: str | None,
                        rng: np.random.Generator) -> np.ndarray:
        """RGB frames as the camera records them under ``condition`` (uint8)."""
        grid = self.grid
        noise = 2.0
        if condition == "low":
            gain, noise = rng.uniform(0.06, 0.12), rng.uniform(3.0, 5.0)
        elif condition == "overexposure":
            gain = rng.uniform(2.5, 4.0)
        elif condition == "hdr":
            phi = rng.uniform(0, 2 * math.pi)
            gain = torch.exp(math.log(12.0) * (grid.x * math.cos(phi) + grid.y * math.sin(phi)))
            noise = 3.0
        else:
            gain = rng.uniform(0.9, 1.1)
        out = frames * gain + torch.from_numpy(rng.normal(0, noise, frames.shape).astype(
            np.float32))
        return out.round_().clamp_(0, 255).to(torch.uint8).numpy()

    def postprocess_events(self, spec: ClipSpec, events: np.ndarray) -> np.ndarray:
        """Add background-activity noise (uniform in time and space) for the condition."""
        rate = BACKGROUND_HZ.get(spec.condition or "normal", 0.2)
        rng = np.random.default_rng([*spec.seed, 0xBA])
        duration_us = int((self.num_frames - 1) / self.fps * 1e6)
        n = rng.poisson(rate * self.size * self.size * duration_us / 1e6)
        if n == 0:
            return events
        noise = np.empty(n, EVENT_DTYPE)
        noise["t"] = rng.integers(0, max(duration_us, 1), n)
        noise["x"] = rng.integers(0, self.size, n)
        noise["y"] = rng.integers(0, self.size, n)
        noise["p"] = rng.integers(0, 2, n)
        merged = np.concatenate([events, noise])
        return merged[np.argsort(merged["t"], kind="stable")]
