"""``snnfer predict``: emotion + class probabilities for event files, videos or frame folders.

Inputs, by kind:

- event files (``.h5``/``.hdf5``/``.npz``/``.txt``/``.aedat4``): read with
  ``snnfer.data.events.read_events`` and binned into the model's ``[T, C, H, W]``;
- videos (``.mp4``, ``.avi``, ...) and folders of frames: read with
  ``snnfer.data.video.read_video``, faces aligned with ``snnfer.data.faces.FaceAligner``
  (grayscale, square crop) and converted to events with the ``clean`` DVS emulator preset
  (CS3D §IV-A's pipeline), then binned as above; two-modality models also get the aligned
  frames as their ``rgb`` input;
- ``.pt`` files holding a ready ``[T, C, H, W]`` tensor (or a dict of modality tensors,
  e.g. ``torch.save(SyntheticSEE(...)[i][0], "clip.pt")``);
- for models that declare modalities (HEC-Net, SEEN): a paired image sequence -- a SEE
  sequence folder ``SEE/event|frame/<emotion>/<sequence>`` (the other modality is found
  next to it, the annotated segment of ``emotion.json`` is used) or a folder with ``event/``
  and ``frame/`` image sub-folders (:mod:`snnfer.data.datasets.see_sequence`), sampled at
  the model's T, H, W as the SEE loader does.

Event binning (:func:`events_to_tensor`): ``T`` equal-duration bins over the clip, one
channel per polarity (OFF, ON) for ``C = 2`` or both summed for ``C = 1``, counts resized
to ``H x W`` by area averaging and divided by the clip's maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.train.data import fit_input

__all__ = ["Prediction", "Predictor", "events_to_tensor"]

EVENT_SUFFIXES = (".h5", ".hdf5", ".npz", ".txt", ".aedat4")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v")


def events_to_tensor(events: np.ndarray, sensor_size: tuple[int, int], shape: Any) -> torch.Tensor:
    """Bin structured events (fields t, x, y, p) into a ``[T, C, H, W]`` float tensor."""
    t_bins, channels, height, width = (int(v) for v in shape)
    if channels not in (1, 2):
        raise InputShapeError(f"event binning makes 1 or 2 channels, the model expects "
                              f"{channels} (input shape {tuple(shape)})")
    w, h = int(sensor_size[0]), int(sensor_size[1])
    frames = torch.zeros(t_bins, 2, h, w)
    if len(events):
        t = events["t"].astype(np.int64)
        span = max(int(t[-1] - t[0]), 1)
        b = np.minimum((t - t[0]) * t_bins // span, t_bins - 1)
        idx = ((b * 2 + events["p"].astype(np.int64)) * h + events["y"].astype(np.int64)) * w \
            + events["x"].astype(np.int64)
        counts = np.bincount(idx, minlength=t_bins * 2 * h * w)
        frames = torch.from_numpy(counts.astype(np.float32)).reshape(t_bins, 2, h, w)
    if channels == 1:
        frames = frames.sum(1, keepdim=True)
    if (h, w) != (height, width):
        frames = F.interpolate(frames, size=(height, width), mode="area")
    peak = float(frames.max())
    return frames / peak if peak > 0 else frames


@dataclass
class Prediction:
    """The predicted class of one input and the probability of every class."""

    path: str
    label: str
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "probabilities": self.probabilities}


class Predictor:
    """A trained model plus the input conversion; ``Predictor.from_checkpoint(path)``."""

    def __init__(self, model: torch.nn.Module, classes: list[str], input_shape: Any) -> None:
        self.model, self.classes, self.input_shape = model.eval(), list(classes), input_shape
        self.device = next(model.parameters()).device

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Predictor:
        from snnfer.train.evaluate import load_trained_model

        model, ckpt, _cfg, _ = load_trained_model(path, device)
        return cls(model, ckpt["classes"], ckpt.get("input_shape"))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.input_shape) if isinstance(self.input_shape, dict) else ()

    def load_input(self, path: str | Path) -> Any:
        """The model input for one file/folder, fitted to the model's input shape."""
        p = Path(path)
        if not p.exists():
            raise ArgumentError(f"input {str(p)!r} does not exist")
        suffix = p.suffix.lower()
        if p.is_file() and suffix == ".pt":
            x = torch.load(p, map_location="cpu", weights_only=True)
        elif p.is_file() and suffix in EVENT_SUFFIXES:
            x = self._from_events(p)
        elif self.modalities and self._is_pair(p):
            x = self._from_pair(p)
        elif p.is_dir() or suffix in VIDEO_SUFFIXES:
            x = self._from_video(p)
        else:
            raise ArgumentError(f"unsupported input {str(p)!r}: expected an event file "
                                f"({', '.join(EVENT_SUFFIXES)}), a video "
                                f"({', '.join(VIDEO_SUFFIXES)}), a folder of frames or a .pt "
                                "tensor")
        return fit_input(x, self.input_shape) if self.input_shape is not None else x

    @staticmethod
    def _is_pair(path: Path) -> bool:
        from snnfer.data.datasets.see_sequence import find_sequence_pair

        return find_sequence_pair(path) is not None

    def _from_pair(self, path: Path) -> dict[str, torch.Tensor]:
        """A paired event + RGB image sequence (SEE layout), sampled at the model's T, H, W."""
        from snnfer.data.datasets.see_sequence import load_sequence_pair

        t, _, h, w = self.input_shape[self.modalities[0]]
        return load_sequence_pair(path, int(t), (int(h), int(w)), self.modalities)

    def _event_shape(self) -> Any:
        return self.input_shape["event"] if self.modalities else self.input_shape

    def _from_events(self, path: Path) -> torch.Tensor:
        if self.modalities:
            raise ArgumentError(f"the model takes modalities {list(self.modalities)}; an event "
                                f"file ({path.name}) has events only -- pass a video or a frame "
                                "folder")
        from snnfer.data.events import read_events

        events, sensor_size = read_events(path)
        return events_to_tensor(events, sensor_size, self._event_shape())

    def _from_video(self, path: Path) -> Any:
        from snnfer.data.emulator import DVSEmulator
        from snnfer.data.faces import FaceAligner
        from snnfer.data.video import read_video

        frames, fps = read_video(path)
        shape = self._event_shape()
        size = max(int(shape[2]), int(shape[3]))
        aligned = FaceAligner(size=size, grayscale=True)(frames)
        stamps = np.arange(len(aligned), dtype=np.float64) / float(fps or 30.0)
        events = DVSEmulator.from_preset("clean")(aligned, stamps)
        ev = events_to_tensor(events, (size, size), shape)
        if not self.modalities:
            return ev
        rgb = torch.from_numpy(np.asarray(aligned, dtype=np.float32) / 255.0)  # [N, H, W]
        rgb = rgb[:, None].repeat(1, int(self.input_shape["rgb"][1]), 1, 1)
        return {"event": ev, "rgb": rgb}

    @torch.inference_mode()
    def predict(self, path: str | Path) -> Prediction:
        """Predict one input (neurons are reset first)."""
        from snnfer.neuron import reset
        from snnfer.train.trainer import forward

        x = self.load_input(path)
        batch = ({k: v[None].to(self.device) for k, v in x.items()} if isinstance(x, dict)
                 else x[None].to(self.device))
        reset(self.model)
        probs = torch.softmax(forward(self.model, batch).float(), dim=1)[0].cpu()
        reset(self.model)  # leave no inference-mode state behind
        best = int(probs.argmax())
        return Prediction(str(path), self.classes[best],
                          {c: float(p) for c, p in zip(self.classes, probs)})


def format_predictions(preds: list[Prediction], top: int = 3) -> str:
    """A markdown table: input, predicted class, the ``top`` most probable classes."""
    lines = ["| input | prediction | top classes |", "|---|---|---|"]
    for p in preds:
        ranked = sorted(p.probabilities.items(), key=lambda kv: -kv[1])[:max(top, 1)]
        tops = ", ".join(f"{c} {100 * v:.1f}%" for c, v in ranked)
        lines.append(f"| {p.path} | {p.label} | {tops} |")
    return "\n".join(lines)

