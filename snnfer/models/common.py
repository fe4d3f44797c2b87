"""What every snnfer clip classifier shares: presets, knob checks, input checks, reset.

Presets (``preset=`` of every factory; explicit knobs override them):

- ``"paper"`` (default): the configuration of the paper the model comes from, e.g.
  CS3D/C3D at ``T=16, C=3, 112 x 112`` with full widths and FC 4096;
- ``"small"``: ``C=2`` event frames at ``48 x 48``, a quarter of the widths and a small
  FC head, so a model trains on a 2-core CPU in minutes.

Every model exposes ``default_input_shape`` ``(T, C, H, W)`` (what it was built for),
``min_input_size`` ``(T, H, W)`` and ``preset``. Its ``forward`` checks the input
(:func:`snnfer.layers.check_clip`) and resets the state of every neuron
(:func:`snnfer.neuron.reset`) before running, because each call holds whole clips:
state never leaks from one batch into the next, whoever calls the model.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, UnknownNameError
from snnfer.fastpath.execution import check_mode
from snnfer.layers.validation import as_triple, check_clip, check_positive_int
from snnfer.neuron import reset

__all__ = [
    "ClipClassifier",
    "check_dropout",
    "check_input_size",
    "check_positive_int",
    "check_width_mult",
    "resolve_preset",
    "scaled",
]


def resolve_preset(model: str, preset: str, table: Mapping[str, Mapping[str, Any]],
                   overrides: Mapping[str, Any], accepted: Sequence[str]) -> dict[str, Any]:
    """The preset's settings with the non-``None`` ``overrides`` applied.

    Unknown preset names raise :class:`~snnfer.errors.UnknownNameError`; override keys
    outside ``accepted`` raise :class:`~snnfer.errors.ArgumentError` naming them.
    """
    if preset not in table:
        raise UnknownNameError(f"{model} preset", preset, list(table))
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ArgumentError(f"model {model!r} got unknown argument(s) {unknown}; "
                            f"accepted: {sorted(accepted)}")
    cfg = dict(table[preset])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


def check_width_mult(model: str, value: object) -> float:
    """A positive, finite width multiplier."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{model}: width_mult must be a positive number, got {value!r}")
    return float(value)


def check_dropout(model: str, value: object) -> float:
    """A dropout probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ArgumentError(f"{model}: dropout must be in [0, 1), got {value!r}")
    return float(value)


def check_input_size(model: str, value: object) -> tuple[int, int, int]:
    """``input_size`` as a ``(T, H, W)`` triple of positive ints."""
    return as_triple(model, "input_size", value, allow_int=False)


def scaled(widths: Sequence[int], width_mult: float) -> tuple[int, ...]:
    """Channel widths multiplied by ``width_mult`` (rounded, at least 1)."""
    return tuple(max(1, round(w * width_mult)) for w in widths)


class ClipClassifier(nn.Module, metaclass=abc.ABCMeta):
    """Base class: ``[B, T, C, H, W]`` clips in, logits ``[B, num_classes]`` out.

    Subclasses implement :meth:`forward_clips` on an input that has passed
    :meth:`check_input`; ``forward`` runs the check and resets every neuron first.
    """

    def __init__(self, *, arch: str, preset: str, num_classes: int, in_channels: int,
                 input_size: tuple[int, int, int],
                 min_input_size: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        self.arch = arch
        self.preset = preset
        self.num_classes = check_positive_int(arch, "num_classes", num_classes)
        self.in_channels = check_positive_int(arch, "in_channels", in_channels)
        t, h, w = input_size
        self.default_input_shape: tuple[int, int, int, int] = (t, in_channels, h, w)
        self.min_input_size = tuple(min_input_size)
        too_small = [f"{n}={v} < {m}" for n, v, m in zip("THW", input_size, min_input_size)
                     if v < m]
        if too_small:
            raise ArgumentError(f"{arch}: input_size {tuple(input_size)} is too small for the "
                                f"pooling stack ({', '.join(too_small)}); minimum (T, H, W) = "
                                f"{tuple(min_input_size)}")

    def extra_repr(self) -> str:
        return (f"arch={self.arch!r}, preset={self.preset!r}, "
                f"default_input_shape={self.default_input_shape}, num_classes={self.num_classes}")

    def check_input(self, x: Tensor) -> tuple[int, int, int]:
        """Validate ``x`` ``[B, T, C, H, W]``; return its ``(T, H, W)``."""
        return check_clip(x, owner=self.arch, channels=self.in_channels,
                          min_size=self.min_input_size)

    execution: str = "fast"
    """``"fast"`` (default), ``"reference"`` or ``"compile"``: see :meth:`set_execution`."""

    def set_execution(self, mode: str, **compile_kwargs: Any) -> ClipClassifier:
        """Choose the implementation (issue 7) and return the model.

        ``"fast"``: fused channels-last kernels wherever they compute exactly what the
        reference does (:mod:`snnfer.fastpath`); ``"reference"``: the plain module code;
        ``"compile"``: the module code on channels-last memory under ``torch.compile``
        (inductor fuses the element-wise chains; compiled on the first call, which takes
        minutes and needs a C++ compiler; the hand-fused autograd functions of the fast
        path are not traced); ``compile_kwargs`` go to ``torch.compile`` (e.g.
        ``backend="aot_eager"``, ``mode="max-autotune"``). Parameters and buffers are the
        same in every mode.
        """
        mode = check_mode(mode)
        if compile_kwargs and mode != "compile":
            raise ArgumentError(f"{self.arch}: compile options {sorted(compile_kwargs)} given "
                                f"with execution mode {mode!r}; they apply to 'compile' only")
        if mode == "compile" and self.__dict__.get("_compile_kwargs") != compile_kwargs:
            self.__dict__.pop("_compiled_forward", None)  # recompile with the new options
            self.__dict__["_compile_kwargs"] = dict(compile_kwargs)
        layer_mode = "fast" if mode == "fast" else "reference"
        for module in self.modules():
            if module is not self and hasattr(module, "execution"):
                module.execution = layer_mode
        self.execution = mode
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_compiled_forward", None)  # compiled code is rebuilt on first use
        return state

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]`` for clips ``x`` ``[B, T, C, H, W]``."""
        size = self.check_input(x)
        reset(self)
        if self.execution == "compile":
            compiled = self.__dict__.get("_compiled_forward")
            if compiled is None:
                compiled = torch.compile(self.forward_clips,
                                         **self.__dict__.get("_compile_kwargs", {}))
                self.__dict__["_compiled_forward"] = compiled
            return compiled(x, size)
        return self.forward_clips(x, size)

    @abc.abstractmethod
    def forward_clips(self, x: Tensor, size: tuple[int, int, int]) -> Tensor:
        """The model proper, on a checked input of clip size ``size`` ``(T, H, W)``."""
