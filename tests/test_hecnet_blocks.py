"""HEC-Net blocks: TSM, top-k attention, multi-scale perception, STFE, windows, TPA, fusion."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.layers import (
    STFE,
    CrossModalGate,
    DualTopKAttention,
    MultiScalePerception,
    ResNet2d,
    TemporalPyramidAlignment,
    TemporalShift,
    TemporalTransformer,
    WindowCrossAttention,
    activation_factory,
    temporal_shift,
    topk_softmax,
    window_merge,
    window_partition,
)
from snnfer.neuron import SpikingNeuron


def _all_grads(module: nn.Module) -> None:
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reached {missing}"


# --- Temporal Shift Module -------------------------------------------------------------------

def test_tsm_moves_exactly_one_eighth_each_way_zero_padded():
    t, b, c = 5, 2, 16
    x = torch.randn(t, b, c, 3, 3)
    y = TemporalShift()(x)
    fold = c // 8
    # channels [0, fold) take the next frame, the last frame gets zeros
    assert torch.equal(y[:-1, :, :fold], x[1:, :, :fold])
    assert torch.equal(y[-1, :, :fold], torch.zeros_like(y[-1, :, :fold]))
    # channels [fold, 2 fold) take the previous frame, the first frame gets zeros
    assert torch.equal(y[1:, :, fold:2 * fold], x[:-1, :, fold:2 * fold])
    assert torch.equal(y[0, :, fold:2 * fold], torch.zeros_like(y[0, :, fold:2 * fold]))
    # the remaining 3/4 of the channels are untouched
    assert torch.equal(y[:, :, 2 * fold:], x[:, :, 2 * fold:])


def test_tsm_changes_exactly_a_quarter_of_the_channels_and_has_no_parameters():
    x = torch.randn(4, 1, 64, 2, 2)
    tsm = TemporalShift()
    changed = (tsm(x) != x).flatten(3).any(-1).any(0).any(0)  # per channel
    assert changed.sum().item() == 64 // 8 * 2
    assert changed[:16].all() and not changed[16:].any()
    assert list(tsm.parameters()) == [] and list(tsm.buffers()) == []


def test_tsm_gradient_is_the_reverse_shift():
    x = torch.randn(4, 2, 8, 2, 2, requires_grad=True)
    g = torch.randn(4, 2, 8, 2, 2)
    temporal_shift(x).backward(g)
    # y[t, ch0] = x[t+1, ch0]  =>  dL/dx[t, ch0] = g[t-1, ch0], zero at t = 0
    assert torch.equal(x.grad[1:, :, 0], g[:-1, :, 0]) and not x.grad[0, :, 0].any()
    assert torch.equal(x.grad[:-1, :, 1], g[1:, :, 1]) and not x.grad[-1, :, 1].any()
    assert torch.equal(x.grad[:, :, 2:], g[:, :, 2:])


def test_tsm_batch_first_layout_matches_time_first():
    x = torch.randn(3, 5, 16, 2, 2)  # [B, T, C, H, W]
    y = temporal_shift(x, time_dim=1, channel_dim=2)
    ref = temporal_shift(x.transpose(0, 1)).transpose(0, 1)
    assert torch.equal(y, ref)


def test_tsm_errors():
    with pytest.raises(InputShapeError, match="fewer than fold_div"):
        TemporalShift()(torch.randn(4, 2, 4, 2, 2))
    with pytest.raises(ArgumentError):
        TemporalShift(fold_div=1)


# --- dual top-k attention (Eq. 1-2) ------------------------------------------------------------

def _reference_topk_weights(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Independent reference: sort each row, softmax over the k largest, zeros elsewhere."""
    out = torch.zeros_like(scores)
    for idx in torch.cartesian_prod(*[torch.arange(n) for n in scores.shape[:-1]]):
        row = scores[tuple(idx.tolist())]
        order = torch.argsort(row, descending=True)[:k]
        e = torch.exp(row[order] - row[order].max())
        out[tuple(idx.tolist())][order] = e / e.sum()
    return out


def test_topk_softmax_masks_exactly():
    scores = torch.randn(2, 6, 10, dtype=torch.float64)
    w = topk_softmax(scores, 3)
    assert ((w > 0).sum(-1) == 3).all()
    assert (w[w.ne(0)] > 0).all()
    torch.testing.assert_close(w, _reference_topk_weights(scores, 3))
    # the kept entries are the 3 largest of each row; every other entry is exactly 0.0
    kth = scores.sort(-1, descending=True).values[..., 2:3]
    assert torch.equal(w == 0, scores < kth)


