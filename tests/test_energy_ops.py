"""count_ops: thop agreement, snnfer's counting rules, exact non-zero counting, inputs."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from snnfer.energy import count_ops
from snnfer.energy.rules import neuron_cost
from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError
from snnfer.neuron import IFNode, LIFNode, SoftSpikingNeuron

with warnings.catch_warnings():  # thop 0.1.1 compares versions with distutils
    warnings.simplefilter("ignore", DeprecationWarning)
    import thop


class Frames(nn.Module):
    """Applies ``body`` to [B*T, C, H, W] frames and flattens the result."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x.flatten(0, 1)).flatten(1)


def test_thop_column_equals_thop_profile_on_standard_layers():
    net = Frames(nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 6, 3, groups=3), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 5)))
    x = torch.rand(2, 3, 2, 10, 10)
    report = count_ops(net, x)
    expected, params = thop.profile(net, (x,), verbose=False)
    assert report.thop_macs == expected
    assert report.params == params == sum(p.numel() for p in net.parameters())
    # conv1: 6 x 10 x 10 outputs x 2 x 9 weights each, for 6 frames
    conv1 = next(r for r in report.rows if r.layer == "body.0")
    assert conv1.thop_macs == 6 * (6 * 10 * 10) * 2 * 9
    assert report.rule_macs == 0 and report.rule_acs == 0


def test_neuron_rules_count_per_element():
    x = torch.rand(4, 3, 5)
    for neuron, (macs, acs) in [
        (IFNode(), (0, 3)), (LIFNode(tau=2.0), (2, 2)), (LIFNode(decay_input=False), (1, 2)),
        (SoftSpikingNeuron(), (0, 2)), (SoftSpikingNeuron(decay=0.5), (1, 3)),
        (SoftSpikingNeuron(decay=0.5, reset="none"), (1, 2)),
    ]:
        assert neuron_cost(neuron) == (macs, acs)
        net = nn.Sequential(nn.Identity(), neuron)
        rows = count_ops(net, x.reshape(4, 3, 1, 1, 5)).rows
        row = next(r for r in rows if r.source == "neuron")
        assert (row.rule_macs, row.rule_acs) == (macs * x.numel(), acs * x.numel())


def test_wrapped_spikingjelly_if_node_uses_the_if_rule():
    pytest.importorskip("spikingjelly")
    from snnfer.neuron import make_neuron

    assert neuron_cost(make_neuron("spikingjelly:IFNode")) == (0, 3)
    assert neuron_cost(make_neuron("spikingjelly:LIFNode")) == (1, 2)


def test_sparse_soft_input_is_priced_by_rate_including_padding():
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 1, 6, 6)
    x[..., 0, 0] = 0.5          # one soft spike in the corner: non-binary
    (row,) = count_ops(Frames(conv), x).rows
    assert row.input_binary is False
    assert row.sparse_input_nonzero_macs == pytest.approx(6 * 6 * 9 * 2 / 36)


def test_exact_nonzero_counting_skips_zero_padding():
    conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 1, 6, 6)
    x[..., 0, 0] = 1.0   # a corner spike reaches 4 output positions
    x[..., 3, 3] = 1.0   # an interior spike reaches 9
    (row,) = count_ops(Frames(conv), x).rows
    assert row.thop_macs == 6 * 6 * 9 * 4
    assert row.input_binary is True
    assert row.binary_input_nonzero_macs == (4 + 9) * 4
    (rate,) = count_ops(Frames(conv), x, counting="rate").rows
    assert rate.binary_input_nonzero_macs == pytest.approx(6 * 6 * 9 * 4 * 2 / 36)


def test_linear_nonzero_macs_and_input_kinds():
    fc = nn.Linear(8, 3)
    spikes = (torch.rand(2, 5, 1, 1, 8) < 0.3).float()
    soft = torch.rand(2, 5, 1, 1, 8) * spikes
    dense = torch.rand(2, 5, 1, 1, 8) + 0.1
    net = nn.Sequential(nn.Flatten(2), fc)
    for x, kind in ((spikes, "binary"), (soft, "sparse"), (dense, None)):
        row = next(r for r in count_ops(net, x).rows if r.module == "Linear")
        nnz = int((x != 0).sum())
        assert row.thop_macs == 2 * 5 * 8 * 3
        assert row.input_nonzero_fraction == pytest.approx(nnz / x.numel())
        assert row.input_binary is (kind == "binary")
        if kind is None:
            assert row.binary_input_macs == row.sparse_input_macs == 0
            continue
        assert getattr(row, f"{kind}_input_macs") == row.thop_macs
        assert getattr(row, f"{kind}_input_nonzero_macs") == pytest.approx(nnz * 3)


class Attention(nn.Module):
    """Functional ops thop cannot see: a product, a scale, a residual add, reductions."""

    def forward(self, x):  # x: [B, T, C, H, W]
        b, t = x.shape[:2]
        q = x.reshape(b, t, -1)                       # [B, T, N]
        scores = torch.bmm(q, q.transpose(1, 2))      # B*T*T*N MACs
        weights = torch.sigmoid(scores.mean(-1))      # reduction + sigmoid (unpriced)
        return x * weights[..., None, None, None] + x


