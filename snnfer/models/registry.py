"""Model registry (timm style): ``@register_model``, ``create_model``, ``list_models``."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from snnfer.errors import ArgumentError, UnknownNameError

__all__ = ["create_model", "list_models", "model_entrypoint", "register_model"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model factory ``fn(num_classes, in_channels, **kw) -> nn.Module``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS and _MODELS[name] is not fn:
            raise ArgumentError(f"model name {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return deco


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, optionally filtered: a glob pattern (``"c3d*"``, timm's
    convention) when ``pattern`` holds ``*``, ``?`` or ``[``, else a substring."""
    names = sorted(_MODELS)
    if not pattern:
        return names
    if any(c in pattern for c in "*?["):
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [n for n in names if pattern in n]


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The factory registered under ``name``."""
    if name not in _MODELS:
        raise UnknownNameError("model", name, list_models())
    return _MODELS[name]


def create_model(
    name: str, num_classes: int = 7, in_channels: int | None = None, **kw: Any
) -> nn.Module:
    """Build a registered model.

    Every model takes ``[B, T, C, H, W]`` (two-modality models take one such tensor per
    modality, as keyword arguments named in ``model.modalities``) and returns
    logits ``[B, num_classes]``. ``in_channels=None`` leaves the channel count to the
    model's preset (e.g. 3 for CS3D's ``preset="paper"``, 2 polarity channels for
    ``"small"``). Unknown keyword arguments raise an error naming the accepted ones.
    """
    fn = model_entrypoint(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ArgumentError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if in_channels is not None and (
        isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1
    ):
        raise ArgumentError(f"in_channels must be a positive int or None, got {in_channels!r}")
    sig = inspect.signature(fn)
    accepts_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    if not accepts_var_kw:
        unknown = sorted(set(kw) - set(sig.parameters))
        if unknown:
            allowed = sorted(set(sig.parameters) - {"num_classes", "in_channels"})
            raise ArgumentError(
                f"model {name!r} got unknown argument(s) {unknown}; accepted: {allowed}"
            )
    if in_channels is not None:
        kw["in_channels"] = in_channels
    return fn(num_classes=num_classes, **kw)
