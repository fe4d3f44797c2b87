"""HEC-Net (Shao et al.): hierarchical event-RGB fusion for single-eye emotion recognition.

Registry names:

- ``hecnet``: the paper's model (ANN). Two STFE streams (TSM ResNet-18 + multi-scale
  perception + dual top-k selection), Stage 1 window cross-attention (Eq. 3), Stage 2
  temporal pyramid alignment (Eq. 4) and a transformer per stream, the cross-modal gate
  (Eq. 5) and an FC classifier.
- ``hecnet_snn``: event-native -- every activation of the event stream
  (``spiking="event"``) or of the whole network (``spiking="all"``) is a multi-step
  snnfer neuron built from ``neuron=`` (a stateful soft spiking neuron by default).
- ``hecnet_event`` / ``hecnet_rgb``: one stream only (Table 2, first two rows).

Every switch of the paper's ablation (Table 2) is a keyword; :data:`TABLE2_ROWS` maps
each row to ``(model name, kwargs)``. Inputs follow snnfer's contract: two-modality
models take ``forward(event=[B, T, C_e, H, W], rgb=[B, T, 3, H, W])``, single-stream
ones ``forward(x)``; all return logits ``[B, num_classes]``. ``in_channels`` is the
number of event-frame channels (3 for SEE's rendered event frames, 2 for ON/OFF maps).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError, UnknownNameError
from snnfer.layers.fusion import CrossModalGate, TemporalTransformer
from snnfer.layers.pyramid import INTERP_MODES, TemporalPyramidAlignment
from snnfer.layers.resnet2d import Activation, activation_factory, check_clip
from snnfer.layers.stfe import STFE
from snnfer.layers.window_attention import DIRECTIONS, WindowCrossAttention
from snnfer.models.registry import register_model
from snnfer.neuron import reset
from snnfer.neuron.factory import NeuronSpec

__all__ = [
    "DEFAULT_NEURON",
    "PRESETS",
    "TABLE2_ROWS",
    "HECNet",
    "HECNetConfig",
    "HECNetStream",
    "check_modalities",
    "hecnet",
    "hecnet_event",
    "hecnet_rgb",
    "hecnet_snn",
]

DEFAULT_NEURON: dict[str, Any] = {"name": "ssn", "tau": 2.0, "threshold": 0.5}
"""Stateful soft spiking neuron (CS3D Sec. III-A, Eq. 1-2): membrane decay 1 - 1/tau = 0.5,
soft-reset by subtraction, sigmoid surrogate."""


@dataclass(frozen=True)
class HECNetConfig:
    """Sizes of a HEC-Net preset (every field can be overridden by a model keyword)."""

    image_size: int
    num_frames: int
    widths: tuple[int, int, int, int]
    blocks: tuple[int, int, int, int]
    out_stride: int
    window_size: int
    num_heads: int
    mlp_ratio: float
    head_hidden: int
    dropout: float
    k1: int | float = 0.5
    k2: int | float = 0.75


PRESETS: dict[str, HECNetConfig] = {
    # 224x224, ResNet-18 streams (Sec. 4.1). T is not stated in the paper: 8 is TSM's
    # standard segment count and gives a non-trivial 8/4/2 pyramid. Output stride 16
    # (dilated last stage) gives 14x14 maps, cut into 2x2 windows of 7x7 (Swin's window
    # for 224 inputs; the paper's "e.g. 8x8" does not tile 14 or 7).
    "paper": HECNetConfig(224, 8, (64, 128, 256, 512), (2, 2, 2, 2), 16, 7, 8, 4.0, 256, 0.1),
    # Trains on a 2-core CPU in minutes: 64x64, ResNet-18 depth at a quarter of the width,
    # 4x4 maps in four 2x2 windows.
    "small": HECNetConfig(64, 8, (16, 32, 64, 128), (2, 2, 2, 2), 16, 2, 4, 2.0, 64, 0.1),
}

TABLE2_ROWS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("RGB Stream Only (ResNet-18)", "hecnet_rgb", {"stfe": False}),
    ("Event Stream Only (ResNet-18)", "hecnet_event", {"stfe": False, "spiking": "none"}),
    ("w/o STFE on RGB (Standard ResNet)", "hecnet", {"stfe_rgb": False}),
    ("w/o STFE on Event (Standard ResNet)", "hecnet", {"stfe_event": False}),
    ("One-way Interaction (from rgb to event)", "hecnet", {"interaction": "rgb_to_event"}),
    ("One-way Interaction (from event to rgb)", "hecnet", {"interaction": "event_to_rgb"}),
    ("w/o TPA (Single Temporal Scale)", "hecnet", {"tpa": False}),
    ("w/o Trilinear Interpolation", "hecnet", {"tpa_interp": "nearest"}),
    ("HEC-Net (Ours)", "hecnet", {}),
)
"""Table 2 of the paper: (row label, registry name, keyword arguments)."""


def resolve_preset(preset: str, **overrides: Any) -> HECNetConfig:
    """The preset's :class:`HECNetConfig` with the non-``None`` overrides applied."""
    if preset not in PRESETS:
        raise UnknownNameError("HEC-Net preset", preset, list(PRESETS))
    unknown = sorted(set(overrides) - set(HECNetConfig.__dataclass_fields__))
    if unknown:
        raise ArgumentError(f"unknown HEC-Net size argument(s) {unknown}; accepted: "
                            f"{sorted(HECNetConfig.__dataclass_fields__)}")
    cfg = replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    for name in ("widths", "blocks"):
        value = getattr(cfg, name)
        if not isinstance(value, (tuple, list)) or len(value) != 4:
            raise ArgumentError(f"{name} must have 4 entries, got {value!r}")
    return replace(cfg, widths=tuple(cfg.widths), blocks=tuple(cfg.blocks))


