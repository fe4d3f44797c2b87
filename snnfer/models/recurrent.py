"""RNN and LSTM baselines of CS3D Table II (§IV-C), on per-frame CNN features.

    clip [B, T, C, H, W] -> FrameEncoder -> [B, T, feature_dim]
    -> 2-layer RNN (tanh) / LSTM, 128 hidden units -> last time step
    -> dropout -> Linear(128 -> num_classes)

"Two recurrent layers with 128 hidden units each, followed by a fully connected
classification layer" (§IV-C). The paper does not describe the per-time-step input;
snnfer uses :class:`~snnfer.layers.FrameEncoder` (three stride-2 conv layers, a 4 x 4
average pool, a linear projection). These are ANN baselines: no spiking neurons.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from snnfer.layers import FrameEncoder
from snnfer.models.common import (
    ClipClassifier,
    check_dropout,
    check_input_size,
    check_positive_int,
    check_width_mult,
    resolve_preset,
    scaled,
)
from snnfer.models.registry import register_model

__all__ = ["ENCODER_WIDTHS", "SEQUENCE_PRESETS", "RecurrentClassifier", "SequenceBaseline",
           "lstm", "rnn", "sequence_config"]

ENCODER_WIDTHS = (32, 64, 128)
"""FrameEncoder widths of the sequence baselines at ``width_mult=1``."""

SEQUENCE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"in_channels": 3, "input_size": (16, 112, 112), "width_mult": 1.0},
    "small": {"in_channels": 2, "input_size": (16, 48, 48), "width_mult": 0.5},
}
"""Presets of the sequence baselines (the paper's clips: 16 frames of 112 x 112)."""

_SEQUENCE_KNOBS = ("preset", "input_size", "width_mult", "dropout")


def sequence_config(arch: str, in_channels: int | None, knobs: dict[str, Any],
                    defaults: dict[str, Any]) -> dict[str, Any]:
    """Preset + model defaults + overrides for a sequence baseline, checked."""
    preset = knobs.pop("preset", "paper")
    cfg = resolve_preset(arch, preset, SEQUENCE_PRESETS, knobs,
                         _SEQUENCE_KNOBS + tuple(defaults))
    for k, v in defaults.items():
        cfg.setdefault(k, v)
    cfg["preset"] = preset
    cfg["in_channels"] = check_positive_int(
        arch, "in_channels", cfg["in_channels"] if in_channels is None else in_channels)
    cfg["input_size"] = check_input_size(arch, cfg["input_size"])
    cfg["widths"] = scaled(ENCODER_WIDTHS, check_width_mult(arch, cfg.pop("width_mult")))
    cfg["dropout"] = check_dropout(arch, cfg["dropout"])
    return cfg


class SequenceBaseline(ClipClassifier):
    """A :class:`~snnfer.layers.FrameEncoder` in front of a sequence model."""

    def __init__(self, num_classes: int, in_channels: int, *, arch: str, preset: str,
                 input_size: tuple[int, int, int], widths: tuple[int, ...],
                 feature_dim: int) -> None:
        super().__init__(arch=arch, preset=preset, num_classes=num_classes,
                         in_channels=in_channels, input_size=input_size)
        self.encoder = FrameEncoder(in_channels, check_positive_int(arch, "feature_dim",
                                                                    feature_dim), widths)


class RecurrentClassifier(SequenceBaseline):
    """Frame encoder -> stacked RNN/LSTM -> FC on the last step's output (Table II)."""

    def __init__(self, num_classes: int, in_channels: int, *, arch: str = "lstm",
                 cell: str = "lstm", preset: str = "paper",
                 input_size: tuple[int, int, int] = (16, 112, 112),
                 widths: tuple[int, ...] = ENCODER_WIDTHS, feature_dim: int = 128,
                 hidden_size: int = 128, num_layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__(num_classes, in_channels, arch=arch, preset=preset,
                         input_size=input_size, widths=widths, feature_dim=feature_dim)
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]
        num_layers = check_positive_int(arch, "num_layers", num_layers)
        self.rnn = rnn_cls(feature_dim, check_positive_int(arch, "hidden_size", hidden_size),
                           num_layers=num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward_clips(self, x: Tensor, size: tuple[int, int, int]) -> Tensor:
        out, _ = self.rnn(self.encoder(x))
        return self.fc(self.dropout(out[:, -1]))


_RECURRENT_DEFAULTS = {"feature_dim": 128, "hidden_size": 128, "num_layers": 2, "dropout": 0.2}


def _recurrent(arch: str, num_classes: int, in_channels: int | None,
               knobs: dict[str, Any]) -> RecurrentClassifier:
    cfg = sequence_config(arch, in_channels, knobs, _RECURRENT_DEFAULTS)
    return RecurrentClassifier(num_classes, cfg.pop("in_channels"), arch=arch, cell=arch, **cfg)


_DOC = """

    Knobs: ``preset`` ("paper": 3 x 16 x 112 x 112, encoder widths 32/64/128; "small":
    2 x 16 x 48 x 48, widths 16/32/64), ``input_size`` (T, H, W), ``width_mult``
    (encoder widths), ``feature_dim`` (128), ``hidden_size`` (128), ``num_layers`` (2),
    ``dropout`` (0.2).
    """


@register_model("rnn")
def rnn(num_classes: int = 7, in_channels: int | None = None,
        **knobs: Any) -> RecurrentClassifier:
    return _recurrent("rnn", num_classes, in_channels, knobs)


@register_model("lstm")
def lstm(num_classes: int = 7, in_channels: int | None = None,
         **knobs: Any) -> RecurrentClassifier:
    return _recurrent("lstm", num_classes, in_channels, knobs)


rnn.__doc__ = "Table II RNN baseline: frame encoder -> 2-layer tanh RNN (128) -> FC." + _DOC
lstm.__doc__ = "Table II LSTM baseline: frame encoder -> 2-layer LSTM (128) -> FC." + _DOC
