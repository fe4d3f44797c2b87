"""Optimisers and learning-rate schedules of the papers (see :mod:`snnfer.train.config`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from snnfer.errors import UnknownNameError
from snnfer.train.config import OPTIMIZERS, SCHEDULES, OptimConfig, ScheduleConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(cfg: OptimConfig, params: Iterable[torch.nn.Parameter]
                    ) -> torch.optim.Optimizer:
    """Adam (CS3D §IV-C), AdamW (HEC-Net §4) or SGD with momentum (Spiking-FER, SEEN)."""
    params = [p for p in params if p.requires_grad]
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas),
                                weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas),
                                 weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    raise UnknownNameError("optimizer", cfg.name, OPTIMIZERS)


def lr_factor(cfg: ScheduleConfig, epochs: int, epoch: float, base_lr: float) -> float:
    """Multiplier of the base lr after ``epoch`` (fractional) completed epochs.

    Linear warm-up from ``warmup_start_factor`` to 1 over ``warmup_epochs``, then
    ``constant`` 1; ``cosine`` 0.5 (1 + cos(pi e / E)) from 1 down to ``min_lr / lr`` over
    the remaining ``E`` epochs; ``step`` ``gamma ** floor(e / step_size)``; ``exponential``
    ``gamma ** floor(e)`` (epoch-wise, like ``StepLR(step_size=1)``).
    """
    w = cfg.warmup_epochs
    if w > 0 and epoch < w:
        return cfg.warmup_start_factor + (1.0 - cfg.warmup_start_factor) * epoch / w
    after = epoch - w
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "cosine":
        span = max(epochs - w, 1e-12)
        floor = cfg.min_lr / base_lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(after / span, 1.0)))
    if cfg.name == "step":
        return cfg.gamma ** math.floor(after / cfg.step_size + 1e-9)
    if cfg.name == "exponential":
        return cfg.gamma ** math.floor(after + 1e-9)
    raise UnknownNameError("schedule", cfg.name, SCHEDULES)


def build_scheduler(cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, epochs: int,
                    steps_per_epoch: int) -> LambdaLR:
    """A per-step :class:`LambdaLR` following :func:`lr_factor` (``scheduler.step()`` after
    every optimiser step); its state dict holds only counters, so it is checkpoint-safe."""
    base = optimizer.param_groups[0]["lr"]
    steps = max(int(steps_per_epoch), 1)
    return LambdaLR(optimizer, lambda step: lr_factor(cfg, epochs, step / steps, base))
