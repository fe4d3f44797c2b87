"""Channels-last tensor views and convolution kernels of the fast path (issue 7).

Activations of the fast path live in one physical layout, ``[B, T, H, W, C]``
contiguous (the "base"), which is the memory order of a logical ``[B, C, T, H, W]``
tensor in ``torch.channels_last_3d``. Every operation the factorized block needs is a
zero-copy view of that memory:

- the logical Conv3d layout ``[B, C, T, H, W]`` (what modules exchange);
- ``[B*T, C, H, W]`` in ``channels_last`` -- frames, for the depth-wise spatial
  ``1 x k x k`` and the point-wise ``1 x 1 x 1`` convolutions, run as 2-D convolutions
  (oneDNN's NHWC kernels: 4-6x faster here than the ``Conv3d`` forms);
- ``[B, C, T, H*W]`` in ``channels_last`` -- the depth-wise temporal ``k x 1 x 1``
  convolution as a ``k x 1`` 2-D convolution;
- ``[N, C]`` rows (``N = B*T*H*W``) -- per-channel statistics and element-wise work.

Backward helpers: the input gradient of a stride-1 depth-wise convolution is the same
convolution with the kernel flipped (3x faster than oneDNN's backward-data here), and
the input gradient of a point-wise convolution is a point-wise convolution with the
transposed weight; weight gradients use ``aten.convolution_backward``. Other dtypes
(float64, for exact equivalence checks) use portable formulations: matrix products and
sums of shifted views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfer.errors import InputShapeError

__all__ = [
    "as_logical",
    "dense_conv3d",
    "depthwise",
    "depthwise_input_grad",
    "frames",
    "max_pool_values",
    "pointwise",
    "pointwise_add_",
    "pointwise_input_grad",
    "rows",
    "to_base",
    "triple",
    "uses_onednn",
    "weight_grad",
]


# -- layout --------------------------------------------------------------------------
def to_base(x: Tensor) -> Tensor:
    """``[B, T, H, W, C]`` contiguous memory of a logical ``[B, C, T, H, W]`` tensor
    (a view when ``x`` is ``channels_last_3d``, else one copy)."""
    base = x.permute(0, 2, 3, 4, 1)
    return base if base.is_contiguous() else base.contiguous()


def as_logical(base: Tensor) -> Tensor:
    """The logical ``[B, C, T, H, W]`` view of a ``[B, T, H, W, C]`` base."""
    return base.permute(0, 4, 1, 2, 3)


def frames(base: Tensor) -> Tensor:
    """``[B*T, C, H, W]`` channels-last view (one 2-D image per time step)."""
    b, t, h, w, c = base.shape
    return base.view(b * t, h, w, c).permute(0, 3, 1, 2)


def _time_frames(base: Tensor) -> Tensor:
    """``[B, C, T, H*W]`` channels-last view (time as the 2-D height axis)."""
    b, t, h, w, c = base.shape
    return base.view(b, t, h * w, c).permute(0, 3, 1, 2)


def rows(base: Tensor) -> Tensor:
    """``[N, C]`` rows of a base (``N = B*T*H*W``)."""
    return base.view(-1, base.shape[-1])


def _from_nchw(y: Tensor, shape: tuple[int, int, int, int, int]) -> Tensor:
    """Base ``shape`` ``[B, T, H, W, C]`` from a 4-D result in any memory format."""
    nhwc = y.permute(0, 2, 3, 1)
    if not nhwc.is_contiguous():  # oneDNN chose NCHW (degenerate 1-pixel images)
        nhwc = nhwc.contiguous()
    return nhwc.view(shape)


# -- convolutions --------------------------------------------------------------------
def uses_onednn(t: Tensor) -> bool:
    """float32 CPU tensors go to oneDNN's NHWC kernels; other dtypes (float64 for exact
    checks) to the portable formulations below (matrix products, shifted sums)."""
    return t.dtype == torch.float32 and torch.backends.mkldnn.is_available() \
        and torch.backends.mkldnn.enabled


def triple(v: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """A 3-D convolution/pool argument (int or sequence) as a tuple."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * 3


