"""Models that declare their inputs (``model.modalities``) in the trainer, evaluate and predict.

snnfer's contract (CONTRIBUTING "Tensors"): a model that declares ``modalities`` takes one
``[B, T, C, H, W]`` clip per modality as keyword arguments -- HEC-Net and SEEN take
``event=`` and ``rgb=``; the single-stream ablations ``hecnet_event`` / ``hecnet_rgb``
declare ``("event",)`` / ``("rgb",)``. Paired datasets (``SEE``, ``SyntheticSEE``, NEFER
``modality="both"``) yield a dict modality -> ``[T, C, H, W]``. This module decides, for
such a model and such data:

- which modalities of a sample the model receives (:func:`model_input_shape`): the model's
  declared ones, in its declared order -- a single-stream model on paired data gets its
  one modality, still as a keyword argument;
- its ``in_channels`` (:func:`input_channels`): the channels of the model's *first*
  declared modality in the data (HEC-Net/SEEN: the event channels; ``hecnet_rgb``: the RGB
  channels), so ``SyntheticSEE(channels=2)`` builds 2-channel event streams;
- the dataset's ``frames``/``size`` options (:func:`native_data_options`): when the
  loader takes them and the config does not set them, they come from the model's input
  (T, H, W), so clips are sampled at the model's own length and size instead of being
  interpolated afterwards. This matters for SEEN, whose frame branch reads the *first and
  last* intensity frames of its T = 4 window: trilinear resampling of an 8-frame clip to 4
  would blend neighbouring frames, sampling 4 frames keeps the real first and last ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from snnfer.errors import InputShapeError
from snnfer.train.config import ModelConfig

__all__ = [
    "declared_modalities",
    "input_channels",
    "model_input_shape",
    "native_data_options",
    "takes_one_tensor",
]


def declared_modalities(model: nn.Module) -> tuple[str, ...]:
    """``model.modalities`` as a tuple (empty for single-input models)."""
    mods = getattr(model, "modalities", None)
    return tuple(mods) if mods else ()


def takes_one_tensor(model: nn.Module) -> bool:
    """True for single-input models (no declared modalities, one declared input shape)."""
    return not declared_modalities(model) and not isinstance(
        getattr(model, "default_input_shape", None), Mapping)


def _declared_shape(model: nn.Module, modality: str) -> list[int] | None:
    declared = getattr(model, "default_input_shape", None)
    if isinstance(declared, Mapping):
        declared = declared.get(modality)
    return [int(v) for v in declared] if declared is not None else None


def model_input_shape(model: nn.Module, sample: Any) -> Any:
    """The input shape to fit samples to: the model's ``default_input_shape`` (T, H, W from
    the model, C from the sample) or, without that attribute, the sample's own shape.

    Paired (dict) samples give a dict over the model's declared modalities, in the model's
    order; modalities the model does not take are dropped (``hecnet_event`` on SEE gets
    ``{"event": ...}``).
    """
    declared = getattr(model, "default_input_shape", None)
    mods = declared_modalities(model)
    if isinstance(sample, Mapping):
        if not mods and isinstance(declared, Mapping):
            mods = tuple(declared)
        if not mods:
            if declared is None:
                return {k: list(v.shape) for k, v in sample.items()}
            raise InputShapeError(f"the data has modalities {sorted(sample)} but the model "
                                  f"takes one input of shape {tuple(declared)}; declare "
                                  "model.modalities to pick one")
        missing = [m for m in mods if m not in sample]
        if missing:
            raise InputShapeError(f"the model takes modalities {list(mods)} but the data has "
                                  f"{sorted(sample)} (missing {missing})")
        out = {}
        for m in mods:
            own, shape = list(sample[m].shape), _declared_shape(model, m)
            out[m] = own if shape is None else [shape[0], own[1], shape[2], shape[3]]
        return out
    if declared is None:
        return list(sample.shape)
    if isinstance(declared, Mapping):
        raise InputShapeError(f"the model takes modalities {sorted(declared)} but the data "
                              f"gives a single tensor of shape {tuple(sample.shape)}")
    return [int(declared[0]), int(sample.shape[1]), int(declared[2]), int(declared[3])]


def input_channels(model: nn.Module, sample_shape: Any) -> int:
    """``in_channels`` for ``model`` on data of ``sample_shape`` (a ``[T, C, H, W]`` shape or
    a dict modality -> shape): the channels of the model's first declared modality."""
    if not isinstance(sample_shape, Mapping):
        return int(sample_shape[1])
    mods = declared_modalities(model) or tuple(sample_shape)
    if mods[0] not in sample_shape:
        raise InputShapeError(f"the model's first modality {mods[0]!r} is not in the data "
                              f"({sorted(sample_shape)})")
    return int(sample_shape[mods[0]][1])


def _default_model(model_cfg: ModelConfig) -> nn.Module:
    from snnfer.models import create_model

    kw = dict(model_cfg.kwargs)
    kw.setdefault("preset", model_cfg.preset)
    return create_model(model_cfg.name, **kw)


def native_data_options(model_cfg: ModelConfig, factory: Any, options: Mapping[str, Any]
                        ) -> dict[str, Any]:
    """``options`` plus ``frames`` (T) and ``size`` (H = W) from the model's input when the
    model declares ``modalities``, the dataset ``factory`` takes these keywords and
    ``options`` does not set them. Other models and loaders: ``options`` unchanged."""
    out = dict(options)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return out
    wanted = [k for k in ("frames", "size") if k in params and k not in out]
    if not wanted:
        return out
    model = _default_model(model_cfg)
    mods = declared_modalities(model)
    shape = _declared_shape(model, mods[0]) if mods else None
    if shape is None:
        return out
    t, _, h, w = shape
    if "frames" in wanted:
        out["frames"] = t
    if "size" in wanted and h == w:
        out["size"] = h
    return out
