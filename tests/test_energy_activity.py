"""ActivityMonitor: per-layer non-zero fraction, binariness and mean through forward hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnfer.energy import ActivityMonitor, tensor_stats
from snnfer.errors import ArgumentError
from snnfer.neuron import IFNode, SoftSpikingNeuron


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 10), IFNode(v_threshold=0.2), nn.Linear(10, 8),
                         SoftSpikingNeuron(threshold=0.1), nn.Linear(8, 2))


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_tensor_stats():
    s = tensor_stats(torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert (s.elements, s.nonzero, s.total, s.binary) == (4, 2, 2.0, True)
    s = tensor_stats(torch.tensor([0.0, 0.5, 2.0]))
    assert (s.nonzero, s.total, s.binary) == (2, 2.5, False)
    assert tensor_stats(torch.zeros(3)).binary
    assert tensor_stats(torch.tensor([True, False])).binary


def test_records_match_the_layers_own_outputs():
    torch.manual_seed(0)
    net = _net().eval()
    x = torch.rand(5, 3, 6)                       # [T, B, features]
    with torch.no_grad():
        h1 = net[0](x)
        s1 = net[1](h1)
        soft = net[3](net[2](s1))
    net[1].reset()
    assert _hooks(net) == 0
    with torch.no_grad(), ActivityMonitor(net) as mon:
        assert mon.active and _hooks(net) == 5    # 2 neurons + 3 linear layers
        net(x)
    assert not mon.active and _hooks(net) == 0    # cheap when off: nothing installed
    rec = {(r["layer"], r["role"]): r for r in mon.records()}
    assert rec[("1", "neuron output")]["nonzero_fraction"] == pytest.approx(
        float((s1 != 0).float().mean()))
    assert rec[("1", "neuron output")]["binary"] is True
    assert rec[("2", "layer input")]["nonzero_fraction"] == pytest.approx(
        float((s1 != 0).float().mean()))
    assert rec[("3", "neuron output")]["binary"] is False     # soft spikes carry values
    assert rec[("3", "neuron output")]["mean"] == pytest.approx(float(soft.mean()), rel=1e-5)
    assert rec[("0", "layer input")]["nonzero_fraction"] == 1.0
    assert set(mon.firing_rates()) == {"1", "3"}
    assert set(mon.records()[0]) == {"layer", "module", "role", "nonzero_fraction", "binary",
                                      "mean", "elements", "calls"}


def test_statistics_accumulate_until_reset_and_filters_apply():
    net = _net()
    x = torch.rand(4, 2, 6)
    mon = ActivityMonitor(net, layer_inputs=False)
    with torch.no_grad():
        with mon:
            net(x)
            net[1].reset()
            net(x)
        with mon:                                  # re-entering keeps accumulating
            net[1].reset()
            net(x)
    (first, *_) = mon.layers()
    assert first.calls == 3 and first.elements == 3 * 4 * 2 * 10
    assert all(layer.role == "neuron output" for layer in mon.layers())
    mon.reset()
    assert mon.records() == []
    only = ActivityMonitor(net, include=lambda name, module: name == "3")
    with torch.no_grad(), only:
        net[1].reset()
        net(x)
    assert [r["layer"] for r in only.records()] == ["3"]
    assert "| 3 | SoftSpikingNeuron | neuron output |" in only.to_markdown()
    assert list(only.to_dict()) == ["3|neuron output"]


def test_wrapped_library_neuron_is_one_layer():
    pytest.importorskip("spikingjelly")
    from snnfer.neuron import make_neuron

    net = nn.Sequential(nn.Linear(3, 4), make_neuron("spikingjelly:IFNode", v_threshold=0.1))
    with torch.no_grad(), ActivityMonitor(net) as mon:
        net(torch.rand(2, 1, 3))
    assert [r["layer"] for r in mon.records()] == ["0", "1"]
    assert mon.records()[1]["binary"] is True


def test_bad_use_raises():
    with pytest.raises(ArgumentError, match="nn.Module"):
        ActivityMonitor("model")
    mon = ActivityMonitor(_net())
    with mon, pytest.raises(ArgumentError, match="already active"):
        mon.__enter__()
