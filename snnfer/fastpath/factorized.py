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
    pointwise,
    pointwise_add_,
    pointwise_input_grad,
    rows,
    to_base,
    weight_grad,
)
from snnfer.fastpath.elementwise import (
    Activation,
    act_apply,
    act_forward,
    act_grad,
    activation_of,
    bn_affine,
    bn_grad_apply,
    uses_batch_stats,
)
from snnfer.fastpath.execution import fast_enabled, keep_graph

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
    as3 = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * 3  # noqa: E731
    if as3(module.padding) != (0, 0, 0) or as3(module.dilation) != (1, 1, 1):
        return None
    return PoolSpec(as3(module.kernel_size), as3(module.stride or module.kernel_size))


@dataclass(frozen=True)
class _Config:
    bn1: nn.Module
    bn2: nn.Module
    act1: Activation
    act2: Activation
    pool: PoolSpec | None


def _is_bn(m: nn.Module) -> bool:
    return type(m) is nn.BatchNorm3d


def supports_factorized(block: nn.Module, x: object) -> bool:
    """True when the fast path computes exactly what ``block``'s reference code does."""
    if not fast_enabled(block, x) or x.dim() != 5 or x.shape[1] != block.c_in \
            or block.stride != (1, 1, 1) or x.dtype not in (torch.float32, torch.float64):
        return False
    if activation_of(block.act1) is None or activation_of(block.act2) is None:
        return False
    if not (type(block.shortcut) is nn.Identity or type(block.shortcut) is nn.Conv3d):
        return False
    if not (_is_bn(block.bn1) and _is_bn(block.bn2)):
        return False
    if any(conv.bias is not None for conv in (block.dw_temporal, block.pw1, block.dw_spatial,
                                              block.pw2)):
        return False
    rows_per_channel = x.shape[0] * x.shape[2] * x.shape[3] * x.shape[4]
    return not (block.training and rows_per_channel <= 1)  # let BatchNorm raise


def _pool_forward(o: Tensor, pool: PoolSpec) -> Tensor:
    y = torch.nn.functional.max_pool3d(as_logical(o), pool.kernel, pool.stride)
    return to_base(y)


def _pool_backward(g: Tensor, o: Tensor, pool: PoolSpec) -> Tensor:
    """Input gradient of the max-pool; the arg-max is recomputed from ``o`` (PyTorch's own
    kernel, so ties resolve exactly as in the reference)."""
    args = (pool.kernel, pool.stride, [0, 0, 0], [1, 1, 1], False)
    _, idx = torch.ops.aten.max_pool3d_with_indices(as_logical(o), *args)
    gi = torch.ops.aten.max_pool3d_with_indices_backward(as_logical(g), as_logical(o), *args,
                                                         idx)
    return to_base(gi)


def _shortcut_add_(z: Tensor, x: Tensor, wsc: Tensor | None, bias: Tensor | None) -> None:
    if wsc is None:
        z.add_(x)
    else:
        pointwise_add_(z, x, wsc, bias)


def _inference(block: nn.Module, x: Tensor, cfg: _Config) -> Tensor:
    """No-autograd forward: BN folded when in eval mode, buffers reused in place."""
    dtype = x.dtype
    sc = block.shortcut
    wsc, bsc = (None, None) if type(sc) is nn.Identity else (sc.weight, sc.bias)
    t1 = depthwise(x, block.dw_temporal.weight, "t")
    if uses_batch_stats(cfg.bn1):
        y1 = pointwise(t1, block.pw1.weight)
        aff1 = bn_affine(cfg.bn1, rows(y1), dtype)
        act_apply(rows(y1), aff1.scale, aff1.shift, cfg.act1, rows(y1))
    else:
        aff1 = bn_affine(cfg.bn1, None, dtype)
        w1 = block.pw1.weight * aff1.scale.view(-1, 1, 1, 1, 1)
        y1 = pointwise(t1, w1, aff1.shift)
        act_forward(y1, cfg.act1, out=y1)
    del t1
    d = depthwise(y1, block.dw_spatial.weight, "hw")
    z = y1  # act1's output is dead once DW_s has run: the sum goes into its memory
    if uses_batch_stats(cfg.bn2):
        u2 = pointwise(d, block.pw2.weight)
        aff2 = bn_affine(cfg.bn2, rows(u2), dtype)
        torch.addcmul(aff2.shift, rows(u2), aff2.scale, out=rows(z))
        del u2
        _shortcut_add_(z, x, wsc, bsc)
    else:
        aff2 = bn_affine(cfg.bn2, None, dtype)
        if wsc is None:
            z.copy_(x)
        else:
            z.zero_()
            pointwise_add_(z, x, wsc, bsc)
        pointwise_add_(z, d, block.pw2.weight * aff2.scale.view(-1, 1, 1, 1, 1), aff2.shift)
    del d
    act_forward(z, cfg.act2, out=z)
    return _pool_forward(z, cfg.pool) if cfg.pool is not None else z


