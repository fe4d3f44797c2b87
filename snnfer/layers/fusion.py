"""HEC-Net global fusion (Sec. 3.2.2): a transformer block over the sequence, then Eq. 5.

:class:`TemporalTransformer` models long-range dependencies across the ``T`` frame
tokens of one stream (pre-norm multi-head self-attention + MLP, sinusoidal positions);
:class:`CrossModalGate` balances the two streams with a learnable coefficient::

    F_global = lambda * F_r + (1 - lambda) * F_e                    (Eq. 5)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.layers.resnet2d import Activation
from snnfer.layers.topk_attention import merge_heads, softmax_attention, split_heads

__all__ = ["CrossModalGate", "TemporalTransformer", "sinusoidal_positions"]


def sinusoidal_positions(steps: int, dim: int, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    """Vaswani et al. (2017) position code ``[steps, dim]`` (parameter-free, any length)."""
    pos = torch.arange(steps, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                     * (-math.log(10000.0) / dim))
    pe = torch.zeros(steps, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe.to(dtype)


class TemporalTransformer(nn.Module):
    """One pre-norm transformer encoder block over time: tokens ``[T, B, dim]`` -> same.

    ``x = x + MHSA(LN(x)); x = x + W2 act(W1 LN(x))``. ``act`` is GELU by default; with a
    neuron factory the MLP hidden layer is a multi-step spiking layer (time on dim 0).
    Sinusoidal positions are added to the input when ``positions=True``.
    """

    def __init__(self, dim: int, num_heads: int = 8, mlp_ratio: float = 4.0,
                 act: Activation = nn.GELU, dropout: float = 0.0, positions: bool = True) -> None:
        super().__init__()
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 \
                or dim % num_heads:
            raise ArgumentError(
                f"TemporalTransformer: num_heads={num_heads!r} must be a positive int dividing "
                f"dim={dim}"
            )
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.dim, self.num_heads, self.positions = dim, num_heads, bool(positions)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` is ``[T, B, dim]`` (time-major, like snnfer's multi-step neurons)."""
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise InputShapeError(
                f"TemporalTransformer: expected [T, B, {self.dim}], got {tuple(x.shape)}"
            )
        if self.positions:
            x = x + sinusoidal_positions(x.shape[0], self.dim, x.device, x.dtype).unsqueeze(1)
        seq = x.transpose(0, 1)  # [B, T, dim] for attention over T
        q, k, v = (split_heads(t, self.num_heads) for t in self.qkv(self.norm1(seq)).chunk(3, -1))
        seq = seq + self.drop(self.proj(merge_heads(softmax_attention(q, k, v))))
        x = seq.transpose(0, 1)
        return x + self.drop(self.fc2(self.act(self.fc1(self.norm2(x)))))


class CrossModalGate(nn.Module):
    """Eq. 5 with ``lambda = sigmoid(logit)`` in (0, 1), one learnable scalar (init 0.5).

    The sigmoid keeps the gate a convex combination (the paper only says "learnable").
    """

    def __init__(self, init: float = 0.5) -> None:
        super().__init__()
        if isinstance(init, bool) or not isinstance(init, (int, float)) or not 0.0 < init < 1.0:
            raise ArgumentError(f"CrossModalGate: init must lie in (0, 1), got {init!r}")
        self.logit = nn.Parameter(torch.tensor(math.log(init / (1.0 - init))))

    @property
    def lam(self) -> Tensor:
        """The current ``lambda`` (weight of the RGB stream)."""
        return torch.sigmoid(self.logit)

    def forward(self, f_rgb: Tensor, f_event: Tensor) -> Tensor:
        """``lambda * f_rgb + (1 - lambda) * f_event`` (same shapes required)."""
        if f_rgb.shape != f_event.shape:
            raise InputShapeError(
                f"CrossModalGate: rgb {tuple(f_rgb.shape)} and event {tuple(f_event.shape)} "
                "features must have the same shape"
            )
        lam = self.lam
        return lam * f_rgb + (1.0 - lam) * f_event
