"""Binary-spike LIF and IF neurons (spikingjelly-compatible dynamics)."""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

from snnfer.errors import ArgumentError
from snnfer.neuron import functional as F
from snnfer.neuron.base import SpikingNeuron
from snnfer.neuron.ssn import make_surrogate
from snnfer.neuron.surrogate import SurrogateFunction

__all__ = ["IFNode", "LIFNode"]


def _finite(owner: str, name: str, value: float | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArgumentError(f"{owner}: {name} must be a finite number, got {value!r}")


class _BinaryNeuron(SpikingNeuron):
    """Shared machinery: membrane ``v``, threshold, reset, surrogate."""

    state_names = ("v",)

    def __init__(self, v_threshold: float, v_reset: float | None,
                 surrogate: str | SurrogateFunction, alpha: float | None,
                 detach_reset: bool, time_dim: int, step_mode: str) -> None:
        super().__init__(step_mode=step_mode, time_dim=time_dim)
        owner = type(self).__name__
        _finite(owner, "v_threshold", v_threshold)
        _finite(owner, "v_reset", v_reset, allow_none=True)
        if v_reset is not None and v_reset >= v_threshold:
            raise ArgumentError(
                f"{owner}: v_reset ({v_reset}) must be below v_threshold ({v_threshold})"
            )
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate = make_surrogate(surrogate, alpha)
        self.detach_reset = bool(detach_reset)

    @abc.abstractmethod
    def _params(self) -> F.NeuronParameters:
        """Coefficients of the shared recurrence for this neuron type."""

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """``x_seq`` is ``[T, B, ...]``; returns binary spikes of the same shape."""
        x_seq = x_seq.contiguous()
        v = self._checked_state("v", x_seq[0])
        if v is None:
            v = torch.full_like(x_seq[0], self.v_reset or 0.0)
        y, self.v = F.multistep(x_seq, v, self.v_threshold, self._params(), self.surrogate)
        return y

    def extra_repr(self) -> str:
        return (f"v_threshold={self.v_threshold:g}, v_reset={self.v_reset}, "
                f"surrogate={self.surrogate.name}(alpha={self.surrogate.alpha:g}), "
                f"detach_reset={self.detach_reset}, " + super().extra_repr())


class LIFNode(_BinaryNeuron):
    """Leaky integrate-and-fire neuron with binary spikes (spikingjelly ``LIFNode`` dynamics).

    Charge (``decay_input=True``):  ``h_t = v_{t-1} + (x_t - (v_{t-1} - v_reset)) / tau``;
    (``decay_input=False``):        ``h_t = v_{t-1} - (v_{t-1} - v_reset) / tau + x_t``;
    fire ``s_t = H(h_t - v_threshold)``; reset hard to ``v_reset`` or, with
    ``v_reset=None``, soft by subtracting ``v_threshold`` (``v_reset`` taken as 0 in the
    charge). ``detach_reset`` stops the gradient through the reset.
    """

    def __init__(
        self,
        tau: float = 2.0,
        decay_input: bool = True,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: str | SurrogateFunction = "sigmoid",
        detach_reset: bool = False,
        time_dim: int = 0,
        *,
        alpha: float | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__(v_threshold, v_reset, surrogate, alpha, detach_reset, time_dim, step_mode)
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau >= 1.0 \
                or not math.isfinite(tau):
            raise ArgumentError(f"LIFNode: tau must be a finite number >= 1, got {tau!r}")
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def _params(self) -> F.NeuronParameters:
        vr = self.v_reset or 0.0
        return F.NeuronParameters(
            decay=1.0 - 1.0 / self.tau,
            input_scale=1.0 / self.tau if self.decay_input else 1.0,
            bias=vr / self.tau,
            reset="subtract" if self.v_reset is None else "hard",
            v_reset=vr,
            detach_reset=self.detach_reset,
        )

    def extra_repr(self) -> str:
        return f"tau={self.tau:g}, decay_input={self.decay_input}, " + super().extra_repr()


class IFNode(_BinaryNeuron):
    """Integrate-and-fire neuron: ``h_t = v_{t-1} + x_t``, then fire and reset as LIF."""

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: str | SurrogateFunction = "sigmoid",
        detach_reset: bool = False,
        time_dim: int = 0,
        *,
        alpha: float | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__(v_threshold, v_reset, surrogate, alpha, detach_reset, time_dim, step_mode)

    def _params(self) -> F.NeuronParameters:
        return F.NeuronParameters(
            decay=1.0, input_scale=1.0, bias=0.0,
            reset="subtract" if self.v_reset is None else "hard",
            v_reset=self.v_reset or 0.0, detach_reset=self.detach_reset,
        )
