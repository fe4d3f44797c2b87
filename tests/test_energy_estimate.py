"""estimate_energy: soft-spike-aware pricing, Horowitz constants, spikingjelly cross-check."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from snnfer.energy import TECH_PRESETS, EnergyConstants, count_ops, estimate_energy, price
from snnfer.errors import ArgumentError, UnknownNameError
from snnfer.neuron import IFNode, SoftSpikingNeuron, make_neuron
from tests.conftest import require


def test_horowitz_presets_and_frozen_constants():
    fp32, fp16, int8 = (TECH_PRESETS[f"45nm-{p}"] for p in ("fp32", "fp16", "int8"))
    assert (fp32.mac_pj, fp32.ac_pj) == (4.6, 0.9)     # Horowitz ISSCC 2014, 45 nm
    assert (fp16.mac_pj, fp16.ac_pj) == (1.5, 0.4)
    assert (int8.mac_pj, int8.ac_pj) == (0.23, 0.03)
    assert "ISSCC 2014" in fp32.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        fp32.add_pj = 0.1
    with pytest.raises(ArgumentError, match="mult_pj"):
        EnergyConstants("bad", mult_pj=-1.0, add_pj=0.1)
    with pytest.raises(UnknownNameError, match="45nm-fp16"):
        estimate_energy(nn.Identity(), torch.rand(1, 1, 1, 1, 1), tech="7nm")


class SpikeMLP(nn.Module):
    """Linear -> neuron -> Linear on [B, T, C, H, W] (time first for the neuron)."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 32, bias=False)
        self.neuron = neuron
        self.fc2 = nn.Linear(32, 4, bias=False)

    def forward(self, x):
        h = self.fc1(x.flatten(2).transpose(0, 1))   # [T, B, 32]
        return self.fc2(self.neuron(h)).mean(0)


