"""Energy tools: op counting, activity monitoring, energy estimation, power measurement.

CS3D paper §IV-B: complexity with thop (§IV-B1) and energy (§IV-B2) -- estimated from the
operation counts with Horowitz's 45 nm energies (soft-spike aware), or measured with a
power sensor (Eq. 4, E = sum_i P_i * dt).

>>> import torch
>>> from torch import nn
>>> from snnfer.energy import count_ops, estimate_energy
>>> net = nn.Sequential(nn.Flatten(2), nn.Linear(16, 4))
>>> count_ops(net, torch.rand(1, 2, 1, 4, 4)).thop_macs
128.0
"""

from snnfer.energy.activity import ActivityMonitor, LayerActivity, tensor_stats
from snnfer.energy.constants import TECH_PRESETS, EnergyConstants, get_constants
from snnfer.energy.estimate import EnergyReport, EnergyRow, estimate_energy, price
from snnfer.energy.inputs import example_inputs, parse_input_shape
from snnfer.energy.ops import LayerOps, OpReport, count_ops
from snnfer.energy.power import PowerMeter, PowerReading
from snnfer.energy.power_sources import PowerSource, open_source

__all__ = [
    "TECH_PRESETS",
    "ActivityMonitor",
    "EnergyConstants",
    "EnergyReport",
    "EnergyRow",
    "LayerActivity",
    "LayerOps",
    "OpReport",
    "PowerMeter",
    "PowerReading",
    "PowerSource",
    "count_ops",
    "estimate_energy",
    "example_inputs",
    "get_constants",
    "open_source",
    "parse_input_shape",
    "price",
    "tensor_stats",
]
