"""Tiny FER datasets and models for the training tests (independent of snnfer.models/data)."""

from __future__ import annotations

import os

import torch
from torch import nn

from snnfer.data.base import FERDataset, SampleInfo
from snnfer.models import list_models, register_model
from snnfer.neuron import LIFNode
from snnfer.train.data import list_datasets, register_dataset

SHAPE = (4, 2, 8, 8)  # T, C, H, W


class ToyFER(FERDataset):
    """Learnable toy clips: class ``c`` lights a class-specific 2x2 patch that moves in time.

    ``subjects`` subjects, ``per_class`` clips per class and subject split over the
    conditions; deterministic by ``seed``.
    """

    def __init__(self, root=None, *, num_classes: int = 3, per_class: int = 8, subjects: int = 4,
                 conditions=("normal", "low"), seed: int = 0, shape=SHAPE, noise: float = 0.3,
                 fixed_split: bool = False) -> None:
        self.classes = [f"class{i}" for i in range(num_classes)]
        g = torch.Generator().manual_seed(seed)
        t, c, h, w = shape
        self.samples, self._x = [], []
        for k in range(per_class * num_classes):
            label = k % num_classes
            subj = f"s{(k // num_classes) % subjects:02d}"
            cond = conditions[k % len(conditions)] if conditions else None
            x = noise * torch.rand(shape, generator=g)
            row = (2 * label) % (h - 2)
            for step in range(t):
                col = (step + label) % (w - 2)
                x[step, label % c, row:row + 2, col:col + 2] += 1.0
            extra = {"subset": "test" if (k // num_classes) % 4 == 3 else "train"} \
                if fixed_split else {}
            self.samples.append(SampleInfo(label=label, sequence=f"{k:03d}", subject=subj,
                                           condition=cond, extra=extra))
            self._x.append(x)

    def load(self, index: int) -> torch.Tensor:
        return self._x[index]


class ToyPair(ToyFER):
    """Two modalities (event, rgb) with the same content."""

    def load(self, index: int):
        x = self._x[index]
        return {"event": x, "rgb": x[:, :1].repeat(1, 3, 1, 1)}


class ToySNN(nn.Module):
    """Per-time-step linear layer -> LIF (multi-step) -> dropout -> mean over time -> classifier."""

    def __init__(self, num_classes: int = 3, in_channels: int | None = None, preset: str = "small",
                 hidden: int = 32, dropout: float = 0.1, nan_after: int | None = None,
                 crash_on_rank: int | None = None) -> None:
        super().__init__()
        t, _, h, w = SHAPE
        in_channels = in_channels or 2  # None: the preset's channel count, like real models
        self.default_input_shape = (t, in_channels, h, w)
        self.preset = preset
        self.fc1 = nn.Linear(in_channels * h * w, hidden)
        self.lif = LIFNode(tau=2.0, v_threshold=0.5)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.nan_after = nan_after
        self.crash_on_rank = crash_on_rank  # DDP tests: this rank's worker dies in epoch 2
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        z = self.fc1(x.reshape(b, t, -1)).transpose(0, 1)  # [T, B, hidden]
        s = self.lif(z).mean(0)
        out = self.fc2(self.drop(s) + 0.1 * z.mean(0))
        if self.training:
            self.calls += 1
            if self.nan_after is not None and int(self.calls) > self.nan_after:
                out = out * float("nan")
            rank = int(os.environ.get("RANK", "0"))
            if self.crash_on_rank == rank and int(self.calls) > 1:
                raise RuntimeError(f"toy worker on rank {rank} crashed on purpose")
        return out


class ToyFusion(nn.Module):
    """Two-modality model taking ``model(event=..., rgb=...)``."""

    modalities = ("event", "rgb")

    def __init__(self, num_classes: int = 3, in_channels: int = 3, preset: str = "small") -> None:
        super().__init__()
        t, _, h, w = SHAPE
        self.default_input_shape = {"event": (t, 2, h, w), "rgb": (t, 3, h, w)}
        self.preset = preset
        self.ev = nn.Linear(2 * h * w, 16)
        self.rgb = nn.Linear(3 * h * w, 16)
        self.lif = LIFNode(tau=2.0, v_threshold=0.5)
        self.head = nn.Linear(32, num_classes)

    def forward(self, event: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        b, t = event.shape[:2]
        e = self.lif(self.ev(event.reshape(b, t, -1)).transpose(0, 1)).mean(0)
        r = self.rgb(rgb.reshape(b, t, -1)).mean(1)
        return self.head(torch.cat([e, r], 1))


def _toy_snn(num_classes: int = 3, in_channels: int = 2, preset: str = "small", **kw) -> ToySNN:
    return ToySNN(num_classes, in_channels, preset, **kw)


def _toy_fusion(num_classes: int = 3, in_channels: int = 3, preset: str = "small") -> ToyFusion:
    return ToyFusion(num_classes, in_channels, preset)


if "toy_snn" not in list_models():
    register_model("toy_snn")(_toy_snn)
    register_model("toy_fusion")(_toy_fusion)
if "toy" not in list_datasets():
    register_dataset("toy", ToyFER, needs_root=False)
    register_dataset("toy_pair", ToyPair, needs_root=False)
    register_dataset("toy_folder", ToyFER, needs_root=True)


def tiny_config(**overrides):
    """A fast config for the toy model/dataset (overrides: nested dict)."""
    from snnfer.train.config import preset_config

    cfg = preset_config("small", "toy_snn")
    base = {
        "model": {"name": "toy_snn", "preset": "small"},
        "data": {"dataset": "toy", "batch_size": 8, "val_fraction": 0.2, "test_fraction": 0.25},
        "optim": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "cosine", "warmup_epochs": 0.5},
        "train": {"epochs": 3, "progress": False, "tensorboard": False, "seed": 0},
    }
    cfg = cfg.updated(base)
    return cfg.updated(overrides) if overrides else cfg
