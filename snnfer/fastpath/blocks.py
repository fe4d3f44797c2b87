"""Fast paths of C3D's conv block, the neurons and CS3D's attention blocks (issue 7).

- :func:`activation_forward`: ReLU / stateless SSN on any dense layout (channels-last kept),
  saving only the input, gradient computed in cache-sized chunks;
- :func:`conv_bn_act_forward`: C3D's ``Conv3d -> BN -> act`` on channels-last memory, BN
  folded into the convolution in eval mode, ReLU in place;
- :func:`sequential_forward`: a classifier head with its ``nn.Linear`` layers on
  oneDNN's inner-product kernel when no gradient is needed;
- :func:`attention_forward`: temporal, spatial and joint attention (CS3D §III-C, Eq. 3)
  as one multiplicative factor. The temporal map ``M_t`` is constant over channels and
  positive, so the spatial squeeze of ``x * M_t`` is ``M_t`` times the squeeze of ``x``
  (``min``/``max`` swap where a residual factor ``1 + gamma M_t`` is negative) and the
  whole block is ``x * (1 + gamma * f_t * f_s)``: one pass over ``x`` instead of five.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from snnfer.fastpath.convs import as_logical, dense_conv3d, uses_onednn
from snnfer.fastpath.elementwise import Activation, act_forward, act_grad, activation_of
from snnfer.fastpath.execution import fast_enabled
from snnfer.fastpath.fuse import folded_conv
from snnfer.fastpath.tiled import supports_tiled_conv, tiled_conv_bn_act, use_tiling

__all__ = ["activation_forward", "attention_forward", "conv_bn_act_forward",
           "linear_forward", "sequential_forward", "supports_attention",
           "supports_conv_bn_act"]


def _rows_view(t: Tensor) -> Tensor | None:
    """``[N, C]`` view of ``t`` in physical order (contiguous or channels-last)."""
    if t.is_contiguous():
        return t.view(-1, t.shape[-1] if t.dim() else 1)
    if t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d):
        return t.permute(0, 2, 3, 4, 1).reshape(-1, t.shape[1])
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    return None


class _Act(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, act: Activation) -> Tensor:
        ctx.save_for_backward(x)
        ctx.act = act
        return act_forward(x, act)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        (x,) = ctx.saved_tensors
        xr = _rows_view(x)
        if xr is None:
            x = x.contiguous()
            xr = _rows_view(x)
        g = g.contiguous(memory_format=_format_of(x))
        gx = torch.empty_like(x)
        act_grad(xr, _rows_view(g), ctx.act, _rows_view(gx))
        return gx, None


def _format_of(t: Tensor) -> torch.memory_format:
    if t.dim() == 5 and not t.is_contiguous() and \
            t.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    if t.dim() == 4 and not t.is_contiguous() and \
            t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def activation_forward(module: nn.Module, x: Tensor, inplace: bool = False) -> Tensor:
    """``module(x)`` for a fusable activation (else the module itself is called);
    ``inplace`` lets inference overwrite ``x``."""
    act = activation_of(module)
    if act is None:
        return module(x)
    if torch.is_grad_enabled() and x.requires_grad:
        if act.kind == "relu" and inplace:
            return F.relu_(x)
        return _Act.apply(x, act)
    return act_forward(x, act, out=x if inplace else None)


# -- C3D's conv block ----------------------------------------------------------------
def supports_conv_bn_act(block: nn.Module, x: object) -> bool:
    """True for ``ConvBNAct3d`` made of a plain Conv3d, a BatchNorm3d and any activation."""
    return (fast_enabled(block, x) and x.dim() == 5 and type(block.conv) is nn.Conv3d
            and type(block.bn) in (nn.BatchNorm3d, nn.Identity)
            and x.shape[1] == block.conv.in_channels
            and not (block.training and x.numel() // x.shape[1] <= 1))


def conv_bn_act_forward(block: nn.Module, x: Tensor,
                        pool: tuple[int, int, int] | None = None) -> Tensor:
    """``act(BN(conv(x)))`` on channels-last memory; BN folded in eval mode. With
    ``pool`` (a max-pool kernel, stride = kernel) the pooled result, or ``None`` when
    the block is not large enough to run cache-tiled (:mod:`snnfer.fastpath.tiled`);
    large blocks run tiled without ``pool`` too."""
    conv, bn = block.conv, block.bn
    act = activation_of(block.act)
    b, _, t, h, w = x.shape
    if act is not None and supports_tiled_conv(block) and use_tiling(
            (b, t, h, w, conv.out_channels), x.element_size(), (bn,), pool):
        return as_logical(tiled_conv_bn_act(block, x, act, pool))
    if pool is not None:
        return None
    x = x.contiguous(memory_format=torch.channels_last_3d)
    args = (conv.stride, conv.padding, conv.dilation, conv.groups)
    if type(bn) is nn.Identity or bn.training or bn.running_mean is None:
        y = bn(dense_conv3d(x, conv.weight, conv.bias, *args))
    else:
        w, b = folded_conv(conv.weight, conv.bias, bn, x.dtype)
        y = dense_conv3d(x, w, b, *args)
    return activation_forward(block.act, y, inplace=True)


# -- classifier head -----------------------------------------------------------------
def linear_forward(module: nn.Linear, x: Tensor) -> Tensor:
    """``module(x)``; without autograd, a 2-D float32 CPU input runs oneDNN's
    inner-product kernel. The FC head is memory-bound at small batches (C3D's and CS3D's
    fc6 + fc7 read 142 MB of weights): PyTorch's GEMM streams them at ~13 GB/s at batch
    4 here, oneDNN at ~30 (11.7 -> 4.7 ms; batch 1: 5.5 -> 3.5 ms)."""
    if (torch.is_grad_enabled() and (x.requires_grad or module.weight.requires_grad)) \
            or x.dim() != 2 or not uses_onednn(x) or module.weight.dtype != x.dtype \
            or not hasattr(torch.ops.mkldnn, "_linear_pointwise") or x.shape[0] == 0 \
            or torch.compiler.is_compiling():  # inductor lowers linear layers itself
        return module(x)
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), module.weight, module.bias,
                                              "none", [], "")


def sequential_forward(seq: nn.Sequential, x: Tensor) -> Tensor:
    """``seq(x)`` with every plain ``nn.Linear`` run by :func:`linear_forward`."""
    for m in seq:
        x = linear_forward(m, x) if type(m) is nn.Linear else m(x)
    return x


# -- attention -----------------------------------------------------------------------
def supports_attention(block: nn.Module, x: object) -> bool:
    """True when the block's input is a 5-D CPU float tensor of the right width."""
    if not fast_enabled(block, x) or x.dim() != 5:
        return False
    temporal = getattr(block, "temporal", block)
    return not hasattr(temporal, "channels") or x.shape[1] == temporal.channels


