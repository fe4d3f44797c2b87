"""``snnfer predict``: emotion + class probabilities for event files, videos or frame folders.

Every input goes through the run's own input pipeline (recorded at training time, see
:mod:`snnfer.train.inputs`), so a clip gets exactly the tensor its dataset would give it:

- event files (``.h5``/``.hdf5``/``.npz``/``.txt``/``.csv``/``.aedat4``): read with
  ``snnfer.data.events.read_events`` (with the sensor size the training loader imposes, e.g.
  FerDVS's 200 x 200) and binned by the run's representation (e.g. ``ToCountFrames(16)``);
- videos (``.mp4``, ``.avi``, ...) and folders of frames: converted to events by the run's
  :class:`~snnfer.data.convert.ClipConverter` (the training ``VideoFolder``'s own; for event
  datasets face alignment, grayscale, the dataset's sensor side and emulator preset - CS3D
  §IV-A), then binned as above; two-modality models also get the converted frames as their
  ``rgb`` input;
- ``.pt`` files holding a ready ``[T, C, H, W]`` tensor (or a dict of modality tensors,
  e.g. ``torch.save(SyntheticSEE(...)[i][0], "clip.pt")``);
- for models that declare modalities (HEC-Net, SEEN): a paired image sequence -- a SEE
  sequence folder ``SEE/event|frame/<emotion>/<sequence>`` (the other modality is found
  next to it, the annotated segment of ``emotion.json`` is used) or a folder with ``event/``
  and ``frame/`` image sub-folders (:mod:`snnfer.data.datasets.see_sequence`), sampled at
  the model's T, H, W as the SEE loader does.

The result is resampled to the model's input shape as in training
(:func:`snnfer.train.data.fit_input`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnfer.errors import ArgumentError, CheckpointError
from snnfer.train.data import fit_input

__all__ = ["Prediction", "Predictor"]

EVENT_SUFFIXES = (".h5", ".hdf5", ".npz", ".txt", ".csv", ".aedat4")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v")


@dataclass
class Prediction:
    """The predicted class of one input and the probability of every class."""

    path: str
    label: str
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "probabilities": self.probabilities}


class Predictor:
    """A trained model plus its input pipeline; ``Predictor.from_checkpoint(path)``.

    ``pipeline`` is the run's recorded input pipeline (:mod:`snnfer.train.inputs`); without
    one the loaders' default for the model's input shape is used. ``align_faces`` overrides
    the recorded face-alignment choice for videos (e.g. ``False`` for clips that are already
    face crops).
    """

    def __init__(self, model: torch.nn.Module, classes: list[str], input_shape: Any,
                 pipeline: dict[str, Any] | None = None,
                 align_faces: bool | None = None) -> None:
        from snnfer.train.inputs import default_pipeline

        self.model, self.classes, self.input_shape = model.eval(), list(classes), input_shape
        self.device = next(model.parameters()).device
        self.pipeline = pipeline or default_pipeline(input_shape)
        self.align_faces = align_faces
        self._representation = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto",
                        align_faces: bool | None = None) -> Predictor:
        from snnfer.train.evaluate import load_trained_model

        model, ckpt, _cfg, _ = load_trained_model(path, device)
        return cls(model, ckpt["classes"], ckpt.get("input_shape"), ckpt.get("input_pipeline"),
                   align_faces=align_faces)

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

    def represent(self, events: np.ndarray, sensor_size: tuple[int, int]) -> torch.Tensor:
        """Events -> ``[T, C, H, W]`` with the run's representation."""
        if self._representation is None:
            from snnfer.train.inputs import build_representation

            spec = self.pipeline.get("representation")
            if spec is None:
                raise CheckpointError("the run's event representation is not a recorded "
                                      "snnfer.data.transforms representation (a custom "
                                      "transform); predict from event data needs Predictor("
                                      "..., pipeline={'representation': {...}})")
            self._representation = build_representation(spec)
        return self._representation(events, tuple(sensor_size))

    def _from_events(self, path: Path) -> torch.Tensor:
        if self.modalities:
            raise ArgumentError(f"the model takes modalities {list(self.modalities)}; an event "
                                f"file ({path.name}) has events only -- pass a video or a frame "
                                "folder")
        from snnfer.data.events import read_events

        forced = self.pipeline.get("file_sensor_size")
        events, sensor_size = read_events(path, sensor_size=tuple(forced) if forced else None)
        return self.represent(events, sensor_size)

    def _from_video(self, path: Path) -> Any:
        from snnfer.data.video import read_video
        from snnfer.train.inputs import video_converter

        converter = video_converter(self.pipeline, self.align_faces)
        frames, fps = read_video(path, fps=converter.fps)
        events, sensor_size = converter.frames_to_events(frames, fps, str(path))
        ev = self.represent(events, sensor_size)
        if not self.modalities:
            return ev
        aligned = converter.prepare(frames, str(path))  # [N, S, S] uint8
        rgb = torch.from_numpy(np.asarray(aligned, dtype=np.float32) / 255.0)
        rgb = rgb[:, None].repeat(1, int(self.input_shape["rgb"][1]), 1, 1)
        return {"event": ev, "rgb": rgb}

    @torch.inference_mode()
    def logits(self, path: str | Path) -> torch.Tensor:
        """The model's logits ``[num_classes]`` for one input (neurons reset first)."""
        from snnfer.neuron import reset
        from snnfer.train.trainer import forward

        x = self.load_input(path)
        batch = ({k: v[None].to(self.device) for k, v in x.items()} if isinstance(x, dict)
                 else x[None].to(self.device))
        reset(self.model)
        out = forward(self.model, batch).float()[0].cpu()
        reset(self.model)  # leave no inference-mode state behind
        return out

    def predict(self, path: str | Path) -> Prediction:
        """Predict one input: the most probable class and every class's probability."""
        probs = torch.softmax(self.logits(path), dim=0)
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

