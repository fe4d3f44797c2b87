"""The input pipeline of a run, recorded so that inference converts inputs like the training data.

A training run stores ``input_pipeline`` in its checkpoints (and ``summary.json``)::

    representation: {"name": "ToCountFrames", "params": {"n_bins": 16, ...}}   # or None
    file_sensor_size: [W, H] or None   # size the loader imposes on event files (FerDVS 200x200)
    video: {"align_faces": true, "size": 48, "preset": "clean", ...}           # ClipConverter

``representation`` is the dataset's events -> ``[T, C, H, W]`` map (a
:mod:`snnfer.data.transforms` representation; the loaders' default is
``ToCountFrames(n_bins=16)``); ``video`` holds the :class:`~snnfer.data.convert.ClipConverter`
settings that turn a video or frame folder into events: the dataset's own converter when it
has one (``VideoFolder``, ``CASME2``), otherwise face alignment + grayscale at the dataset's
sensor side with its emulator preset (``SyntheticFER``: the ``clean`` V2E preset at 48 x 48
for the small preset), i.e. CS3D §IV-A's preprocessing. :class:`snnfer.train.Predictor`
rebuilds both, then resamples to the model's input shape exactly as the training loader
(:func:`snnfer.train.data.fit_input`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError, CheckpointError, ConfigError

__all__ = [
    "REPRESENTATIONS",
    "build_representation",
    "default_pipeline",
    "describe_pipeline",
    "describe_representation",
    "video_converter",
]

#: representations that can be recorded by name (all in :mod:`snnfer.data.transforms`)
REPRESENTATIONS = ("ToCountFrames", "ToBinaryFrames", "ToVoxelGrid", "ToThreeChannelFrames")


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(type(value).__name__)


def describe_representation(transform: Any) -> dict[str, Any] | None:
    """``{"name", "params"}`` of a :mod:`snnfer.data.transforms` representation, or ``None``
    for anything else (a ``Compose``, a user callable)."""
    name = type(transform).__name__
    if name not in REPRESENTATIONS or not dataclasses.is_dataclass(transform):
        return None
    from snnfer.data import transforms

    if type(transform) is not getattr(transforms, name):
        return None
    try:
        params = {f.name: _plain(getattr(transform, f.name))
                  for f in dataclasses.fields(transform) if f.init}
    except TypeError:
        return None
    return {"name": name, "params": params}


def build_representation(spec: dict[str, Any], where: str | None = None) -> Any:
    """The representation described by :func:`describe_representation` (``{"name",
    "params"}``). ``where`` names the config key it came from (errors are then
    :class:`ConfigError`; else :class:`CheckpointError`, the spec being a checkpoint's)."""
    from snnfer.data import transforms

    error = ConfigError if where else CheckpointError
    source = where or "the run's input pipeline"
    name = spec.get("name") if isinstance(spec, dict) else None
    if name not in REPRESENTATIONS:
        raise error(f"unknown event representation {name!r} in {source}; expected one of "
                    f"{list(REPRESENTATIONS)}")
    params = spec.get("params") or {}
    unknown = sorted(set(spec) - {"name", "params"}) if isinstance(spec, dict) else []
    if not isinstance(params, dict) or unknown:
        raise error(f"{source}: expected {{name: {name}, params: {{...}}}}, got {spec!r}")
    params = dict(params)
    if params.get("sensor_size") is not None:
        params["sensor_size"] = tuple(params["sensor_size"])
    try:
        return getattr(transforms, name)(**params)
    except TypeError as exc:
        raise error(f"{source}: bad parameters for {name}: {exc}") from exc


def _file_sensor_size(dataset: FERDataset) -> list[int] | None:
    """The (W, H) a loader forces on the event files it reads (None: the file's own)."""
    from snnfer.data.datasets import EventFolder, FerDVS
    from snnfer.data.datasets.ferdvs import FERDVS_SENSOR

    if isinstance(dataset, FerDVS):
        return list(FERDVS_SENSOR)
    if isinstance(dataset, EventFolder) and dataset.sensor_size is not None:
        return [int(v) for v in dataset.sensor_size]
    return None


def _video_settings(dataset: FERDataset, input_side: int | None) -> dict[str, Any]:
    from snnfer.data.convert import ClipConverter

    converter = getattr(dataset, "converter", None)
    if isinstance(converter, ClipConverter):
        return _plain(converter.params())
    side = None
    sensor = getattr(dataset, "sensor_size", None) or _file_sensor_size(dataset)
    if sensor is not None:
        side = int(min(sensor))
    preset = getattr(dataset, "preset", "clean")
    options = getattr(dataset, "emulator_options", None) or {}
    if not isinstance(preset, str):
        preset, options = "clean", {}
    return _plain(ClipConverter(align_faces=True, size=side or input_side, preset=preset,
                                emulator_options=dict(options)).params())


def describe_pipeline(dataset: FERDataset, input_shape: Any = None) -> dict[str, Any]:
    """What inference needs to convert raw inputs like ``dataset`` does (module docstring)."""
    base = getattr(dataset, "base", dataset)  # a FERSubset -> its dataset
    side = None
    if isinstance(input_shape, (list, tuple)) and len(input_shape) == 4:
        side = int(input_shape[2])
    transform = getattr(base, "transform", None)
    return {"representation": describe_representation(transform) if transform else None,
            "file_sensor_size": _file_sensor_size(base),
            "video": _video_settings(base, side)}


def default_pipeline(input_shape: Any) -> dict[str, Any]:
    """The loaders' default pipeline for a ``[T, C, H, W]`` input (checkpoints that recorded
    none): ``default_representation(T, C)``, files' own sensor size, aligned faces at H."""
    from snnfer.data.datasets.common import default_representation

    shape = input_shape["event"] if isinstance(input_shape, dict) else input_shape
    if shape is None:
        return {"representation": None, "file_sensor_size": None, "video": None}
    t, c, h, _ = (int(v) for v in shape)
    try:
        rep = describe_representation(default_representation(t, c))
    except ArgumentError:
        rep = None
    return {"representation": rep, "file_sensor_size": None,
            "video": _video_settings(_NoDataset(), h)}


class _NoDataset:
    """Stands for a dataset of which nothing is known."""


def video_converter(pipeline: dict[str, Any], align_faces: bool | None = None):
    """The :class:`~snnfer.data.convert.ClipConverter` of ``pipeline['video']``
    (``align_faces`` overrides the recorded choice)."""
    from snnfer.data.convert import ClipConverter

    settings = dict(pipeline.get("video") or {})
    if not settings:
        raise CheckpointError("the run recorded no video conversion settings")
    if align_faces is not None:
        settings["align_faces"] = bool(align_faces)
    return ClipConverter(**settings)
