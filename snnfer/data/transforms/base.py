"""Conventions shared by snnfer's event transforms.

Three kinds of callables, each a small dataclass with a ``stage`` attribute:

- ``"events"``: ``t(events, sensor_size) -> (events, sensor_size)`` — augmentations on the
  :data:`~snnfer.data.events.EVENT_DTYPE` array (drop, flip, noise, time reversal);
- ``"representation"``: ``r(events, sensor_size=None) -> Tensor [T, C, H, W]`` float32 — the
  sensor size comes from the call, or from the representation's own ``sensor_size`` field
  when the call gives none (so a dataset can apply it without knowing the sensor);
- ``"tensor"``: ``t(x) -> x`` on ``[T, C, H, W]`` (face mirror, random resized crop).

:class:`Compose` chains them in that order. Random transforms take ``seed``: ``None`` draws
from torch's global generator (so ``torch.manual_seed`` and DataLoader worker seeding apply),
an int gives the transform its own reproducible stream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from snnfer.data.events import SensorSize, check_sensor_size, validate_events
from snnfer.errors import ArgumentError, EventFormatError

__all__ = ["Compose", "RandomApply", "SeededTransform", "resolve_sensor_size"]

STAGES = ("events", "representation", "tensor")


def resolve_sensor_size(events: np.ndarray, call: Any, own: Any, who: str) -> SensorSize:
    """The call's sensor size, else the transform's field, else an error naming ``who``."""
    size = call if call is not None else own
    if size is None:
        raise ArgumentError(
            f"{who}: no sensor size; pass it at call time or set {who}(sensor_size=(W, H))"
        )
    size = check_sensor_size(size)
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise EventFormatError(f"{who}: expected an EVENT_DTYPE array, got {type(events)}")
    return size


@dataclass
class SeededTransform:
    """Base of random transforms: ``seed=None`` follows torch's global RNG, an int is a
    private, reproducible stream."""

    seed: int | None = field(default=None, kw_only=True)
    _rng: np.random.Generator | None = field(default=None, init=False, repr=False,
                                             compare=False)

    def rng(self) -> np.random.Generator:
        """Generator for this call."""
        if self.seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng


def _stage(t: Callable) -> str:
    stage = getattr(t, "stage", None)
    if stage not in STAGES:
        raise ArgumentError(
            f"Compose: {t!r} has no stage attribute in {STAGES}; wrap plain functions in a "
            "class with stage = 'events' | 'representation' | 'tensor'"
        )
    return stage


@dataclass
class Compose:
    """Apply event transforms, then one representation, then tensor transforms.

    ``Compose([...])(events, sensor_size)`` returns ``[T, C, H, W]`` when a representation is
    included, else ``(events, sensor_size)``; given a tensor it runs the tensor stages only.
    """

    transforms: Sequence[Callable]
    stage: str = field(default="representation", init=False)

    def __post_init__(self) -> None:
        stages = [_stage(t) for t in self.transforms]
        order = [STAGES.index(s) for s in stages]
        if order != sorted(order):
            raise ArgumentError(
                f"Compose: stages must run events -> representation -> tensor, got {stages}"
            )
        if stages.count("representation") > 1:
            raise ArgumentError("Compose: at most one representation")
        self.stage = ("representation" if "representation" in stages
                      else stages[-1] if stages else "events")

    def __call__(self, data: Any, sensor_size: Any = None) -> Any:
        x, size = data, sensor_size
        for t in self.transforms:
            stage = t.stage
            if torch.is_tensor(x):
                if stage != "tensor":
                    raise ArgumentError(f"Compose: {t!r} needs events but got a tensor")
                x = t(x)
            elif stage == "events":
                if size is None:
                    raise ArgumentError(f"Compose: {t!r} needs the sensor size (W, H)")
                x, size = t(x, size)
            elif stage == "representation":
                x = t(x, size)
            else:
                raise ArgumentError(f"Compose: tensor transform {t!r} before a representation")
        return x if torch.is_tensor(x) else (x, size)


@dataclass
class RandomApply(SeededTransform):
    """Apply ``transform`` with probability ``p`` (any stage)."""

    transform: Callable = None  # type: ignore[assignment]
    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise ArgumentError(f"RandomApply: p must be in [0, 1], got {self.p}")
        self.stage = _stage(self.transform)

    def __call__(self, *args: Any) -> Any:
        if self.rng().random() < self.p:
            return self.transform(*args)
        return args[0] if len(args) == 1 else tuple(args)


def check_events(events: np.ndarray, size: SensorSize, who: str) -> np.ndarray:
    """Validate events entering an event transform (cheap checks, named errors)."""
    return validate_events(events, size, source=who)
