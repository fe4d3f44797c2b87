"""Fast path vs reference path of the layers (issue 7): outputs, gradients, BN statistics."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnfer.errors import ArgumentError
from snnfer.fastpath import pwbn, set_execution
from snnfer.fastpath.elementwise import Activation, act_grad, activation_of
from snnfer.fastpath.factorized import factorized_forward, supports_factorized
from snnfer.fastpath.pwbn import pointwise_bn, use_moments
from snnfer.layers import FactorizedConv3d, JointAttention, SpatialAttention, TemporalAttention
from snnfer.neuron import functional as NF
from snnfer.neuron import surrogate
from tests.conftest import randomize_bn

RTOL = 1e-4


def _run(module, x, mode, train, call=None, grad=True):
    """Output, input gradient, parameter gradients and state after one step."""
    set_execution(module, mode)
    module.train(train)
    x = x.clone().requires_grad_(grad)
    y = call(module, x, mode) if call else module(x)
    out = {"y": y.detach()}
    if grad:
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=y.dtype)
        (y * w).sum().backward()
        out["x.grad"] = x.grad
        out.update({f"{n}.grad": p.grad.clone() for n, p in module.named_parameters()
                    if p.grad is not None})
    out.update({k: v.clone() for k, v in module.state_dict().items()
                if v.dtype.is_floating_point})
    return out


def _assert_same(fast, ref, rtol=RTOL):
    assert fast.keys() == ref.keys()
    for k, r in ref.items():
        f = fast[k]
        assert f.shape == r.shape, k
        err = (f - r).norm() / r.norm().clamp_min(1e-12)
        assert err <= rtol, f"{k}: relative error {err:.2e}"


def _pair(cin, cout, dtype, **kw):
    torch.manual_seed(1)
    ref = FactorizedConv3d(cin, cout, **kw).to(dtype)
    randomize_bn(ref)
    return ref, copy.deepcopy(ref)


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, RTOL)])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("cin,cout", [(3, 8), (8, 8)])  # projection and identity shortcut
@pytest.mark.parametrize("strategy", ["moments", "direct"])
def test_factorized_block_matches_reference(dtype, rtol, train, cin, cout, strategy,
                                            monkeypatch):
    # BN statistics of both point-wise convolutions from the input moments, or direct
    monkeypatch.setattr(pwbn, "use_moments", lambda *a: strategy == "moments")
    ref, fast = _pair(cin, cout, dtype)
    x = torch.randn(2, cin, 6, 10, 12, dtype=dtype)
    r = _run(ref, x, "reference", train)
    f = _run(fast, x, "fast", train)
    _assert_same(f, r, rtol)
    assert f["y"].is_contiguous(memory_format=torch.channels_last_3d)
    if train:  # running statistics were updated, identically
        assert not torch.equal(r["bn1.running_mean"], _pair(cin, cout, dtype)[0].bn1.running_mean)


def test_strategy_choice_for_cs3d_shapes():
    n1, n2, n3, n4 = 802816, 200704, 25088, 3136  # rows of blocks 1-4 at batch 4
    assert use_moments(3, 64, n1) and use_moments(64, 64, n1)  # block 1
    assert use_moments(64, 128, n2) and use_moments(128, 128, n2)  # block 2
    assert use_moments(128, 256, n3) and not use_moments(256, 256, n3)  # block 3
    assert not use_moments(512, 512, n4) and not use_moments(8, 8, 100)  # few rows


@pytest.mark.parametrize("pool", [(1, 2, 2), (2, 2, 2)])
@pytest.mark.parametrize("train", [True, False])
def test_block_fused_with_max_pool_matches_reference(pool, train):
    ref, fast = _pair(4, 12, torch.float64)
    mp = nn.MaxPool3d(pool)

    def call(m, x, mode):
        return factorized_forward(m, x, mp) if mode == "fast" else mp(m(x))

    x = torch.randn(2, 4, 6, 10, 14, dtype=torch.float64)
    _assert_same(_run(fast, x, "fast", train, call), _run(ref, x, "reference", train, call),
                 1e-10)


def test_no_grad_inference_matches_reference_in_both_bn_modes():
    for train in (False, True):  # train=True without grad: BN calibration-style forward
        for pool in (None, nn.MaxPool3d((1, 2, 2))):
            ref, fast = _pair(6, 16, torch.float64)
            ref.train(train)
            fast.train(train)
            x = torch.randn(2, 6, 5, 9, 10, dtype=torch.float64)
            with torch.no_grad():
                r = set_execution(ref, "reference")(x)
                r = pool(r) if pool else r
                f = factorized_forward(fast, x, pool)
            torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-12)
            for k, v in ref.state_dict().items():
                torch.testing.assert_close(fast.state_dict()[k], v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("neuron,kwargs", [
    ("relu", {}),
    ("ssn", {"surrogate": "atan", "threshold": 0.3}),
    ("ssn", {"threshold": -0.2}),  # not monotone: inference must not pool first
])
def test_other_fusable_activations(neuron, kwargs):
    ref, fast = _pair(5, 10, torch.float64, neuron=neuron, neuron_kwargs=kwargs)
    mp = nn.MaxPool3d((1, 2, 2))

    def call(m, x, mode):
        return factorized_forward(m, x, mp) if mode == "fast" else mp(m(x))

    x = torch.randn(2, 5, 4, 8, 8, dtype=torch.float64)
    for train in (True, False):
        _assert_same(_run(fast, x, "fast", train, call), _run(ref, x, "reference", train, call),
                     1e-10)
        with torch.no_grad():
            fast.eval()
            ref.eval()
            torch.testing.assert_close(factorized_forward(fast, x, mp), mp(ref(x)))


def test_bn_momentum_none_and_untracked_statistics():
    ref, fast = _pair(3, 8, torch.float64)
    for m in (ref, fast):
        m.bn1.momentum = None  # cumulative moving average
        m.bn2 = nn.BatchNorm3d(8, track_running_stats=False).double()
    x = torch.randn(2, 3, 4, 6, 6, dtype=torch.float64)
    for _ in range(2):
        r, f = _run(ref, x, "reference", True), _run(fast, x, "fast", True)
        _assert_same(f, r, 1e-10)
    assert int(fast.bn1.num_batches_tracked) == 2


def test_retain_graph_backward_twice():
    ref, fast = _pair(4, 8, torch.float64)
    x = torch.randn(2, 4, 4, 6, 6, dtype=torch.float64)
    grads = []
    for m, mode in ((ref, "reference"), (fast, "fast")):
        set_execution(m, mode).train()
        y = m(x).square().sum()
        y.backward(retain_graph=True)
        y.backward()
        grads.append(m.pw2.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0])


def test_unsupported_configurations_fall_back_to_reference():
    x = torch.randn(1, 4, 4, 6, 6)
    strided = FactorizedConv3d(4, 8, stride=(1, 2, 2))
    lif = FactorizedConv3d(4, 8, neuron="lif")
    learnable = FactorizedConv3d(4, 8, neuron_kwargs={"learnable_threshold": True})
    for block in (strided, lif, learnable):
        assert not supports_factorized(block, x)
        assert block(x).shape[1] == 8
    ok = FactorizedConv3d(4, 8)
    assert supports_factorized(ok, x)
    assert not supports_factorized(ok, x.double().cuda() if torch.cuda.is_available() else
                                   x.to(torch.int64))
    assert not supports_factorized(set_execution(copy.deepcopy(ok), "reference"), x)


def test_hooks_select_the_reference_path():
    block = FactorizedConv3d(4, 8).eval()
    x = torch.randn(1, 4, 4, 6, 6)
    seen = []
    handle = block.bn1.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert not supports_factorized(block, x)
    block(x)
    handle.remove()
    assert seen == [torch.Size([1, 8, 4, 6, 6])]
    assert supports_factorized(block, x)


def test_set_execution_rejects_unknown_modes():
    with pytest.raises(ArgumentError, match="execution mode"):
        set_execution(FactorizedConv3d(2, 2), "turbo")
    with pytest.raises(ArgumentError, match="execution mode"):
        set_execution(FactorizedConv3d(2, 2), "compile")  # models only


# -- activations ----------------------------------------------------------------------
@pytest.mark.parametrize("sg", ["sigmoid", "atan", "triangle"])
def test_act_grad_equals_the_neuron_layers_soft_threshold_gradient(sg):
    surr = surrogate.get(sg)
    x = torch.randn(1000, 7, dtype=torch.float64, requires_grad=True)
    g = torch.randn(1000, 7, dtype=torch.float64)
    NF.soft_threshold(x, 0.4, surr).backward(g)
    act = Activation("ssn", 0.4, surr)
    out = torch.empty_like(g)
    colsum = act_grad(x.detach(), g, act, out, column_sum=True)
    torch.testing.assert_close(out, x.grad)
    torch.testing.assert_close(colsum, x.grad.sum(0))


def test_activation_below_threshold_keeps_equality():
    act = Activation("ssn", 0.5, surrogate.get("sigmoid"))
    for dtype in (torch.float32, torch.float64):
        below = act.below(dtype)
        assert below < 0.5 and torch.tensor(below, dtype=dtype).nextafter(
            torch.tensor(1.0, dtype=dtype)).item() == 0.5
    assert activation_of(nn.ReLU()).kind == "relu"
    assert activation_of(nn.GELU()) is None


# -- point-wise conv + BN ---------------------------------------------------------------
@pytest.mark.parametrize("cin,cout,rows_", [(3, 16, 4000), (64, 32, 4000), (16, 16, 20)])
def test_pointwise_bn_statistics_and_running_update(cin, cout, rows_):
    torch.manual_seed(0)
    x = torch.randn(1, 1, 1, rows_, cin, dtype=torch.float64) * 2 + 1  # base [1,1,1,N,C]
    w = torch.randn(cout, cin, 1, 1, 1, dtype=torch.float64)
    bn_ref = nn.BatchNorm3d(cout).double()
    bn = copy.deepcopy(bn_ref)
    u = torch.nn.functional.conv3d(x.permute(0, 4, 1, 2, 3), w)
    y_ref = bn_ref(u).permute(0, 2, 3, 4, 1)
    p = pointwise_bn(w, bn, x)
    torch.testing.assert_close(p.forward(x), y_ref)
    torch.testing.assert_close(bn.running_mean, bn_ref.running_mean)
    torch.testing.assert_close(bn.running_var, bn_ref.running_var)


# -- attention --------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: TemporalAttention(16, reduction=4),
    lambda: TemporalAttention(16, reduction=4, residual=False),
    lambda: SpatialAttention(),
    lambda: JointAttention(16, reduction=4),
    lambda: JointAttention(16, reduction=4, inner_residual=True),
])
@pytest.mark.parametrize("gamma", [None, -2.5])  # negative: 1 + gamma M_t changes sign
def test_attention_fast_path_matches_reference(make, gamma):
    torch.manual_seed(0)
    ref = make().double()
    if gamma is not None:
        with torch.no_grad():
            for m in ref.modules():
                if getattr(m, "gamma", None) is not None:
                    m.gamma.fill_(gamma)
    fast = copy.deepcopy(ref)
    x = torch.randn(2, 16, 4, 5, 6, dtype=torch.float64)
    for train in (True, False):
        _assert_same(_run(fast, x, "fast", train), _run(ref, x, "reference", train), 1e-10)
    xf = x.float().contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(set_execution(fast.float(), "fast")(xf),
                               set_execution(ref.float(), "reference")(xf), rtol=1e-5,
                               atol=1e-6)


def test_folded_weights_cache_follows_parameter_updates():
    ref, fast = _pair(4, 8, torch.float64)
    x = torch.randn(1, 4, 4, 6, 6, dtype=torch.float64)
    ref.eval()
    fast.eval()
    set_execution(ref, "reference")
    for update in (lambda m: m.bn1.running_var.mul_(2.0), lambda m: m.pw2.weight.add_(0.1),
                   lambda m: m.load_state_dict(_pair(4, 8, torch.float64)[0].state_dict())):
        with torch.no_grad():
            torch.testing.assert_close(fast(x), ref(x))
            update(ref)
            update(fast)
            torch.testing.assert_close(fast(x), ref(x))


@pytest.mark.parametrize("kernel", [(1, 2, 2), (2, 2, 2), (1, 1, 1)])
def test_index_free_max_pool_equals_max_pool3d(kernel):
    from snnfer.fastpath.convs import as_logical, max_pool_values, to_base

    x = torch.randn(2, 5, 5, 7, 9)  # odd sizes: floor mode crops
    x[0, 1, 2, 3, 4] = float("nan")
    x = x.contiguous(memory_format=torch.channels_last_3d)
    got = as_logical(max_pool_values(to_base(x), kernel))
    torch.testing.assert_close(got, nn.functional.max_pool3d(x, kernel), equal_nan=True)


def _op_names(fn) -> set[str]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages()}


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
def test_dense_conv3d_equals_conv3d_and_runs_onednn_at_batch_1():
    from snnfer.fastpath.convs import dense_conv3d

    x = torch.randn(1, 8, 4, 6, 6).contiguous(memory_format=torch.channels_last_3d)
    w, b = torch.randn(16, 8, 3, 3, 3), torch.randn(16)
    grads = []
    for conv in (nn.functional.conv3d, dense_conv3d):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
        y = conv(xs, ws, bs, 1, (0, 1, 1))
        y.square().sum().backward()
        grads.append((y.detach(), xs.grad, ws.grad, bs.grad))
    for got, want in zip(grads[1], grads[0]):  # float32 summation order differs
        assert ((got - want).norm() / want.norm()).item() < 1e-6
    # PyTorch's dispatcher would run this batch-1 float32 conv natively (im2col)
    ops = _op_names(lambda: dense_conv3d(x, w, b, 1, 1))
    assert "aten::mkldnn_convolution" in ops and not any("slow_conv3d" in o for o in ops)
    x64, w64 = x.double(), w.double()  # no float64 oneDNN kernel: same as F.conv3d
    torch.testing.assert_close(dense_conv3d(x64, w64, None, 1, 1),
                               nn.functional.conv3d(x64, w64, None, 1, 1), rtol=0, atol=0)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
def test_sequential_forward_runs_linear_layers_on_onednn_without_grad():
    from snnfer.fastpath.blocks import sequential_forward

    head = nn.Sequential(nn.Flatten(), nn.Linear(36, 20), nn.ReLU(), nn.Linear(20, 7))
    x = torch.randn(3, 4, 3, 3)
    with torch.no_grad():
        want = head(x)
        ops = _op_names(lambda: sequential_forward(head, x))
        got = sequential_forward(head, x)
    assert "mkldnn::_linear_pointwise" in ops and "aten::linear" not in ops
    assert ((got - want).norm() / want.norm()).item() < 1e-6
    xs = x.clone().requires_grad_()  # autograd: the modules themselves, gradients flow
    sequential_forward(head, xs).sum().backward()
    xr = x.clone().requires_grad_()
    head(xr).sum().backward()
    torch.testing.assert_close(xs.grad, xr.grad)
    x64 = x.double()  # float64: plain F.linear
    torch.testing.assert_close(sequential_forward(head.double(), x64), head(x64), rtol=0, atol=0)