def _residual_factor(gate: nn.Module, m: Tensor) -> Tensor:
    """``1 + gamma M`` for a residual gate, else ``M``."""
    return 1.0 + gate.gamma * m if gate.residual else m


def _temporal_factor(ta: nn.Module, x: Tensor) -> Tensor:
    """``f_t`` ``[B, 1, T, 1, 1]`` (the gate's map or residual factor)."""
    s = torch.maximum(ta.score(x.mean(dim=(3, 4))), ta.score(x.amax(dim=(3, 4))))
    return _residual_factor(ta, torch.sigmoid(s)[..., None, None])


def _spatial_factor(sa: nn.Module, x: Tensor, f_t: Tensor | None) -> Tensor:
    """``f_s`` ``[B, 1, T, H, W]`` of the spatial gate applied to ``x * f_t``."""
    mean = x.mean(dim=1, keepdim=True)
    mx = x.amax(dim=1, keepdim=True)
    if f_t is not None:
        mean = mean * f_t
        mx = torch.where(f_t >= 0, mx * f_t, x.amin(dim=1, keepdim=True) * f_t)
    return _residual_factor(sa, torch.sigmoid(sa.conv(torch.cat([mean, mx], dim=1))))


def attention_forward(block: nn.Module, x: Tensor) -> Tensor:
    """Temporal, spatial or joint attention as ``x * factor`` (see the module docstring)."""
    name = type(block).__name__
    if name == "TemporalAttention":
        return x * _temporal_factor(block, x)
    if name == "SpatialAttention":
        return x * _spatial_factor(block, x, None)
    f_t = _temporal_factor(block.temporal, x)
    f_s = _spatial_factor(block.spatial, x, f_t)
    return x * (1.0 + block.gamma * (f_t * f_s))
