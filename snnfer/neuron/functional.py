"""Pure neuron dynamics with fused, memory-lean autograd.

One recurrence covers every stateful snnfer neuron (Norse style: typed parameters,
explicit state, no module)::

    h_t = a * v_{t-1} + b * x_t + c          (charge)
    s_t = H(h_t - theta)                      (fire; H(0) = 1)
    y_t = s_t              (binary spike: LIF, IF)
        = h_t * s_t        (soft spike: SSN, CS3D Eq. 1)
    v_t = h_t - theta * s_t                   (reset "subtract")
        = h_t + (v_reset - h_t) * s_t         (reset "hard"; "zero" is v_reset = 0)
        = h_t                                 (reset "none")

``a, b, c`` come from the neuron: LIF with ``decay_input`` is ``a = 1 - 1/tau,
b = 1/tau, c = v_reset/tau`` (spikingjelly's discretisation), IF is ``a = b = 1``,
the stateful SSN is ``a = decay, b = 1``.

:func:`multistep` runs all T steps inside one ``torch.autograd.Function``: the forward
loop builds no autograd graph, needs only per-step scratch buffers and saves only its
input; the backward recomputes the membrane into the buffer that becomes the input
gradient, then walks time in reverse, computing the spike mask and ``g'(h - theta)``
per step and overwriting ``h_t`` with ``dL/dh_t``. The stateless SSN
(:func:`soft_threshold`) is a single elementwise function that also saves only
its input.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnfer.neuron.surrogate import SurrogateFunction

__all__ = ["NeuronParameters", "multistep", "soft_threshold", "step"]

Threshold = float | Tensor


class NeuronParameters(NamedTuple):
    """Coefficients of the shared recurrence (see the module docstring)."""

    decay: float = 0.0
    input_scale: float = 1.0
    bias: float = 0.0
    reset: str = "subtract"  # "subtract" | "hard" | "none"
    v_reset: float = 0.0
    soft: bool = False
    detach_reset: bool = False


def _reduce_to(grad: Tensor, like: Tensor) -> Tensor:
    """Sum ``grad`` over the dimensions that were broadcast to produce it from ``like``."""
    if grad.shape == like.shape:
        return grad
    lead = grad.dim() - like.dim()
    dims = list(range(lead)) + [
        lead + i for i, n in enumerate(like.shape) if n == 1 and grad.shape[lead + i] != 1
    ]
    return grad.sum(dim=dims, keepdim=True).reshape(like.shape) if dims else grad


def _fire_(out: Tensor, h: Tensor, theta: Threshold) -> Tensor:
    """``out = H(h - theta)`` as floats (``>=``)."""
    return torch.ge(h, theta, out=out)


def _charge_and_fire(x: Tensor, v0: Tensor, theta: Threshold, p: NeuronParameters,
                     h_out: Tensor | None, y_out: Tensor | None) -> Tensor:
    """Run the recurrence forward; write h_t into ``h_out`` and y_t into ``y_out`` if given.

    Returns the final state v_T. Needs only per-step scratch buffers.
    """
    a, b, c = p.decay, p.input_scale, p.bias
    step = lambda: torch.empty_like(x[0], memory_format=torch.contiguous_format)  # noqa: E731
    hbuf = None if h_out is not None else (step(), step())
    sbuf = step() if (y_out is None or p.soft) else None
    vbuf = (step(), step())  # ping-pong state buffers
    v = v0
    for t in range(x.shape[0]):
        ht = h_out[t] if h_out is not None else hbuf[t % 2]
        st = sbuf if sbuf is not None else y_out[t]
        vn = vbuf[t % 2]
        if b != 1.0:
            torch.mul(x[t], b, out=ht).add_(v, alpha=a)
        else:
            torch.add(x[t], v, alpha=a, out=ht)
        if c != 0.0:
            ht.add_(c)
        _fire_(st, ht, theta)
        if p.reset == "subtract":
            if isinstance(theta, Tensor):
                v = torch.addcmul(ht, st, theta, value=-1.0, out=vn)
            else:
                v = torch.sub(ht, st, alpha=theta, out=vn)
        elif p.reset == "hard":
            if p.v_reset == 0.0:
                v = torch.addcmul(ht, ht, st, value=-1.0, out=vn)
            else:  # h - (h - v_reset) * s
                v = torch.sub(ht, torch.sub(ht, p.v_reset, out=vn).mul_(st), out=vn)
        else:
            v = torch.clone(ht) if h_out is not None else vn.copy_(ht)
        if y_out is not None and p.soft:
            torch.mul(st, ht, out=y_out[t])
    return v


class _MultiStep(torch.autograd.Function):
    """Saves the input (not the membrane); backward recomputes h, then runs in reverse.

    Saving the input costs the same as saving h when nothing else holds the input, and
    nothing when something does; the forward needs only per-step scratch buffers.
    """

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, theta: Threshold, p: NeuronParameters,
                sg: SurrogateFunction):
        y = torch.empty_like(x, memory_format=torch.contiguous_format)
        v = _charge_and_fire(x, v0, theta, p, h_out=None, y_out=y)
        theta_t = theta if isinstance(theta, Tensor) else None
        ctx.save_for_backward(x, v0, theta_t)
        ctx.theta_float = None if theta_t is not None else float(theta)
        ctx.p, ctx.sg = p, sg
        ctx.set_materialize_grads(False)
        return y, v

    @staticmethod
    def backward(ctx, gy: Tensor | None, gv_last: Tensor | None):
        x, v0, theta_t = ctx.saved_tensors
        theta = theta_t if theta_t is not None else ctx.theta_float
        p, sg_fn = ctx.p, ctx.sg
        a, T = p.decay, x.shape[0]
        want_theta = theta_t is not None and ctx.needs_input_grad[2]
        nd = not p.detach_reset
        if gy is None:
            gy = torch.zeros_like(x)
        # recompute the membrane: G[t] holds h_t until step t of the reverse loop
        # overwrites it with dL/dh_t
        G = torch.empty_like(x, memory_format=torch.contiguous_format)
        _charge_and_fire(x.detach(), v0.detach(), theta, p, h_out=G, y_out=None)
        step_buf = lambda: torch.empty_like(G[0])  # noqa: E731
        sgt = step_buf()
        mt = step_buf() if (p.soft or want_theta) else None
        has_E = (p.reset == "subtract" and nd) or p.reset == "hard"
        Et = step_buf() if has_E else None
        g_theta = None
        for t in range(T - 1, -1, -1):
            gt, gyt = G[t], gy[t]
            ht = gt  # h_t, overwritten last
            sg_fn.derivative_(torch.sub(ht, theta, out=sgt))  # g'(h_t - theta)
            # gradient arriving at v_t: scale * src  (gv_t = a * gh_{t+1}; gv_last at T-1)
            src, scale = (gv_last, 1.0) if t == T - 1 else (G[t + 1], a)
            flows = src is not None and scale != 0.0
            if mt is not None:
                torch.ge(ht, theta, out=mt)
            if flows and has_E:  # E_t = dv_t/dh_t
                if p.reset == "subtract":
                    torch.mul(sgt, -theta, out=Et).add_(1.0)
                else:
                    torch.lt(ht, theta, out=Et)  # 1 - H
                    if nd:
                        Et.addcmul_(ht, sgt, value=-1.0)
                        if p.v_reset != 0.0:
                            Et.add_(sgt, alpha=p.v_reset)
            if want_theta:
                g_theta = _theta_step_grad(g_theta, theta_t, ht, sgt, mt, gyt,
                                           src if flows else None, scale, p, theta)
            # gh_t = gy_t * dy_t/dh_t + E_t * gv_t   (binary: g';  soft: H + h g')
            if p.soft:
                gt.mul_(sgt).add_(mt).mul_(gyt)
            else:
                torch.mul(sgt, gyt, out=gt)
            if flows:
                if Et is None:
                    gt.add_(src, alpha=scale)
                else:
                    gt.addcmul_(Et, src, value=scale)
        gv0 = G[0] * a if ctx.needs_input_grad[1] else None
        gx = G.mul_(p.input_scale) if p.input_scale != 1.0 else G
        return gx, gv0, g_theta, None, None


def _theta_step_grad(acc, theta_t, ht, sgt, mt, gyt, src, scale, p, theta):
    """Add step t's contribution to dL/dtheta (learnable thresholds only)."""
    # dy/dtheta = -g' (binary) or -h g' (soft)
    contrib = (torch.mul(ht, sgt) if p.soft else sgt.clone()).neg_().mul_(gyt)
    if src is not None:
        nd = not p.detach_reset
        if p.reset == "subtract":  # dv/dtheta = -H + theta g' (nd)
            dv = torch.mul(sgt, theta).sub_(mt) if nd else mt.neg()
        elif p.reset == "hard" and nd:  # dv/dtheta = (h - v_reset) g'
            dv = torch.sub(ht, p.v_reset).mul_(sgt)
        else:
            dv = None
        if dv is not None:
            contrib.addcmul_(dv, src, value=scale)
    step = _reduce_to(contrib, theta_t)
    return step if acc is None else acc.add_(step)