class TemporalHead(nn.Module):
    """Stage 2 of one stream: TPA (Eq. 4) -> spatial average -> transformer over T.

    ``[T, B, C, h, w] -> [T, B, C]``. ``tpa=False`` is the single-scale ablation.
    """

    def __init__(self, dim: int, cfg: HECNetConfig, act: Activation, tpa: bool,
                 tpa_interp: str) -> None:
        super().__init__()
        self.tpa = TemporalPyramidAlignment(3, tpa_interp) if tpa else None
        self.transformer = TemporalTransformer(dim, cfg.num_heads, cfg.mlp_ratio, act,
                                               cfg.dropout)

    @property
    def min_frames(self) -> int:
        """Shortest clip accepted (the pyramid's coarsest level needs one step)."""
        return self.tpa.min_frames if self.tpa is not None else 1

    def forward(self, f: Tensor) -> Tensor:
        """``[T, B, C, h, w] -> [T, B, C]``."""
        if self.tpa is not None:
            f = self.tpa(f)
        return self.transformer(f.mean(dim=(-2, -1)))


class Classifier(nn.Module):
    """FC classifier ``Linear -> act -> Dropout -> Linear`` on ``[T, B, dim]`` features.

    ANN: applied to the time-averaged feature. Spiking: applied at every step (the hidden
    layer is a multi-step neuron) and the logits are averaged over time (rate readout).
    """

    def __init__(self, dim: int, hidden: int, num_classes: int, act: Activation,
                 spiking: bool, dropout: float) -> None:
        super().__init__()
        self.spiking = spiking
        self.fc1, self.act = nn.Linear(dim, hidden), act()
        self.drop, self.fc2 = nn.Dropout(dropout), nn.Linear(hidden, num_classes)

    def forward(self, z: Tensor) -> Tensor:
        """``[T, B, dim] -> [B, num_classes]``."""
        if not self.spiking:
            z = z.mean(dim=0)
        y = self.fc2(self.drop(self.act(self.fc1(z))))
        return y.mean(dim=0) if self.spiking else y


