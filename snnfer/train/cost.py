"""Model cost for reports: parameters, GMACs, estimated energy, latency and firing rates.

GMACs and energy come from :mod:`snnfer.energy` (``count_ops`` / ``estimate_energy``,
45 nm Horowitz constants, soft-spike aware); without it GMACs fall back to thop (a core
dependency) and the energy is reported as unavailable. Per-layer firing rates come from
``snnfer.energy.ActivityMonitor`` when present, else from forward hooks on snnfer's neuron
modules (fraction of non-zero outputs).
"""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any

import torch
from torch import nn

from snnfer.neuron import SpikingNeuron, reset
from snnfer.train.trainer import forward

__all__ = ["count_parameters", "firing_rates", "measure_latency", "model_cost"]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _example_batch(x: Any, batch: int = 1) -> Any:
    if isinstance(x, dict):
        return {k: v[:batch] for k, v in x.items()}
    return x[:batch]


class _KwargsAdapter(nn.Module):
    """Lets thop (positional inputs only) profile a two-modality model."""

    def __init__(self, model: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.model, self.keys = model, keys

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.keys, xs)))


def _thop_macs(model: nn.Module, x: Any) -> float:
    import copy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import thop

    m = copy.deepcopy(model)
    reset(m)
    if isinstance(x, dict):
        m, inputs = _KwargsAdapter(m, list(x)), tuple(x.values())
    else:
        inputs = (x,)
    with warnings.catch_warnings():  # thop 0.1 uses distutils' deprecated LooseVersion
        warnings.simplefilter("ignore", DeprecationWarning)
        macs, _ = thop.profile(m, inputs=inputs, verbose=False)
    return float(macs)


@torch.inference_mode()
def measure_latency(model: nn.Module, x: Any, *, repeats: int = 10, warmup: int = 2) -> float:
    """Median wall-clock time of one forward pass (ms), neurons reset before each pass."""
    model.eval()
    times = []
    for i in range(warmup + repeats):
        reset(model)
        if x is not None and next(model.parameters()).is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        forward(model, x)
        if next(model.parameters()).is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    reset(model)
    return statistics.median(times)


@torch.inference_mode()
def firing_rates(model: nn.Module, x: Any) -> dict[str, float]:
    """Fraction of non-zero outputs of every spiking layer on input ``x`` (one forward pass)."""
    model.eval()
    try:
        from snnfer.energy import ActivityMonitor
    except ImportError:
        ActivityMonitor = None
    if ActivityMonitor is not None:
        reset(model)
        with ActivityMonitor(model) as monitor:
            forward(model, x)
        reset(model)
        rates = _rates_from_monitor(monitor)
        if rates:
            return rates
    rates: dict[str, list[float]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, SpikingNeuron):
            def hook(_m, _inp, out, name=name):
                out = out[0] if isinstance(out, tuple) else out
                rates.setdefault(name, []).append(float((out != 0).float().mean()))
            hooks.append(module.register_forward_hook(hook))
    try:
        reset(model)
        forward(model, x)
    finally:
        for h in hooks:
            h.remove()
        reset(model)
    return {k: sum(v) / len(v) for k, v in rates.items()}


def _rates_from_monitor(monitor: Any) -> dict[str, float]:
    """Neuron-layer non-zero rates from an ActivityMonitor (``rates()``/``rates``/``summary()``)."""
    for attr in ("neuron_rates", "rates", "summary"):
        value = getattr(monitor, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, dict) and value:
            out = {}
            for k, v in value.items():
                if isinstance(v, dict):
                    v = v.get("nonzero_rate", v.get("rate"))
                if isinstance(v, (int, float)):
                    out[str(k)] = float(v)
            if out:
                return out
    return {}


def model_cost(model: nn.Module, example: Any, *, latency_repeats: int = 10) -> dict[str, Any]:
    """params, gmacs (dense multiply-accumulates per sample, thop convention), energy_mj
    (estimated per sample), latency_ms (median, batch 1, this device) for ``example``
    (a batch; its first sample is used)."""
    x = _example_batch(example, 1)
    out: dict[str, Any] = {"params": count_parameters(model)}
    notes = []
    try:
        from snnfer.energy import count_ops, estimate_energy
    except ImportError:
        count_ops = estimate_energy = None
        notes.append("snnfer.energy unavailable: GMACs from thop, no energy estimate")
    gmacs = energy = None
    if count_ops is not None:
        reset(model)
        report = count_ops(model, x)
        gmacs = float(report.total_macs) / 1e9
        reset(model)
        energy = float(estimate_energy(model, x).total_mj)
    else:
        gmacs = _thop_macs(model, x) / 1e9
    out.update(gmacs=gmacs, energy_mj=energy)
    out["latency_ms"] = measure_latency(model, x, repeats=latency_repeats)
    if notes:
        out["notes"] = notes
    return out
