"""Element-wise work of the fast path: activations and BatchNorm, fused in cache-sized chunks.

Eager PyTorch runs one memory pass per operation. At CS3D's first block a batch of 4
clips holds 205 MB per activation tensor, so the element-wise chains around the
convolutions (BatchNorm, soft spiking neuron, their gradients and statistics) would
cost more than the convolutions themselves. Here each chain runs over row chunks of
``[N, C]`` views (about 1 MB per operand, resident in cache), so a chain reads and
writes each full-size operand once.

Activations: the soft spiking neuron (CS3D Eq. 1-2, stateless, fixed threshold) and
ReLU. ``y = x * H(x - theta)`` is ``torch.threshold(x, below(theta), 0)`` with
``below(theta)`` the largest value under ``theta`` in ``x``'s dtype (so ``x >= theta``
keeps ``x``, as ``H(0) = 1``); its gradient is computed with the same operations, in
the same order, as :func:`snnfer.neuron.functional.soft_threshold`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.neuron import SoftSpikingNeuron

__all__ = ["Activation", "BNAffine", "activation_of", "bn_affine", "bn_grad_apply",
           "act_forward", "act_grad", "act_apply", "column_sums", "uses_batch_stats"]

CHUNK_ELEMENTS = int(os.environ.get('SNNFER_CHUNK', 1 << 18))
"""Elements per operand and chunk (1 MB in float32)."""


def _chunks(n_rows: int, n_cols: int) -> Iterator[slice]:
    step = max(1, CHUNK_ELEMENTS // max(n_cols, 1))
    for i in range(0, n_rows, step):
        yield slice(i, min(i + step, n_rows))


def _scratch(like: Tensor, n: int = 1) -> list[Tensor]:
    rows = min(like.shape[0], max(1, CHUNK_ELEMENTS // max(like.shape[1], 1)))
    return [torch.empty(rows, like.shape[1], dtype=like.dtype, device=like.device)
            for _ in range(n)]


# -- activations ---------------------------------------------------------------------
@dataclass(frozen=True)
class Activation:
    """An activation the fast path fuses: ``"ssn"`` (threshold, surrogate) or ``"relu"``."""

    kind: str
    theta: float = 0.0
    surrogate: Any = None

    def below(self, dtype: torch.dtype) -> float:
        """Largest ``dtype`` value under ``theta`` (``x > below`` <=> ``x >= theta``)."""
        t = torch.tensor(self.theta, dtype=dtype)
        return torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype)).item()


def activation_of(module: nn.Module) -> Activation | None:
    """The fusable description of ``module``, or ``None`` when the fast path must call it
    (stateful or learnable-threshold neurons, other libraries' neurons, ...)."""
    if type(module) is nn.ReLU:
        return Activation("relu")
    if (type(module) is SoftSpikingNeuron and not module.stateful and module.theta is None
            and not module._forward_hooks and not module._forward_pre_hooks):
        return Activation("ssn", float(module._theta_value), module.surrogate)
    return None


def act_forward(x: Tensor, act: Activation, out: Tensor | None = None) -> Tensor:
    """``act(x)`` into ``out`` (``out=x`` for in place), no autograd."""
    if out is None:
        out = torch.empty_like(x)
    if act.kind == "relu":
        return torch.clamp_min(x, 0.0, out=out)
    return torch.threshold(x, act.below(x.dtype), 0.0, out=out)


def act_apply(u: Tensor, scale: Tensor, shift: Tensor, act: Activation, out: Tensor) -> Tensor:
    """``out = act(u * scale + shift)`` over rows ``[N, C]`` (per-column affine), one pass."""
    below = act.below(u.dtype)
    for s in _chunks(*u.shape):
        oc = torch.addcmul(shift, u[s], scale, out=out[s])
        if act.kind == "relu":
            oc.clamp_min_(0.0)
        else:
            torch.threshold(oc, below, 0.0, out=oc)
    return out


def act_grad(x: Tensor, grad: Tensor, act: Activation, out: Tensor, *,
             affine: tuple[Tensor, Tensor] | None = None,
             sums_of: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor] | None:
    """``out = grad * act'(x)`` over rows ``[N, C]`` (``out`` may be ``grad``).

    ``affine=(scale, shift)``: the pre-activation is ``x * scale + shift`` (recomputed
    per chunk). ``sums_of=(u, mean)``: also return the BatchNorm backward sums
    ``(sum(out), sum(out * (u - mean)))`` per column, accumulated while the chunk of
    ``out`` is in cache (float64 accumulators).
    """
    t0, t1, t2 = _scratch(x, 3)
    c = x.shape[1]
    s_g = torch.zeros(c, dtype=torch.float64, device=x.device) if sums_of else None
    s_gx = torch.zeros_like(s_g) if sums_of else None
    theta = act.theta
    for s in _chunks(*x.shape):
        n = s.stop - s.start
        xc, gc, oc = x[s], grad[s], out[s]
        a, b, m = t0[:n], t1[:n], t2[:n]
        if affine is not None:
            xc = torch.addcmul(affine[1], xc, affine[0], out=a)
        if act.kind == "relu":
            torch.mul(gc, torch.gt(xc, 0.0, out=m), out=oc)
        else:  # (H(x - theta) + x g'(x - theta)) * grad, as snnfer.neuron.functional
            act.surrogate.derivative_(torch.sub(xc, theta, out=b)).mul_(xc)
            b.add_(torch.ge(xc, theta, out=m))
            torch.mul(b, gc, out=oc)
        if sums_of is not None:
            u, mean = sums_of
            s_g += oc.sum(0)
            s_gx += torch.sub(u[s], mean, out=b).mul_(oc).sum(0)
    return (s_g, s_gx) if sums_of is not None else None


def column_sums(grad: Tensor, u: Tensor, mean: Tensor) -> tuple[Tensor, Tensor]:
    """``(sum(grad), sum(grad * (u - mean)))`` per column of rows ``[N, C]``."""
    (t,) = _scratch(u, 1)
    s_g = torch.zeros(u.shape[1], dtype=torch.float64, device=u.device)
    s_gx = torch.zeros_like(s_g)
    for s in _chunks(*u.shape):
        gc = grad[s]
        s_g += gc.sum(0)
        s_gx += torch.sub(u[s], mean, out=t[: gc.shape[0]]).mul_(gc).sum(0)
    return s_g, s_gx


# -- BatchNorm -----------------------------------------------------------------------
@dataclass
class BNAffine:
    """BatchNorm as a per-channel affine ``y = u * scale + shift`` (``mean``, ``invstd``:
    the statistics used; ``batch``: computed from this batch)."""

    scale: Tensor
    shift: Tensor
    mean: Tensor
    invstd: Tensor
    gamma: Tensor
    batch: bool
    count: int


def _column_stats(u: Tensor) -> tuple[Tensor, Tensor]:
    """Per-column mean and biased variance of rows ``[N, C]`` in one chunked pass (sums
    shifted by the first chunk's mean, float64 accumulators)."""
    n, c = u.shape
    (t,) = _scratch(u, 1)
    pilot = u[: t.shape[0]].mean(0)
    s1 = torch.zeros(c, dtype=torch.float64, device=u.device)
    s2 = torch.zeros_like(s1)
    for s in _chunks(n, c):
        d = torch.sub(u[s], pilot, out=t[: s.stop - s.start])
        s1 += d.sum(0)
        s2 += d.mul_(d).sum(0)
    m = s1 / n
    return pilot.double() + m, (s2 / n - m * m).clamp_min_(0.0)


def uses_batch_stats(bn: nn.Module) -> bool:
    """True when ``bn`` normalises with the statistics of the batch (PyTorch's rule)."""
    return bn.training or bn.running_mean is None


def bn_affine(bn: nn.Module, u: Tensor | None, dtype: torch.dtype) -> BNAffine:
    """The affine ``bn`` applies to rows ``u`` ``[N, C]``, with PyTorch's semantics: batch
    statistics in training (and running statistics updated in place, momentum or
    cumulative average) or when no running statistics exist; running statistics in eval
    (``u`` may then be ``None``). ``dtype``: of the returned scale and shift."""
    batch = uses_batch_stats(bn)
    if batch:
        mean, var = _column_stats(u)
        if bn.training and bn.track_running_stats and bn.running_mean is not None:
            factor = 0.0 if bn.momentum is None else bn.momentum
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:
                    factor = 1.0 / float(bn.num_batches_tracked)
            n = u.shape[0]
            bn.running_mean.mul_(1 - factor).add_((mean * factor).to(bn.running_mean.dtype))
            bn.running_var.mul_(1 - factor).add_(
                (var * (factor * n / (n - 1))).to(bn.running_var.dtype))
    else:
        mean, var = bn.running_mean.double(), bn.running_var.double()
    invstd = (var + bn.eps).rsqrt()
    c = mean.shape[0]
    gamma = bn.weight.double() if bn.weight is not None else torch.ones(c, dtype=torch.float64)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros(c, dtype=torch.float64)
    scale = gamma * invstd
    shift = beta - mean * scale
    count = u.shape[0] if u is not None else 0
    return BNAffine(scale.to(dtype), shift.to(dtype), mean.to(dtype), invstd, gamma, batch,
                    count)


def bn_grad_apply(aff: BNAffine, grad: Tensor, u: Tensor, sums: tuple[Tensor, Tensor],
                  out: Tensor) -> tuple[Tensor, Tensor]:
    """BatchNorm backward over rows: ``out = dL/du`` from ``grad = dL/dy`` (``out`` may be
    ``grad`` or ``u``); returns ``(dL/dgamma, dL/dbeta)`` in float64.

    Batch statistics: ``du = gamma invstd (g - mean(g) - xhat mean(g xhat))``; running
    statistics: ``du = gamma invstd g``.
    """
    s_g, s_gx = sums
    g_gamma, g_beta = s_gx * aff.invstd, s_g
    k1 = aff.gamma * aff.invstd
    dtype = grad.dtype
    if not aff.batch:
        torch.mul(grad, k1.to(dtype), out=out)
        return g_gamma, g_beta
    n = aff.count
    k2 = (-k1 * aff.invstd * aff.invstd * s_gx / n).to(dtype)  # times (u - mean)
    k3 = (-k1 * s_g / n).to(dtype)
    k1 = k1.to(dtype)
    (t,) = _scratch(u, 1)
    for s in _chunks(*u.shape):
        tc = torch.sub(u[s], aff.mean, out=t[: s.stop - s.start]).mul_(k2).add_(k3)
        torch.addcmul(tc, grad[s], k1, out=out[s])
    return g_gamma, g_beta
