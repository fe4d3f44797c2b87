"""snnfer.layers: factorized conv, MultiPool, TA/SA/joint attention (CS3D §III)."""

from __future__ import annotations

import pytest
import thop
import torch
import torch.nn.functional as F
from torch import nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.layers import (
    FactorizedConv3d,
    JointAttention,
    MultiPool,
    SpatialAttention,
    TemporalAttention,
)
from snnfer.neuron import LIFNode


def _grads_flow(module: nn.Module, x: torch.Tensor) -> None:
    """Every parameter and the input receive a finite, non-zero gradient."""
    x = x.clone().requires_grad_(True)
    module(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in module.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# -- FactorizedConv3d (§III-B) ----------------------------------------------------------


def test_factorized_conv_shapes_and_shortcut():
    x = torch.randn(2, 4, 6, 10, 10)
    block = FactorizedConv3d(4, 8)
    assert block(x).shape == (2, 8, 6, 10, 10)
    assert isinstance(block.shortcut, nn.Conv3d) and block.shortcut.kernel_size == (1, 1, 1)
    same = FactorizedConv3d(4, 4)
    assert isinstance(same.shortcut, nn.Identity)
    strided = FactorizedConv3d(4, 4, stride=(1, 2, 2))
    assert isinstance(strided.shortcut, nn.Conv3d)
    assert strided(x).shape == (2, 4, 6, 5, 5)
    assert FactorizedConv3d(4, 4, stride=2)(x).shape == (2, 4, 3, 5, 5)


def test_factorized_conv_kernels_are_temporal_then_spatial_depthwise():
    block = FactorizedConv3d(4, 8, k=3)
    assert block.dw_temporal.kernel_size == (3, 1, 1) and block.dw_temporal.groups == 4
    assert block.dw_spatial.kernel_size == (1, 3, 3) and block.dw_spatial.groups == 8
    assert block.pw1.kernel_size == (1, 1, 1) and block.pw2.kernel_size == (1, 1, 1)
    # DW_t then PW1 equals one dense (3x1x1) conv with kernel PW1[o, i] * DW_t[i, t]:
    # the temporal kernel runs along T (dim 2 of [B, C, T, H, W]).
    x = torch.randn(2, 4, 7, 5, 5)
    pw, dw = block.pw1.weight[:, :, 0, 0, 0], block.dw_temporal.weight[:, 0, :, 0, 0]
    composite = pw[:, :, None] * dw[None]  # [c_out, c_in, k]
    dense = F.conv3d(x, composite[..., None, None], padding=(1, 0, 0))
    torch.testing.assert_close(block.pw1(block.dw_temporal(x)), dense, rtol=1e-5, atol=1e-5)


def test_factorized_conv_mac_count_matches_the_analytic_formula():
    c_in, c_out, t, h, w = 8, 16, 4, 12, 12
    block = FactorizedConv3d(c_in, c_out, k=3)
    n = t * h * w
    expected = (c_in * 3 * n + c_in * c_out * n          # DW temporal + PW1
                + c_out * 9 * n + c_out * c_out * n      # DW spatial + PW2
                + c_in * c_out * n                       # projection shortcut
                + 2 * 4 * c_out * n)                     # two affine BNs (thop: 4/element)
    macs, _ = thop.profile(block, (torch.randn(1, c_in, t, h, w),), verbose=False)
    assert macs == expected
    # versus the dense 3x3x3 convolution it replaces (+ BN)
    dense = c_in * c_out * 27 * n
    assert macs < dense


def test_factorized_conv_residual_is_identity_when_the_branch_is_zero():
    block = FactorizedConv3d(6, 6, neuron="relu").train(False)
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    x = torch.rand(2, 6, 4, 8, 8)  # non-negative: ReLU(x) == x
    torch.testing.assert_close(block(x), x)


def test_factorized_conv_gradient_flow():
    _grads_flow(FactorizedConv3d(3, 8), torch.randn(2, 3, 4, 8, 8))


def test_factorized_conv_neurons_run_over_time_axis():
    block = FactorizedConv3d(2, 4, neuron="lif", neuron_kwargs={"tau": 2.0})
    assert block.act1.time_dim == 2 and block.act2.time_dim == 2
    z = torch.randn(2, 4, 5, 3, 3)
    ref = LIFNode(tau=2.0)(z.movedim(2, 0)).movedim(0, 2)
    torch.testing.assert_close(block.act1(z), ref)


def test_factorized_conv_per_channel_threshold_gets_the_layer_width():
    block = FactorizedConv3d(2, 5, neuron="ssn", neuron_kwargs={"learnable_threshold": "channel"})
    assert block.act1.theta.shape == (5,)
    assert block(torch.randn(1, 2, 3, 4, 4)).shape == (1, 5, 3, 4, 4)


@pytest.mark.parametrize("kw", [{"c_in": 0, "c_out": 4}, {"c_in": 4, "c_out": 4, "k": 2},
                                {"c_in": 4, "c_out": 4, "stride": (1, 2)},
                                {"c_in": 4, "c_out": 4, "stride": 0}])
def test_factorized_conv_bad_arguments(kw):
    with pytest.raises(ArgumentError, match="FactorizedConv3d"):
        FactorizedConv3d(**kw)


# -- MultiPool ---------------------------------------------------------------------------


def test_multipool_starts_as_the_mean_of_average_and_max_pooling():
    x = torch.randn(2, 3, 4, 8, 8)
    pool = MultiPool(3, kernel_size=(1, 2, 2))
    ref = 0.5 * (F.avg_pool3d(x, (1, 2, 2)) + F.max_pool3d(x, (1, 2, 2)))
    torch.testing.assert_close(pool(x), ref)
    assert pool(x).shape == (2, 3, 4, 4, 4)


def test_multipool_mix_is_learned_per_channel():
    x = torch.randn(2, 3, 2, 4, 4)
    pool = MultiPool(3, kernel_size=2)
    with torch.no_grad():
        pool.mix_logits.copy_(torch.tensor([[50.0, -50.0, 0.0], [-50.0, 50.0, 0.0]]))
    y = pool(x)
    torch.testing.assert_close(y[:, 0], F.avg_pool3d(x, 2)[:, 0])
    torch.testing.assert_close(y[:, 1], F.max_pool3d(x, 2)[:, 1])
    pool.mix_logits.data.zero_()
    _grads_flow(pool, x)


def test_multipool_concat_fusion():
    x = torch.randn(2, 4, 4, 8, 8)
    pool = MultiPool(4, kernel_size=2, fusion="concat")
    assert pool(x).shape == (2, 4, 2, 4, 4)
    macs, _ = thop.profile(pool, (x[:1],), verbose=False)
    n = 2 * 4 * 4
    # avg-pool (thop: 1 per output) + 1x1x1 conv 8 -> 4 + affine BN (4 per element)
    assert macs == 4 * n + 8 * 4 * n + 4 * 4 * n
    _grads_flow(pool, x)


def test_multipool_bad_input():
    with pytest.raises(ArgumentError, match="fusion"):
        MultiPool(4, fusion="sum")
    with pytest.raises(ArgumentError, match="channels"):
        MultiPool(0)
    with pytest.raises(InputShapeError, match=r"\[B, C, T, H, W\] with C=4"):
        MultiPool(4)(torch.randn(1, 3, 2, 4, 4))


# -- attention (§III-C) ------------------------------------------------------------------


def test_temporal_attention_matches_algorithm_1():
    """1 channel, kernel 1, unit weights: M_t = sigmoid(max(relu(avg_t), relu(max_t)))."""
    ta = TemporalAttention(1, reduction=1, kernel_size=1, residual=False)
    for conv in (ta.score[0], ta.score[2]):
        nn.init.ones_(conv.weight)
    x = torch.randn(2, 1, 5, 3, 3)
    avg, mx = x.mean(dim=(3, 4)), x.amax(dim=(3, 4))
    w = torch.sigmoid(torch.maximum(avg.relu(), mx.relu()))[..., None, None]
    torch.testing.assert_close(ta.weights(x), w)
    torch.testing.assert_close(ta(x), x * w)
    assert ta.weights(x).shape == (2, 1, 5, 1, 1)


def test_temporal_attention_weights_depend_on_each_time_step():
    ta = TemporalAttention(8, reduction=2)
    x = torch.randn(2, 8, 6, 4, 4)
    w = ta.weights(x)
    assert w.shape == (2, 1, 6, 1, 1) and ((w > 0) & (w < 1)).all()
    assert w.flatten(1).std(dim=1).min() > 0  # not one weight for every step
    y = ta(x)
    torch.testing.assert_close(y, x + ta.gamma * x * w)


def test_spatial_attention_matches_algorithm_2():
    sa = SpatialAttention(kernel_size=1, residual=False)
    x = torch.randn(2, 4, 3, 5, 5)
    with torch.no_grad():
        sa.conv.weight.copy_(torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1, 1))
        sa.conv.bias.zero_()
    torch.testing.assert_close(sa.weights(x), torch.sigmoid(x.mean(dim=1, keepdim=True)))
    with torch.no_grad():
        sa.conv.weight.copy_(torch.tensor([0.0, 1.0]).reshape(1, 2, 1, 1, 1))
    torch.testing.assert_close(sa(x), x * torch.sigmoid(x.amax(dim=1, keepdim=True)))
    big = SpatialAttention()
    assert big.conv.kernel_size == (1, 7, 7) and big.weights(x).shape == (2, 1, 3, 5, 5)