def _fc2_input(net: SpikeMLP, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.neuron(net.fc1(x.flatten(2).transpose(0, 1)))


def test_binary_spikes_are_acs_soft_spikes_sparse_macs_dense_macs():
    x = torch.rand(2, 6, 1, 4, 4)
    dense_fc2 = 2 * 6 * 32 * 4
    for neuron, kind in ((IFNode(v_threshold=0.3), "AC"),
                         (SoftSpikingNeuron(threshold=0.3), "sparse MAC")):
        net = SpikeMLP(neuron).eval()
        spikes = _fc2_input(net, x)
        nnz = int((spikes != 0).sum())
        assert 0 < nnz < spikes.numel()
        report = estimate_energy(net, x)
        fc1, fc2 = (next(r for r in report.rows if r.layer == n) for n in ("fc1", "fc2"))
        assert fc1.op_type == "MAC" and fc1.macs == 2 * 6 * 16 * 32
        assert fc2.op_type == kind and fc2.dense_macs == dense_fc2
        assert fc2.input_nonzero_fraction == pytest.approx(nnz / spikes.numel())
        if kind == "AC":
            assert (fc2.acs, fc2.sparse_macs) == (nnz * 4, 0)
            assert fc2.energy_pj == pytest.approx(0.9 * nnz * 4)
        else:  # the SSN's soft spikes multiply the weights: never priced as ACs
            assert (fc2.sparse_macs, fc2.acs) == (nnz * 4, 0)
            assert fc2.energy_pj == pytest.approx(4.6 * nnz * 4)
        assert report.total_pj == pytest.approx(sum(r.energy_pj for r in report.rows))
        assert report.total_mj == pytest.approx(report.total_pj * 1e-9)
        assert report.per_sample_mj == pytest.approx(report.total_mj / 2)


def test_dense_pricing_is_thop_times_e_mac_plus_rules():
    net = SpikeMLP(IFNode(v_threshold=0.3))
    x = torch.rand(1, 4, 1, 4, 4)
    ops = count_ops(net, x)
    dense = price(ops, "45nm-fp32", zero_skipping=False)
    neuron_acs = 3 * 4 * 32
    mean_ops = ops.rule_macs * 4.6 + (ops.rule_acs - neuron_acs) * 0.9  # the final mean(0)
    assert dense.total_pj == pytest.approx(4.6 * ops.thop_macs + 0.9 * neuron_acs + mean_ops)
    assert dense.total_sparse_macs == 0
    fp16 = price(ops, "45nm-fp16")
    fp32 = price(ops, "45nm-fp32")
    assert fp16.total_macs == fp32.total_macs and fp16.total_acs == fp32.total_acs
    assert fp16.total_pj == pytest.approx(1.5 * fp32.total_macs + 0.4 * fp32.total_acs)


def test_silent_spike_input_costs_nothing():
    net = SpikeMLP(IFNode(v_threshold=1e6))
    report = estimate_energy(net, torch.rand(1, 3, 1, 4, 4))
    fc2 = next(r for r in report.rows if r.layer == "fc2")
    assert fc2.op_type == "AC" and fc2.energy_pj == 0 and fc2.input_nonzero_fraction == 0


def test_report_dict_and_markdown():
    report = estimate_energy(SpikeMLP(IFNode(v_threshold=0.3)), torch.rand(1, 3, 1, 4, 4))
    d = report.to_dict()
    assert d["total_mj"] == report.total_mj and d["tech"]["mac_pj"] == 4.6
    assert [r["layer"] for r in d["rows"]] == [r.layer for r in report.rows]
    table = report.to_markdown()
    assert "MAC 4.6 pJ, AC 0.9 pJ" in table and "| fc2 | Linear | AC |" in table
    assert report.by_source()["neuron"]["acs"] == 3 * 3 * 32


# -- cross-check with spikingjelly 2.0's op_counter --------------------------------------
class SpikingCNN(nn.Module):
    """conv (dense input: MACs) -> IF -> conv (spikes: ACs) -> IF -> pool -> linear (ACs)."""

    def __init__(self, neuron: str, bn: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8) if bn else nn.Identity()
        self.sn1 = make_neuron(neuron, v_threshold=0.3)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.sn2 = make_neuron(neuron, v_threshold=0.3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):  # [B, T, C, H, W]
        b, t = x.shape[:2]
        frames = x.transpose(0, 1).flatten(0, 1)                     # [T*B, C, H, W]
        s = self.sn1(self.bn1(self.conv1(frames)).unflatten(0, (t, b)))
        s = self.sn2(self.conv2(s.flatten(0, 1)).unflatten(0, (t, b)))
        return self.fc(self.pool(s.flatten(0, 1)).flatten(1))          # per-step logits


def _spikingjelly_counts(net: nn.Module, x: torch.Tensor, ignore: list[type]) -> tuple[int, int]:
    op_counter = require("spikingjelly.activation_based.op_counter")
    macs = op_counter.MACCounter(extra_ignore_modules=ignore)
    acs = op_counter.ACCounter(extra_ignore_modules=ignore)
    with torch.no_grad(), op_counter.DispatchCounterMode([macs, acs]):
        net(x)
    return macs.get_total(), acs.get_total()


def _snnfer_counts(report, exclude: tuple[str, ...]) -> tuple[float, float]:
    rows = [r for r in report.rows if r.source != "neuron" and r.module not in exclude]
    return sum(r.macs + r.sparse_macs for r in rows), sum(r.acs for r in rows)


@pytest.mark.interop
@pytest.mark.parametrize("neuron", ["if", "spikingjelly:IFNode", "spikingjelly:LIFNode"])
def test_ac_and_mac_totals_agree_with_spikingjelly_op_counter(neuron):
    """Conventions aligned: spikingjelly counts a neuron's internal aten adds as ACs,
    snnfer prices neurons by a per-element rule in their own column -- both sides leave
    neurons out (spikingjelly: ``extra_ignore_modules``); both ignore bias additions and
    count zero-padded positions of spike-driven convolutions as no work."""
    require("spikingjelly")
    from snnfer.neuron import SpikingNeuron, reset

    torch.manual_seed(0)
    net = SpikingCNN(neuron).eval()
    x = torch.rand(2, 4, 2, 16, 16)
    report = estimate_energy(net, x)
    reset(net)
    sj_macs, sj_acs = _spikingjelly_counts(net, x, [SpikingNeuron])
    ours_macs, ours_acs = _snnfer_counts(report, exclude=())
    assert sj_macs > 0 and sj_acs > 0
    assert ours_macs == pytest.approx(sj_macs, rel=0.01)
    assert ours_acs == pytest.approx(sj_acs, rel=0.01)
    conv2 = next(r for r in report.rows if r.layer == "conv2")
    assert conv2.op_type == "AC" and 0 < conv2.input_nonzero_fraction < 1


@pytest.mark.interop
def test_batchnorm_alignment_with_spikingjelly():
    """With BatchNorm both sides exclude it (spikingjelly prices BN's affine as n MACs plus
    c + n ACs, thop as 4n operations); the synaptic counts still agree."""
    require("spikingjelly")
    from snnfer.neuron import SpikingNeuron, reset

    torch.manual_seed(1)
    net = SpikingCNN("if", bn=True).eval()
    x = torch.rand(1, 3, 2, 16, 16)
    report = estimate_energy(net, x)
    reset(net)
    sj_macs, sj_acs = _spikingjelly_counts(net, x, [SpikingNeuron, nn.BatchNorm2d])
    ours_macs, ours_acs = _snnfer_counts(report, exclude=("BatchNorm2d",))
    assert ours_macs == pytest.approx(sj_macs, rel=0.01)
    assert ours_acs == pytest.approx(sj_acs, rel=0.01)


@pytest.mark.interop
def test_soft_spike_dense_view_matches_spikingjelly_macs():
    """spikingjelly's MACCounter prices non-binary input fully; so does snnfer's dense
    view, while the zero-skipping view prices only the non-zero soft spikes."""
    require("spikingjelly")
    from snnfer.neuron import SpikingNeuron, reset

    torch.manual_seed(0)
    net = SpikeMLP(SoftSpikingNeuron(threshold=0.3)).eval()
    x = torch.rand(2, 5, 1, 4, 4)
    ops = count_ops(net, x)
    reset(net)
    sj_macs, sj_acs = _spikingjelly_counts(net, x, [SpikingNeuron])
    dense = price(ops, zero_skipping=False)
    fc_rows = [r for r in dense.rows if r.module == "Linear"]
    assert sum(r.macs for r in fc_rows) == sj_macs
    sparse = price(ops)
    assert sum(r.sparse_macs for r in sparse.rows) < 0.8 * sum(r.macs for r in fc_rows[1:])
