"""Model cost for reports: parameters, GMACs, estimated energy, latency and firing rates.

Everything comes from :mod:`snnfer.energy` on real test clips of the run:

- ``gmacs``: dense multiply-accumulates per clip (thop's count plus snnfer's rules for what
  thop cannot see, e.g. attention products; CS3D §IV-B1), ``thop_gmacs`` thop's alone;
- ``energy_mj``: estimated compute energy per clip with zero-skipping pricing (45 nm
  Horowitz constants: MAC 4.6 pJ, AC 0.9 pJ; binary spikes as ACs, soft spikes as sparse
  MACs; CS3D §IV-B2), averaged over the example clips; ``dense_energy_mj``: every MAC priced
  dense (what a GPU-like accelerator would do, E_MAC x GMACs);
- ``latency_ms``: median wall-clock forward time of one clip on this device;
- firing rates: non-zero fraction of every neuron layer's output
  (:class:`snnfer.energy.ActivityMonitor`, any neuron library).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

from snnfer.neuron import reset
from snnfer.train.trainer import forward

__all__ = ["ENERGY_TECH", "count_parameters", "firing_rates", "measure_latency", "model_cost"]

ENERGY_TECH = "45nm-fp32"


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _example_batch(x: Any, batch: int = 1) -> Any:
    if isinstance(x, dict):
        return {k: v[:batch] for k, v in x.items()}
    return x[:batch]


@torch.inference_mode()
def measure_latency(model: nn.Module, x: Any, *, repeats: int = 10, warmup: int = 2) -> float:
    """Median wall-clock time of one forward pass (ms), neurons reset before each pass."""
    model.eval()
    cuda = next(model.parameters()).is_cuda
    times = []
    for i in range(warmup + repeats):
        reset(model)
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        forward(model, x)
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    reset(model)
    return statistics.median(times)


def firing_rates(model: nn.Module, x: Any) -> dict[str, float]:
    """Non-zero fraction of every neuron layer's output on the batch ``x`` (one forward)."""
    from snnfer.energy import ActivityMonitor

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), ActivityMonitor(model, layer_inputs=False) as monitor:
            reset(model)
            forward(model, x)
        return monitor.firing_rates()
    finally:
        reset(model)
        model.train(was_training)


def model_cost(model: nn.Module, example: Any, *, latency_repeats: int = 10) -> dict[str, Any]:
    """Parameters, GMACs, estimated energy (per clip, averaged over the clips of the batch
    ``example``) and latency (batch 1) of ``model``; see the module docstring."""
    from snnfer.energy import count_ops, price

    ops = count_ops(model, example)
    sparse = price(ops, ENERGY_TECH, zero_skipping=True)
    dense = price(ops, ENERGY_TECH, zero_skipping=False)
    n = ops.batch_size
    return {
        "params": count_parameters(model),
        "gmacs": ops.total_macs / n / 1e9,
        "thop_gmacs": ops.thop_macs / n / 1e9,
        "gacs": sparse.total_acs / n / 1e9,
        "energy_mj": sparse.per_sample_mj,
        "dense_energy_mj": dense.per_sample_mj,
        "energy_tech": ENERGY_TECH,
        "energy_clips": n,
        "latency_ms": measure_latency(model, _example_batch(example, 1),
                                      repeats=latency_repeats),
    }
