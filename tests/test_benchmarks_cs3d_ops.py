"""``benchmarks/cs3d_ops.py``: the per-call recorder behind issue 7's kernel-quality check."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks import cs3d_ops
from snnfer.fastpath import tiled
from snnfer.fastpath.convs import triple
from snnfer.models import create_model


def _record(fn):
    rec = cs3d_ops.OpRecorder()
    with torch.no_grad(), rec:
        out = fn()
    return out, list(rec.groups.values())


def test_convolutions_are_classified_with_their_macs():
    x = torch.rand(2, 8, 10, 12).contiguous(memory_format=torch.channels_last)
    pw, dw, dense = torch.rand(16, 8, 1, 1), torch.rand(8, 1, 3, 3), torch.rand(4, 8, 3, 3)
    _, groups = _record(lambda: (F.conv2d(x, pw), F.conv2d(x, dw, padding=1, groups=8),
                                 F.conv2d(x, dense)))
    convs = {g.op_class: g for g in groups if g.macs}
    assert set(convs) == {"point-wise conv", "depth-wise conv", "dense 3x3 conv"}
    assert convs["point-wise conv"].macs == 2 * 16 * 10 * 12 * 8
    assert convs["depth-wise conv"].macs == 2 * 8 * 10 * 12 * 9
    assert convs["dense 3x3 conv"].macs == 2 * 4 * 8 * 10 * 8 * 9
    # bytes read + written: input, weight and output of the point-wise conv
    assert convs["point-wise conv"].nbytes == 4 * (x.numel() + pw.numel() + 2 * 16 * 10 * 12)


def test_identical_calls_form_one_group_and_the_mode_is_transparent():
    a, b = torch.rand(64, 32), torch.rand(32, 16)
    out, groups = _record(lambda: [torch.relu(a @ b) for _ in range(3)] + [torch.relu(b)])
    assert torch.equal(out[0], torch.relu(a @ b))
    calls = sorted((g.op_class, g.calls) for g in groups)
    assert calls == [("fully connected", 3), ("neuron / ReLU", 1), ("neuron / ReLU", 3)]
    mm = next(g for g in groups if g.op_class == "fully connected")
    assert mm.macs == 64 * 16 * 32 and mm.in_model_s > 0


def test_replays_of_an_in_place_call_leave_the_live_tensor_alone():
    acc, inc = torch.zeros(1000), torch.ones(1000)
    rec = cs3d_ops.OpRecorder(replays=3)
    with rec:
        acc.add_(inc)
        torch.add(inc[:10], inc[:10], out=acc[:10])
    assert torch.equal(acc[10:], inc[10:]) and torch.equal(acc[:10], 2 * inc[:10])
    assert len(rec.groups) == 2 and all(g.alone_s > 0 for g in rec.groups.values())


def _small_c3d() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = create_model("c3d", num_classes=7, preset="small")
    return model, torch.rand(2, *model.default_input_shape)


def _conv3d_macs(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """MACs of each ``Conv3d`` in one eval-mode forward (output voxels x fan-in), and the
    output."""
    macs = []
    hooks = [m.register_forward_hook(
        lambda m, i, o: macs.append(o.numel() * m.in_channels * math.prod(m.kernel_size)))
        for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    with torch.no_grad():
        out = model.eval()(x)
    for h in hooks:
        h.remove()
    return macs, out


def test_tiled_c3d_records_every_conv_mac_once(monkeypatch):
    """Cache-tiled chunks of C3D's conv1 (forced at the small preset) add up to the whole
    convolutions: the recorded dense-conv MACs equal the layers' analytic count."""
    model, x = _small_c3d()
    expected, ref = _conv3d_macs(model.set_execution("reference"), x)
    monkeypatch.setattr(tiled, "MIN_TILED_BYTES", 0)
    model.set_execution("fast")
    fwd, groups = cs3d_ops.profile_inference(model, x, repeats=1)
    convs = [g for g in groups if g.op_class.startswith("dense 3x3x3")]
    assert sum(g.calls for g in convs) > 5  # conv1 ran in chunks
    assert sum(g.macs * g.calls for g in convs) == sum(expected)
    assert fwd > 0 and all(g.alone_s > 0 for g in groups)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-5)


