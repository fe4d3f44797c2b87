"""Fast path of :class:`~snnfer.layers.FactorizedConv3d` (CS3D §III-B), optionally fused
with the max-pool that follows it in the C3D family.

The block computes exactly the reference ``act2(BN2(PW2(DW_s(act1(BN1(PW1(DW_t(x))))))) +
shortcut(x))`` on channels-last memory (:mod:`snnfer.fastpath.convs`):

- depth-wise convolutions as oneDNN 2-D depth-wise kernels on views, point-wise ones as
  1x1 2-D convolutions; the shortcut and ``PW2`` accumulate into one buffer through
  oneDNN's fused ``add`` post-op;
- inference (no autograd): BatchNorm in eval mode folded into the point-wise weights and
  bias on the fly, neurons applied in place, intermediate buffers reused, so a block
  allocates three full-size tensors;
- training: one ``autograd.Function`` for the block (and its pool). It keeps the block
  input and three full-size buffers -- ``PW1`` and ``PW2`` outputs (BatchNorm inputs) and
  the pre-activation sum -- and recomputes the rest in backward (``act1`` output and
  ``DW_s`` output for the weight gradients, the pool's arg-max from the saved sum), so a
  block holds about 3.5 full-size tensors for backward where the reference holds ~8 and
  C3D's conv/BN/ReLU/pool layer 4. The backward reuses those buffers in place unless the
  graph is retained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from snnfer.fastpath.convs import (
    as_logical,
    depthwise,
    depthwise_input_grad,
    max_pool_values,
    pointwise_add_,
    pointwise_input_grad,
    rows,
    to_base,
    triple,
    weight_grad,
)
from snnfer.fastpath.elementwise import (
    Activation,
    act_derivative_,
    act_forward,
    act_grad,
    activation_of,
)
from snnfer.fastpath.execution import fast_enabled, keep_graph
from snnfer.fastpath.fuse import folded_conv
from snnfer.fastpath.pwbn import PointwiseBN, pointwise_bn
from snnfer.fastpath.tiled import (
    eval_bn,
    merged_temporal_weight,
    temporal_pointwise,
    tiled_factorized,
    use_tiling,
)

__all__ = ["PoolSpec", "factorized_forward", "pool_spec", "supports_factorized"]


@dataclass(frozen=True)
class PoolSpec:
    """A plain max-pool (no padding/dilation/ceil mode) fused after the block."""

    kernel: tuple[int, int, int]
    stride: tuple[int, int, int]


def pool_spec(module: nn.Module) -> PoolSpec | None:
    """The fusable description of a ``nn.MaxPool3d``, else ``None``."""
    if type(module) is not nn.MaxPool3d or module.return_indices or module.ceil_mode:
        return None
    if triple(module.padding) != (0, 0, 0) or triple(module.dilation) != (1, 1, 1):
        return None
    return PoolSpec(triple(module.kernel_size), triple(module.stride or module.kernel_size))


@dataclass(frozen=True)
class _Config:
    bn1: nn.Module
    bn2: nn.Module
    act1: Activation
    act2: Activation
    pool: PoolSpec | None


def supports_factorized(block: nn.Module, x: object) -> bool:
    """True when the fast path computes exactly what ``block``'s reference code does."""
    if not fast_enabled(block, x) or x.dim() != 5 or x.shape[1] != block.c_in \
            or block.stride != (1, 1, 1) or x.dtype not in (torch.float32, torch.float64):
        return False
    if activation_of(block.act1) is None or activation_of(block.act2) is None:
        return False
    if not (type(block.shortcut) is nn.Identity or type(block.shortcut) is nn.Conv3d):
        return False
    for conv, bn in ((block.pw1, block.bn1), (block.pw2, block.bn2)):
        if not ((type(bn) is nn.BatchNorm3d and conv.bias is None) or type(bn) is nn.Identity):
            return False
    if block.dw_temporal.bias is not None or block.dw_spatial.bias is not None:
        return False
    rows_per_channel = x.shape[0] * x.shape[2] * x.shape[3] * x.shape[4]
    return not (block.training and rows_per_channel <= 1)  # let BatchNorm raise


def _pool_forward(o: Tensor, pool: PoolSpec) -> Tensor:
    """Max-pool of a base. Without autograd and with ``stride == kernel`` it is the maximum
    of the window's strided views (no arg-max indices: saves an int64 tensor half the
    input's size); else PyTorch's kernel."""
    if pool.stride == pool.kernel and not torch.is_grad_enabled():
        return max_pool_values(o, pool.kernel)
    y = torch.nn.functional.max_pool3d(as_logical(o), pool.kernel, pool.stride)
    return to_base(y)


