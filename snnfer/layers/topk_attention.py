"""Dual-branch top-k attentive selection (HEC-Net Sec. 3.1.2, Eq. 1-2) and attention helpers.

HEC-Net keeps, for every query, only the ``k`` most relevant keys before the softmax
("hard selection": the rest get exactly zero weight), once with a small ``k1`` (salient
branch) and once with a larger ``k2`` (complementary branch), and mixes the two weight
maps with learnable scalars::

    M = Q K^T / sqrt(d)
    M_k = softmax(TopK(M, k))                       (Eq. 1, per row; dropped entries -> 0)
    Attn = (alpha * M_k1 + beta * M_k2) V           (Eq. 2)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError

__all__ = [
    "DualTopKAttention",
    "merge_heads",
    "resolve_k",
    "softmax_attention",
    "split_heads",
    "topk_softmax",
]


def _check_k(name: str, k: int | float) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise ArgumentError(f"{name} must be an int >= 1 or a ratio in (0, 1], got {k!r}")
    if isinstance(k, int) and k < 1:
        raise ArgumentError(f"{name} must be an int >= 1 or a ratio in (0, 1], got {k!r}")
    if isinstance(k, float) and not 0.0 < k <= 1.0:
        raise ArgumentError(f"{name} as a ratio must lie in (0, 1], got {k!r}")


def resolve_k(k: int | float, num_keys: int) -> int:
    """Number of kept keys: an int is used as is (at most ``num_keys``), a float is the
    fraction ``ceil(k * num_keys)`` (at least 1)."""
    _check_k("k", k)
    kept = k if isinstance(k, int) else math.ceil(k * num_keys)
    return max(1, min(int(kept), num_keys))


def _scores(q: Tensor, k: Tensor, key_mask: Tensor | None) -> Tensor:
    if q.shape[-1] != k.shape[-1]:
        raise InputShapeError(
            f"attention: query dim {q.shape[-1]} differs from key dim {k.shape[-1]} "
            f"(q {tuple(q.shape)}, k {tuple(k.shape)})"
        )
    m = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if key_mask is not None:
        m = m.masked_fill(~key_mask.unsqueeze(-2), float("-inf"))
    return m


def topk_softmax(scores: Tensor, k: int | float) -> Tensor:
    """Eq. 1: softmax over the ``k`` largest entries of each row (last dim), zeros elsewhere.

    Exactly ``k`` entries per row are kept (ties broken by ``torch.topk``); entries that
    are ``-inf`` (masked keys) get zero weight even when selected.
    """
    kept = resolve_k(k, scores.shape[-1])
    if kept == scores.shape[-1]:
        return torch.softmax(scores, dim=-1)
    idx = scores.topk(kept, dim=-1).indices
    keep = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, idx, True)
    return torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """Plain scaled dot-product attention ``softmax(Q K^T / sqrt(d)) V``.

    ``q [..., N, d]``, ``k [..., M, d]``, ``v [..., M, dv]``; ``key_mask [..., M]`` (True =
    valid key, broadcast over the leading dims) gives masked keys exactly zero weight.
    """
    return torch.matmul(torch.softmax(_scores(q, k, key_mask), dim=-1), v)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``[..., N, heads * d] -> [..., heads, N, d]``."""
    if x.shape[-1] % heads:
        raise InputShapeError(f"split_heads: {x.shape[-1]} channels not divisible by {heads} heads")
    return x.unflatten(-1, (heads, x.shape[-1] // heads)).transpose(-2, -3)


def merge_heads(x: Tensor) -> Tensor:
    """``[..., heads, N, d] -> [..., N, heads * d]`` (inverse of :func:`split_heads`)."""
    return x.transpose(-2, -3).flatten(-2)


class DualTopKAttention(nn.Module):
    """Eq. 1-2: two top-k softmax branches mixed by learnable ``alpha``, ``beta``.

    ``k1`` (salient) and ``k2`` (complementary) are an absolute count or a fraction of
    the keys. The defaults ``k1=0.5, k2=0.75`` (half and three quarters of the keys) and
    ``alpha = beta = 0.5`` at initialisation (so the mixed weights of a row sum to 1) are
    snnfer's choices: the paper gives no values.

    >>> att = DualTopKAttention(k1=2, k2=3)
    >>> q = k = v = torch.rand(1, 5, 4)
    >>> att(q, k, v).shape
    torch.Size([1, 5, 4])
    """

    def __init__(self, k1: int | float = 0.5, k2: int | float = 0.75, alpha: float = 0.5,
                 beta: float = 0.5, learnable: bool = True) -> None:
        super().__init__()
        _check_k("DualTopKAttention: k1", k1)
        _check_k("DualTopKAttention: k2", k2)
        for name, val in (("alpha", alpha), ("beta", beta)):
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
                raise ArgumentError(
                    f"DualTopKAttention: {name} must be a finite number, got {val!r}"
                )
        self.k1, self.k2 = k1, k2
        a, b = torch.tensor(float(alpha)), torch.tensor(float(beta))
        if learnable:
            self.alpha, self.beta = nn.Parameter(a), nn.Parameter(b)
        else:
            self.register_buffer("alpha", a)
            self.register_buffer("beta", b)

    def attention_weights(self, q: Tensor, k: Tensor,
                          key_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The two row-stochastic maps ``(M_k1, M_k2)`` of Eq. 1, each ``[..., N, M]``."""
        m = _scores(q, k, key_mask)
        return topk_softmax(m, self.k1), topk_softmax(m, self.k2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """``q [..., N, d]``, ``k [..., M, d]``, ``v [..., M, dv]`` -> ``[..., N, dv]`` (Eq. 2)."""
        if k.shape[-2] != v.shape[-2]:
            raise InputShapeError(
                f"DualTopKAttention: {k.shape[-2]} keys but {v.shape[-2]} values "
                f"(k {tuple(k.shape)}, v {tuple(v.shape)})"
            )
        w1, w2 = self.attention_weights(q, k, key_mask)
        return torch.matmul(self.alpha * w1 + self.beta * w2, v)

    def extra_repr(self) -> str:
        return f"k1={self.k1}, k2={self.k2}"