def _activations(spiking_parts: set[str], neuron: NeuronSpec,
                 neuron_kw: Mapping[str, Any] | None) -> dict[str, Activation]:
    """Activation factory per part: ``stream_*`` (STFE), ``mlp`` (transformer), ``head``."""
    snn = activation_factory(neuron, neuron_kw) if spiking_parts else None
    ann = {"stream_event": nn.ReLU, "stream_rgb": nn.ReLU, "mlp": nn.GELU, "head": nn.ReLU}
    return {part: (snn if part in spiking_parts else ann_act) for part, ann_act in ann.items()}


def check_modalities(model: str, event: Tensor | None, rgb: Tensor | None,
                     event_channels: int, rgb_channels: int) -> None:
    """Both clips present, ``[B, T, C, H, W]``, and equal in B, T, H and W; else
    :class:`InputShapeError` naming the mismatch."""
    missing = [n for n, x in (("event", event), ("rgb", rgb)) if x is None]
    if missing:
        raise InputShapeError(f"{model} needs both modalities (event=..., rgb=...); "
                              f"missing: {missing}")
    check_clip(event, f"{model} input 'event'", event_channels)
    check_clip(rgb, f"{model} input 'rgb'", rgb_channels)
    for dim, what in ((0, "batch size"), (1, "number of time steps T"), (3, "height"),
                      (4, "width")):
        if event.shape[dim] != rgb.shape[dim]:
            raise InputShapeError(
                f"{model}: event {tuple(event.shape)} and rgb {tuple(rgb.shape)} differ in "
                f"{what} (dim {dim} of [B, T, C, H, W]); both modalities must be aligned"
            )


def _check_choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ArgumentError(f"{name} must be one of {options}, got {value!r}")


class _HECNetBase(nn.Module):
    """Shared plumbing: config, activations, neuron reset at the start of every forward."""

    def _setup(self, cfg: HECNetConfig, preset: str, spiking_parts: set[str],
               neuron: NeuronSpec, neuron_kw: Mapping[str, Any] | None) -> dict[str, Activation]:
        self.config, self.preset = cfg, preset
        self.spiking_parts = frozenset(spiking_parts)
        return _activations(spiking_parts, neuron, neuron_kw)

    def _stream(self, in_channels: int, cfg: HECNetConfig, act: Activation,
                stfe: bool) -> STFE:
        return STFE(in_channels, cfg.widths, cfg.blocks, cfg.out_stride, act,
                    temporal_shift=stfe, selection=stfe, num_heads=cfg.num_heads,
                    k1=cfg.k1, k2=cfg.k2)

    def _begin(self) -> None:
        # Each forward call holds whole clips of independent samples: start from rest.
        if self.spiking_parts:
            reset(self)