class _FactorizedFn(torch.autograd.Function):
    """Training forward/backward of the block (+ pool); see the module docstring."""

    @staticmethod
    def forward(ctx, x, wt, w1, g1, b1, ws, w2, g2, b2, wsc, bsc, cfg: _Config):
        dtype = x.dtype
        t1 = depthwise(x, wt, "t")
        u1 = pointwise(t1, w1)
        del t1
        aff1 = bn_affine(cfg.bn1, rows(u1), dtype)
        a1 = torch.empty_like(u1)
        act_apply(rows(u1), aff1.scale, aff1.shift, cfg.act1, rows(a1))
        d = depthwise(a1, ws, "hw")
        u2 = pointwise(d, w2)
        aff2 = bn_affine(cfg.bn2, rows(u2), dtype)
        z = a1  # a1 is dead once DW_s has run
        torch.addcmul(aff2.shift, rows(u2), aff2.scale, out=rows(z))
        _shortcut_add_(z, x, wsc, bsc)
        o = act_forward(z, cfg.act2, out=d)  # d is dead once PW2 has run
        out = _pool_forward(o, cfg.pool) if cfg.pool is not None else o
        ctx.save_for_backward(x, wt, w1, ws, w2, wsc)
        ctx.buffers = (u1, u2, z)
        ctx.affines = (aff1, aff2)
        ctx.cfg = cfg
        ctx.has_bias = (g1 is not None, b1 is not None, g2 is not None, b2 is not None,
                        bsc is not None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out):
        x, wt, w1, ws, w2, wsc = ctx.saved_tensors
        if ctx.buffers is None:
            raise RuntimeError("FactorizedConv3d fast path: backward called twice without "
                               "retain_graph=True")
        u1, u2, z = ctx.buffers
        aff1, aff2 = ctx.affines
        cfg = ctx.cfg
        keep = keep_graph()
        if not keep:
            ctx.buffers = None
        need_x = ctx.needs_input_grad[0]
        g_out = g_out.contiguous()
        spare: list[Tensor] = []  # dead full-size buffers this backward owns

        def take() -> Tensor:
            return spare.pop() if spare else torch.empty_like(z)

        if cfg.pool is not None:
            o = act_forward(z, cfg.act2)
            gz = _pool_backward(g_out, o, cfg.pool)  # owned: dL/dz overwrites dL/do
            del o
        else:
            gz = z if not keep else take()
        sums2 = act_grad(rows(z), rows(g_out if cfg.pool is None else gz), cfg.act2,
                         rows(gz), sums_of=(rows(u2), aff2.mean))
        if not keep and gz is not z:
            spare.append(z)
        gx_sc = gwsc = gbsc = None
        if wsc is not None:
            gwsc = weight_grad(gz, x, wsc, "pw")
            gbsc = rows(gz).sum(0) if ctx.has_bias[4] else None
            if need_x:
                gx_sc = pointwise_input_grad(gz, wsc)
        elif need_x:
            gx_sc = gz
        gu2 = u2 if not keep else take()
        gg2, gb2 = bn_grad_apply(aff2, rows(gz), rows(u2), sums2, rows(gu2))
        if wsc is not None:
            spare.append(gz)
        del gz
        # recompute act1's output and DW_s's output for the weight gradients
        a1 = take()
        act_apply(rows(u1), aff1.scale, aff1.shift, cfg.act1, rows(a1))
        d = depthwise(a1, ws, "hw")
        gw2 = weight_grad(gu2, d, w2, "pw")
        del d
        gd = pointwise_input_grad(gu2, w2)
        del gu2
        gws = weight_grad(gd, a1, ws, "hw")
        ga1 = depthwise_input_grad(gd, ws, "hw")
        del gd, a1
        sums1 = act_grad(rows(u1), rows(ga1), cfg.act1, rows(ga1),
                         affine=(aff1.scale, aff1.shift), sums_of=(rows(u1), aff1.mean))
        gg1, gb1 = bn_grad_apply(aff1, rows(ga1), rows(u1), sums1, rows(ga1))
        t1 = depthwise(x, wt, "t")
        gw1 = weight_grad(ga1, t1, w1, "pw")
        del t1
        gx = gwt = None
        if need_x or ctx.needs_input_grad[1]:
            gt1 = pointwise_input_grad(ga1, w1)
            del ga1
            gwt = weight_grad(gt1, x, wt, "t")
            if need_x:
                gx = depthwise_input_grad(gt1, wt, "t").add_(gx_sc)
        has = ctx.has_bias
        p = w1.dtype
        return (gx, gwt, gw1, gg1.to(p) if has[0] else None, gb1.to(p) if has[1] else None,
                gws, gw2, gg2.to(p) if has[2] else None, gb2.to(p) if has[3] else None,
                gwsc, gbsc, None)


def factorized_forward(block: nn.Module, x: Tensor, pool: nn.Module | None = None) -> Tensor:
    """Run ``block`` (and the max-pool ``pool`` after it, if given) on the fast path.

    ``x`` is the logical ``[B, C, T, H, W]`` input in any memory format; the result is the
    logical output in ``channels_last_3d`` memory. Call only when
    :func:`supports_factorized` is true (and ``pool_spec(pool)`` is not ``None``).
    """
    cfg = _Config(block.bn1, block.bn2, activation_of(block.act1), activation_of(block.act2),
                  pool_spec(pool) if pool is not None else None)
    base = to_base(x)
    sc = block.shortcut
    wsc, bsc = (None, None) if type(sc) is nn.Identity else (sc.weight, sc.bias)
    params = (block.dw_temporal.weight, block.pw1.weight, block.bn1.weight, block.bn1.bias,
              block.dw_spatial.weight, block.pw2.weight, block.bn2.weight, block.bn2.bias,
              wsc, bsc)
    needs_grad = torch.is_grad_enabled() and (
        base.requires_grad or any(p is not None and p.requires_grad for p in params))
    if needs_grad:
        out = _FactorizedFn.apply(base, *params, cfg)
    else:
        with torch.no_grad():
            out = _inference(block, base, cfg)
    return as_logical(out)