def dense_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding,
                 dilation=1, groups: int = 1) -> Tensor:
    """``F.conv3d`` on oneDNN's kernel for every float32 input (differentiable).

    PyTorch's dispatcher sends an unbatched-looking float32 convolution (batch 1,
    ``B*C*T*H <= 20480``, kernel <= 3) to its native im2col kernel: at batch 1 C3D's
    conv4 takes 32 ms that way against 10 ms on oneDNN, conv5 12 vs 5 ms, one 3-frame
    chunk of conv1 1.8 vs 0.3 ms (2 threads, ``benchmarks/cs3d_speed.py``). oneDNN is
    as fast or faster at every C3D layer and batch measured, so the fast path calls it
    directly; other dtypes go through ``F.conv3d``. Without autograd the kernel is passed
    channels-last: oneDNN's reorder of a contiguous 512 x 512 x 3 x 3 x 3 kernel into its
    blocked format costs more than the conv5 it serves (6.9 -> 5.2 ms at batch 1, 24 -> 13
    ms at 4). A trained kernel goes as it is: autograd would keep the channels-last copy
    (C3D's training step: +105 MB peak at batch 4, within noise in time).
    """
    if not uses_onednn(x) or x.dim() != 5 or not hasattr(torch, "mkldnn_convolution"):
        return F.conv3d(x, weight, bias, stride, padding, dilation, groups)
    if not (torch.is_grad_enabled() and weight.requires_grad):
        weight = weight.contiguous(memory_format=torch.channels_last_3d)
    return torch.mkldnn_convolution(x, weight, bias, list(triple(padding)),
                                    list(triple(stride)), list(triple(dilation)), groups)


