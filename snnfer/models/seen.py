"""SEEN, the Spiking Eye Emotion Network (Zhang et al., SIGGRAPH 2023), on snnfer neurons.

As published (paper and the authors' code, zhanghaiwei1234/Single-eye-Emotion-Recognition):

- frame branch (ANN) on the first and last intensity frames: ``cat -> 1x1 conv (6 -> 3)``,
  three parallel convs 3x3 / 5x5 / 7x7 (3 -> 64, stride 2) whose outputs are scaled by
  softmax-normalised scalars (one small pooled MLP per branch, computed per sample),
  ``1x1 (192 -> 64)``, ``3x3/2 (64 -> 256)``, ``3x3/4 (256 -> 512)``, no activations in
  between; the flattened map passes one LIF step;
- event branch (SNN, ``T = 4`` steps): the *same* conv weights (weight copy, no bias) and
  the frame branch's branch scalars, a LIF layer after each conv; its flattened spikes
  plus the frame spikes feed ``fc 512*6*6 -> 256`` (LIF) ``-> 7``; the logits are the
  output layer's membrane potential averaged over the ``T`` steps;
- in the published code the event convolutions are *detached* (the copied weights get
  gradient only from the frame branch): ``weight_copy="detach"``, the default here;
  ``weight_copy="shared"`` lets the event branch train the shared weights too;
- inputs in [0, 1] (what snnfer's SEE loaders give) are normalised as SEEN's data pipeline
  does (``mean.py``: event images (x - 0.504) / 0.069, frames (x - 0.226) / 0.119;
  ``input_norm="see"``, the default). Without it the LIF layers stay silent and SEEN does
  not train (measured on SyntheticSEE: the loss stays at ln 7); ``input_norm=None`` takes
  inputs as given.

Neuron: SEEN's ``mem = decay * mem * (1 - spike) + x; spike = mem > 0.3`` with
``decay = 0.2`` and the gradient ``1`` where ``|mem - 0.3| < 0.5`` is *exactly* snnfer's
``LIFNode(tau=1.25, decay_input=False, v_threshold=0.3, v_reset=0.0,
surrogate="rectangular", alpha=1.0)``: ``1 - 1/tau = 0.2`` is the decay, ``decay_input=
False`` adds the input unscaled, ``v_reset=0`` with the (non-detached) hard reset is the
``(1 - spike)`` factor, and the rectangular surrogate with ``alpha=1`` has height 1 on
``|x| < 1/(2 alpha) = 0.5``. The only difference is ``>=`` versus ``>`` at the threshold
(a set of measure zero). See :data:`SEEN_LIF`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError, UnknownNameError
from snnfer.models.hecnet import check_modalities
from snnfer.models.registry import register_model
from snnfer.neuron import make_neuron, reset
from snnfer.neuron.factory import NeuronSpec

__all__ = ["PRESETS", "SEEN", "SEEN_LIF", "SEE_INPUT_NORM", "MembraneReadout", "PooledBatchNorm2d",
           "SEENConfig", "seen"]

SEEN_LIF: dict[str, Any] = {
    "name": "lif", "tau": 1.25, "decay_input": False, "v_threshold": 0.3, "v_reset": 0.0,
    "surrogate": "rectangular", "alpha": 1.0,
}
"""SEEN's LIF neuron (threshold 0.3, decay 0.2, hard reset to 0, rectangular surrogate of
half-width 0.5) as an snnfer ``make_neuron`` spec; see the module docstring."""


SEE_INPUT_NORM: dict[str, tuple[float, float]] = {
    "event": (0.504413, 0.06928615), "rgb": (0.22616537, 0.118931554),
}
"""SEEN's input normalisation (its ``mean.py``): per-modality mean and std of SEE's event
images and intensity frames in [0, 1], applied to every channel."""


def _input_norm(spec: str | Mapping[str, tuple[float, float]] | None,
                in_channels: int) -> dict[str, tuple[float, float]]:
    """Normalisation per modality: ``"see"`` (:data:`SEE_INPUT_NORM`; the event statistics
    only for 3-channel, image-like event frames), a mapping, or ``None`` (raw inputs)."""
    if spec is None:
        return {}
    if spec == "see":
        return {m: v for m, v in SEE_INPUT_NORM.items() if m == "rgb" or in_channels == 3}
    if not isinstance(spec, Mapping) or set(spec) - {"event", "rgb"}:
        raise ArgumentError(f"input_norm must be 'see', None or a mapping of 'event'/'rgb' to "
                            f"(mean, std), got {spec!r}")
    out = {}
    for m, pair in spec.items():
        mean, std = (float(v) for v in pair)
        if std <= 0:
            raise ArgumentError(f"input_norm[{m!r}]: std must be > 0, got {std}")
        out[m] = (mean, std)
    return out


@dataclass(frozen=True)
class SEENConfig:
    """Sizes of a SEEN preset."""

    image_size: int
    num_frames: int
    widths: tuple[int, int, int]
    fc_hidden: int


PRESETS: dict[str, SEENConfig] = {
    "paper": SEENConfig(90, 4, (64, 256, 512), 256),   # SEEN's opts: 90x90, T = 4
    "small": SEENConfig(48, 4, (32, 128, 256), 128),
}


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class MembraneReadout(nn.Module):
    """Spiking output layer whose readout is its charged membrane ``h_t`` (SEEN's logits).

    Runs ``neuron`` (a native snnfer neuron, e.g. LIF) one step at a time and returns
    ``h_t = a v_{t-1} + b x_t + c`` -- the membrane after charging, before the reset, with
    the neuron's own coefficients -- for every step: ``[T, B, K] -> [T, B, K]``. The spikes
    still reset the membrane, as in SEEN.
    """

    def __init__(self, neuron: NeuronSpec, **neuron_kw: Any) -> None:
        super().__init__()
        self.neuron = make_neuron(neuron, **{**neuron_kw, "step_mode": "s"})
        if not callable(getattr(self.neuron, "_params", None)):
            raise ArgumentError(
                f"MembraneReadout needs a native snnfer neuron (lif, if or a stateful ssn) "
                f"whose membrane it can read; got {type(self.neuron).__name__} -- pass "
                "readout_neuron=SEEN_LIF (or another native spec)"
            )

    def forward(self, x_seq: Tensor) -> Tensor:
        """``[T, B, K]`` inputs -> ``[T, B, K]`` charged membranes."""
        self.neuron.reset()
        p = self.neuron._params()
        rest = float(getattr(self.neuron, "v_reset", None) or 0.0)
        out = []
        for x in x_seq:
            v = self.neuron.v if self.neuron.v is not None else torch.full_like(x, rest)
            out.append(p.decay * v + p.input_scale * x + p.bias)
            self.neuron(x)
        return torch.stack(out)


class PooledBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm on pooled ``[B, C, 1, 1]`` maps that also accepts a batch of one sample.

    A training-mode batch holding one value per channel has no variance (PyTorch raises):
    such a batch is normalised with the running statistics, which it leaves unchanged. Any
    larger batch is plain :class:`~torch.nn.BatchNorm2d` (SEEN trains with batch 32).
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.numel() == x.shape[1]:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        return super().forward(x)


def _branch_scale(channels: int) -> nn.Sequential:
    """One per-sample branch weight: global pool -> 1x1 (C -> C/8) -> BN -> ReLU -> 1x1 (-> 1)."""
    hidden = max(channels // 8, 1)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1),
                         PooledBatchNorm2d(hidden), nn.ReLU(), nn.Conv2d(hidden, 1, 1))


def _copy_conv(src: nn.Conv2d) -> nn.Conv2d:
    """A bias-free conv sharing ``src``'s weight tensor (SEEN's weight copy)."""
    conv = nn.Conv2d(src.in_channels, src.out_channels, src.kernel_size, src.stride,
                     src.padding, bias=False)
    conv.weight = src.weight
    return conv


class SEEN(nn.Module):
    """SEEN with snnfer neurons; ``forward(event=[B, T, C_e, H, W], rgb=[B, T, 3, H, W])``.

    ``neuron`` builds every hidden spiking layer (default :data:`SEEN_LIF`; any
    ``make_neuron`` spec); ``readout_neuron`` the output layer (default: ``neuron``; it
    must be a native snnfer neuron). ``in_channels`` event channels other than 3 are
    mapped to 3 by a 1x1 conv initialised to the channel mean (an snnfer addition: SEE's
    event frames are 3-channel images). Neuron state is reset at every forward.
    """

    modalities = ("event", "rgb")

    def __init__(self, num_classes: int = 7, in_channels: int = 3, rgb_channels: int = 3,
                 preset: str = "paper", neuron: NeuronSpec = SEEN_LIF,
                 neuron_kw: Mapping[str, Any] | None = None,
                 readout_neuron: NeuronSpec | None = None, weight_copy: str = "detach",
                 image_size: int | None = None, num_frames: int | None = None,
                 widths: tuple[int, int, int] | None = None,
                 fc_hidden: int | None = None,
                 input_norm: str | Mapping[str, tuple[float, float]] | None = "see") -> None:
        super().__init__()
        if preset not in PRESETS:
            raise UnknownNameError("SEEN preset", preset, list(PRESETS))
        if weight_copy not in ("detach", "shared"):
            raise ArgumentError(f"weight_copy must be 'detach' or 'shared', got {weight_copy!r}")
        over = {"image_size": image_size, "num_frames": num_frames, "widths": widths,
                "fc_hidden": fc_hidden}
        cfg = replace(PRESETS[preset], **{k: v for k, v in over.items() if v is not None})
        if len(cfg.widths) != 3:
            raise ArgumentError(f"SEEN: widths must have 3 entries, got {cfg.widths!r}")
        self.config, self.preset, self.weight_copy = cfg, preset, weight_copy
        self.input_norm = _input_norm(input_norm, in_channels)
        self.in_channels, self.rgb_channels = in_channels, rgb_channels
        c1, c2, c3 = cfg.widths
        kw = dict(neuron_kw or {})
        # frame branch (ANN)
        self.conv0 = nn.Conv2d(2 * rgb_channels, 3, 1)
        self.conv1 = nn.ModuleList(nn.Conv2d(3, c1, k, 2, k // 2) for k in (3, 5, 7))
        self.scales = nn.ModuleList(_branch_scale(c1) for _ in range(3))
        self.conv1_cat = nn.Conv2d(3 * c1, c1, 1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 2, 1)
        self.conv3 = nn.Conv2d(c2, c3, 3, 4, 1)
        # event branch (SNN): weight copies of the frame convs
        self.event_in = None
        if in_channels != 3:
            self.event_in = nn.Conv2d(in_channels, 3, 1, bias=False)
            nn.init.constant_(self.event_in.weight, 1.0 / in_channels)
        self.ev_conv1 = nn.ModuleList(_copy_conv(c) for c in self.conv1)
        self.ev_conv1_cat = _copy_conv(self.conv1_cat)
        self.ev_conv2 = _copy_conv(self.conv2)
        self.ev_conv3 = _copy_conv(self.conv3)
        self.lif1, self.lif2, self.lif3 = (make_neuron(neuron, **kw) for _ in range(3))
        self.lif_frame, self.lif_fc1 = make_neuron(neuron, **kw), make_neuron(neuron, **kw)
        s = cfg.image_size
        for k, st, p in ((3, 2, 1), (3, 2, 1), (3, 4, 1)):
            s = _conv_out(s, k, st, p)
        self.feature_size = s
        self.fc1 = nn.Linear(c3 * s * s, cfg.fc_hidden)
        self.fc2 = nn.Linear(cfg.fc_hidden, num_classes)
        self.readout = MembraneReadout(neuron if readout_neuron is None else readout_neuron,
                                       **(kw if readout_neuron is None else {}))
        t, size = cfg.num_frames, cfg.image_size
        self.default_input_shape = {"event": (t, in_channels, size, size),
                                    "rgb": (t, rgb_channels, size, size)}

    def _event_conv(self, conv: nn.Conv2d, x: Tensor) -> Tensor:
        y = conv(x)
        return y.detach() if self.weight_copy == "detach" else y

    def frame_branch(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """First+last frames ``[B, T, 3, H, W]`` -> (frame spikes ``[B, N]``, scales ``[B, 3]``)."""
        x = self.conv0(torch.cat([rgb[:, 0], rgb[:, -1]], dim=1))
        feats = [conv(x) for conv in self.conv1]
        w = torch.softmax(torch.cat([m(f) for m, f in zip(self.scales, feats)], dim=1), dim=1)
        x = self.conv1_cat(torch.cat([w[:, i:i + 1] * f for i, f in enumerate(feats)], dim=1))
        x = self.conv3(self.conv2(x)).flatten(1)
        return self.lif_frame(x.unsqueeze(0))[0], w.flatten(1)

    def event_branch(self, event: Tensor, w: Tensor) -> Tensor:
        """Event clip ``[B, T, C, H, W]`` and scales -> flattened spikes ``[T, B, N]``."""
        t, b = event.shape[1], event.shape[0]
        x = event.transpose(0, 1).flatten(0, 1)  # [T*B, C, H, W], time-major
        if self.event_in is not None:
            x = self.event_in(x)
        wt = w.repeat(t, 1)[:, :, None, None, None]  # [T*B, 3, 1, 1, 1]
        x = torch.cat([wt[:, i] * self._event_conv(conv, x)
                       for i, conv in enumerate(self.ev_conv1)], dim=1)
        x = self._event_conv(self.ev_conv1_cat, x)
        x = self.lif1(x.unflatten(0, (t, b))).flatten(0, 1)
        for conv, lif in ((self.ev_conv2, self.lif2), (self.ev_conv3, self.lif3)):
            x = lif(self._event_conv(conv, x).unflatten(0, (t, b))).flatten(0, 1)
        return x.flatten(1).unflatten(0, (t, b))

    def forward(self, event: Tensor | None = None, rgb: Tensor | None = None) -> Tensor:
        """Logits ``[B, num_classes]`` = time-averaged output membrane."""
        check_modalities("SEEN", event, rgb, self.in_channels, self.rgb_channels)
        size = self.config.image_size
        if event.shape[-2:] != (size, size):
            raise InputShapeError(
                f"SEEN: inputs must be {size}x{size} (the fc layer is sized for it; set "
                f"image_size=...), got {tuple(event.shape)}"
            )
        if "event" in self.input_norm:
            event = (event - self.input_norm["event"][0]) / self.input_norm["event"][1]
        if "rgb" in self.input_norm:
            rgb = (rgb - self.input_norm["rgb"][0]) / self.input_norm["rgb"][1]
        reset(self)
        frame_spikes, w = self.frame_branch(rgb)
        ev = self.event_branch(event, w)
        h1 = self.lif_fc1(self.fc1(ev + frame_spikes.unsqueeze(0)))
        return self.readout(self.fc2(h1)).mean(dim=0)


@register_model("seen")
def seen(num_classes: int = 7, in_channels: int = 3, rgb_channels: int = 3,
         preset: str = "paper", neuron: NeuronSpec = SEEN_LIF,
         neuron_kw: Mapping[str, Any] | None = None, readout_neuron: NeuronSpec | None = None,
         weight_copy: str = "detach", image_size: int | None = None,
         num_frames: int | None = None, widths: tuple[int, int, int] | None = None,
         fc_hidden: int | None = None,
         input_norm: str | Mapping[str, tuple[float, float]] | None = "see") -> SEEN:
    """SEEN baseline (SIGGRAPH 2023): 90x90, T = 4, LIF event branch with weight copy."""
    return SEEN(num_classes, in_channels, rgb_channels, preset, neuron, neuron_kw,
                readout_neuron, weight_copy, image_size, num_frames, widths, fc_hidden,
                input_norm)
