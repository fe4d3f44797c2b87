"""Soft Spiking Neuron (SSN), CS3D paper Sec. III-A, Eq. 1-2."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.neuron import functional as F
from snnfer.neuron.base import SpikingNeuron
from snnfer.neuron.surrogate import SurrogateFunction, get

__all__ = ["SoftSpikingNeuron", "make_surrogate"]

_RESETS = ("subtract", "zero", "none")


def make_surrogate(surrogate: str | SurrogateFunction, alpha: float | None) -> SurrogateFunction:
    """Surrogate module from a registry name (with steepness ``alpha``) or a module."""
    if isinstance(surrogate, SurrogateFunction):
        return surrogate
    return get(surrogate) if alpha is None else get(surrogate, alpha=alpha)


class SoftSpikingNeuron(SpikingNeuron):
    """Soft Spiking Neuron: passes the continuous value at/above threshold (CS3D Eq. 1).

    Stateless (``decay=None`` and ``tau=None``)::

        y = x * H(x - theta)                                     (Eq. 1)
        dy/dx = H(x - theta) + x * g'(x - theta)                 (Eq. 2, g' = sigmoid surrogate)

    It tends to ReLU as ``theta -> 0``. Stateful (``decay`` in [0, 1] or ``tau >= 1``,
    ``decay = 1 - 1/tau``)::

        u_t = decay * v_{t-1} + x_t;   y_t = u_t * H(u_t - theta)
        v_t = u_t - theta * H (reset "subtract") | u_t * (1 - H) ("zero") | u_t ("none")

    ``decay=0`` reproduces the stateless form exactly. ``learnable_threshold`` may be
    ``False``, ``True``/``"layer"`` (one scalar) or ``"channel"`` (one per channel; needs
    ``num_channels``; the channel is dim 1 of each time step, e.g. ``[T, B, C, H, W]``
    or CS3D's ``[B, C, T, H, W]`` with ``time_dim=2``). Any registered surrogate (or a
    surrogate module) replaces the sigmoid via ``surrogate=``; ``alpha`` is its steepness
    (``None``: the surrogate's default, 4 for the sigmoid).

    The default ``threshold=0.5`` is snnfer's choice (the paper gives no value).
    """

    state_names = ("v",)

    def __init__(
        self,
        threshold: float = 0.5,
        alpha: float | None = None,
        surrogate: str | SurrogateFunction = "sigmoid",
        decay: float | None = None,
        reset: str = "subtract",
        learnable_threshold: bool | str = False,
        time_dim: int = 0,
        *,
        tau: float | None = None,
        detach_reset: bool = False,
        num_channels: int | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__(step_mode=step_mode, time_dim=time_dim)
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ArgumentError(
                f"SoftSpikingNeuron: threshold must be a finite number, got {threshold!r}"
            )
        if reset not in _RESETS:
            raise ArgumentError(f"SoftSpikingNeuron: reset must be one of {_RESETS}, got {reset!r}")
        if decay is not None and tau is not None:
            raise ArgumentError("SoftSpikingNeuron: give decay or tau, not both")
        if tau is not None:
            if not isinstance(tau, (int, float)) or not tau >= 1.0:
                raise ArgumentError(f"SoftSpikingNeuron: tau must be >= 1, got {tau!r}")
            decay = 1.0 - 1.0 / tau
        if decay is not None and (not isinstance(decay, (int, float)) or not 0.0 <= decay <= 1.0):
            raise ArgumentError(f"SoftSpikingNeuron: decay must be in [0, 1], got {decay!r}")
        self.surrogate = make_surrogate(surrogate, alpha)
        self.decay = None if decay is None else float(decay)
        self.reset_mode = reset
        self.detach_reset = bool(detach_reset)
        self.channel_wise = False
        if learnable_threshold in (False, None):
            self.register_buffer("theta", None)
            self._theta_value = float(threshold)
        elif learnable_threshold in (True, "layer"):
            self.theta = nn.Parameter(torch.tensor(float(threshold)))
        elif learnable_threshold == "channel":
            if not isinstance(num_channels, int) or num_channels <= 0:
                raise ArgumentError(
                    "SoftSpikingNeuron: learnable_threshold='channel' needs num_channels=C "
                    f"(a positive int), got {num_channels!r}"
                )
            self.theta = nn.Parameter(torch.full((num_channels,), float(threshold)))
            self.channel_wise = True
        else:
            raise ArgumentError(
                "SoftSpikingNeuron: learnable_threshold must be False, True, 'layer' or "
                f"'channel', got {learnable_threshold!r}"
            )

    @property
    def stateful(self) -> bool:
        """True when the neuron keeps a membrane state across time steps."""
        return self.decay is not None

    @property
    def threshold(self) -> float | Tensor:
        """Current threshold (a float, or the learnable parameter)."""
        return self._theta_value if self.theta is None else self.theta

    def _params(self) -> F.NeuronParameters:
        reset = {"subtract": "subtract", "zero": "hard", "none": "none"}[self.reset_mode]
        return F.NeuronParameters(
            decay=self.decay or 0.0, reset=reset, v_reset=0.0, soft=True,
            detach_reset=self.detach_reset,
        )

    def _theta_for(self, x: Tensor, channel_dim: int) -> float | Tensor:
        """Threshold broadcastable against ``x`` whose channel axis is ``channel_dim``."""
        if self.theta is None:
            return self._theta_value
        theta = self.theta.to(x.dtype)
        if not self.channel_wise:
            return theta
        if x.dim() <= channel_dim or x.shape[channel_dim] != theta.numel():
            raise InputShapeError(
                f"SoftSpikingNeuron: per-channel threshold has {theta.numel()} channels but "
                f"input of shape {tuple(x.shape)} has "
                f"{x.shape[channel_dim] if x.dim() > channel_dim else 'no'} on dim {channel_dim}"
            )
        return theta.reshape((-1,) + (1,) * (x.dim() - channel_dim - 1))

    def forward(self, x: Tensor) -> Tensor:
        """See the class docstring; stateless inputs may have any layout."""
        if self.stateful:
            return super().forward(x)
        self._check_input(x)
        if self.step_mode == "s":
            channel_dim = 1
        else:
            td = self._time_dim_of(x)
            channel_dim = 2 if td <= 1 else 1
        return F.soft_threshold(x, self._theta_for(x, channel_dim), self.surrogate)

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """``x_seq`` is ``[T, B, ...]``; the membrane carries over between calls until reset."""
        x_seq = x_seq.contiguous()
        v = self._checked_state("v", x_seq[0])
        if v is None:
            v = torch.zeros_like(x_seq[0])
        theta = self._theta_for(x_seq, 2)
        y, self.v = F.multistep(x_seq, v, theta, self._params(), self.surrogate)
        return y

    def extra_repr(self) -> str:
        th = f"{self._theta_value:g}" if self.theta is None else (
            "learnable/channel" if self.channel_wise else "learnable")
        s = f"threshold={th}, surrogate={self.surrogate.name}(alpha={self.surrogate.alpha:g})"
        if self.stateful:
            s += f", decay={self.decay:g}, reset={self.reset_mode!r}"
            if self.detach_reset:
                s += ", detach_reset=True"
        return s + ", " + super().extra_repr()
