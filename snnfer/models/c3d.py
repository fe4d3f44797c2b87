"""C3D and the CS3D ablations of Table IV (CS3D paper §II-D, §IV-E).

One configurable network, :class:`C3DNet`, covers the whole family::

    input [B, T, C, H, W] -> [B, C, T, H, W]
    conv1 -> pool1 (1,2,2) -> conv2 -> pool2 (2,2,2) -> conv3 -> pool3 -> conv4 -> pool4
    -> conv5 -> pool5 (final_pool) -> [attention -> mean over time] -> flatten
    -> FC fc_dim -> act -> dropout -> FC fc_dim -> act -> dropout -> FC num_classes

``conv_i`` is ``Conv3d 3x3x3 -> BN -> act`` (``block="conv"``) or a
:class:`~snnfer.layers.FactorizedConv3d` (``block="factorized"``); channels
64, 128, 256, 512, 512 times ``width_mult``; ``act`` is ReLU or any neuron spec
(``neuron=``, built with ``time_dim=2`` in the conv stack, one step in the FC head);
``pool5`` is a max-pool (``pool="max"``) or a :class:`~snnfer.layers.MultiPool`
(``pool="multi"``); ``attention`` a :class:`~snnfer.layers.JointAttention`.

Registered variants (Table IV rows; every knob can still be overridden):

======================  ========  ===========  ======  =====  ==========
name                    block     neuron       pool5   attn   final_pool
======================  ========  ===========  ======  =====  ==========
``c3d``                 conv      relu         max     no     (2, 2, 2)
``c3d_ssn``             conv      ssn          max     no     (2, 2, 2)
``c3d_factorized``      factor.   ssn          max     no     (2, 2, 2)
``c3d_attention``       conv      relu         max     yes    (1, 2, 2)
``cs3d`` (cs3d.py)      factor.   ssn          multi   yes    (1, 2, 2)
======================  ========  ===========  ======  =====  ==========

Variants with attention split C3D's pool5 ``(2, 2, 2)``: the spatial part pools before
the attention (``final_pool=(1, 2, 2)``), so temporal attention weighs the ``T/8``
remaining steps instead of a single one, and the time axis is averaged after it
(attention-weighted temporal pooling). The FC head therefore sees the same
``512 x 1 x 3 x 3`` feature as C3D at 16 x 112 x 112 (same head, same parameter
count), and these variants accept any ``T >= 8`` without a rebuild.
thop at 3 x 16 x 112 x 112: c3d 21.277 G MACs (paper Table I: 21.29 G),
c3d_factorized 4.241 G (Table IV: 4.26 G), cs3d 4.242 G (paper: 4.68 G).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.fastpath.blocks import (
    conv_bn_act_forward,
    sequential_forward,
    supports_conv_bn_act,
)
from snnfer.fastpath.convs import as_logical, max_pool_values, to_base
from snnfer.fastpath.execution import fast_enabled, has_hooks
from snnfer.fastpath.factorized import (
    factorized_forward,
    pool_spec,
    supports_factorized,
)
from snnfer.layers import (
    ActivationSpec,
    FactorizedConv3d,
    FeatureActivation,
    JointAttention,
    MultiPool,
    as_triple,
    build_activation,
    pooled_size,
)
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

__all__ = ["C3D_WIDTHS", "C3DNet", "PRESETS", "build_c3d_family", "c3d", "c3d_attention",
           "c3d_factorized", "c3d_ssn"]

C3D_WIDTHS = (64, 128, 256, 512, 512)
"""Channels of C3D's five conv layers (Tran et al., ICCV 2015; CS3D §II-D)."""

POOLS = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))
"""pool1-pool4; pool5 is the model's ``final_pool``."""

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"in_channels": 3, "input_size": (16, 112, 112), "width_mult": 1.0,
              "fc_dim": 4096, "dropout": 0.5},
    "small": {"in_channels": 2, "input_size": (16, 48, 48), "width_mult": 0.25,
              "fc_dim": 256, "dropout": 0.3},
}