def test_cs3d_point_wise_macs_match_the_blocks():
    torch.manual_seed(0)
    model = create_model("cs3d", num_classes=7, preset="small").set_execution("fast").eval()
    x = torch.rand(1, *model.default_input_shape)
    _, groups = cs3d_ops.profile_inference(model, x, repeats=1)
    table = cs3d_ops.by_class(groups)
    expected = 0
    t, h, w = x.shape[1], x.shape[3], x.shape[4]
    for name, block in model.features.named_children():
        if not name.startswith("conv"):
            continue
        voxels = t * h * w  # stride-1 blocks; the pool after each block shrinks the next
        expected += voxels * (block.c_out * block.c_out)  # PW2
        if block.dw_temporal.weight.shape[0] * block.k > tiled.MERGED_TEMPORAL_MAX_INPUTS:
            expected += voxels * block.c_in * block.c_out  # PW1 (else merged with DW_t)
        if not isinstance(block.shortcut, torch.nn.Identity):
            expected += voxels * block.c_in * block.c_out
        pool = getattr(model.features, name.replace("conv", "pool"), None)
        if isinstance(pool, torch.nn.MaxPool3d):  # (pool5 is the last: not needed)
            kt, kh, kw = triple(pool.kernel_size)
            t, h, w = t // kt, h // kh, w // kw
    pw = sum(table[c]["macs"] for c in table if c.startswith("point-wise"))
    assert pw == pytest.approx(expected, rel=1e-12)


def test_summary_compares_the_alone_sum_with_the_goal():
    res = {"c3d": {"measured_s": 0.4, "classes": {
               "dense 3x3x3 conv": {"alone_s": 0.30, "macs": 90e9},  # 300 GMAC/s
               "max-pool": {"alone_s": 0.08, "macs": 0.0}}},
           "cs3d": {"measured_s": 0.16, "classes": {
               "point-wise conv": {"alone_s": 0.09, "macs": 15e9},  # 50 ms at 300 GMAC/s
               "depth-wise conv": {"alone_s": 0.01, "macs": 6e9},  # faster alone: kept
               "neuron / ReLU": {"alone_s": 0.02, "macs": 0.0}}}}
    r = cs3d_ops.summary(res, 0.25)
    assert r["measured"] == pytest.approx(0.4) and r["alone_s"] == pytest.approx(0.12)
    assert r["alone"] == pytest.approx(0.3) and r["alone_vs_alone"] == pytest.approx(0.12 / 0.38)
    assert r["dense_rate"] == pytest.approx(300e9)
    assert r["at_dense_rate"] == pytest.approx(0.08 / 0.4)  # 50 + 10 + 20 ms
    row = cs3d_ops.summary_table({("inference", 4): r}).splitlines()[-1]
    assert row == ("| inference | 4 | 400 | 160 | 0.40x | 120 | 0.30x | 0.32x | 0.20x "
                   "(300 GMAC/s) | 0.25x |")


def test_training_step_counts_backward_macs():
    """C3D's convolution backward computes the input and weight gradients (2x the forward
    MACs) except in conv1, whose input (the clip) needs no gradient (1x)."""
    model, x = _small_c3d()
    fwd, _ = _conv3d_macs(model.set_execution("fast"), x)
    before = [p.detach().clone() for p in model.parameters()]
    step_s, groups = cs3d_ops.profile_training(model, x, repeats=1)
    table = cs3d_ops.by_class(groups)
    assert table["dense 3x3x3 conv"]["macs"] == sum(fwd)
    assert table["dense 3x3x3 conv backward"]["macs"] == fwd[0] + 2 * sum(fwd[1:])
    assert step_s > 0 and any(not torch.equal(p, q) for p, q in zip(before, model.parameters()))
