"""Spiking-FER (Barchid et al. 2023), the SNN baseline of CS3D Table III.

A multi-step SEW-ResNet-18 (Fang et al., NeurIPS 2021) with "ADD" connections::

    clip [B, T, 2, H, W] -> [T, B, 2, H, W]
    conv1 7x7 stride 2 (2 -> 64) -> BN -> IF -> max-pool 3x3 stride 2
    -> layer1..layer4: 2 SEW basic blocks each, 64/128/256/512 channels (x width_mult)
    -> global average pool -> [T, B, 512] -> mean over T -> Linear(512 -> classes, no bias)

A SEW basic block computes ``out = sn2(BN(conv3x3(sn1(BN(conv3x3(x))))))`` and
``g(out, identity)`` with ``g`` = ADD (``out + identity``; AND and IAND also available),
the identity being ``sn(BN(conv1x1(x)))`` when the block downsamples. Neurons: multi-step
IF (``v_threshold=1``, hard reset to 0), ATan surrogate (alpha 2), ``detach_reset=True``;
the last BN of each block starts at zero (``zero_init_residual``), as in Spiking-FER.
Convolutions, BN and pooling run on all ``T*B`` frames at once
(:class:`~snnfer.layers.TimeFolded`). Averaging the logits over time equals the
Spiking-FER readout (its bias-free linear layer commutes with the mean).

Paper preset: T = 6 event frames, 2 polarity channels, 128 x 128 (REFERENCE.md,
Barchid/spiking-fer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from snnfer.errors import ArgumentError
from snnfer.layers import ActivationSpec, TimeFolded, build_activation
from snnfer.models.common import (
    ClipClassifier,
    check_input_size,
    check_positive_int,
    check_width_mult,
    resolve_preset,
    scaled,
)
from snnfer.models.registry import register_model

__all__ = ["SEWBasicBlock", "SEWResNet18", "spiking_fer"]

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"in_channels": 2, "input_size": (6, 128, 128), "width_mult": 1.0},
    "small": {"in_channels": 2, "input_size": (6, 48, 48), "width_mult": 0.25},
}
SPIKING_FER_NEURON: dict[str, Any] = {"name": "if", "surrogate": "atan", "detach_reset": True}
"""Spiking-FER's neuron: multi-step IF, ATan surrogate, detached reset."""

_CONNECT = {
    "ADD": lambda out, identity: out + identity,
    "AND": lambda out, identity: out * identity,
    "IAND": lambda out, identity: identity * (1.0 - out),
}


def _conv_bn(c_in: int, c_out: int, k: int, stride: int) -> TimeFolded:
    return TimeFolded(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                      nn.BatchNorm2d(c_out))


class SEWBasicBlock(nn.Module):
    """SEW-ResNet basic block on ``[T, B, C, H, W]`` (Fang et al. 2021, Fig. 3)."""

    def __init__(self, c_in: int, c_out: int, stride: int, neuron: ActivationSpec,
                 neuron_kwargs: Mapping[str, Any], connect: str = "ADD") -> None:
        super().__init__()
        if connect not in _CONNECT:
            raise ArgumentError(f"SEWBasicBlock: connect must be one of {sorted(_CONNECT)}, "
                                f"got {connect!r}")
        self.connect = connect

        def act(c: int) -> nn.Module:
            return build_activation(neuron, time_dim=0, channels=c, **neuron_kwargs)

        self.conv1, self.sn1 = _conv_bn(c_in, c_out, 3, stride), act(c_out)
        self.conv2, self.sn2 = _conv_bn(c_out, c_out, 3, 1), act(c_out)
        if stride != 1 or c_in != c_out:
            self.downsample: nn.Module = nn.Sequential(_conv_bn(c_in, c_out, 1, stride),
                                                       act(c_out))
        else:
            self.downsample = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.sn2(self.conv2(self.sn1(self.conv1(x))))
        return _CONNECT[self.connect](out, self.downsample(x))


class SEWResNet18(ClipClassifier):
    """The Spiking-FER network (see the module docstring)."""

    def __init__(self, num_classes: int, in_channels: int, *, arch: str = "spiking_fer",
                 preset: str = "paper", input_size: tuple[int, int, int] = (6, 128, 128),
                 widths: tuple[int, ...] = (64, 128, 256, 512),
                 neuron: ActivationSpec = "if", neuron_kwargs: Mapping[str, Any] | None = None,
                 connect: str = "ADD", zero_init_residual: bool = True) -> None:
        super().__init__(arch=arch, preset=preset, num_classes=num_classes,
                         in_channels=in_channels, input_size=input_size)
        kw = dict(neuron_kwargs or {})
        self.stem = _conv_bn(in_channels, widths[0], 7, 2)
        self.stem_sn = build_activation(neuron, time_dim=0, channels=widths[0], **kw)
        self.maxpool = TimeFolded(nn.MaxPool2d(3, 2, 1))
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for i, c_out in enumerate(widths):
            for j in range(2):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(SEWBasicBlock(c_in, c_out, stride, neuron, kw, connect))
                c_in = c_out
        self.layers = nn.Sequential(*blocks)
        self.pool = TimeFolded(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes, bias=False)
        for m in self.modules():  # torchvision/spikingjelly ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for block in blocks:
                nn.init.zeros_(block.conv2.module[1].weight)

    def forward_clips(self, x: Tensor, size: tuple[int, int, int]) -> Tensor:
        x = x.transpose(0, 1)  # [T, B, C, H, W]
        x = self.maxpool(self.stem_sn(self.stem(x)))
        feats = self.pool(self.layers(x))  # [T, B, C]
        return self.fc(feats.mean(dim=0))


@register_model("spiking_fer")
def spiking_fer(num_classes: int = 6, in_channels: int | None = None, *,
                preset: str = "paper", input_size: tuple[int, int, int] | None = None,
                width_mult: float | None = None, neuron: ActivationSpec | None = None,
                neuron_kwargs: Mapping[str, Any] | None = None, connect: str = "ADD",
                zero_init_residual: bool = True) -> SEWResNet18:
    """Spiking-FER's SEW-ResNet-18 (Table III baseline).

    ``preset``: "paper" (2 x 6 x 128 x 128, widths 64-512) or "small" (2 x 6 x 48 x 48,
    widths x 0.25). ``neuron=None`` uses Spiking-FER's IF neuron (ATan surrogate,
    ``detach_reset=True``; ``neuron_kwargs`` override those); any other spec is built
    with ``neuron_kwargs`` only. ``connect``: "ADD" (Spiking-FER), "AND" or "IAND".
    """
    arch = "spiking_fer"
    cfg = resolve_preset(arch, preset, PRESETS,
                         {"input_size": input_size, "width_mult": width_mult},
                         ("input_size", "width_mult"))
    if neuron is None:
        spec = dict(SPIKING_FER_NEURON)
        neuron = spec.pop("name")
        neuron_kwargs = {**spec, **(neuron_kwargs or {})}
    if in_channels is None:
        in_channels = cfg["in_channels"]
    return SEWResNet18(
        num_classes, check_positive_int(arch, "in_channels", in_channels),
        arch=arch, preset=preset, input_size=check_input_size(arch, cfg["input_size"]),
        widths=scaled((64, 128, 256, 512), check_width_mult(arch, cfg["width_mult"])),
        neuron=neuron, neuron_kwargs=neuron_kwargs, connect=connect,
        zero_init_residual=zero_init_residual)