def _pool_backward_(g: Tensor, o: Tensor, pool: PoolSpec) -> Tensor:
    """Input gradient of the max-pool, written into ``o``'s memory; the arg-max is
    recomputed from ``o`` (PyTorch's own kernel, so ties resolve as in the reference)."""
    args = (pool.kernel, pool.stride, [0, 0, 0], [1, 1, 1], False)
    _, idx = torch.ops.aten.max_pool3d_with_indices(as_logical(o), *args)
    out = as_logical(o)
    torch.ops.aten.max_pool3d_with_indices_backward.grad_input(
        as_logical(g), out, *args, idx, grad_input=out)
    return o


def _shortcut_weight(block: nn.Module) -> tuple[Tensor | None, Tensor | None]:
    sc = block.shortcut
    return (None, None) if type(sc) is nn.Identity else (sc.weight, sc.bias)


def _block_sum(block_x: Tensor, d: Tensor, pw2: PointwiseBN, wsc: Tensor | None,
               bsc: Tensor | None, out: Tensor) -> Tensor:
    """``out = BN2(PW2(d)) + shortcut(x)`` with one buffer and fused sums."""
    if wsc is None:
        out.copy_(block_x)
    else:
        out.zero_()
        pointwise_add_(out, block_x, wsc, bsc)
    return pw2.forward_add_(out, d)


def _temporal_pointwise_bn(block: nn.Module, x: Tensor, bn1: nn.Module) -> Tensor:
    """``BN1(PW1(DW_t(x)))`` without autograd; with running statistics (or a folded BN)
    and few input channels as one merged convolution (:func:`temporal_pointwise`)."""
    if eval_bn(bn1):
        w1, b1 = folded_conv(block.pw1.weight.flatten(1), block.pw1.bias, bn1, x.dtype)
        return temporal_pointwise(block, x, w1, b1, merged_temporal_weight(block, w1, x),
                                  pad=True)
    t1 = depthwise(x, block.dw_temporal.weight, "t")  # batch statistics
    return pointwise_bn(block.pw1.weight, bn1, t1, block.pw1.bias).forward(t1)


def _inference(block: nn.Module, x: Tensor, cfg: _Config) -> Tensor:
    """No-autograd forward: BatchNorm folded into the point-wise convolutions (running or
    batch statistics), ``DW_t`` merged into ``PW1`` for few input channels, neurons applied
    in place, act1's buffer reused for the sum; large blocks with running statistics run
    cache-tiled (:mod:`snnfer.fastpath.tiled`)."""
    b, t, h, w, _ = x.shape
    kernel = cfg.pool.kernel if cfg.pool is not None else None
    if (cfg.pool is None or cfg.pool.stride == kernel) and use_tiling(
            (b, t, h, w, block.c_out), x.element_size(), (cfg.bn1, cfg.bn2), kernel):
        return tiled_factorized(block, x, cfg.act1, cfg.act2, kernel)
    wsc, bsc = _shortcut_weight(block)
    y1 = _temporal_pointwise_bn(block, x, cfg.bn1)
    act_forward(y1, cfg.act1, out=y1)
    d = depthwise(y1, block.dw_spatial.weight, "hw")
    pw2 = pointwise_bn(block.pw2.weight, cfg.bn2, d, block.pw2.bias)
    z = _block_sum(x, d, pw2, wsc, bsc, out=y1)  # act1's output is dead once DW_s has run
    del d
    if cfg.pool is not None and cfg.act2.monotone:  # max(act(z)) == act(max(z)): pool first
        p = _pool_forward(z, cfg.pool)
        return act_forward(p, cfg.act2, out=p)
    act_forward(z, cfg.act2, out=z)
    return _pool_forward(z, cfg.pool) if cfg.pool is not None else z


