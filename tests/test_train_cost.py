"""Run costs (summary.json, demo table) from snnfer.energy on the real CS3D / C3D models."""

from __future__ import annotations

import warnings

import pytest
import torch

from snnfer.energy import ActivityMonitor, estimate_energy
from snnfer.models import create_model
from snnfer.neuron import SpikingNeuron
from snnfer.train.cost import firing_rates, model_cost


def _model(name: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    m = create_model(name, num_classes=7, in_channels=2, preset="small", input_size=(16, 32, 32),
                     **kw)
    x = (torch.rand(3, *m.default_input_shape) < 0.3).float()
    m.train()
    m(x)  # one training-mode pass: BatchNorm statistics of this input (as after training)
    return m.eval(), x


@pytest.mark.parametrize("name", ["cs3d", "c3d"])
def test_cost_uses_snnfer_energy_and_matches_thop(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import thop
    model, x = _model(name)
    cost = model_cost(model, x, latency_repeats=2)
    assert cost["params"] == sum(p.numel() for p in model.parameters())
    macs, _ = thop.profile(model, (x[:1],), verbose=False)
    assert cost["thop_gmacs"] == pytest.approx(macs / 1e9, rel=1e-9)  # per clip
    assert cost["gmacs"] >= cost["thop_gmacs"]
    assert cost["gmacs"] == pytest.approx(cost["thop_gmacs"], rel=0.01)  # rules add little here
    sparse = estimate_energy(model, x)  # zero-skipping, 45 nm fp32
    dense = estimate_energy(model, x, zero_skipping=False)
    assert cost["energy_mj"] == pytest.approx(sparse.total_mj / 3, rel=1e-9)
    assert cost["dense_energy_mj"] == pytest.approx(dense.total_mj / 3, rel=1e-9)
    assert 0 < cost["energy_mj"] <= cost["dense_energy_mj"]
    # dense pricing is E_MAC = 4.6 pJ per MAC, plus the neurons' accumulates
    assert cost["dense_energy_mj"] == pytest.approx(4.6e-9 * cost["gmacs"] * 1e9, rel=0.05)
    assert cost["latency_ms"] > 0 and cost["energy_clips"] == 3
    assert not model.training


def test_cs3d_costs_less_than_c3d():
    cs3d, x = _model("cs3d")
    c3d, _ = _model("c3d")
    a, b = model_cost(cs3d, x, latency_repeats=1), model_cost(c3d, x, latency_repeats=1)
    # factorized convolutions: about a fifth of C3D's MACs (paper: 4.68 / 21.29 G)
    assert 0.15 < a["thop_gmacs"] / b["thop_gmacs"] < 0.3
    assert a["energy_mj"] < b["energy_mj"]


@pytest.mark.parametrize("neuron", [None, "spikingjelly:LIFNode"])
def test_firing_rates_of_every_neuron_layer(neuron):
    kw = {} if neuron is None else {"neuron": neuron}
    model, x = _model("cs3d", **kw)
    rates = firing_rates(model, x)
    neurons = [n for n, m in model.named_modules() if isinstance(m, SpikingNeuron)]
    assert sorted(rates) == sorted(neurons) and len(rates) == 12  # 5 blocks x 2 + 2 FC
    if neuron is not None:  # spikingjelly's LIFNode inside snnfer's adapter
        inner = {type(m).__name__ for n, m in model.named_modules() if n.endswith(".module")}
        assert inner == {"LIFNode"}
    with torch.no_grad(), ActivityMonitor(model, layer_inputs=False) as mon:
        model(x)
    assert rates == pytest.approx(mon.firing_rates())
    assert all(0 <= r <= 1 for r in rates.values())
    if neuron is None:  # the SSN of the first block passes part of its input
        assert rates["features.conv1.act1"] > 0