VARIANTS: dict[str, dict[str, Any]] = {
    "c3d": {"block": "conv", "neuron": "relu", "pool": "max", "attention": False},
    "c3d_ssn": {"block": "conv", "neuron": "ssn", "pool": "max", "attention": False},
    "c3d_factorized": {"block": "factorized", "neuron": "ssn", "pool": "max",
                       "attention": False},
    "c3d_attention": {"block": "conv", "neuron": "relu", "pool": "max", "attention": True},
    "cs3d": {"block": "factorized", "neuron": "ssn", "pool": "multi", "attention": True},
}

KNOBS = ("preset", "input_size", "width_mult", "fc_dim", "dropout", "neuron", "neuron_kwargs",
         "block", "pool", "attention", "final_pool", "multipool_fusion",
         "attention_reduction")


class ConvBNAct3d(nn.Sequential):
    """C3D's layer: ``Conv3d(3x3x3, padding 1, no bias) -> BN -> act``.

    ``execution="fast"`` (default) runs the same standard ``Conv3d`` on channels-last
    memory with BN folded into it in eval mode (:func:`snnfer.fastpath.blocks.
    conv_bn_act_forward`); ``"reference"`` runs the three modules in turn.
    """

    execution: str = "fast"

    def __init__(self, c_in: int, c_out: int, neuron: ActivationSpec,
                 neuron_kwargs: Mapping[str, Any]) -> None:
        super().__init__(OrderedDict(
            conv=nn.Conv3d(c_in, c_out, 3, padding=1, bias=False),
            bn=nn.BatchNorm3d(c_out),
            act=build_activation(neuron, time_dim=2, channels=c_out, **neuron_kwargs),
        ))

    def forward(self, x: Tensor) -> Tensor:
        if supports_conv_bn_act(self, x):
            return conv_bn_act_forward(self, x)
        return super().forward(x)


