"""Model inputs for the energy tools: validation, calling convention, inference context.

Every snnfer model takes ``[B, T, C, H, W]``; two-modality models declare
``model.modalities`` (e.g. ``("event", "rgb")``) and take one such tensor per modality as
keyword arguments. The energy tools accept either form and run the model in eval mode
under ``torch.no_grad()`` with freshly reset neuron state, restoring the previous mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError
from snnfer.neuron import reset

__all__ = [
    "INPUT_KINDS",
    "ModelInputs",
    "as_model_inputs",
    "example_inputs",
    "inference",
    "parse_input_shape",
]

INPUT_KINDS = ("uniform", "events")


@dataclass(frozen=True)
class ModelInputs:
    """Positional and keyword arguments for ``model(*args, **kwargs)`` plus the batch size."""

    args: tuple[Tensor, ...]
    kwargs: dict[str, Tensor]
    batch_size: int

    def tensors(self) -> list[Tensor]:
        """Every input tensor."""
        return [*self.args, *self.kwargs.values()]

    def call(self, model: nn.Module) -> Any:
        """``model(*args, **kwargs)``."""
        return model(*self.args, **self.kwargs)


def _model_modalities(model: nn.Module) -> tuple[str, ...]:
    modalities = getattr(model, "modalities", None)
    if modalities is None:
        return ()
    if isinstance(modalities, str) or not isinstance(modalities, Sequence):
        raise ArgumentError(
            f"{type(model).__name__}.modalities must be a tuple of names, got {modalities!r}"
        )
    return tuple(modalities)


def _check_tensor(label: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise InputDtypeError(
            f"{label}: expected a torch.Tensor [B, T, C, H, W], got {type(x).__name__}"
        )
    if x.dim() != 5:
        raise InputShapeError(
            f"{label}: expected a 5-D tensor [B, T, C, H, W], got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise InputDtypeError(
            f"{label}: dtype {x.dtype} is not supported; expected a floating dtype "
            "(cast with x.float())"
        )
    if x.shape[0] == 0:
        raise InputShapeError(f"{label}: batch dimension is empty, shape {tuple(x.shape)}")
    return x


def as_model_inputs(model: nn.Module, inputs: Tensor | Mapping[str, Tensor]) -> ModelInputs:
    """Validate ``inputs`` for ``model``: a tensor ``[B, T, C, H, W]`` or, for a model with
    ``modalities``, a dict modality -> tensor (all with the same batch size)."""
    modalities = _model_modalities(model)
    if isinstance(inputs, Mapping):
        if not modalities:
            raise ArgumentError(
                f"{type(model).__name__} declares no modalities; pass one tensor "
                f"[B, T, C, H, W] instead of a dict with keys {sorted(inputs)}"
            )
        missing = [m for m in modalities if m not in inputs]
        unknown = sorted(set(inputs) - set(modalities))
        if missing or unknown:
            raise ArgumentError(
                f"inputs for {type(model).__name__} must have exactly the keys {list(modalities)}"
                f"; missing {missing}, unexpected {unknown}"
            )
        kwargs = {m: _check_tensor(f"inputs[{m!r}]", inputs[m]) for m in modalities}
        batches = {m: x.shape[0] for m, x in kwargs.items()}
        if len(set(batches.values())) != 1:
            raise InputShapeError(f"modalities have different batch sizes: {batches}")
        return ModelInputs((), kwargs, next(iter(batches.values())))
    if len(modalities) > 1:
        raise ArgumentError(
            f"{type(model).__name__} takes the modalities {list(modalities)}; pass a dict "
            "modality -> tensor [B, T, C, H, W]"
        )
    x = _check_tensor("inputs", inputs)
    if modalities:
        return ModelInputs((), {modalities[0]: x}, x.shape[0])
    return ModelInputs((x,), {}, x.shape[0])


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode, ``torch.no_grad()``, neuron state reset on entry and exit; restores the
    previous train/eval mode."""
    was_training = model.training
    model.eval()
    reset(model)
    try:
        with torch.no_grad():
            yield model
    finally:
        reset(model)
        model.train(was_training)


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """Parse the paper's ``C x T x H x W`` notation (``"3x16x112x112"``) into ``(T, C, H, W)``."""
    parts = [p.strip() for p in str(text).lower().replace("*", "x").split("x")]
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) != 4 or min(dims) < 1:
        raise ArgumentError(
            f"input shape must be C x T x H x W with positive integers, e.g. 3x16x112x112; "
            f"got {text!r}"
        )
    c, t, h, w = dims
    return t, c, h, w


def _draw(shape: tuple[int, ...], kind: str, generator: torch.Generator) -> Tensor:
    if kind == "uniform":
        return torch.rand(shape, generator=generator)
    return (torch.rand(shape, generator=generator) < 0.1).float()


def example_inputs(
    model: nn.Module,
    shape: tuple[int, int, int, int] | Mapping[str, tuple[int, int, int, int]] | None = None,
    batch_size: int = 1,
    kind: str = "uniform",
    seed: int = 0,
) -> Tensor | dict[str, Tensor]:
    """A seeded example input for ``model``: ``[batch_size, T, C, H, W]`` (one per modality).

    ``shape`` is ``(T, C, H, W)`` (default ``model.default_input_shape``; a mapping gives one
    shape per modality). ``kind="uniform"``: dense U[0, 1) frames; ``"events"``: binary event
    frames with 10% of the pixels active.
    """
    if kind not in INPUT_KINDS:
        raise ArgumentError(f"input kind must be one of {INPUT_KINDS}, got {kind!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    if shape is None:
        shape = getattr(model, "default_input_shape", None)
        if shape is None:
            raise ArgumentError(
                f"{type(model).__name__} has no default_input_shape; pass shape=(T, C, H, W)"
            )
    generator = torch.Generator().manual_seed(seed)
    modalities = _model_modalities(model)
    if not modalities:
        if isinstance(shape, Mapping):
            raise ArgumentError("a per-modality shape mapping needs a model with modalities")
        return _draw((batch_size, *tuple(shape)), kind, generator)
    shapes = shape if isinstance(shape, Mapping) else dict.fromkeys(modalities, shape)
    missing = [m for m in modalities if m not in shapes]
    if missing:
        raise ArgumentError(f"shape mapping lacks the modalities {missing}")
    return {m: _draw((batch_size, *tuple(shapes[m])), kind, generator) for m in modalities}