def multistep(
    x: Tensor, v0: Tensor, theta: Threshold, params: NeuronParameters, surrogate: SurrogateFunction
) -> tuple[Tensor, Tensor]:
    """Run the recurrence over ``x`` of shape ``[T, ...]`` from state ``v0``.

    Returns ``(y [T, ...], v_T)``. ``theta`` is a float or a tensor broadcastable to one
    time step (learnable thresholds get a gradient).
    """
    return _MultiStep.apply(x, v0, theta, params, surrogate)


def step(
    x: Tensor, v: Tensor, theta: Threshold, params: NeuronParameters, surrogate: SurrogateFunction
) -> tuple[Tensor, Tensor]:
    """One time step of the recurrence: ``x`` is ``[B, ...]``; returns ``(y, v)``."""
    y, v = _MultiStep.apply(x.unsqueeze(0), v, theta, params, surrogate)
    return y[0], v


_CHUNK = 1 << 18  # elements per backward chunk of the stateless SSN


class _SoftThreshold(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, theta: Threshold, sg: SurrogateFunction) -> Tensor:
        y = torch.ge(x, theta, out=torch.empty_like(x))
        y.mul_(x)
        theta_t = theta if isinstance(theta, Tensor) else None
        ctx.save_for_backward(x, theta_t)
        ctx.theta_float = None if theta_t is not None else float(theta)
        ctx.sg = sg
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        x, theta_t = ctx.saved_tensors
        theta = theta_t if theta_t is not None else ctx.theta_float
        if theta_t is not None:  # learnable threshold: whole-tensor path
            xsg = ctx.sg.derivative_(torch.sub(x, theta)).mul_(x)  # x g'(x - theta)
            g_theta = _reduce_to(-(g * xsg), theta_t) if ctx.needs_input_grad[1] else None
            gx = xsg.add_(torch.ge(x, theta, out=torch.empty_like(x))).mul_(g)
            return gx, g_theta, None
        # fixed threshold: dy/dx = H(x - theta) + x g'(x - theta), chunk by chunk so the
        # only full-size allocation is the returned gradient
        gx = torch.empty_like(x, memory_format=torch.contiguous_format)
        xf, gf, of = x.reshape(-1), g.reshape(-1), gx.view(-1)
        n = xf.numel()
        tmp = torch.empty(min(n, _CHUNK), dtype=x.dtype, device=x.device)
        for i in range(0, n, _CHUNK):
            xc, oc = xf[i:i + _CHUNK], of[i:i + _CHUNK]
            tc = tmp[: xc.numel()]
            ctx.sg.derivative_(torch.sub(xc, theta, out=oc)).mul_(xc)
            oc.add_(torch.ge(xc, theta, out=tc)).mul_(gf[i:i + _CHUNK])
        return gx, None, None


def soft_threshold(x: Tensor, theta: Threshold, surrogate: SurrogateFunction) -> Tensor:
    """Stateless soft spiking neuron (CS3D Eq. 1-2): ``y = x * H(x - theta)``.

    Backward: ``dy/dx = H(x - theta) + x * g'(x - theta)`` and
    ``dy/dtheta = -x * g'(x - theta)`` -- the exact derivative with the Dirac delta
    replaced by the surrogate ``g'`` (sigmoid in the paper).
    """
    return _SoftThreshold.apply(x, theta, surrogate)