def test_dual_topk_attention_is_eq2():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 7, 5, dtype=torch.float64) for _ in range(3))
    att = DualTopKAttention(k1=2, k2=0.5, alpha=0.3, beta=1.7).double()
    m = q @ k.transpose(-1, -2) / math.sqrt(5)
    ref = (0.3 * _reference_topk_weights(m, 2) + 1.7 * _reference_topk_weights(m, 4)) @ v
    torch.testing.assert_close(att(q, k, v), ref)  # k2 = ceil(0.5 * 7) = 4


def test_dual_topk_unselected_keys_get_no_gradient():
    torch.manual_seed(2)
    q = torch.randn(1, 4, 8, requires_grad=True)
    k = torch.randn(1, 9, 8, requires_grad=True)
    v = torch.randn(1, 9, 3, requires_grad=True)
    att = DualTopKAttention(k1=1, k2=2)
    att(q, k, v).square().sum().backward()
    w1, w2 = att.attention_weights(q.detach(), k.detach())
    used = ((w1 + w2) > 0).any(dim=-2)[0]  # keys selected by at least one query
    assert not used.all()
    assert torch.equal(v.grad[0, ~used], torch.zeros_like(v.grad[0, ~used]))
    assert v.grad[0, used].abs().sum(-1).gt(0).all()
    _all_grads(att)
    assert q.grad.abs().sum() > 0


def test_dual_topk_with_all_keys_is_plain_softmax():
    q, k, v = (torch.randn(3, 6, 4, dtype=torch.float64) for _ in range(3))
    att = DualTopKAttention(k1=1.0, k2=6, alpha=0.5, beta=0.5).double()
    ref = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1) @ v
    torch.testing.assert_close(att(q, k, v), ref)


def test_dual_topk_errors():
    for bad in (0, 1.5, -0.1, True, "half"):
        with pytest.raises(ArgumentError):
            DualTopKAttention(k1=bad)
    with pytest.raises(InputShapeError):
        DualTopKAttention()(torch.randn(1, 3, 4), torch.randn(1, 5, 4), torch.randn(1, 6, 4))


# --- multi-scale perception --------------------------------------------------------------------

def test_multiscale_perception_shapes_and_dilations():
    msp = MultiScalePerception(16, branch_channels=4, qk_channels=8).eval()
    q, k, v = msp(torch.randn(2, 3, 16, 9, 9))
    assert q.shape == k.shape == (2, 3, 8, 9, 9) and v.shape == (2, 3, 16, 9, 9)
    # a single dilation-4 branch sees exactly the 3x3 grid of offsets {-4, 0, 4}^2
    one = MultiScalePerception(4, branch_channels=4, qk_channels=4, dilations=(4,)).eval()
    with torch.no_grad():
        one.branches[0][0].module[0].weight.fill_(1.0)
        one.to_q.module.weight.fill_(1.0)
        x = torch.zeros(1, 1, 4, 13, 13)
        x[..., 6, 6] = 1.0
        diff = (one(x)[0] - one(torch.zeros_like(x))[0])[0, 0, 0]
    assert diff.ne(0).nonzero().tolist() == [[r, c] for r in (2, 6, 10) for c in (2, 6, 10)]


def test_multiscale_perception_gradient_and_errors():
    msp = MultiScalePerception(8)
    q, k, v = msp(torch.randn(2, 2, 8, 5, 5))
    (q.sum() + k.sum() + v.sum()).backward()
    _all_grads(msp)
    with pytest.raises(InputShapeError):
        msp(torch.randn(2, 8, 5, 5))
    with pytest.raises(ArgumentError):
        MultiScalePerception(8, dilations=(1, 0))


# --- ResNet trunk and STFE ---------------------------------------------------------------------

def test_resnet2d_is_resnet18():
    trunk = ResNet2d(3)
    # torchvision's resnet18 has 11,689,512 parameters, of which 513,000 are the 1000-way fc
    assert sum(p.numel() for p in trunk.parameters()) == 11_689_512 - 513_000
    assert sum(isinstance(m, nn.Conv2d) for m in trunk.modules()) == 20  # 17 + 3 shortcuts


def test_resnet2d_output_stride_keeps_parameters():
    a = ResNet2d(2, (8, 16, 32, 64), out_stride=32)
    b = ResNet2d(2, (8, 16, 32, 64), out_stride=16)
    c = ResNet2d(2, (8, 16, 32, 64), out_stride=8)
    x = torch.randn(1, 2, 2, 32, 32)
    assert a(x).shape[-2:] == (1, 1) and b(x).shape[-2:] == (2, 2) and c(x).shape[-2:] == (4, 4)
    assert len({sum(p.numel() for p in m.parameters()) for m in (a, b, c)}) == 1
    with pytest.raises(ArgumentError):
        ResNet2d(2, out_stride=4)


