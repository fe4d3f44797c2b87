"""snnfer.layers helpers: activation builder, time folding, frame encoder, clip checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError, UnknownNameError
from snnfer.layers import (
    FeatureActivation,
    FrameEncoder,
    TimeFolded,
    build_activation,
    check_clip,
    pooled_size,
)
from snnfer.neuron import LIFNode, SoftSpikingNeuron


def test_build_activation_specs():
    assert isinstance(build_activation("relu"), nn.ReLU)
    assert isinstance(build_activation("ReLU"), nn.ReLU)
    ssn = build_activation("ssn", threshold=0.25)
    assert isinstance(ssn, SoftSpikingNeuron) and ssn.threshold == 0.25 and ssn.time_dim == 2
    lif = build_activation({"name": "lif", "tau": 3.0}, time_dim=1)
    assert isinstance(lif, LIFNode) and lif.tau == 3.0 and lif.time_dim == 1
    proto = LIFNode(tau=4.0)
    copy = build_activation(proto, time_dim=2)
    assert copy is not proto and copy.time_dim == 2 and proto.time_dim == 0
    assert isinstance(build_activation(nn.SiLU()), nn.SiLU)
    per_channel = build_activation("ssn", channels=6, learnable_threshold="channel")
    assert per_channel.theta.shape == (6,)


def test_build_activation_passes_time_dim_to_factories_that_take_it():
    made = build_activation(lambda time_dim, tau=2.0: LIFNode(tau=tau, time_dim=time_dim),
                            time_dim=2, tau=5.0)
    assert made.time_dim == 2 and made.tau == 5.0
    assert isinstance(build_activation(nn.GELU), nn.GELU)


def test_build_activation_bad_specs():
    with pytest.raises(ArgumentError, match="'relu' takes no neuron_kwargs"):
        build_activation("relu", tau=2.0)
    with pytest.raises(UnknownNameError, match="available"):
        build_activation("leaky_relu_spike")
    with pytest.raises(ArgumentError, match="'name'"):
        build_activation({"tau": 2.0})
    with pytest.raises(ArgumentError, match="channel count"):
        build_activation("ssn", learnable_threshold="channel")


def test_feature_activation_runs_one_time_step():
    x = torch.randn(5, 7) * 3
    act = FeatureActivation("lif", 7, tau=2.0)
    torch.testing.assert_close(act(x), LIFNode(tau=2.0)(x.unsqueeze(0))[0])
    relu = FeatureActivation("relu")
    torch.testing.assert_close(relu(x), x.relu())
    per_channel = FeatureActivation("ssn", 7, learnable_threshold="channel")
    assert per_channel(x).shape == (5, 7)


def test_time_folded_equals_a_loop_over_frames():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    folded = TimeFolded(conv)
    x = torch.randn(5, 2, 3, 6, 6)
    ref = torch.stack([conv(frame) for frame in x])
    torch.testing.assert_close(folded(x), ref)
    two = TimeFolded(conv, nn.Flatten())
    assert two(x).shape == (5, 2, 4 * 36)
    with pytest.raises(InputShapeError, match=r"\[T, B, ...\]"):
        folded(torch.randn(3, 4))


def test_frame_encoder_is_per_frame():
    enc = FrameEncoder(2, 16, widths=(4, 8))
    x = torch.randn(3, 5, 2, 20, 20)
    f = enc(x)
    assert f.shape == (3, 5, 16)
    # frame t of clip b depends only on that frame
    torch.testing.assert_close(enc.eval()(x[:1, 2:3]), enc(x)[:1, 2:3])
    with pytest.raises(InputShapeError, match="C=2"):
        enc(torch.randn(3, 5, 3, 20, 20))
    with pytest.raises(ArgumentError, match="widths"):
        FrameEncoder(2, 16, widths=())


def test_pooled_size():
    assert pooled_size(112, 2) == 56 and pooled_size(7, 2) == 3 and pooled_size(1, 2) == 0
    assert pooled_size(56, 3, 2, 1) == 28


def test_check_clip_accepts_and_reports():
    assert check_clip(torch.zeros(2, 16, 3, 32, 40), owner="m", channels=3,
                      min_size=(16, 32, 32)) == (16, 32, 40)


@pytest.mark.parametrize("x, exc, pattern", [
    (torch.zeros(16, 3, 32, 32), InputShapeError, r"5-D input \[B, T, C, H, W\].*unsqueeze"),
    (torch.zeros(2, 16, 2, 32, 32), InputShapeError, r"C=3, T>=16, H>=32, W>=32; got C=2"),
    (torch.zeros(2, 3, 16, 32, 32), InputShapeError, r"transpose\(1, 2\)"),
    (torch.zeros(2, 8, 3, 32, 32), InputShapeError, r"too small.*T=8 < 16"),
    (torch.zeros(2, 16, 3, 31, 64), InputShapeError, r"H=31 < 32"),
    (torch.zeros(0, 16, 3, 32, 32), InputShapeError, "empty batch"),
    (torch.zeros(2, 16, 3, 32, 32, dtype=torch.uint8), InputDtypeError, "x.float()"),
    ([[1.0]], InputDtypeError, "torch.Tensor"),
])
def test_check_clip_errors(x, exc, pattern):
    with pytest.raises(exc, match=pattern):
        check_clip(x, owner="cs3d", channels=3, min_size=(16, 32, 32))