class HECNet(_HECNetBase):
    """Two-stream HEC-Net; see the module docstring. ``forward(event=..., rgb=...)``.

    ``spiking``: ``"none"`` (the paper's ANN), ``"event"`` (event stream is an SNN) or
    ``"all"`` (every activation is a neuron; softmax and normalisations stay real-valued).
    Ablations (Table 2): ``stfe_rgb`` / ``stfe_event`` (False = plain ResNet-18 stream),
    ``interaction`` (``"both"``, ``"rgb_to_event"``, ``"event_to_rgb"``), ``tpa`` (False =
    single temporal scale), ``tpa_interp`` (``"trilinear"`` or ``"nearest"``).
    """

    modalities = ("event", "rgb")

    def __init__(self, num_classes: int = 7, in_channels: int = 3, rgb_channels: int = 3,
                 preset: str = "paper", spiking: str = "none",
                 neuron: NeuronSpec = DEFAULT_NEURON, neuron_kw: Mapping[str, Any] | None = None,
                 stfe_rgb: bool = True, stfe_event: bool = True, interaction: str = "both",
                 tpa: bool = True, tpa_interp: str = "trilinear", **overrides: Any) -> None:
        super().__init__()
        _check_choice("spiking", spiking, ("none", "event", "all"))
        _check_choice("interaction", interaction, DIRECTIONS)
        _check_choice("tpa_interp", tpa_interp, INTERP_MODES)
        cfg = resolve_preset(preset, **overrides)
        parts = {"none": set(), "event": {"stream_event"},
                 "all": {"stream_event", "stream_rgb", "mlp", "head"}}[spiking]
        acts = self._setup(cfg, preset, parts, neuron, neuron_kw)
        self.spiking, self.in_channels, self.rgb_channels = spiking, in_channels, rgb_channels
        self.stfe_event = self._stream(in_channels, cfg, acts["stream_event"], stfe_event)
        self.stfe_rgb = self._stream(rgb_channels, cfg, acts["stream_rgb"], stfe_rgb)
        dim = self.stfe_event.out_channels
        self.window = WindowCrossAttention(dim, cfg.window_size, cfg.num_heads, interaction)
        self.temporal_event = TemporalHead(dim, cfg, acts["mlp"], tpa, tpa_interp)
        self.temporal_rgb = TemporalHead(dim, cfg, acts["mlp"], tpa, tpa_interp)
        self.gate = CrossModalGate()
        self.head = Classifier(dim, cfg.head_hidden, num_classes, acts["head"],
                               "head" in parts, cfg.dropout)
        t, s = cfg.num_frames, cfg.image_size
        self.default_input_shape = {"event": (t, in_channels, s, s), "rgb": (t, rgb_channels, s, s)}

    def _check_inputs(self, event: Tensor | None, rgb: Tensor | None) -> None:
        check_modalities("HECNet", event, rgb, self.in_channels, self.rgb_channels)
        need = self.temporal_event.min_frames
        if event.shape[1] < need:
            raise InputShapeError(
                f"HECNet: T={event.shape[1]} time steps is too short for the temporal pyramid "
                f"(T, T/2, T/4 needs T >= {need}); use more frames or tpa=False"
            )

    def forward(self, event: Tensor | None = None, rgb: Tensor | None = None) -> Tensor:
        """``event [B, T, C_e, H, W]``, ``rgb [B, T, 3, H, W]`` -> logits ``[B, classes]``."""
        self._check_inputs(event, rgb)
        self._begin()
        f_e = self.stfe_event(event.transpose(0, 1))
        f_r = self.stfe_rgb(rgb.transpose(0, 1))
        f_r, f_e = self.window(f_r, f_e)                                   # Stage 1
        z_r, z_e = self.temporal_rgb(f_r), self.temporal_event(f_e)        # Stage 2
        return self.head(self.gate(z_r, z_e))                              # Eq. 5 + FC


class HECNetStream(_HECNetBase):
    """One HEC-Net stream alone: STFE -> TPA -> transformer -> FC (Table 2, rows 1-2).

    ``spiking``: ``"none"``, ``"stream"`` (the STFE stream is an SNN) or ``"all"``.
    ``stfe=False`` gives the plain ResNet-18 stream of the paper's rows.
    """

    def __init__(self, modality: str, num_classes: int = 7, in_channels: int = 3,
                 preset: str = "paper", spiking: str = "none",
                 neuron: NeuronSpec = DEFAULT_NEURON, neuron_kw: Mapping[str, Any] | None = None,
                 stfe: bool = True, tpa: bool = True, tpa_interp: str = "trilinear",
                 **overrides: Any) -> None:
        super().__init__()
        _check_choice("modality", modality, ("event", "rgb"))
        _check_choice("spiking", spiking, ("none", "stream", "all"))
        _check_choice("tpa_interp", tpa_interp, INTERP_MODES)
        cfg = resolve_preset(preset, **overrides)
        stream = f"stream_{modality}"
        parts = {"none": set(), "stream": {stream}, "all": {stream, "mlp", "head"}}[spiking]
        acts = self._setup(cfg, preset, parts, neuron, neuron_kw)
        self.modality, self.modalities = modality, (modality,)
        self.spiking, self.in_channels = spiking, in_channels
        self.stfe = self._stream(in_channels, cfg, acts[stream], stfe)
        dim = self.stfe.out_channels
        self.temporal = TemporalHead(dim, cfg, acts["mlp"], tpa, tpa_interp)
        self.head = Classifier(dim, cfg.head_hidden, num_classes, acts["head"],
                               "head" in parts, cfg.dropout)
        self.default_input_shape = (cfg.num_frames, in_channels, cfg.image_size, cfg.image_size)

    def forward(self, x: Tensor | None = None, **inputs: Tensor) -> Tensor:
        """``[B, T, C, H, W]`` -> logits ``[B, num_classes]``.

        The clip is passed positionally or by its modality name (``model(event=...)`` /
        ``model(rgb=...)``, snnfer's convention for models that declare ``modalities``).
        """
        x = self._single_input(x, inputs)
        check_clip(x, f"HECNetStream({self.modality!r}) input", self.in_channels)
        if x.shape[1] < self.temporal.min_frames:
            raise InputShapeError(
                f"HECNetStream: T={x.shape[1]} time steps is too short for the temporal pyramid "
                f"(needs T >= {self.temporal.min_frames}); use more frames or tpa=False"
            )
        self._begin()
        return self.head(self.temporal(self.stfe(x.transpose(0, 1))))

    def _single_input(self, x: Tensor | None, inputs: dict[str, Tensor]) -> Tensor:
        """The one clip, given positionally or as ``<modality>=``; else InputShapeError."""
        name = f"HECNetStream({self.modality!r})"
        unknown = sorted(set(inputs) - {self.modality})
        if unknown:
            raise InputShapeError(f"{name} takes only the {self.modality!r} modality; got "
                                  f"input(s) {unknown}")
        if (x is None) == (self.modality not in inputs):
            raise InputShapeError(f"{name} needs exactly one clip: pass it positionally or as "
                                  f"{self.modality}=...")
        return inputs[self.modality] if x is None else x