def test_stfe_shapes_gradients_and_plain_variant():
    x = torch.randn(4, 2, 2, 32, 32, requires_grad=True)
    stfe = STFE(2, (8, 16, 16, 32), (1, 1, 1, 1), 16, num_heads=2)
    y = stfe(x)
    assert y.shape == (4, 2, 32, 2, 2)
    y.square().sum().backward()
    _all_grads(stfe)
    assert x.grad.abs().sum() > 0
    assert sum(isinstance(m, TemporalShift) for m in stfe.modules()) == 4  # one per block
    plain = STFE(2, (8, 16, 16, 32), (1, 1, 1, 1), 16, temporal_shift=False, selection=False)
    assert not any(isinstance(m, (TemporalShift, MultiScalePerception, DualTopKAttention))
                   for m in plain.modules())
    trunk = ResNet2d(2, (8, 16, 16, 32), (1, 1, 1, 1), 16)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in trunk.parameters())


def test_stfe_tsm_mixes_time_and_plain_does_not():
    torch.manual_seed(3)
    x = torch.randn(4, 1, 2, 16, 16)
    x2 = x.clone()
    x2[3] += 1.0  # change only the last frame
    for shift, expect_mix in ((True, True), (False, False)):
        stfe = STFE(2, (8, 8, 16, 16), (1, 1, 1, 1), 16, temporal_shift=shift,
                    selection=False).eval()
        with torch.no_grad():
            changed = (stfe(x) - stfe(x2)).flatten(1).abs().amax(1) > 0
        assert changed[3]
        assert bool(changed[:3].any()) is expect_mix


def test_spiking_stfe_uses_only_neurons():
    act = activation_factory({"name": "lif", "tau": 2.0})
    stfe = STFE(2, (8, 8, 16, 16), (1, 1, 1, 1), 16, act=act, num_heads=2)
    assert not any(isinstance(m, nn.ReLU) for m in stfe.modules())
    n = sum(isinstance(m, SpikingNeuron) for m in stfe.modules())
    assert n == 1 + 4 * 2 + 3 + 1  # stem, 2 per block, 3 MSP branches, output
    y = stfe(torch.rand(4, 2, 2, 16, 16))
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}  # LIF output: binary spikes


# --- windows and Stage 1 -----------------------------------------------------------------------

def test_window_partition_merge_is_lossless_and_row_major():
    x = torch.randn(3, 5, 8, 12)
    w = window_partition(x, (4, 3))
    assert w.shape == (3 * 2 * 4, 12, 5)
    assert torch.equal(window_merge(w, (4, 3), 8, 12), x)
    grid = torch.arange(16.0).reshape(1, 1, 4, 4)
    wins = window_partition(grid, 2)[..., 0]
    assert wins.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    with pytest.raises(InputShapeError, match="not a multiple"):
        window_partition(x, 5)
    with pytest.raises(InputShapeError):
        window_merge(w, (4, 3), 8, 10)


def _manual_eq3(mod: WindowCrossAttention, src_q, src_kv, x: str) -> torch.Tensor:
    """Eq. 3 for one window of tokens (1 head): softmax(Q_y K_x^T / sqrt d) V_x, projected."""
    y = "event" if x == "rgb" else "rgb"
    q = mod.to_q[y](mod.norm[y](src_q))
    k, v = mod.to_kv[x](mod.norm[x](src_kv)).chunk(2, -1)
    a = torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), -1)
    return mod.proj[x](a @ v)


def test_window_cross_attention_matches_eq3_with_padding():
    torch.manual_seed(4)
    mod = WindowCrossAttention(6, window_size=4, num_heads=1).double()
    rgb, ev = torch.randn(1, 6, 6, 6, dtype=torch.float64), torch.randn(1, 6, 6, 6,
                                                                      dtype=torch.float64)
    r2, e2 = mod(rgb, ev)
    # the top-right window holds rows 0..3, columns 4..5 (the rest is padding)
    tok = lambda f: f[0, :, 0:4, 4:6].flatten(1).T  # noqa: E731
    exp_e = tok(ev) + _manual_eq3(mod, tok(rgb), tok(ev), "event")  # RGB queries, event K/V
    exp_r = tok(rgb) + _manual_eq3(mod, tok(ev), tok(rgb), "rgb")
    torch.testing.assert_close(tok(e2), exp_e)
    torch.testing.assert_close(tok(r2), exp_r)


def test_window_cross_attention_is_local_and_directional():
    torch.manual_seed(5)
    rgb, ev = torch.randn(2, 3, 8, 4, 4), torch.randn(2, 3, 8, 4, 4)
    mod = WindowCrossAttention(8, window_size=2, num_heads=2)
    r1, e1 = mod(rgb, ev)
    ev2 = ev.clone()
    ev2[..., :2, :2] += 1.0  # perturb the top-left window of every frame
    r2, e2 = mod(rgb, ev2)
    outside = torch.ones(4, 4, dtype=torch.bool)
    outside[:2, :2] = False
    assert torch.equal(r1[..., outside], r2[..., outside])
    assert not torch.equal(r1[..., :2, :2], r2[..., :2, :2])
    one_way = WindowCrossAttention(8, 2, 2, direction="rgb_to_event")
    r, e = one_way(rgb, ev)
    assert torch.equal(r, rgb) and not torch.equal(e, ev)
    other = WindowCrossAttention(8, 2, 2, direction="event_to_rgb")
    r, e = other(rgb, ev)
    assert torch.equal(e, ev) and not torch.equal(r, rgb)


