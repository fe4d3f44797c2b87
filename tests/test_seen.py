"""SEEN baseline: the published neuron, sizes, weight copy, membrane readout, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.models import create_model
from snnfer.models.seen import SEEN_LIF, MembraneReadout
from snnfer.neuron import SpikingNeuron, make_neuron

TINY = {"preset": "small", "image_size": 32, "widths": (8, 16, 16), "fc_hidden": 16}

THRESH, DECAY, LENS = 0.3, 0.2, 0.5  # SEEN's opts.py


class _SeenSpike(torch.autograd.Function):
    """SEEN's ActFun: spike = mem > thresh; gradient 1 where |mem - thresh| < lens."""

    @staticmethod
    def forward(ctx, mem):
        ctx.save_for_backward(mem)
        return mem.gt(THRESH).to(mem.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mem,) = ctx.saved_tensors
        return grad * ((mem - THRESH).abs() < LENS).to(grad.dtype)


def _seen_reference(x_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SEEN's mem_update over time: returns (spikes, charged membranes), each [T, ...]."""
    mem = spike = torch.zeros_like(x_seq[0])
    spikes, mems = [], []
    for x in x_seq:
        mem = mem * DECAY * (1.0 - spike) + x
        spike = _SeenSpike.apply(mem)
        spikes.append(spike)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def test_seen_lif_spec_is_the_published_neuron():
    torch.manual_seed(0)
    x = (torch.rand(6, 3, 50, dtype=torch.float64) * 1.2 - 0.3).requires_grad_()
    weights = torch.randn(6, 3, 50, dtype=torch.float64)
    ref_spikes, ref_mem = _seen_reference(x)
    (ref_spikes * weights).sum().backward()
    ref_grad, x.grad = x.grad.clone(), None
    spikes = make_neuron(SEEN_LIF)(x)
    assert torch.equal(spikes, ref_spikes) and ref_spikes.sum() > 0
    (spikes * weights).sum().backward()
    torch.testing.assert_close(x.grad, ref_grad)  # same surrogate, reset gradient included
    # the readout returns SEEN's charged membrane (before reset) at every step
    x.grad = None
    mem = MembraneReadout(SEEN_LIF)(x)
    torch.testing.assert_close(mem, ref_mem)
    mem.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    _seen_reference(x2)[1].sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_published_sizes():
    model = create_model("seen")
    assert model.default_input_shape == {"event": (4, 3, 90, 90), "rgb": (4, 3, 90, 90)}
    assert model.fc1.in_features == 18432  # 512 x 6 x 6 for 90x90 inputs
    published = (6 * 3 + 3                                # conv0 1x1
                 + sum(3 * 64 * k * k + 64 for k in (3, 5, 7))
                 + 3 * ((64 * 8 + 8) + 2 * 8 + (8 + 1))    # three branch-weight MLPs
                 + (192 * 64 + 64) + (64 * 256 * 9 + 256) + (256 * 512 * 9 + 512)
                 + (18432 * 256 + 256) + (256 * 7 + 7))
    assert published == 6_078_655
    assert sum(p.numel() for p in model.parameters()) == published  # copies add nothing
    neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
    assert len(neurons) == 6 and all(n.v_threshold == 0.3 and n.tau == 1.25 for n in neurons)


def test_event_branch_copies_the_frame_weights():
    model = create_model("seen", **TINY)
    pairs = [(model.ev_conv1[i], model.conv1[i]) for i in range(3)]
    pairs += [(model.ev_conv1_cat, model.conv1_cat), (model.ev_conv2, model.conv2),
              (model.ev_conv3, model.conv3)]
    for ev, fr in pairs:
        assert ev.weight is fr.weight and ev.bias is None and fr.bias is not None
    clone = create_model("seen", **TINY)
    clone.load_state_dict(copy.deepcopy(model.state_dict()))
    assert clone.ev_conv2.weight is clone.conv2.weight
    assert torch.equal(clone.ev_conv2.weight, model.conv2.weight)


def _pair(model, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = model.default_input_shape
    return {m: torch.randn(batch, *shape[m], generator=g) for m in model.modalities}


def test_weight_copy_detach_as_published_and_shared():
    for mode, event_gets_grad in (("detach", False), ("shared", True)):
        model = create_model("seen", weight_copy=mode, **TINY)
        x = _pair(model)
        x["event"].requires_grad_()
        model(**x).square().sum().backward()
        assert (x["event"].grad is not None) is event_gets_grad
        assert model.conv2.weight.grad.abs().sum() > 0  # the frame branch trains them
        if event_gets_grad:
            assert x["event"].grad.abs().sum() > 0


def test_logits_are_the_time_averaged_output_membrane():
    model = create_model("seen", **TINY).double().eval()
    fc2_out = {}
    model.fc2.register_forward_hook(lambda m, a, out: fc2_out.setdefault("x", out))
    x = {k: v.double() for k, v in _pair(model).items()}
    with torch.no_grad():
        logits = model(**x)
    _, mem = _seen_reference(fc2_out["x"])
    torch.testing.assert_close(logits, mem.mean(0))


def test_two_channel_events_and_other_neurons():
    model = create_model("seen", in_channels=2, neuron="lif", readout_neuron=SEEN_LIF, **TINY)
    assert model.default_input_shape["event"] == (4, 2, 32, 32)
    assert model(**_pair(model)).shape == (2, 7)


def test_bad_input_and_arguments():
    model = create_model("seen", **TINY)
    x = _pair(model)
    with pytest.raises(InputShapeError, match="32x32"):
        model(event=x["event"][..., :30, :30], rgb=x["rgb"][..., :30, :30])
    with pytest.raises(InputShapeError, match="time steps"):
        model(event=x["event"], rgb=x["rgb"][:, :2])
    with pytest.raises(InputShapeError, match="missing"):
        model(rgb=x["rgb"])
    with pytest.raises(ArgumentError):
        create_model("seen", weight_copy="copy")

    class Foreign(nn.Module):
        def __init__(self, step_mode: str = "m") -> None:
            super().__init__()

    with pytest.raises(ArgumentError, match="native snnfer neuron"):
        create_model("seen", readout_neuron=Foreign, **TINY)