class _FactorizedFn(torch.autograd.Function):
    """Training forward/backward of the block (+ pool); see the module docstring."""

    @staticmethod
    def forward(ctx, x, wt, w1, g1, b1, ws, w2, g2, b2, wsc, bsc, cfg: _Config):
        t1 = depthwise(x, wt, "t")
        pw1 = pointwise_bn(w1, cfg.bn1, t1, _folded_bias(cfg.bn1, b1))
        y1 = pw1.forward(t1)
        del t1
        a1 = act_forward(y1, cfg.act1, out=y1)  # y1 is recomputed in backward
        d = depthwise(a1, ws, "hw")
        pw2 = pointwise_bn(w2, cfg.bn2, d, _folded_bias(cfg.bn2, b2))
        z = _block_sum(x, d, pw2, wsc, bsc, out=a1)  # a1 is dead once DW_s has run
        o = act_forward(z, cfg.act2)
        out = _pool_forward(o, cfg.pool) if cfg.pool is not None else o
        ctx.save_for_backward(x, wt, ws, wsc)
        ctx.buffers = (d, z)
        ctx.pwbn = (pw1, pw2)
        ctx.cfg = cfg
        ctx.has = (g1 is not None, b1 is not None, g2 is not None, b2 is not None,
                   bsc is not None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out):
        x, wt, ws, wsc = ctx.saved_tensors
        if ctx.buffers is None:
            raise RuntimeError("FactorizedConv3d fast path: backward called twice without "
                               "retain_graph=True")
        d, z = ctx.buffers
        pw1, pw2 = ctx.pwbn
        cfg = ctx.cfg
        keep = keep_graph()
        if not keep:
            ctx.buffers = None
        need_x = ctx.needs_input_grad[0]
        g_out = g_out.contiguous()
        if cfg.pool is not None:  # dL/do, then dL/dz, in the recomputed output's memory
            gz = _pool_backward_(g_out, act_forward(z, cfg.act2), cfg.pool)
            g_o = gz
        else:
            g_o = g_out
            gz = z if not keep else torch.empty_like(z)
        s_gz = act_grad(rows(z), rows(g_o), cfg.act2, rows(gz), column_sum=True)
        del g_o, z
        gx_sc = gwsc = gbsc = None
        if wsc is not None:
            gwsc = weight_grad(gz, x, wsc, "pw")
            gbsc = s_gz.to(wsc.dtype) if ctx.has[4] else None
            if need_x:
                gx_sc = pointwise_input_grad(gz, wsc)
        elif need_x:
            gx_sc = gz
        gd, gw2, gg2, gb2 = pw2.backward(gz, d, s_gz, need_input=True, keep=keep)
        del d
        free = gz if wsc is not None else None  # a dead full-size buffer
        del gz
        # recompute BN1(PW1(DW_t(x))) and act1's output, then turn the pre-activation into
        # act1' in place: at most three full-size buffers live from here on
        t1 = depthwise(x, wt, "t")
        y1 = pw1.forward(t1)
        a1 = act_forward(y1, cfg.act1, out=free)
        del free
        gws = weight_grad(gd, a1, ws, "hw")
        del a1
        h1 = act_derivative_(rows(y1), cfg.act1)
        ga1 = depthwise_input_grad(gd, ws, "hw")
        del gd
        rows(ga1).mul_(h1)
        del y1, h1
        s_gy1 = rows(ga1).sum(0).double()
        need_t1 = need_x or ctx.needs_input_grad[1]
        gt1, gw1, gg1, gb1 = pw1.backward(ga1, t1, s_gy1, need_input=need_t1, keep=keep)
        del ga1, t1
        gx = gwt = None
        if need_t1:
            gwt = weight_grad(gt1, x, wt, "t")
            if need_x:
                gx = depthwise_input_grad(gt1, wt, "t").add_(gx_sc)
        has = ctx.has
        p = wt.dtype
        gw1, gw2 = gw1.view(pw1.shape), gw2.view(pw2.shape)
        return (gx, gwt, gw1, gg1.to(p) if has[0] else None, gb1.to(p) if has[1] else None,
                gws, gw2, gg2.to(p) if has[2] else None, gb2.to(p) if has[3] else None,
                gwsc, gbsc, None)


def _folded_bias(bn: nn.Module, beta: Tensor | None) -> Tensor | None:
    """The convolution bias that stands for a folded BN's ``beta`` (see below)."""
    return beta if type(bn) is nn.Identity else None


def _affine_params(conv: nn.Module, bn: nn.Module) -> tuple[Tensor | None, Tensor | None]:
    """``(gamma, beta)`` of the BN after ``conv``; a folded BN (``Identity``) contributes
    the convolution's bias as ``beta``."""
    if type(bn) is nn.Identity:
        return None, conv.bias
    return bn.weight, bn.bias


def factorized_forward(block: nn.Module, x: Tensor, pool: nn.Module | None = None) -> Tensor:
    """Run ``block`` (and the max-pool ``pool`` after it, if given) on the fast path.

    ``x`` is the logical ``[B, C, T, H, W]`` input in any memory format; the result is the
    logical output in ``channels_last_3d`` memory. Call only when
    :func:`supports_factorized` is true (and ``pool_spec(pool)`` is not ``None``).
    """
    cfg = _Config(block.bn1, block.bn2, activation_of(block.act1), activation_of(block.act2),
                  pool_spec(pool) if pool is not None else None)
    base = to_base(x)
    wsc, bsc = _shortcut_weight(block)
    params = (block.dw_temporal.weight, block.pw1.weight, *_affine_params(block.pw1, block.bn1),
              block.dw_spatial.weight, block.pw2.weight, *_affine_params(block.pw2, block.bn2),
              wsc, bsc)
    needs_grad = torch.is_grad_enabled() and (
        base.requires_grad or any(p is not None and p.requires_grad for p in params))
    if needs_grad:
        out = _FactorizedFn.apply(base, *params, cfg)
    else:
        with torch.no_grad():
            out = _inference(block, base, cfg)
    return as_logical(out)