def test_joint_attention_is_temporal_then_spatial_with_residual():
    ja = JointAttention(8, reduction=2)
    x = torch.randn(2, 8, 4, 6, 6)
    z = x * ja.temporal.weights(x)
    ref = x + ja.gamma * (z * ja.spatial.weights(z))
    torch.testing.assert_close(ja(x), ref)
    inner = JointAttention(8, reduction=2, inner_residual=True)
    assert inner.temporal.residual and inner.spatial.residual


@pytest.mark.parametrize("make", [
    lambda: TemporalAttention(8, reduction=2, init_scale=0.0),
    lambda: SpatialAttention(init_scale=0.0),
    lambda: JointAttention(8, reduction=2, init_scale=0.0),
])
def test_attention_is_identity_at_zero_init(make):
    block = make()
    x = torch.randn(2, 8, 4, 6, 6)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)
    # the residual scale still learns from there
    x.requires_grad_(True)
    block(x).square().sum().backward()
    assert block.gamma.grad is not None and block.gamma.grad.abs() > 0


@pytest.mark.parametrize("make", [
    lambda: TemporalAttention(8, reduction=2),
    lambda: SpatialAttention(),
    lambda: JointAttention(8, reduction=2),
])
def test_attention_gradient_flow(make):
    _grads_flow(make(), torch.randn(2, 8, 4, 6, 6))


def test_attention_runs_on_any_number_of_time_steps():
    ja = JointAttention(4, reduction=2)
    for t in (1, 2, 9):
        assert ja(torch.randn(1, 4, t, 3, 3)).shape == (1, 4, t, 3, 3)


def test_attention_bad_input():
    with pytest.raises(InputShapeError, match=r"\[B, C, T, H, W\]"):
        TemporalAttention(4)(torch.randn(2, 4, 3, 3))
    with pytest.raises(InputShapeError, match="C=4"):
        TemporalAttention(4)(torch.randn(2, 5, 3, 3, 3))
    with pytest.raises(InputShapeError, match=r"\[B, C, T, H, W\]"):
        SpatialAttention()(torch.randn(4, 3, 3))
    with pytest.raises(ArgumentError, match="kernel_size must be odd"):
        SpatialAttention(kernel_size=4)
    with pytest.raises(ArgumentError, match="channels"):
        JointAttention(0)
