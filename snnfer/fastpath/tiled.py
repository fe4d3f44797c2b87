"""Cache-tiled inference: a conv block and its max-pool, a few frames at a time (issue 7).

Without autograd and with BatchNorm's running statistics (or a folded BN), every operation
of a factorized block after its temporal depth-wise conv works frame by frame, and the
C3D family's max-pools cover ``kt`` consecutive frames. So the block and its pool run on
chunks of ``tc`` frames (``tc`` a multiple of ``kt``, about :data:`TILE_BYTES` per
full-width intermediate) whose intermediates stay in the last-level cache; only the
pooled output is written to memory. Untiled, each intermediate of CS3D's block 1 is a
206 MB tensor at batch 4: every operation is a pass through DRAM and every fresh buffer
is page-faulted in (``benchmarks/cs3d_speed.py`` prints both costs).

Temporal kernels (``k x 1 x 1`` depth-wise, C3D's ``3 x 3 x 3``) read ``k // 2`` halo
frames on each side of a chunk; at the ends of the clip the halo is zeros, which is the
untiled conv's "same" padding, so the tiled result equals the untiled one up to the
summation order inside oneDNN's kernels (float64: 1e-10 in tests/test_fastpath_tiled.py;
float32: 6e-7 relative measured on whole models).

A block with few input channels (CS3D's block 1: 3 colour or 2 polarity channels) runs
its temporal depth-wise conv and ``PW1`` as one dense ``k x 1 x 1`` convolution
(:func:`merged_temporal_weight`): oneDNN's kernels for 2-3 channels are dominated by
per-call and layout overhead, so one call on the raw input beats two (CS3D's block 1 at
3 x 16 x 112 x 112, 2 threads: 56 -> 53 ms at batch 4, 13.3 -> 12.4 ms at batch 1).

C3D's memory-bound first conv (3 input channels) gets the same tiling, so CS3D vs C3D
timings compare architectures, not implementation effort; its compute-bound convs run
untiled (:data:`TILED_CONV_MAX_MACS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from snnfer.fastpath.convs import (
    as_logical,
    dense_conv3d,
    depthwise,
    max_pool_values,
    pointwise,
    pointwise_add_,
    to_base,
    uses_onednn,
)
from snnfer.fastpath.elementwise import Activation, act_forward
from snnfer.fastpath.fuse import folded_conv

__all__ = ["MERGED_TEMPORAL_MAX_INPUTS", "MIN_TILED_BYTES", "TILED_CONV_MAX_MACS", "TILE_BYTES",
           "chunk_frames", "eval_bn", "merged_temporal_weight", "supports_tiled_conv",
           "temporal_pointwise", "tiled_conv_bn_act", "tiled_factorized", "use_tiling"]

TILE_BYTES = 4 << 20
"""Target size of one full-width intermediate of a chunk (fits the 32 MB L3 three times
over, with the chunk's input and output)."""

MIN_TILED_BYTES = 16 << 20
"""Blocks whose full-width output is smaller than this run untiled (already cache-sized;
tiling would only add per-operation overhead)."""


MERGED_TEMPORAL_MAX_INPUTS = 16
"""A block's temporal depth-wise conv and ``PW1`` run merged (inference, float32) when
they read at most this many input values per output (``c_in * k``; CS3D's block 1: 9).
The merged conv does ``c_out * c_in * k`` MACs per pixel instead of ``c_in * (k +
c_out)`` -- cheap for a few input channels, a loss for many."""


def merged_temporal_weight(block: nn.Module, w1: Tensor, x: Tensor) -> Tensor | None:
    """The ``[c_out, c_in, k, 1, 1]`` kernel of ``PW1 o DW_t`` (``w1`` the folded
    ``[c_out, c_in]`` point-wise weight): ``W[o, c, j] = w1[o, c] * wt[c, j]``; ``None``
    when the block should run them separately (see :data:`MERGED_TEMPORAL_MAX_INPUTS`)."""
    wt = block.dw_temporal.weight
    c_in, k = wt.shape[0], wt.shape[2]
    if not uses_onednn(x) or c_in * k > MERGED_TEMPORAL_MAX_INPUTS:
        return None
    merged = w1.reshape(-1, c_in, 1) * wt.reshape(1, c_in, k)
    return merged.view(-1, c_in, k, 1, 1).contiguous(memory_format=torch.channels_last_3d)


def temporal_pointwise(block: nn.Module, x: Tensor, w1: Tensor, b1: Tensor,
                       merged: Tensor | None, pad: bool) -> Tensor:
    """``PW1(DW_t(x)) + b1`` of a base ``x`` ``[B, T, H, W, c_in]`` with folded ``w1``,
    ``b1``: "same" in time if ``pad``, else only the frames with a full window (``x``
    carries ``k // 2`` halo frames on each side)."""
    p = block.k // 2
    if merged is not None:
        y = dense_conv3d(as_logical(x), merged, b1, 1, (p if pad else 0, 0, 0))
        return to_base(y)
    t1 = depthwise(x, block.dw_temporal.weight, "t")
    if not pad:
        t1 = t1[:, p:t1.shape[1] - p]
    return pointwise(t1, w1, b1)


def eval_bn(bn: nn.Module) -> bool:
    """True for BatchNorm that normalises with running statistics (or a folded BN)."""
    return type(bn) is nn.Identity or not (bn.training or bn.running_mean is None)


def use_tiling(out_shape: tuple[int, ...], itemsize: int, bns: tuple[nn.Module, ...],
               pool: tuple[int, int, int] | None = None) -> bool:
    """True when a block with (unpooled) output base ``out_shape`` ``[B, T, H, W, C]``
    followed by a max-pool of kernel ``pool`` (stride = kernel) should run tiled: no
    autograd, eval-mode BatchNorms, an output above :data:`MIN_TILED_BYTES`, and a clip
    at least one pool window long (shorter ones are left to the untiled path, which
    raises as ``max_pool3d`` does)."""
    return (not torch.is_grad_enabled() and all(eval_bn(bn) for bn in bns)
            and math.prod(out_shape) * itemsize >= MIN_TILED_BYTES
            and (pool is None or out_shape[1] >= pool[0]))


def chunk_frames(frame_bytes: int, frames: int, kt: int) -> int:
    """Frames per chunk: a multiple of ``kt`` of about :data:`TILE_BYTES`, at most
    ``frames`` rounded up to ``kt``."""
    tc = max(kt, TILE_BYTES // max(frame_bytes, 1) // kt * kt)
    return max(kt, min(tc, -(-frames // kt) * kt))


def _chunks(batch: int, frames: int, nb: int, tc: int) -> Iterator[tuple[slice, int, int]]:
    """``(clips, t0, n)``: chunk of ``n`` frames from ``t0`` of up to ``nb`` clips."""
    for b0 in range(0, batch, nb):
        for t0 in range(0, frames, tc):
            yield slice(b0, min(b0 + nb, batch)), t0, min(tc, frames - t0)


def _halo(base: Tensor, clips: slice, t0: int, n: int, p: int) -> Tensor:
    """Frames ``t0 - p .. t0 + n + p`` of ``clips`` (``[m, n + 2p, H, W, C]``), zeros
    outside the clip."""
    t = base.shape[1]
    lo, hi = t0 - p, t0 + n + p
    core = base[clips, max(lo, 0):min(hi, t)]
    if lo >= 0 and hi <= t:
        return core
    m = core.shape[0]
    parts = [core]
    if lo < 0:
        parts.insert(0, core.new_zeros((m, -lo, *core.shape[2:])))
    if hi > t:
        parts.append(core.new_zeros((m, hi - t, *core.shape[2:])))
    return torch.cat(parts, 1)


class _Output:
    """The block's output base and the rule that writes one chunk into it: pooled
    (``pool`` kernel ``(kt, kh, kw)``, stride = kernel) or not, ``act`` applied."""

    def __init__(self, shape: tuple[int, int, int, int, int], dtype: torch.dtype,
                 act: Activation, pool: tuple[int, int, int] | None) -> None:
        b, t, h, w, c = shape
        self.act, self.pool = act, pool
        kt, kh, kw = pool or (1, 1, 1)
        self.kt = kt
        self.frames = t // kt * kt  # floor-mode pooling drops the trailing frames
        self.base = torch.empty(b, t // kt, h // kh, w // kw, c, dtype=dtype)

    def write(self, z: Tensor, clips: slice, t0: int, n: int) -> None:
        """Store ``act(pool(z))`` for frames ``t0 .. t0 + n`` of ``clips`` (``z`` may be
        overwritten)."""
        dst = self.base[clips, t0 // self.kt:(t0 + n) // self.kt]
        if self.pool is None:
            act_forward(z, self.act, out=dst)
            return
        if self.act.monotone:  # max(act(z)) == act(max(z)): pool first
            act_forward(max_pool_values(z, self.pool, out=dst), self.act, out=dst)
        else:
            max_pool_values(act_forward(z, self.act, out=z), self.pool, out=dst)


def tiled_factorized(block: nn.Module, x: Tensor, act1: Activation, act2: Activation,
                     pool: tuple[int, int, int] | None) -> Tensor:
    """Inference of a stride-1 :class:`~snnfer.layers.FactorizedConv3d` (and the max-pool
    of kernel ``pool`` after it) on a base ``x`` ``[B, T, H, W, c_in]``; returns the
    output base. Same computation as :func:`snnfer.fastpath.factorized._inference`."""
    b, t, h, w, _ = x.shape
    c = block.c_out
    p = block.k // 2
    out = _Output((b, t, h, w, c), x.dtype, act2, pool)
    w1, b1 = folded_conv(block.pw1.weight.flatten(1), block.pw1.bias, block.bn1, x.dtype)
    w2, b2 = folded_conv(block.pw2.weight.flatten(1), block.pw2.bias, block.bn2, x.dtype)
    ws = block.dw_spatial.weight
    sc = None if type(block.shortcut) is nn.Identity else block.shortcut
    frame = h * w * c * x.element_size()
    tc = chunk_frames(frame, out.frames, out.kt)
    nb = max(1, TILE_BYTES // (tc * frame)) if tc >= t else 1  # short clips: several a chunk
    merged = merged_temporal_weight(block, w1, x)
    for i, t0, n in _chunks(b, out.frames, nb, tc):
        if n == t:  # whole clips (maybe several): the conv's own padding is the halo
            y1 = temporal_pointwise(block, x[i], w1, b1, merged, pad=True)
        else:
            y1 = temporal_pointwise(block, _halo(x, i, t0, n, p), w1, b1, merged, pad=False)
        act_forward(y1, act1, out=y1)
        d = depthwise(y1, ws, "hw")
        xc = x[i, t0:t0 + n]
        if sc is None:
            z = y1.copy_(xc)  # act1's output is dead once DW_s has run
        else:
            z = pointwise(xc, sc.weight.flatten(1), sc.bias)
        del y1
        pointwise_add_(z, d, w2, b2)
        del d
        out.write(z, i, t0, n)
    return out.base


def tiled_conv_bn_act(block: nn.Module, x: Tensor, act: Activation,
                      pool: tuple[int, int, int] | None) -> Tensor:
    """Inference of C3D's ``Conv3d -> BN -> act`` block (stride 1, "same" padding, BN
    folded into the conv) and the max-pool of kernel ``pool`` after it, on a logical
    ``[B, C, T, H, W]`` input; returns the output base ``[B, T', H', W', C']``."""
    conv = block.conv
    pt, ph, pw = conv.padding
    xb = to_base(x)
    b, t, h, w, _ = xb.shape
    c = conv.out_channels
    out = _Output((b, t, h, w, c), x.dtype, act, pool)
    wf, bf = folded_conv(conv.weight, conv.bias, block.bn, x.dtype)
    wf = wf.contiguous(memory_format=torch.channels_last_3d)
    tc = chunk_frames(b * h * w * c * x.element_size(), out.frames, out.kt)
    for i, t0, n in _chunks(b, out.frames, b, tc):  # all clips: oneDNN's conv3d splits work by
        xc = as_logical(_halo(xb, i, t0, n, pt))  # pairs (clip, frame)
        out.write(to_base(dense_conv3d(xc, wf, bf, 1, (0, ph, pw))), i, t0, n)
    return out.base


TILED_CONV_MAX_MACS = 128
"""Dense convolutions run tiled only with at most this many MACs per output element
(``c_in * kt * kh * kw``: C3D's conv1 has 81). Those are memory-bound; the others run at
oneDNN's compute peak untiled, and tiling them only adds overhead (measured: C3D conv2
unchanged or slower at every chunk size)."""


def supports_tiled_conv(block: nn.Module) -> bool:
    """C3D's block with a memory-bound (see :data:`TILED_CONV_MAX_MACS`) stride-1,
    dilation-1, ungrouped conv with "same" padding."""
    conv = block.conv
    kt, kh, kw = conv.kernel_size
    return (conv.in_channels * kt * kh * kw <= TILED_CONV_MAX_MACS
            and conv.stride == (1, 1, 1) and conv.dilation == (1, 1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros"
            and conv.padding == tuple(k // 2 for k in conv.kernel_size)
            and all(k % 2 == 1 for k in conv.kernel_size))
