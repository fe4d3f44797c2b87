"""Activations of the fast path: forward in one pass, gradient fused in small chunks.

Fusable activations: the soft spiking neuron (CS3D Eq. 1-2; stateless, fixed threshold)
and ReLU. ``y = x * H(x - theta)`` is ``torch.threshold(x, below(theta), 0)`` with
``below(theta)`` the largest value under ``theta`` in ``x``'s dtype (``x >= theta`` keeps
``x``, as ``H(0) = 1``).

The gradient ``g * (H(x - theta) + x g'(x - theta))`` is a chain of 6-9 element-wise
operations. Eager PyTorch runs one memory pass per operation, so the chain runs over
row chunks of fewer than 32768 elements: each chunk stays in L1/L2, and each operation
on it runs inline on the calling thread (below ATen's parallel grain size). That avoids
an OpenMP barrier per operation -- on a shared, oversubscribed CPU each barrier can wait
for a descheduled worker for a whole time slice, which made the same chain 5-10x slower
in 2-thread runs here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.neuron import SoftSpikingNeuron
from snnfer.neuron.surrogate import Sigmoid

__all__ = ["CHUNK_ELEMENTS", "Activation", "act_derivative_", "act_forward", "act_grad",
           "activation_of"]

CHUNK_ELEMENTS = 32767
"""Elements per chunk: below ATen's grain size (32768), so chunk operations run inline."""

_threshold_backward = torch.ops.aten.threshold_backward.grad_input
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input


@dataclass(frozen=True)
class Activation:
    """An activation the fast path fuses: ``"ssn"`` (threshold, surrogate) or ``"relu"``."""

    kind: str
    theta: float = 0.0
    surrogate: Any = None

    @property
    def monotone(self) -> bool:
        """Non-decreasing (ReLU; SSN with ``theta >= 0``): then ``max(act(x)) ==
        act(max(x))`` and inference may pool before the activation."""
        return self.kind == "relu" or self.theta >= 0

    def below(self, dtype: torch.dtype) -> float:
        """Largest ``dtype`` value under ``theta`` (``x > below`` <=> ``x >= theta``)."""
        return _below(self.theta, dtype)


@functools.lru_cache(maxsize=256)
def _below(theta: float, dtype: torch.dtype) -> float:
    """:meth:`Activation.below`, computed once per (threshold, dtype) rather than at every
    neuron call (two small tensors and a ``nextafter`` each time)."""
    t = torch.tensor(theta, dtype=dtype)
    return torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype)).item()


def activation_of(module: nn.Module) -> Activation | None:
    """The fusable description of ``module``, or ``None`` when the fast path must call it
    (stateful or learnable-threshold neurons, other libraries' neurons, ...)."""
    if type(module) is nn.ReLU:
        return Activation("relu")
    if type(module) is SoftSpikingNeuron and not module.stateful and module.theta is None:
        return Activation("ssn", float(module._theta_value), module.surrogate)
    return None


def act_forward(x: Tensor, act: Activation, out: Tensor | None = None) -> Tensor:
    """``act(x)`` into ``out`` (``out=x`` for in place), no autograd."""
    if out is None:
        out = torch.empty_like(x)
    if act.kind == "relu":
        return torch.clamp_min(x, 0.0, out=out)
    return torch.threshold(x, act.below(x.dtype), 0.0, out=out)


def act_grad(x: Tensor, grad: Tensor, act: Activation, out: Tensor, *,
             column_sum: bool = False) -> Tensor | None:
    """``out = grad * act'(x)`` over rows ``[N, C]`` (``out`` may alias ``x`` or ``grad``).

    With ``column_sum`` also returns ``sum_n out[n]`` (float64, ``[C]``).
    """
    n, c = x.shape
    step = max(1, CHUNK_ELEMENTS // max(c, 1))
    t0 = torch.empty(min(n, step), c, dtype=x.dtype, device=x.device)
    t1 = torch.empty_like(t0)
    below = act.below(x.dtype) if act.kind == "ssn" else 0.0
    sigmoid = act.kind == "ssn" and type(act.surrogate) is Sigmoid
    if sigmoid:
        alpha = act.surrogate.alpha
        offset = torch.tensor(-alpha * act.theta, dtype=x.dtype)
    for xc, gc, oc in zip(x.split(step), grad.split(step), out.split(step)):
        m = xc.shape[0]
        a, b = (t0, t1) if m == step else (t0[:m], t1[:m])
        if act.kind == "relu":
            _threshold_backward(gc, xc, 0.0, grad_input=oc)
        elif sigmoid:  # g H + alpha x g s (1 - s),  s = sigmoid(alpha (x - theta))
            torch.add(offset, xc, alpha=alpha, out=a).sigmoid_()
            _sigmoid_backward(torch.mul(xc, gc, out=b), a, grad_input=a)
            _threshold_backward(gc, xc, below, grad_input=oc).add_(a, alpha=alpha)
        else:  # g H + g x g'(x - theta)
            act.surrogate.derivative_(torch.sub(xc, act.theta, out=a)).mul_(xc).mul_(gc)
            _threshold_backward(gc, xc, below, grad_input=oc).add_(a)
    # one vectorised pass beats a per-chunk sum (whose call overhead exceeds the traffic)
    return out.sum(0).double() if column_sum else None


def act_derivative_(x: Tensor, act: Activation) -> Tensor:
    """Overwrite rows ``x`` ``[N, C]`` with ``act'(x)`` (``H(x - theta) + x g'(x -
    theta)``; ReLU: ``H(x)`` with ``H(0) = 0``), chunk by chunk; returns ``x``.

    Lets a backward pass drop the pre-activation before the gradient it multiplies
    exists (one full-size buffer less at the peak).
    """
    n, c = x.shape
    step = max(1, CHUNK_ELEMENTS // max(c, 1))
    t0 = torch.empty(min(n, step), c, dtype=x.dtype, device=x.device)
    t1 = torch.empty_like(t0)
    sigmoid = act.kind == "ssn" and type(act.surrogate) is Sigmoid
    if sigmoid:
        alpha = act.surrogate.alpha
        offset = torch.tensor(-alpha * act.theta, dtype=x.dtype)
    for xc in x.split(step):
        m = xc.shape[0]
        a, b = (t0, t1) if m == step else (t0[:m], t1[:m])
        if act.kind == "relu":
            torch.gt(xc, 0.0, out=xc)
            continue
        if sigmoid:  # alpha x s (1 - s)
            torch.add(offset, xc, alpha=alpha, out=a).sigmoid_()
            _sigmoid_backward(torch.mul(xc, alpha, out=b), a, grad_input=a)
        else:
            act.surrogate.derivative_(torch.sub(xc, act.theta, out=a)).mul_(xc)
        torch.ge(xc, act.theta, out=xc).add_(a)
    return x