def _build(cls: type, name: str, fixed: dict[str, Any], kw: dict[str, Any]) -> nn.Module:
    """Instantiate ``cls`` after checking ``kw`` against its keywords and the preset fields."""
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "overrides", *fixed}
    allowed = params | set(HECNetConfig.__dataclass_fields__)
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ArgumentError(f"model {name!r} got unknown argument(s) {unknown}; "
                            f"accepted: {sorted(allowed - {'num_classes', 'in_channels'})}")
    return cls(**fixed, **kw)


@register_model("hecnet")
def hecnet(num_classes: int = 7, in_channels: int = 3, **kw: Any) -> HECNet:
    """HEC-Net as published (ANN); ``forward(event=[B, T, C, H, W], rgb=[B, T, 3, H, W])``."""
    if "spiking" in kw or "neuron" in kw or "neuron_kw" in kw:
        raise ArgumentError("model 'hecnet' is the ANN of the paper; use 'hecnet_snn' for "
                            "spiking=/neuron=")
    return _build(HECNet, "hecnet", {"num_classes": num_classes, "in_channels": in_channels}, kw)


@register_model("hecnet_snn")
def hecnet_snn(num_classes: int = 7, in_channels: int = 3, spiking: str = "event",
               **kw: Any) -> HECNet:
    """Event-native HEC-Net: ``spiking="event"`` (default) or ``"all"``; ``neuron=`` spec."""
    _check_choice("hecnet_snn: spiking", spiking, ("event", "all"))
    fixed = {"num_classes": num_classes, "in_channels": in_channels, "spiking": spiking}
    return _build(HECNet, "hecnet_snn", fixed, kw)


@register_model("hecnet_event")
def hecnet_event(num_classes: int = 7, in_channels: int = 3, spiking: str = "stream",
                 **kw: Any) -> HECNetStream:
    """Event stream only, spiking by default (``spiking="none"`` for the ANN row of Table 2)."""
    fixed = {"modality": "event", "num_classes": num_classes, "in_channels": in_channels,
             "spiking": spiking}
    return _build(HECNetStream, "hecnet_event", fixed, kw)


@register_model("hecnet_rgb")
def hecnet_rgb(num_classes: int = 7, in_channels: int = 3, spiking: str = "none",
               **kw: Any) -> HECNetStream:
    """RGB stream only (ANN by default)."""
    fixed = {"modality": "rgb", "num_classes": num_classes, "in_channels": in_channels,
             "spiking": spiking}
    return _build(HECNetStream, "hecnet_rgb", fixed, kw)