def test_window_cross_attention_gradients_and_errors():
    mod = WindowCrossAttention(8, window_size=3, num_heads=2)
    rgb = torch.randn(2, 1, 8, 5, 4, requires_grad=True)
    ev = torch.randn(2, 1, 8, 5, 4, requires_grad=True)
    r, e = mod(rgb, ev)
    (r.square().sum() + e.square().sum()).backward()
    _all_grads(mod)
    assert rgb.grad.abs().sum() > 0 and ev.grad.abs().sum() > 0
    with pytest.raises(InputShapeError, match="same shape"):
        mod(rgb, ev[..., :4, :])
    with pytest.raises(InputShapeError, match="pad=False"):
        WindowCrossAttention(8, 3, pad=False)(rgb, ev)
    with pytest.raises(ArgumentError):
        WindowCrossAttention(8, direction="sideways")


# --- temporal pyramid alignment (Eq. 4) --------------------------------------------------------

def test_tpa_level0_weights_is_identity():
    x = torch.randn(8, 2, 3, 4, 4)
    tpa = TemporalPyramidAlignment(weights=(1.0, 0.0, 0.0))
    assert torch.equal(tpa(x), x)


def test_tpa_levels_are_pooled_and_interpolated_in_time():
    x = torch.randn(4, 1, 2, 3, 3, dtype=torch.float64)
    p0, p1 = (x[0] + x[1]) / 2, (x[2] + x[3]) / 2  # level 1 (T/2)
    lin = TemporalPyramidAlignment(weights=(0.0, 1.0, 0.0)).double()(x)
    # trilinear, align_corners=False, 2 -> 4 steps: sources -0.25, 0.25, 0.75, 1.25
    expect = torch.stack([p0, 0.75 * p0 + 0.25 * p1, 0.25 * p0 + 0.75 * p1, p1])
    torch.testing.assert_close(lin, expect)
    near = TemporalPyramidAlignment(mode="nearest", weights=(0.0, 1.0, 0.0)).double()(x)
    torch.testing.assert_close(near, torch.stack([p0, p0, p1, p1]))
    top = TemporalPyramidAlignment(weights=(0.0, 0.0, 1.0)).double()(x)  # T/4 = 1 step
    torch.testing.assert_close(top, x.mean(0, keepdim=True).expand_as(x))


def test_tpa_gradient_and_short_clip_error():
    tpa = TemporalPyramidAlignment()
    x = torch.randn(4, 2, 3, 2, 2, requires_grad=True)
    tpa(x).square().sum().backward()
    assert tpa.weights.grad.abs().gt(0).all() and x.grad.abs().sum() > 0
    with pytest.raises(InputShapeError, match="T >= 4"):
        tpa(torch.randn(3, 2, 3, 2, 2))
    with pytest.raises(ArgumentError):
        TemporalPyramidAlignment(mode="cubic")


# --- global fusion (transformer + Eq. 5) -------------------------------------------------------

def test_cross_modal_gate_is_eq5():
    gate = CrossModalGate(0.25)
    fr, fe = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(gate(fr, fe), 0.25 * fr + 0.75 * fe)
    gate(fr, fe).sum().backward()
    torch.testing.assert_close(gate.logit.grad, (0.25 * 0.75 * (fr - fe)).sum())
    with pytest.raises(InputShapeError):
        gate(fr, fe[:2])
    with pytest.raises(ArgumentError):
        CrossModalGate(1.0)


def test_temporal_transformer_mixes_time_and_spikes():
    torch.manual_seed(6)
    tr = TemporalTransformer(8, num_heads=2).eval()
    x = torch.randn(5, 2, 8, requires_grad=True)
    y = tr(x)
    assert y.shape == (5, 2, 8)
    x2 = x.detach().clone()
    x2[4] += torch.randn(2, 8)  # (a constant shift would vanish in the LayerNorm)
    assert not torch.allclose(tr(x2)[0], y[0])  # step 0 sees step 4 (global attention)
    y.square().sum().backward()
    _all_grads(tr)
    snn = TemporalTransformer(8, 2, act=activation_factory("lif"))
    assert isinstance(snn.act, SpikingNeuron) and snn(x.detach()).shape == (5, 2, 8)
    with pytest.raises(InputShapeError):
        tr(torch.randn(5, 2, 6))
