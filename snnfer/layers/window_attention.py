"""Stage 1 of HEC-Net's fusion: multi-window cross-modal attention (Sec. 3.2.1, Eq. 3).

The RGB and event feature maps of a frame are cut into non-overlapping windows (as in
Swin); inside each window one modality's queries attend to the other modality's keys
and values, with a residual connection::

    F'_x = softmax(Q_y K_x^T / sqrt(d)) V_x + F_x,   (x, y) in {(r, e), (e, r)}    (Eq. 3)

so RGB features (structural anchor) query the event features, which they calibrate,
and event features (temporal anchor) query the RGB features. ``direction`` keeps one
of the two for the paper's one-way ablations.

Maps whose size is not a multiple of the window are zero-padded on the bottom/right
(``pad=True``, the default, as Swin does); padded positions are masked out as keys
(exactly zero weight) and cropped from the output, so the result does not depend on the
padding. ``pad=False`` raises :class:`~snnfer.errors.InputShapeError` instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.layers.topk_attention import merge_heads, softmax_attention, split_heads

__all__ = ["DIRECTIONS", "WindowCrossAttention", "window_merge", "window_partition"]

DIRECTIONS = ("both", "rgb_to_event", "event_to_rgb")


def _pair(window_size: int | tuple[int, int]) -> tuple[int, int]:
    ws = (window_size, window_size) if isinstance(window_size, int) else tuple(window_size)
    if len(ws) != 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in ws):
        raise ArgumentError(f"window_size must be a positive int or a pair, got {window_size!r}")
    return ws  # type: ignore[return-value]


def window_partition(x: Tensor, window_size: int | tuple[int, int]) -> Tensor:
    """``[N, C, H, W] -> [N * (H / wh) * (W / ww), wh * ww, C]`` (row-major windows, tokens).

    ``H`` and ``W`` must be multiples of the window (else :class:`InputShapeError`).
    """
    wh, ww = _pair(window_size)
    if x.dim() != 4:
        raise InputShapeError(f"window_partition: expected [N, C, H, W], got {tuple(x.shape)}")
    n, c, h, w = x.shape
    if h % wh or w % ww:
        raise InputShapeError(
            f"window_partition: feature map {h}x{w} is not a multiple of the window {wh}x{ww}"
        )
    x = x.reshape(n, c, h // wh, wh, w // ww, ww).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n * (h // wh) * (w // ww), wh * ww, c)


def window_merge(windows: Tensor, window_size: int | tuple[int, int], height: int,
                 width: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``[N * nW, wh * ww, C] -> [N, C, H, W]``."""
    wh, ww = _pair(window_size)
    if height % wh or width % ww:
        raise InputShapeError(
            f"window_merge: feature map {height}x{width} is not a multiple of the window {wh}x{ww}"
        )
    nh, nw = height // wh, width // ww
    if windows.dim() != 3 or windows.shape[1] != wh * ww or windows.shape[0] % (nh * nw):
        raise InputShapeError(
            f"window_merge: windows of shape {tuple(windows.shape)} do not tile a "
            f"{height}x{width} map with {wh}x{ww} windows"
        )
    n, c = windows.shape[0] // (nh * nw), windows.shape[2]
    x = windows.reshape(n, nh, nw, wh, ww, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, c, height, width)


