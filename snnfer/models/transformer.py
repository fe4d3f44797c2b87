"""Transformer baseline of CS3D Table II (§IV-C), on per-frame CNN features.

    clip [B, T, C, H, W] -> FrameEncoder -> [B, T, d_model] + sinusoidal positions
    -> 2 pre-norm encoder layers (4 heads, d_model 256, feed-forward 1024, dropout 0.1)
    -> LayerNorm -> mean over time -> Linear(256 -> num_classes)

"2 encoder layers with 4 attention heads and a model dimension of 256" (§IV-C). The
feed-forward width (4 x d_model, Vaswani et al.'s ratio), pre-norm ordering (stable
without warm-up on small data), sinusoidal positions (any T) and mean pooling are
snnfer's choices where the paper is silent. An ANN baseline: no spiking neurons.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError
from snnfer.models.common import check_positive_int
from snnfer.models.recurrent import ENCODER_WIDTHS, SequenceBaseline, sequence_config
from snnfer.models.registry import register_model

__all__ = ["TransformerClassifier", "sinusoidal_positions", "transformer"]


def sinusoidal_positions(length: int, dim: int, dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> Tensor:
    """``[length, dim]`` sine/cosine position codes (Vaswani et al. 2017, §3.5)."""
    pos = torch.arange(length, dtype=torch.float64, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64, device=device)
                     * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe.to(dtype)


class TransformerClassifier(SequenceBaseline):
    """Frame encoder -> Transformer encoder -> mean over time -> FC (Table II)."""

    def __init__(self, num_classes: int, in_channels: int, *, arch: str = "transformer",
                 preset: str = "paper", input_size: tuple[int, int, int] = (16, 112, 112),
                 widths: tuple[int, ...] = ENCODER_WIDTHS, d_model: int = 256,
                 nhead: int = 4, num_layers: int = 2, dim_feedforward: int = 1024,
                 dropout: float = 0.1) -> None:
        super().__init__(num_classes, in_channels, arch=arch, preset=preset,
                         input_size=input_size, widths=widths, feature_dim=d_model)
        d_model = check_positive_int(arch, "d_model", d_model)
        nhead = check_positive_int(arch, "nhead", nhead)
        if d_model % nhead:
            raise ArgumentError(f"{arch}: d_model ({d_model}) must be divisible by nhead "
                                f"({nhead})")
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, check_positive_int(arch, "dim_feedforward", dim_feedforward),
            dropout=dropout, batch_first=True, norm_first=True)
        self.encoder_layers = nn.TransformerEncoder(
            layer, check_positive_int(arch, "num_layers", num_layers),
            norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.fc = nn.Linear(d_model, num_classes)

    def forward_clips(self, x: Tensor, size: tuple[int, int, int]) -> Tensor:
        f = self.encoder(x)
        f = f + sinusoidal_positions(f.shape[1], f.shape[2], f.dtype, f.device)
        return self.fc(self.encoder_layers(f).mean(dim=1))


_DEFAULTS = {"d_model": 256, "nhead": 4, "num_layers": 2, "dim_feedforward": 1024,
             "dropout": 0.1}


@register_model("transformer")
def transformer(num_classes: int = 7, in_channels: int | None = None,
                **knobs: Any) -> TransformerClassifier:
    """Table II Transformer baseline: frame encoder -> 2 encoder layers (4 heads, 256) -> FC.

    Knobs: ``preset`` ("paper": 3 x 16 x 112 x 112, encoder widths 32/64/128; "small":
    2 x 16 x 48 x 48, widths 16/32/64), ``input_size`` (T, H, W), ``width_mult``
    (encoder widths), ``d_model`` (256), ``nhead`` (4), ``num_layers`` (2),
    ``dim_feedforward`` (1024), ``dropout`` (0.1).
    """
    cfg = sequence_config("transformer", in_channels, knobs, dict(_DEFAULTS))
    return TransformerClassifier(num_classes, cfg.pop("in_channels"), arch="transformer", **cfg)
