"""snnfer neurons: analytic values, fused autograd vs plain-autograd reference, peers."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from snnfer.errors import (
    ArgumentError,
    InputDtypeError,
    InputShapeError,
    StateShapeError,
    UnknownNameError,
)
from snnfer.neuron import IFNode, LIFNode, SoftSpikingNeuron, make_neuron, reset, surrogate
from tests.conftest import require

D64 = torch.float64


def reference(x, theta, decay, scale, bias, reset_mode, v_reset, soft, detach, sg, v0=None):
    """The recurrence of snnfer.neuron.functional written with plain autograd ops."""
    v = torch.zeros_like(x[0]) + (v_reset if reset_mode == "hard" else 0.0) if v0 is None else v0
    out = []
    for t in range(x.shape[0]):
        h = decay * v + scale * x[t] + bias
        s = sg(h - theta)
        out.append(h * s if soft else s)
        sr = s.detach() if detach else s
        if reset_mode == "subtract":
            v = h - theta * sr
        elif reset_mode == "hard":
            v = h * (1 - sr) + v_reset * sr
        else:
            v = h
    return torch.stack(out), v


def _grads(fn, *inputs, weight=None):
    y = fn(*inputs)
    w = torch.randn_like(y) if weight is None else weight
    return y, torch.autograd.grad((y * w).sum(), inputs, allow_unused=True), w


# -- stateless SSN ---------------------------------------------------------------------


def test_ssn_stateless_forward_and_exact_backward():
    ssn = SoftSpikingNeuron(threshold=0.5, alpha=4.0)
    x = torch.tensor([-1.0, 0.2, 0.49, 0.5, 0.7, 3.0], dtype=D64, requires_grad=True)
    y = ssn(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 0.5, 0.7, 3.0]  # x * H(x - theta), H(0) = 1
    (g,) = torch.autograd.grad(y.sum(), x)
    s = torch.sigmoid(4 * (x.detach() - 0.5))
    expected = (x.detach() >= 0.5).to(D64) + x.detach() * 4 * s * (1 - s)  # CS3D Eq. 2
    torch.testing.assert_close(g, expected)


def test_ssn_tends_to_relu_as_threshold_goes_to_zero():
    x = torch.randn(1000, dtype=D64)
    torch.testing.assert_close(SoftSpikingNeuron(threshold=0.0)(x), torch.relu(x))
    assert (SoftSpikingNeuron(threshold=1e-3)(x) - torch.relu(x)).abs().max() <= 1e-3


@pytest.mark.parametrize("mode", ["layer", "channel"])
def test_ssn_learnable_threshold_gradient(mode):
    ssn = SoftSpikingNeuron(threshold=0.3, learnable_threshold=mode, num_channels=3).double()
    x = torch.randn(2, 3, 4, 4, dtype=D64)  # single tensor [B, C, H, W], channel dim 1
    ssn.step_mode = "s"
    y = ssn(x)
    w = torch.randn_like(y)
    (g,) = torch.autograd.grad((y * w).sum(), ssn.theta)
    s = torch.sigmoid(4 * (x - 0.3))
    per_elem = -(w * x * 4 * s * (1 - s))  # dy/dtheta = -x g'(x - theta)
    expected = per_elem.sum() if mode == "layer" else per_elem.sum(dim=(0, 2, 3))
    torch.testing.assert_close(g, expected.reshape(ssn.theta.shape))


def test_ssn_per_channel_threshold_in_conv3d_layout():
    ssn = SoftSpikingNeuron(threshold=0.0, learnable_threshold="channel", num_channels=2,
                            time_dim=2)
    with torch.no_grad():
        ssn.theta.copy_(torch.tensor([0.0, 10.0]))
    x = torch.rand(1, 2, 3, 4, 4)  # [B, C, T, H, W]
    y = ssn(x)
    torch.testing.assert_close(y[:, 0], x[:, 0])
    assert (y[:, 1] == 0).all()


# -- stateful neurons vs the plain-autograd reference ------------------------------------

SSN_CASES = list(itertools.product(["subtract", "zero", "none"], [False, True], [0.5, 0.9]))


@pytest.mark.parametrize("reset_mode,detach,decay", SSN_CASES)
def test_stateful_ssn_matches_reference(reset_mode, detach, decay):
    sg = surrogate.get("sigmoid", alpha=4.0)
    x = (torch.randn(7, 3, 5, dtype=D64) * 0.6 + 0.3).requires_grad_(True)
    ssn = SoftSpikingNeuron(threshold=0.4, decay=decay, reset=reset_mode, detach_reset=detach)
    y, (g,), w = _grads(ssn, x)
    ref_mode = {"zero": "hard", "subtract": "subtract", "none": "none"}[reset_mode]
    yr, (gr,), _ = _grads(lambda z: reference(z, 0.4, decay, 1.0, 0.0, ref_mode, 0.0, True,
                                              detach, sg)[0], x, weight=w)
    torch.testing.assert_close(y, yr)
    torch.testing.assert_close(g, gr)
    assert ssn.v.shape == (3, 5)


@pytest.mark.parametrize("reset_mode,detach", list(itertools.product(["subtract", "zero"],
                                                                     [False, True])))
def test_stateful_ssn_learnable_threshold_matches_reference(reset_mode, detach):
    sg = surrogate.get("sigmoid", alpha=4.0)
    x = (torch.randn(6, 2, 3, 4, dtype=D64) * 0.6 + 0.3).requires_grad_(True)
    ssn = SoftSpikingNeuron(threshold=0.4, decay=0.7, reset=reset_mode, detach_reset=detach,
                            learnable_threshold="channel", num_channels=3).double()
    with torch.no_grad():
        ssn.theta.copy_(torch.tensor([0.2, 0.4, 0.6], dtype=D64))
    y, (gx, gt), w = _grads(lambda z, th: ssn(z), x, ssn.theta)
    theta = ssn.theta.detach().clone().reshape(3, 1).requires_grad_(True)
    ref_mode = {"zero": "hard", "subtract": "subtract"}[reset_mode]
    yr, (gxr, gtr), _ = _grads(lambda z, th: reference(z, th, 0.7, 1.0, 0.0, ref_mode, 0.0, True,
                                                       detach, sg)[0], x, theta, weight=w)
    torch.testing.assert_close(y, yr)
    torch.testing.assert_close(gx, gxr)
    torch.testing.assert_close(gt, gtr.reshape(3))


@pytest.mark.parametrize("reset_mode", ["subtract", "zero", "none"])
def test_ssn_decay_zero_reproduces_stateless_form_exactly(reset_mode):
    x = (torch.randn(5, 4, 6) * 0.8).requires_grad_(True)
    w = torch.randn(5, 4, 6)
    stateful = SoftSpikingNeuron(threshold=0.3, decay=0.0, reset=reset_mode)
    stateless = SoftSpikingNeuron(threshold=0.3)
    y1 = stateful(x)
    (g1,) = torch.autograd.grad((y1 * w).sum(), x)
    y2 = stateless(x)
    (g2,) = torch.autograd.grad((y2 * w).sum(), x)
    assert torch.equal(y1, y2)
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-7)


LIF_CASES = [
    dict(tau=2.0),
    dict(tau=3.0, v_reset=None),
    dict(tau=2.0, detach_reset=True),
    dict(tau=2.0, decay_input=False),
    dict(tau=1.5, v_reset=-0.2, surrogate="atan"),
    dict(tau=4.0, v_reset=None, detach_reset=True, decay_input=False),
]


@pytest.mark.parametrize("kw", LIF_CASES)
def test_lif_matches_reference_in_float64(kw):
    node = LIFNode(**kw)
    sg = node.surrogate
    tau, vr = node.tau, node.v_reset
    x = (torch.randn(8, 3, 4, dtype=D64) * 1.5 + 0.8).requires_grad_(True)
    y, (g,), w = _grads(node, x)
    scale = 1 / tau if node.decay_input else 1.0
    bias = (vr or 0.0) / tau
    ref_mode = "subtract" if vr is None else "hard"
    yr, (gr,), _ = _grads(lambda z: reference(z, 1.0, 1 - 1 / tau, scale, bias, ref_mode,
                                              vr or 0.0, False, node.detach_reset, sg)[0],
                          x, weight=w)
    torch.testing.assert_close(y, yr)
    torch.testing.assert_close(g, gr)
    assert 0 < y.mean() < 1


@pytest.mark.interop
@pytest.mark.parametrize("kw", LIF_CASES)
def test_lif_identical_to_spikingjelly(kw):
    sj_neuron = require("spikingjelly.activation_based.neuron")
    sj_sg = require("spikingjelly.activation_based.surrogate")
    peer_sg = sj_sg.ATan() if kw.get("surrogate") == "atan" else sj_sg.Sigmoid()
    peer = sj_neuron.LIFNode(step_mode="m", surrogate_function=peer_sg,
                             **{k: v for k, v in kw.items() if k != "surrogate"})
    ours = LIFNode(**kw)
    x = (torch.randn(16, 4, 8, 5, 5) * 1.2 + 0.6).requires_grad_(True)
    y, (g,), w = _grads(ours, x)
    yp, (gp,), _ = _grads(peer, x, weight=w)
    assert torch.equal(y, yp)
    torch.testing.assert_close(g, gp, rtol=1e-5, atol=1e-6)


@pytest.mark.interop
@pytest.mark.parametrize("kw", [dict(), dict(v_reset=None), dict(detach_reset=True)])
def test_if_identical_to_spikingjelly(kw):
    sj_neuron = require("spikingjelly.activation_based.neuron")
    peer = sj_neuron.IFNode(step_mode="m", **kw)
    x = (torch.randn(10, 3, 20) * 0.7 + 0.3).requires_grad_(True)
    y, (g,), w = _grads(IFNode(**kw), x)
    yp, (gp,), _ = _grads(peer, x, weight=w)
    assert torch.equal(y, yp)
    torch.testing.assert_close(g, gp, rtol=1e-5, atol=1e-6)


def test_if_counts_charge_analytically():
    # constant input 0.3, threshold 1, hard reset: spikes at steps 4, 8, 12 (1-based)
    y = IFNode()(torch.full((12, 1), 0.3))
    assert y.flatten().nonzero().flatten().tolist() == [3, 7, 11]
    # soft reset keeps the residual: 0.45 per step -> spikes at cumulative 0.9k crossing 1
    y = IFNode(v_reset=None)(torch.full((9, 1), 0.45))
    assert y.flatten().tolist() == [0, 0, 1, 0, 1, 0, 1, 0, 1]


# -- state, modes, layouts -------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: LIFNode(), lambda: SoftSpikingNeuron(decay=0.6),
                                  lambda: IFNode(v_reset=None)])
def test_streaming_chunks_equal_one_long_sequence(make):
    x = (torch.randn(12, 2, 5, dtype=D64) + 0.5).requires_grad_(True)
    w = torch.randn(12, 2, 5, dtype=D64)
    whole = make()
    y = whole(x)
    (g,) = torch.autograd.grad((y * w).sum(), x)
    chunked = make()
    y2 = torch.cat([chunked(x[:5]), chunked(x[5:9]), chunked(x[9:])])
    (g2,) = torch.autograd.grad((y2 * w).sum(), x)  # flows back through the carried state
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(g, g2)


@pytest.mark.parametrize("make", [lambda **k: LIFNode(**k), lambda **k: SoftSpikingNeuron(
    decay=0.5, **k), lambda **k: IFNode(**k)])
def test_single_step_mode_equals_multi_step(make):
    x = (torch.randn(6, 3, 4, dtype=D64) + 0.5).requires_grad_(True)
    w = torch.randn(6, 3, 4, dtype=D64)
    y = make()(x)
    (g,) = torch.autograd.grad((y * w).sum(), x)
    single = make(step_mode="s")
    y2 = torch.stack([single(x[t]) for t in range(6)])
    (g2,) = torch.autograd.grad((y2 * w).sum(), x)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(g, g2)


def test_time_dim_layout_conv3d():
    x = torch.randn(2, 4, 7, 3, 3) + 0.5  # [B, C, T, H, W]
    a = LIFNode(time_dim=2)(x)
    b = LIFNode()(x.movedim(2, 0)).movedim(0, 2)
    assert a.shape == x.shape
    assert torch.equal(a, b)
    c = LIFNode(time_dim=-3)(x)
    assert torch.equal(a, c)


def test_reset_walks_the_module_tree_and_state_errors_name_reset():
    net = nn.Sequential(nn.Linear(4, 4), LIFNode(), nn.Sequential(nn.Linear(4, 4),
                                                                  SoftSpikingNeuron(decay=0.5)))
    net(torch.randn(3, 2, 4))
    assert net[1].v is not None and net[2][1].v is not None
    with pytest.raises(StateShapeError, match=r"snnfer\.neuron\.reset"):
        net(torch.randn(3, 5, 4))  # batch size changed without reset
    assert reset(net) is net
    assert net[1].v is None and net[2][1].v is None
    assert net(torch.randn(3, 5, 4)).shape == (3, 5, 4)


def test_state_is_kept_until_reset():
    lif = LIFNode()
    x = torch.full((3, 1), 1.5)  # h: 0.75, 1.125 (spike, reset to 0), 0.75
    first = lif(x).flatten().tolist()
    second = lif(x).flatten().tolist()  # starts from v = 0.75
    assert first == [0.0, 1.0, 0.0] and second == [1.0, 0.0, 1.0]
    reset(lif)
    assert lif(x).flatten().tolist() == first


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_forward_backward_finite(dtype):
    for node in (LIFNode(), SoftSpikingNeuron(), SoftSpikingNeuron(decay=0.5)):
        x = (torch.randn(4, 2, 8) * 3).to(dtype).requires_grad_(True)
        y = node(x)
        (g,) = torch.autograd.grad(y.float().sum(), x)
        assert y.dtype == dtype and g.dtype == dtype
        assert torch.isfinite(g).all()


@pytest.mark.slow
def test_torch_compile_small_network_of_each_neuron():
    net = nn.Sequential(nn.Linear(8, 8), LIFNode(), nn.Linear(8, 8), SoftSpikingNeuron(),
                        nn.Linear(8, 8), SoftSpikingNeuron(decay=0.5), nn.Linear(8, 8),
                        IFNode(), nn.Linear(8, 8),
                        SoftSpikingNeuron(learnable_threshold="channel", num_channels=8))
    x = torch.randn(5, 3, 8, requires_grad=True)
    y0 = net(x)
    g0 = torch.autograd.grad(y0.sum(), [x, *net.parameters()])
    reset(net)
    compiled = torch.compile(net)
    for _ in range(2):
        y1 = compiled(x)
        g1 = torch.autograd.grad(y1.sum(), [x, *net.parameters()])
        reset(net)
        torch.testing.assert_close(y1, y0)
        for a, b in zip(g0, g1):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_integer_and_bool_inputs_rejected(dtype):
    for node in (LIFNode(), SoftSpikingNeuron(), SoftSpikingNeuron(decay=0.5), IFNode()):
        with pytest.raises(InputDtypeError, match="floating"):
            node(torch.ones(2, 3).to(dtype))


def test_time_dim_out_of_range_and_empty_time():
    with pytest.raises(InputShapeError, match=r"time_dim=3 is out of range.*\(2, 3\)"):
        LIFNode(time_dim=3)(torch.randn(2, 3))
    with pytest.raises(InputShapeError, match="no time steps"):
        LIFNode()(torch.randn(0, 3))
    with pytest.raises(ArgumentError, match="time_dim must be an int"):
        LIFNode(time_dim=1.0)
    with pytest.raises(ArgumentError, match="step_mode"):
        LIFNode(step_mode="x")


def test_bad_constructor_arguments():
    with pytest.raises(ArgumentError, match="alpha"):
        SoftSpikingNeuron(alpha=0.0)
    with pytest.raises(ArgumentError, match="alpha"):
        LIFNode(alpha=-2.0)
    with pytest.raises(UnknownNameError, match="surrogate 'nope'.*sigmoid"):
        LIFNode(surrogate="nope")
    with pytest.raises(ArgumentError, match="tau must be"):
        LIFNode(tau=0.5)
    with pytest.raises(ArgumentError, match="v_reset"):
        IFNode(v_threshold=0.5, v_reset=0.5)
    with pytest.raises(ArgumentError, match="decay must be in"):
        SoftSpikingNeuron(decay=1.5)
    with pytest.raises(ArgumentError, match="reset must be one of"):
        SoftSpikingNeuron(decay=0.5, reset="hard")
    with pytest.raises(ArgumentError, match="num_channels"):
        SoftSpikingNeuron(learnable_threshold="channel")
    with pytest.raises(ArgumentError, match="learnable_threshold"):
        SoftSpikingNeuron(learnable_threshold="neuron")
    with pytest.raises(InputShapeError, match="3 channels"):
        SoftSpikingNeuron(learnable_threshold="channel", num_channels=3)(torch.randn(2, 2, 4, 4))
    with pytest.raises(UnknownNameError, match="neuron spec 'lfi'.*lif"):
        make_neuron("lfi")