def _taps(weight: Tensor, axis: str) -> list[tuple[tuple[int, int], Tensor]]:
    """``((dt or dh, dw), w[:, tap])`` of a depth-wise kernel, offsets from the centre."""
    c = weight.shape[0]
    if axis == "t":
        k = weight.shape[2]
        w = weight.reshape(c, k)
        return [((j - k // 2, 0), w[:, j]) for j in range(k)]
    k = weight.shape[-1]
    w = weight.reshape(c, k, k)
    return [((i - k // 2, j - k // 2), w[:, i, j]) for i in range(k) for j in range(k)]


def _shifted(base: Tensor, offset: tuple[int, int], axis: str) -> tuple[tuple, tuple]:
    """Index tuples ``(dst, src)`` with ``dst[p] = src[p + offset]`` inside the tensor."""
    dims = (1,) if axis == "t" else (2, 3)
    dst, src = [slice(None)] * 5, [slice(None)] * 5
    for d, o in zip(dims, offset):
        n = base.shape[d]
        dst[d] = slice(max(0, -o), n - max(0, o))
        src[d] = slice(max(0, o), n - max(0, -o))
    return tuple(dst), tuple(src)


def depthwise(base: Tensor, weight: Tensor, axis: str) -> Tensor:
    """Stride-1 "same" depth-wise convolution along ``axis`` ``"t"`` (kernel
    ``[C, 1, k, 1, 1]``) or ``"hw"`` (kernel ``[C, 1, 1, k, k]``); returns a base."""
    c = base.shape[-1]
    if not uses_onednn(base):
        out = torch.zeros_like(base)
        for offset, w in _taps(weight, axis):
            dst, src = _shifted(base, offset, axis)
            out[dst].addcmul_(base[src], w)
        return out
    if axis == "t":
        k = weight.shape[2]
        y = F.conv2d(_time_frames(base), weight.view(c, 1, k, 1), None, 1, (k // 2, 0), 1, c)
    else:
        k = weight.shape[-1]
        y = F.conv2d(frames(base), weight.view(c, 1, k, k), None, 1, k // 2, 1, c)
    return _from_nchw(y, base.shape)


def depthwise_input_grad(grad: Tensor, weight: Tensor, axis: str) -> Tensor:
    """Input gradient of :func:`depthwise`: the convolution with the flipped kernel."""
    return depthwise(grad, weight.flip(2, 3, 4), axis)


def _pw_weight(weight: Tensor) -> Tensor:
    return weight.reshape(weight.shape[0], weight.shape[1], 1, 1)


def pointwise(base: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Point-wise (1x1x1) convolution ``[c_out, c_in, ...]`` of a base, plus ``bias``."""
    b, t, h, w, _ = base.shape
    shape = (b, t, h, w, weight.shape[0])
    if not uses_onednn(base):
        w2 = weight.reshape(weight.shape[0], weight.shape[1]).t()
        y = torch.mm(rows(base), w2) if bias is None else torch.addmm(bias, rows(base), w2)
        return y.view(shape)
    y = F.conv2d(frames(base), _pw_weight(weight), bias)
    return _from_nchw(y, shape)


def pointwise_input_grad(grad: Tensor, weight: Tensor) -> Tensor:
    """Input gradient of :func:`pointwise`: point-wise convolution with ``weight^T``."""
    return pointwise(grad, weight.reshape(weight.shape[0], weight.shape[1]).t())


def _mkldnn_add_ok(acc: Tensor, x: Tensor, weight: Tensor) -> bool:
    return (uses_onednn(acc) and acc.dtype == x.dtype == weight.dtype
            and acc.device.type == "cpu"
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise_")
            and acc.shape[2] * acc.shape[3] > 1)


def pointwise_add_(acc: Tensor, base: Tensor, weight: Tensor,
                   bias: Tensor | None = None) -> Tensor:
    """``acc += pointwise(base, weight, bias)`` in place (no gradient tracking).

    On float32 CPU tensors this is oneDNN's convolution with a fused ``add`` post-op
    (the one inductor uses), so the sum costs no extra memory pass.
    """
    if _mkldnn_add_ok(acc, base, weight):
        torch.ops.mkldnn._convolution_pointwise_.binary(
            frames(acc), frames(base), _pw_weight(weight).contiguous(), bias, [0, 0], [1, 1],
            [1, 1], 1, "add", 1.0, None, [], None)
        return acc
    return acc.add_(pointwise(base, weight, bias))


def weight_grad(grad: Tensor, base: Tensor, weight: Tensor, kind: str) -> Tensor:
    """Weight gradient (shaped like ``weight``) of :func:`depthwise` (``kind`` ``"t"``
    or ``"hw"``) or :func:`pointwise` (``kind`` ``"pw"``) from the output gradient."""
    c = base.shape[-1]
    if not uses_onednn(base):
        if kind == "pw":
            return torch.mm(rows(grad).t(), rows(base)).reshape(weight.shape)
        gw = torch.empty(c, len(_taps(weight, kind)), dtype=base.dtype)
        for j, (offset, _) in enumerate(_taps(weight, kind)):
            dst, src = _shifted(base, offset, kind)
            gw[:, j] = rows(grad[dst].contiguous()).mul(rows(base[src].contiguous())).sum(0)
        return gw.reshape(weight.shape)
    if kind == "pw":
        w4, inp, g4, pad, groups = _pw_weight(weight), frames(base), frames(grad), [0, 0], 1
    elif kind == "t":
        k = weight.shape[2]
        w4, inp, g4 = weight.view(c, 1, k, 1), _time_frames(base), _time_frames(grad)
        pad, groups = [k // 2, 0], c
    else:
        k = weight.shape[-1]
        w4, inp, g4, pad, groups = weight.view(c, 1, k, k), frames(base), frames(grad), \
            [k // 2, k // 2], c
    gw = torch.ops.aten.convolution_backward(g4, inp, w4, None, [1, 1], pad, [1, 1], False,
                                             [0, 0], groups, [False, True, False])[1]
    return gw.reshape(weight.shape)


# -- pooling -------------------------------------------------------------------------
def max_pool_values(base: Tensor, kernel: tuple[int, int, int],
                    out: Tensor | None = None) -> Tensor:
    """Non-overlapping max-pool (floor mode) of a base ``[B, T, H, W, C]``, written into
    ``out`` if given: element-wise maxima of strided views, one window axis at a time
    (time, rows, then columns: the first stages read whole contiguous rows, each stage
    shrinks the data), no arg-max indices. NaN propagates, as in ``max_pool3d``."""
    b, t, h, w, c = base.shape
    kt, kh, kw = kernel
    tt, hh, ww = t // kt, h // kh, w // kw
    if min(tt, hh, ww) == 0:
        raise InputShapeError(f"max-pool with kernel (T, H, W) = {kernel} needs an input of at "
                              f"least that size, got (T, H, W) = {(t, h, w)}")
    v = base[:, :tt * kt, :hh * kh, :ww * kw].reshape(b, tt, kt, hh, kh, ww, kw, c) \
        if (tt * kt, hh * kh, ww * kw) != (t, h, w) else base.view(b, tt, kt, hh, kh, ww, kw, c)
    v = v.select(2, 0) if kt == 1 else _max_axis(v, 2, out if kh == kw == 1 else None)
    v = v.select(3, 0) if kh == 1 else _max_axis(v, 3, out if kw == 1 else None)
    v = v.select(4, 0) if kw == 1 else _max_axis(v, 4, out)
    if kt == kh == kw == 1:
        return v.contiguous() if out is None else out.copy_(v)
    return v


def _max_axis(v: Tensor, axis: int, out: Tensor | None) -> Tensor:
    """Maximum over ``v``'s (small) window axis ``axis``."""
    r = torch.maximum(v.select(axis, 0), v.select(axis, 1), out=out)
    for i in range(2, v.shape[axis]):
        torch.maximum(r, v.select(axis, i), out=r)
    return r