class WindowCrossAttention(nn.Module):
    """Bi-directional window cross-attention between RGB and event maps (Eq. 3).

    Takes two maps of identical shape, ``[N, C, H, W]`` or clips ``[T, B, C, H, W]``
    (frame ``t`` of one modality attends to frame ``t`` of the other), and returns the
    calibrated pair ``(rgb', event')``. Inputs are layer-normalised before the Q/K/V
    projections and the attended values pass an output projection (standard multi-head
    attention; Eq. 3 omits both). A modality that no query guides is returned unchanged.
    """

    def __init__(self, dim: int, window_size: int | tuple[int, int] = 8, num_heads: int = 1,
                 direction: str = "both", pad: bool = True, qkv_bias: bool = True) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise ArgumentError(
                f"WindowCrossAttention: direction must be one of {DIRECTIONS}, got {direction!r}"
            )
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 \
                or dim % num_heads:
            raise ArgumentError(
                f"WindowCrossAttention: num_heads={num_heads!r} must be a positive int dividing "
                f"dim={dim}"
            )
        self.dim, self.window_size, self.num_heads = dim, _pair(window_size), num_heads
        self.direction, self.pad = direction, bool(pad)
        # x = the modality updated (keys/values), y = the one querying
        updated = {"both": ("rgb", "event"), "rgb_to_event": ("event",),
                   "event_to_rgb": ("rgb",)}[direction]
        self.updated = updated
        self.norm = nn.ModuleDict({m: nn.LayerNorm(dim) for m in ("rgb", "event")})
        self.to_q = nn.ModuleDict({_other(m): nn.Linear(dim, dim, qkv_bias) for m in updated})
        self.to_kv = nn.ModuleDict({m: nn.Linear(dim, 2 * dim, qkv_bias) for m in updated})
        self.proj = nn.ModuleDict({m: nn.Linear(dim, dim) for m in updated})

    def forward(self, rgb: Tensor, event: Tensor) -> tuple[Tensor, Tensor]:
        """``(rgb, event)`` of shape ``[..., C, H, W]`` -> calibrated ``(rgb', event')``."""
        if rgb.shape != event.shape:
            raise InputShapeError(
                f"WindowCrossAttention: rgb features {tuple(rgb.shape)} and event features "
                f"{tuple(event.shape)} must have the same shape"
            )
        if rgb.dim() < 4 or rgb.shape[-3] != self.dim:
            raise InputShapeError(
                f"WindowCrossAttention: expected [..., {self.dim}, H, W], got {tuple(rgb.shape)}"
            )
        lead, (c, h, w) = rgb.shape[:-3], rgb.shape[-3:]
        wh, ww = self.window_size
        hp, wp = math.ceil(h / wh) * wh, math.ceil(w / ww) * ww
        if (hp, wp) != (h, w) and not self.pad:
            raise InputShapeError(
                f"WindowCrossAttention: feature map {h}x{w} is not a multiple of the window "
                f"{wh}x{ww} and pad=False; use pad=True or a window dividing the map"
            )
        tokens, key_mask = {}, None
        for name, x in (("rgb", rgb), ("event", event)):
            x = x.reshape(-1, c, h, w)
            x = F.pad(x, (0, wp - w, 0, hp - h)) if (hp, wp) != (h, w) else x
            tokens[name] = self.norm[name](window_partition(x, (wh, ww)))
        if (hp, wp) != (h, w):
            valid = torch.zeros(1, 1, hp, wp, dtype=torch.bool, device=rgb.device)
            valid[..., :h, :w] = True
            n_frames = tokens["rgb"].shape[0] // ((hp // wh) * (wp // ww))
            key_mask = window_partition(valid, (wh, ww))[..., 0]  # [nW, wh*ww]
            key_mask = key_mask.repeat(n_frames, 1).unsqueeze(-2)  # [N*nW, 1(head), wh*ww]
        out = {"rgb": rgb, "event": event}
        for x in self.updated:
            y = _other(x)
            q = split_heads(self.to_q[y](tokens[y]), self.num_heads)
            k, v = (split_heads(t, self.num_heads) for t in self.to_kv[x](tokens[x]).chunk(2, -1))
            att = self.proj[x](merge_heads(softmax_attention(q, k, v, key_mask)))
            att = window_merge(att, (wh, ww), hp, wp)[..., :h, :w]
            out[x] = out[x] + att.reshape(*lead, c, h, w)
        return out["rgb"], out["event"]

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}, "
                f"direction={self.direction!r}, pad={self.pad}")


def _other(modality: str) -> str:
    return "event" if modality == "rgb" else "rgb"