def test_functional_rules_count_products_and_elementwise_ops():
    x = torch.rand(2, 4, 3, 2, 2)
    report = count_ops(Attention(), x)
    (row,) = report.rows
    b, t, n = 2, 4, 12
    assert row.source == "functional" and row.layer == "(model)"
    assert row.rule_macs == b * t * t * n + b * t + x.numel()   # bmm + mean's division + mul
    assert row.rule_acs == (b * t * t - b * t) + x.numel()      # mean's additions + residual add
    assert row.other_ops == b * t                                # sigmoid evaluations
    assert report.thop_macs == 0


def test_scaled_dot_product_attention_is_counted():
    class Sdpa(nn.Module):
        def forward(self, x):
            q = x.flatten(2)                                  # [B, T, N]
            return nn.functional.scaled_dot_product_attention(q, q, q)

    x = torch.rand(1, 5, 2, 2, 2)
    (row,) = count_ops(Sdpa(), x).rows
    assert row.rule_macs == 5 * 5 * (8 + 8)
    assert row.other_ops == 25


def test_conv_subclass_thop_misses_goes_to_the_rule_column():
    class MyConv(nn.Conv2d):
        pass

    net = Frames(MyConv(2, 3, 3))
    x = torch.rand(1, 2, 2, 5, 5)
    report = count_ops(net, x)
    assert thop.profile(net, (x,), verbose=False)[0] == 0  # thop has no rule for it
    row = next(r for r in report.rows if r.module == "MyConv")
    assert row.source == "rule" and row.thop_macs == 0
    assert row.rule_macs == 2 * 3 * 3 * 3 * 2 * 9


def test_custom_ops_override_the_builtin_rules():
    net = Frames(nn.Sequential(nn.Conv2d(1, 1, 1), IFNode()))
    report = count_ops(net, torch.rand(1, 2, 1, 3, 3),
                       custom_ops={IFNode: lambda m, args, out: (7, 11)})
    row = next(r for r in report.rows if r.module == "IFNode")
    assert (row.source, row.rule_macs, row.rule_acs) == ("custom", 7, 11)


def test_state_reset_and_mode_restored():
    net = nn.Sequential(nn.Flatten(2), nn.Linear(4, 6), LIFNode())
    net.train()
    x = torch.rand(1, 3, 1, 2, 2)
    net(x.flatten(2).transpose(0, 1))          # leaves membrane state behind
    first = count_ops(net, x)
    assert net.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert net[2].v is None
    again = count_ops(net, x)
    assert [r.record() for r in first.rows] == [r.record() for r in again.rows]


class TwoModal(nn.Module):
    modalities = ("event", "rgb")

    def __init__(self) -> None:
        super().__init__()
        self.event = nn.Linear(4, 2)
        self.rgb = nn.Linear(4, 2)

    def forward(self, event, rgb):
        return self.event(event.flatten(2)).mean(1) + self.rgb(rgb.flatten(2)).mean(1)


def test_two_modality_models_take_a_dict():
    x = {"event": torch.rand(2, 3, 1, 2, 2), "rgb": torch.rand(2, 3, 1, 2, 2)}
    report = count_ops(TwoModal(), x)
    assert report.batch_size == 2
    assert report.thop_macs == 2 * (2 * 3 * 4 * 2)


@pytest.mark.parametrize("inputs, error, match", [
    (torch.rand(2, 3, 4, 4), InputShapeError, r"\[B, T, C, H, W\]"),
    (torch.ones(1, 2, 1, 2, 2, dtype=torch.int64), InputDtypeError, "floating"),
    ([torch.rand(1, 2, 1, 2, 2)], InputDtypeError, "torch.Tensor"),
    ({"event": torch.rand(1, 2, 1, 2, 2)}, ArgumentError, "declares no modalities"),
])
def test_bad_inputs_raise_typed_errors(inputs, error, match):
    with pytest.raises(error, match=match):
        count_ops(nn.Sequential(nn.Flatten(2), nn.Linear(4, 2)), inputs)


def test_bad_modality_inputs_and_options():
    with pytest.raises(ArgumentError, match="missing \\['rgb'\\]"):
        count_ops(TwoModal(), {"event": torch.rand(1, 2, 1, 2, 2)})
    with pytest.raises(ArgumentError, match="takes the modalities"):
        count_ops(TwoModal(), torch.rand(1, 2, 1, 2, 2))
    with pytest.raises(InputShapeError, match="different batch sizes"):
        count_ops(TwoModal(), {"event": torch.rand(1, 2, 1, 2, 2),
                               "rgb": torch.rand(2, 2, 1, 2, 2)})
    with pytest.raises(ArgumentError, match="counting must be one of"):
        count_ops(nn.Identity(), torch.rand(1, 1, 1, 1, 1), counting="fast")


def test_markdown_and_dict_have_every_row():
    net = Frames(nn.Sequential(nn.Conv2d(1, 2, 3), IFNode()))
    report = count_ops(net, torch.rand(1, 2, 1, 4, 4))
    table = report.to_markdown()
    assert "| body.0 | Conv2d | thop |" in table and "| body.1 | IFNode | neuron |" in table
    assert report.to_dict()["thop_macs"] == report.thop_macs
    assert report.by_source()["neuron"]["acs"] == 3 * 2 * 2 * 2 * 2