class C3DNet(ClipClassifier):
    """The C3D family (see the module docstring for the layout and the variants)."""

    def __init__(self, num_classes: int, in_channels: int, *, arch: str = "c3d",
                 preset: str = "paper", input_size: tuple[int, int, int] = (16, 112, 112),
                 widths: tuple[int, ...] = C3D_WIDTHS, fc_dim: int = 4096,
                 dropout: float = 0.5, neuron: ActivationSpec = "relu",
                 neuron_kwargs: Mapping[str, Any] | None = None, block: str = "conv",
                 pool: str = "max", attention: bool = False,
                 final_pool: tuple[int, int, int] = (2, 2, 2), multipool_fusion: str = "mix",
                 attention_reduction: int = 16) -> None:
        if block not in ("conv", "factorized"):
            raise ArgumentError(f"{arch}: block must be 'conv' or 'factorized', got {block!r}")
        if pool not in ("max", "multi"):
            raise ArgumentError(f"{arch}: pool must be 'max' or 'multi', got {pool!r}")
        if len(widths) != 5:
            raise ArgumentError(f"{arch}: widths must list 5 channel counts, got {widths!r}")
        pools = (*POOLS, as_triple(arch, "final_pool", final_pool, allow_int=False))
        min_size = tuple(math.prod(p[i] for p in pools) for i in range(3))
        super().__init__(arch=arch, preset=preset, num_classes=num_classes,
                         in_channels=in_channels, input_size=input_size,
                         min_input_size=min_size)
        kw = dict(neuron_kwargs or {})
        self.block, self.pool_kind, self.use_attention = block, pool, bool(attention)
        self.pools = pools
        self.grid = self._head_grid(self.feature_grid(input_size))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = in_channels
        for i, (c_out, window) in enumerate(zip(widths, pools), start=1):
            if block == "conv":
                layers[f"conv{i}"] = ConvBNAct3d(c_in, c_out, neuron, kw)
            else:
                layers[f"conv{i}"] = FactorizedConv3d(c_in, c_out, 3, neuron=neuron,
                                                      neuron_kwargs=kw)
            if i == 5 and pool == "multi":
                layers[f"pool{i}"] = MultiPool(c_out, window, fusion=multipool_fusion)
            else:
                layers[f"pool{i}"] = nn.MaxPool3d(window, window)
            c_in = c_out
        self.features = nn.Sequential(layers)
        self.attention = (JointAttention(c_in, reduction=attention_reduction)
                          if attention else nn.Identity())
        flat = c_in * self.grid[0] * self.grid[1] * self.grid[2]
        self.classifier = nn.Sequential(OrderedDict(
            flatten=nn.Flatten(),
            fc6=nn.Linear(flat, fc_dim), act6=FeatureActivation(neuron, fc_dim, **kw),
            drop6=nn.Dropout(dropout),
            fc7=nn.Linear(fc_dim, fc_dim), act7=FeatureActivation(neuron, fc_dim, **kw),
            drop7=nn.Dropout(dropout),
            fc8=nn.Linear(fc_dim, num_classes),
        ))

    def feature_grid(self, size: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(T, H, W)`` of the pool5 output for a clip of size ``size`` ``(T, H, W)``."""
        return tuple(_pool_chain(n, [p[i] for p in self.pools])  # type: ignore[return-value]
                     for i, n in enumerate(size))

    def _head_grid(self, grid: tuple[int, int, int]) -> tuple[int, int, int]:
        """Grid the FC head sees: attention variants average the time axis away."""
        return (1, grid[1], grid[2]) if self.use_attention else grid

    def forward_clips(self, x: Tensor, size: tuple[int, int, int]) -> Tensor:
        grid = self._head_grid(self.feature_grid(size))
        if grid != self.grid:
            t, _, h, w = self.default_input_shape
            raise InputShapeError(
                f"{self.arch}: built for input_size (T, H, W) = {(t, h, w)} (feature grid "
                f"{self.grid} before the FC head), but the input's (T, H, W) = {size} gives "
                f"{grid}; create the model with input_size={size}"
            )
        for _, stage in self.stages(fast_enabled(self, x)):
            x = stage(x)
        return x

    def stages(self, fast: bool = True) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        """The network as named stages ``(name, fn)``, applied in turn to a checked clip
        batch ``[B, T, C, H, W]``: ``input`` (to the Conv3d layout; channels-last memory on
        the fast path), ``conv1``..``conv5`` (each with its pool; a factorized block and
        its max-pool run as one fused function on the fast path), ``attention`` (if any:
        attention then mean over time) and ``classifier``. ``forward`` runs exactly these;
        benchmarks time them one by one. ``fast=False`` gives the reference path."""
        def to_layout(x: Tensor) -> Tensor:
            x = x.transpose(1, 2)
            return x.contiguous(memory_format=torch.channels_last_3d) if fast else x

        out: list[tuple[str, Callable[[Tensor], Tensor]]] = [("input", to_layout)]
        layers = list(self.features)
        for i in range(0, len(layers), 2):
            conv, pool = layers[i], layers[i + 1]
            out.append((f"conv{i // 2 + 1}", partial(_conv_stage, conv, pool, fast)))
        if self.use_attention:
            out.append(("attention", lambda x: self.attention(x).mean(dim=2, keepdim=True)))
        out.append(("classifier", partial(sequential_forward, self.classifier) if fast
                    else self.classifier))
        return out


def _conv_stage(conv: nn.Module, pool: nn.Module, fast: bool, x: Tensor) -> Tensor:
    """``pool(conv(x))``; one fused function for a factorized block + max-pool (fast)."""
    spec = pool_spec(pool) if fast else None
    if spec is not None and isinstance(conv, FactorizedConv3d) and supports_factorized(conv, x):
        return factorized_forward(conv, x, pool)
    if spec is not None and spec.stride == spec.kernel and isinstance(conv, ConvBNAct3d) \
            and supports_conv_bn_act(conv, x) and not has_hooks(pool):
        y = conv_bn_act_forward(conv, x, spec.kernel)  # block + pool, cache-tiled
        if y is not None:
            return y
    y = conv(x)
    if spec is not None and spec.stride == spec.kernel and not torch.is_grad_enabled() \
            and y.is_contiguous(memory_format=torch.channels_last_3d) and not has_hooks(pool):
        return as_logical(max_pool_values(to_base(y), spec.kernel))  # no arg-max indices
    return pool(y)


def _pool_chain(n: int, kernels: list[int]) -> int:
    for k in kernels:
        n = pooled_size(n, k)
    return n


def build_c3d_family(arch: str, num_classes: int, in_channels: int | None,
                     **knobs: Any) -> C3DNet:
    """Build the registered variant ``arch`` with its defaults, preset and knob overrides."""
    preset = knobs.pop("preset", "paper")
    cfg = resolve_preset(arch, preset, PRESETS, knobs, KNOBS)
    for name, value in VARIANTS[arch].items():
        cfg.setdefault(name, value)
    if in_channels is None:
        in_channels = cfg["in_channels"]
    if "final_pool" not in cfg:
        cfg["final_pool"] = (1, 2, 2) if cfg["attention"] else (2, 2, 2)
    return C3DNet(
        num_classes, check_positive_int(arch, "in_channels", in_channels), arch=arch,
        preset=preset, input_size=check_input_size(arch, cfg["input_size"]),
        widths=scaled(C3D_WIDTHS, check_width_mult(arch, cfg["width_mult"])),
        fc_dim=check_positive_int(arch, "fc_dim", cfg["fc_dim"]),
        dropout=check_dropout(arch, cfg["dropout"]), neuron=cfg["neuron"],
        neuron_kwargs=cfg.get("neuron_kwargs"), block=cfg["block"], pool=cfg["pool"],
        attention=bool(cfg["attention"]), final_pool=cfg["final_pool"],
        multipool_fusion=cfg.get("multipool_fusion", "mix"),
        attention_reduction=check_positive_int(arch, "attention_reduction",
                                               cfg.get("attention_reduction", 16)),
    )


_KNOB_DOC = """

    Knobs (each overrides the ``preset``, "paper" or "small"): ``input_size`` (T, H, W),
    ``width_mult``, ``fc_dim``, ``dropout``, ``neuron`` ("relu" or a ``make_neuron``
    spec) and ``neuron_kwargs``, ``block`` ("conv" | "factorized"), ``pool`` ("max" |
    "multi"), ``attention`` (bool), ``final_pool`` (pool5 window), ``multipool_fusion``
    ("mix" | "concat"), ``attention_reduction``. ``in_channels=None`` takes the
    preset's (3 for "paper", 2 for "small").
    """


def _doc(text: str) -> str:
    return text + _KNOB_DOC


@register_model("c3d")
def c3d(num_classes: int = 7, in_channels: int | None = None, **knobs: Any) -> C3DNet:
    return build_c3d_family("c3d", num_classes, in_channels, **knobs)


@register_model("c3d_ssn")
def c3d_ssn(num_classes: int = 7, in_channels: int | None = None, **knobs: Any) -> C3DNet:
    return build_c3d_family("c3d_ssn", num_classes, in_channels, **knobs)


@register_model("c3d_factorized")
def c3d_factorized(num_classes: int = 7, in_channels: int | None = None,
                   **knobs: Any) -> C3DNet:
    return build_c3d_family("c3d_factorized", num_classes, in_channels, **knobs)


@register_model("c3d_attention")
def c3d_attention(num_classes: int = 7, in_channels: int | None = None,
                  **knobs: Any) -> C3DNet:
    return build_c3d_family("c3d_attention", num_classes, in_channels, **knobs)


c3d.__doc__ = _doc("C3D baseline (CS3D §II-D, Tables I-IV): conv -> BN -> ReLU, FC 4096.")
c3d_ssn.__doc__ = _doc("Table IV 'C3D + SSNs': every ReLU of C3D replaced by a soft "
                       "spiking neuron (§III-A).")
c3d_factorized.__doc__ = _doc("Table IV 'C3D + FactorizedConv3D': factorized blocks "
                              "(§III-B) with SSNs, no attention (4.24 G MACs; paper 4.26 G).")
c3d_attention.__doc__ = _doc("Table IV 'C3D + Spatial-temporal Attention': C3D with the "
                             "joint attention (§III-C) after conv5/pool5.")
