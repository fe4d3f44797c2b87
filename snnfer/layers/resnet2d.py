"""ResNet-18-style 2D trunk run frame by frame on clips ``[T, B, C, H, W]`` (He et al. 2016).

Written for snnfer (no torchvision, no pretrained weights, no downloads). Every
activation comes from an *activation factory*, so the same trunk is an ANN (ReLU) or a
multi-step SNN (any :func:`snnfer.neuron.make_neuron` spec, run over the ``T`` axis with
state). Convolutions and batch norms see the frames as a batch (``[T * B, C, H, W]``);
activations and the optional :class:`~snnfer.layers.TemporalShift` see the clip
``[T, B, C, H, W]``, time on dim 0 as snnfer's multi-step neurons expect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError
from snnfer.layers.temporal_shift import TemporalShift
from snnfer.neuron import make_neuron
from snnfer.neuron.factory import NeuronSpec

__all__ = [
    "Activation",
    "BasicBlock",
    "FrameWise",
    "ResNet2d",
    "activation_factory",
    "check_clip",
]

Activation = Callable[[], nn.Module]
"""A zero-argument factory returning a fresh activation module (ReLU or a neuron)."""


def activation_factory(neuron: NeuronSpec | None = None,
                       neuron_kw: Mapping[str, Any] | None = None) -> Activation:
    """ReLU (``neuron=None``) or a factory of neurons built by ``make_neuron(neuron, **kw)``.

    Each call of the factory builds a new module, so every layer has its own state.
    The spec is validated once here, so a bad spec fails at model construction.
    """
    if neuron is None:
        if neuron_kw:
            raise ArgumentError(f"neuron_kw {sorted(neuron_kw)} given without a neuron spec")
        return nn.ReLU
    kw = dict(neuron_kw or {})
    make_neuron(neuron, **kw)  # fail early on an unknown spec or bad parameters

    def build() -> nn.Module:
        return make_neuron(neuron, **kw)

    return build


def check_clip(x: Tensor, name: str, channels: int | None = None) -> None:
    """Raise :class:`InputShapeError` (:class:`InputDtypeError`) unless ``x`` is a float clip
    ``[B, T, C, H, W]`` (with ``channels`` channels when given)."""
    if not isinstance(x, Tensor):
        raise InputDtypeError(f"{name}: expected a tensor [B, T, C, H, W], got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputDtypeError(f"{name}: expected a floating-point tensor, got {x.dtype}; "
                              "cast with x.float()")
    if x.dim() != 5:
        raise InputShapeError(
            f"{name}: expected a 5-D tensor [B, T, C, H, W], got shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[2] != channels:
        raise InputShapeError(
            f"{name}: expected {channels} channels on dim 2 of [B, T, C, H, W], got shape "
            f"{tuple(x.shape)}"
        )
    if min(x.shape) == 0:
        raise InputShapeError(f"{name}: empty tensor of shape {tuple(x.shape)}")


class FrameWise(nn.Module):
    """Apply a 2D module to every frame: ``[T, B, ...] -> [T * B, ...] -> module -> back``."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` is ``[T, B, ...]``."""
        t, b = x.shape[:2]
        y = self.module(x.flatten(0, 1))
        return y.unflatten(0, (t, b))


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> FrameWise:
    """``kernel x kernel`` convolution (no bias, 'same' padding) + BatchNorm, frame-wise."""
    pad = dilation * (kernel - 1) // 2
    return FrameWise(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
    )


class BasicBlock(nn.Module):
    """ResNet basic block; with ``temporal_shift=True`` TSM shifts the residual branch's input.

    ``out = act(bn2(conv2(act(bn1(conv1(shift(x)))))) + shortcut(x))`` -- TSM's
    ``blockres`` placement (HEC-Net Sec. 3.1.1), the shortcut sees the unshifted ``x``.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1,
                 first_dilation: int | None = None, act: Activation = nn.ReLU,
                 temporal_shift: bool = False, fold_div: int = 8) -> None:
        super().__init__()
        d1 = dilation if first_dilation is None else first_dilation
        self.shift = TemporalShift(fold_div) if temporal_shift else None
        self.conv1 = conv_bn(cin, cout, 3, stride, d1)
        self.act1 = act()
        self.conv2 = conv_bn(cout, cout, 3, 1, dilation)
        self.shortcut = (conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None)
        self.act2 = act()

    def forward(self, x: Tensor) -> Tensor:
        """``x`` is ``[T, B, C, H, W]``."""
        out = self.shift(x) if self.shift is not None else x
        out = self.conv2(self.act1(self.conv1(out)))
        identity = self.shortcut(x) if self.shortcut is not None else x
        return self.act2(out + identity)


_STRIDE_PLANS = {32: (1, 2, 2, 2), 16: (1, 2, 2, 1), 8: (1, 2, 1, 1)}


class ResNet2d(nn.Module):
    """ResNet trunk (stem + 4 stages of :class:`BasicBlock`) for clips ``[T, B, C, H, W]``.

    The defaults are ResNet-18 (He et al. 2016): 7x7/2 stem, 3x3/2 max-pool, stages of
    ``(2, 2, 2, 2)`` blocks with ``(64, 128, 256, 512)`` channels. ``out_stride`` 16 or 8
    replaces the stride of the last one or two stages by dilation (2, then 4; DeepLab's
    scheme, same parameters), keeping more spatial detail for later fusion.
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = (64, 128, 256, 512),
                 blocks: Sequence[int] = (2, 2, 2, 2), out_stride: int = 32,
                 act: Activation = nn.ReLU, temporal_shift: bool = False,
                 fold_div: int = 8) -> None:
        super().__init__()
        if len(widths) != 4 or len(blocks) != 4 or min(widths) < 1 or min(blocks) < 1:
            raise ArgumentError(
                f"ResNet2d: widths and blocks need 4 positive entries, got {tuple(widths)}, "
                f"{tuple(blocks)}"
            )
        if out_stride not in _STRIDE_PLANS:
            raise ArgumentError(
                f"ResNet2d: out_stride must be one of {sorted(_STRIDE_PLANS)}, got {out_stride!r}"
            )
        if temporal_shift and min(widths) < fold_div:
            raise ArgumentError(
                f"ResNet2d: temporal shift with fold_div={fold_div} needs >= {fold_div} channels "
                f"per stage, got widths {tuple(widths)}"
            )
        self.in_channels, self.out_channels, self.out_stride = in_channels, widths[-1], out_stride
        self.stem = conv_bn(in_channels, widths[0], 7, 2)
        self.stem_act = act()
        self.pool = FrameWise(nn.MaxPool2d(3, stride=2, padding=1))
        stages, cin, dilation = [], widths[0], 1
        for i, (width, n, stride) in enumerate(zip(widths, blocks, _STRIDE_PLANS[out_stride])):
            prev = dilation
            if i > 0 and stride == 1:  # dilated instead of strided
                dilation *= 2
            layers = [BasicBlock(cin, width, stride, dilation, prev, act, temporal_shift, fold_div)]
            layers += [BasicBlock(width, width, 1, dilation, None, act, temporal_shift, fold_div)
                       for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            cin = width
        self.stages = nn.Sequential(*stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        """``[T, B, C_in, H, W] -> [T, B, C_out, ~H / out_stride, ~W / out_stride]``."""
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise InputShapeError(
                f"ResNet2d: expected [T, B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        return self.stages(self.pool(self.stem_act(self.stem(x))))
