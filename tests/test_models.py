"""snnfer.models: every model's forward/backward, presets, neuron specs, state reset, errors."""

from __future__ import annotations

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
from snnfer.layers import FactorizedConv3d, JointAttention, MultiPool
from snnfer.models import ClipClassifier, create_model, list_models, model_entrypoint
from snnfer.neuron import IFNode, SoftSpikingNeuron, SpikingNeuron
from tests.conftest import require

C3D_FAMILY = ("c3d", "c3d_ssn", "c3d_factorized", "c3d_attention", "cs3d")
TINY: dict[str, dict] = {
    **{n: {"preset": "small", "input_size": (16, 32, 32), "width_mult": 0.125}
       for n in C3D_FAMILY},
    **{n: {"preset": "small", "input_size": (5, 32, 32), "width_mult": 0.25}
       for n in ("rnn", "lstm", "transformer")},
    "spiking_fer": {"preset": "small", "input_size": (4, 32, 32), "width_mult": 0.125},
}


def _tiny(name: str, num_classes: int = 5, **kw) -> ClipClassifier:
    return create_model(name, num_classes, 2, **{**TINY[name], **kw})


def _clips(model: ClipClassifier, batch: int = 2) -> torch.Tensor:
    return (torch.rand(batch, *model.default_input_shape) < 0.3).float()


def _has_state(neuron: SpikingNeuron) -> bool:
    """An snnfer neuron's ``v`` or a wrapped spikingjelly neuron's ``module.v`` is a tensor."""
    inner = getattr(neuron, "module", None)
    return isinstance(getattr(neuron, "v", None), torch.Tensor) or isinstance(
        getattr(inner, "v", None), torch.Tensor)


def test_all_models_are_registered():
    assert set(TINY) <= set(list_models())


def test_list_models_filters_by_glob_or_substring():
    c3d_family = {"c3d", "c3d_ssn", "c3d_factorized", "c3d_attention"}
    assert set(list_models("c3d*")) == {n for n in list_models() if n.startswith("c3d")}
    assert c3d_family <= set(list_models("c3d*"))
    assert "cs3d" not in list_models("c3d*")
    assert set(list_models("c3d")) == {n for n in list_models() if "c3d" in n}
    assert "cs3d" not in list_models("c3d")  # "cs3d" does not contain "c3d"
    assert list_models("hecnet_?nn") == ["hecnet_snn"]
    assert list_models("no_such_*") == []


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_on_a_tiny_input(name):
    model = _tiny(name)
    x = _clips(model)
    logits = model(x)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d)))
    assert first.weight.grad.abs().sum() > 0  # the gradient reaches the first layer


@pytest.mark.parametrize("name", sorted(TINY))
def test_presets_and_attributes(name):
    fn = model_entrypoint(name)
    small, paper = fn(preset="small"), fn()
    assert small.preset == "small" and paper.preset == "paper"
    t, c, h, w = small.default_input_shape
    assert c == 2 and (h, w) == (48, 48)
    expected_paper = {"spiking_fer": (6, 2, 128, 128)}.get(name, (16, 3, 112, 112))
    assert paper.default_input_shape == expected_paper
    assert t == (6 if name == "spiking_fer" else 16)
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small < sum(p.numel() for p in paper.parameters())
    # explicit knobs override the preset
    custom = fn(preset="small", input_size=(16, 64, 64), in_channels=1)
    assert custom.default_input_shape == (16, 1, 64, 64)


def test_c3d_paper_configuration():
    model = create_model("c3d", 7, 3)
    convs = [m for m in model.features if not isinstance(m, nn.MaxPool3d)]
    assert [c.conv.out_channels for c in convs] == [64, 128, 256, 512, 512]
    assert all(c.conv.kernel_size == (3, 3, 3) and isinstance(c.act, nn.ReLU) for c in convs)
    pools = [m.kernel_size for m in model.features if isinstance(m, nn.MaxPool3d)]
    assert pools == [(1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)]
    cls = model.classifier
    assert (cls.fc6.in_features, cls.fc6.out_features) == (512 * 3 * 3, 4096)
    assert (cls.fc7.out_features, cls.fc8.out_features) == (4096, 7)
    assert cls.drop6.p == 0.5


def test_ablation_variants_differ_as_in_table_iv():
    ssn = create_model("c3d_ssn", 7, 3)
    assert isinstance(ssn.features.conv1.act, SoftSpikingNeuron)
    assert isinstance(ssn.classifier.act6.act, SoftSpikingNeuron)
    fac = create_model("c3d_factorized", 7, 3)
    assert isinstance(fac.features.conv3, FactorizedConv3d)
    assert isinstance(fac.attention, nn.Identity)
    att = create_model("c3d_attention", 7, 3)
    assert isinstance(att.attention, JointAttention) and isinstance(att.features.conv1.act, nn.ReLU)
    assert att.features.pool5.kernel_size == (1, 2, 2)
    cs3d = create_model("cs3d", 7, 3)
    assert isinstance(cs3d.features.conv5, FactorizedConv3d)
    assert isinstance(cs3d.features.conv5.act2, SoftSpikingNeuron)
    assert isinstance(cs3d.features.pool5, MultiPool) and isinstance(cs3d.attention, JointAttention)
    # the attention variants average time after the attention: same FC head as C3D
    assert cs3d.classifier.fc6.in_features == fac.classifier.fc6.in_features == 512 * 9


def test_baseline_configurations_follow_the_paper():
    for name, cls in (("rnn", nn.RNN), ("lstm", nn.LSTM)):
        m = create_model(name, 7, 3)
        assert isinstance(m.rnn, cls)
        assert (m.rnn.num_layers, m.rnn.hidden_size) == (2, 128)
        assert m.fc.in_features == 128
    tr = create_model("transformer", 7, 3)
    layers = tr.encoder_layers.layers
    assert len(layers) == 2
    assert layers[0].self_attn.num_heads == 4 and layers[0].self_attn.embed_dim == 256


def test_spiking_fer_configuration():
    m = create_model("spiking_fer", 6, 2)
    stem = m.stem.module[0]
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.stride) == (
        2, 64, (7, 7), (2, 2))
    assert m.fc.in_features == 512 and m.fc.bias is None
    neurons = [mod for mod in m.modules() if isinstance(mod, SpikingNeuron)]
    # stem + 8 blocks x 2 + 3 downsample neurons
    assert len(neurons) == 1 + 16 + 3
    assert all(isinstance(n, IFNode) and n.detach_reset and n.surrogate.name == "atan"
               for n in neurons)
    assert all(b.conv2.module[1].weight.abs().sum() == 0 for b in m.layers)  # zero-init BN


@pytest.mark.parametrize("spec", ["lif", "spikingjelly:LIFNode", {"name": "ssn", "tau": 2.0}])
def test_any_neuron_spec_works_in_cs3d(spec):
    if isinstance(spec, str) and spec.startswith("spikingjelly"):
        require("spikingjelly")
    model = _tiny("cs3d", neuron=spec)
    neurons = [m for m in model.features.modules() if isinstance(m, SpikingNeuron)]
    assert len(neurons) == 10 and all(n.time_dim == 2 for n in neurons)
    x = _clips(model)
    model(x).sum().backward()
    assert model.features.conv1.pw1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name, spec", [("cs3d", "lif"), ("c3d_ssn", "spikingjelly:LIFNode"),
                                        ("spiking_fer", None)])
def test_stateful_neuron_state_is_reset_between_batches(name, spec):
    if spec and spec.startswith("spikingjelly"):
        require("spikingjelly")
    model = _tiny(name, **({"neuron": spec} if spec else {})).eval()
    x = _clips(model, 3)
    with torch.no_grad():
        first = model(x)
        # the neurons did keep a membrane state after the batch ...
        assert any(_has_state(m) for m in model.modules() if isinstance(m, SpikingNeuron))
        # ... yet a batch of another size runs (no StateShapeError) and the same clips
        # give the same logits: forward starts from a reset state
        assert model(_clips(model, 2)).shape == (2, 5)
        torch.testing.assert_close(model(x), first)
        # and each clip's logits do not depend on what was run before it
        torch.testing.assert_close(model(x[2:]), first[2:], rtol=1e-4, atol=1e-5)


def test_without_reset_a_stateful_neuron_would_fail_on_a_new_batch_size():
    """Guards the test above: the state it relies on is real."""
    model = _tiny("cs3d", neuron="lif")
    neuron = model.features.conv1.act1
    with torch.no_grad():
        model(_clips(model, 3))
    with pytest.raises(StateShapeError):
        neuron(torch.zeros(2, *neuron.v.shape[1:]).unsqueeze(2))


def test_small_cs3d_overfits_a_batch():
    model = _tiny("cs3d", num_classes=2, dropout=0.0, input_size=(8, 32, 32))
    x = torch.zeros(4, 8, 2, 32, 32)
    y = torch.arange(4) % 2
    x[y == 0, :, 0, :16] = 1.0  # class 0: ON events in the top half
    x[y == 1, :, 1, 16:] = 1.0  # class 1: OFF events in the bottom half
    x += (torch.rand_like(x) < 0.05).float()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    with torch.no_grad():  # batch statistics, as in training (running stats lag after 10 steps)
        assert (model(x).argmax(1) == y).all()


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TINY))
def test_wrong_rank_and_channels_state_the_expected_layout(name):
    model = _tiny(name)
    t, c, h, w = model.default_input_shape
    with pytest.raises(InputShapeError, match=r"\[B, T, C, H, W\] with C=2"):
        model(torch.zeros(t, c, h, w))
    with pytest.raises(InputShapeError, match=r"C=2.*got C=3"):
        model(torch.zeros(1, t, 3, h, w))
    with pytest.raises(InputDtypeError, match="float"):
        model(torch.zeros(1, t, c, h, w, dtype=torch.int64))


@pytest.mark.parametrize("name, minimum", [("c3d", (16, 32, 32)), ("cs3d", (8, 32, 32)),
                                           ("c3d_attention", (8, 32, 32))])
def test_too_small_clips_state_the_minimum_sizes(name, minimum):
    model = _tiny(name)
    assert model.min_input_size == minimum
    t, h, w = minimum
    pattern = rf"T>={t}, H>={h}, W>={w}"
    with pytest.raises(InputShapeError, match=rf"T={t - 1} < {t}.*{pattern}"):
        model(torch.zeros(1, t - 1, 2, 32, 32))
    with pytest.raises(InputShapeError, match=rf"W=31 < 32.*{pattern}"):
        model(torch.zeros(1, 16, 2, 32, 31))
    with pytest.raises(ArgumentError, match="too small for the pooling stack"):
        create_model(name, 5, 2, preset="small", input_size=(t, 16, 16))


def test_c3d_head_needs_the_built_grid_but_attention_variants_take_any_t():
    c3d = _tiny("c3d")
    with pytest.raises(InputShapeError, match=r"input_size=\(16, 64, 64\)"):
        c3d(torch.zeros(1, 16, 2, 64, 64))
    with pytest.raises(InputShapeError, match=r"input_size=\(32, 32, 32\)"):
        c3d(torch.zeros(1, 32, 2, 32, 32))
    cs3d = _tiny("cs3d")
    assert cs3d(torch.zeros(1, 40, 2, 32, 32)).shape == (1, 5)
    assert c3d(torch.zeros(1, 17, 2, 33, 35)).shape == (1, 5)  # same grid: accepted


def test_unknown_names_and_knobs():
    with pytest.raises(UnknownNameError, match="c3d.*cs3d.*spiking_fer"):
        create_model("cs3dd")
    with pytest.raises(UnknownNameError, match="preset 'tiny'; available: paper, small"):
        create_model("cs3d", preset="tiny")
    with pytest.raises(UnknownNameError, match="preset"):
        create_model("lstm", preset="huge")
    with pytest.raises(ArgumentError, match=r"unknown argument\(s\) \['depth'\].*width_mult"):
        create_model("cs3d", depth=3)
    with pytest.raises(ArgumentError, match=r"unknown argument\(s\) \['heads'\].*nhead"):
        create_model("transformer", heads=3)
    with pytest.raises(ArgumentError, match="unknown argument"):
        create_model("spiking_fer", fc_dim=3)


@pytest.mark.parametrize("name, kw, pattern", [
    ("cs3d", {"width_mult": 0}, "width_mult"),
    ("cs3d", {"input_size": (16, 112)}, "input_size"),
    ("cs3d", {"dropout": 1.0}, "dropout"),
    ("cs3d", {"fc_dim": 0}, "fc_dim"),
    ("cs3d", {"block": "dense"}, "block"),
    ("cs3d", {"pool": "avg"}, "pool"),
    ("cs3d", {"final_pool": (2, 2)}, "final_pool"),
    ("cs3d", {"multipool_fusion": "sum"}, "fusion"),
    ("c3d", {"neuron": "relu", "neuron_kwargs": {"tau": 2.0}}, "relu"),
    ("lstm", {"hidden_size": 0}, "hidden_size"),
    ("transformer", {"d_model": 250, "nhead": 4}, "divisible"),
    ("spiking_fer", {"connect": "OR"}, "connect"),
    ("spiking_fer", {"width_mult": -1.0}, "width_mult"),
])
def test_bad_knob_values(name, kw, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        create_model(name, 5, 2, **kw)


@pytest.mark.parametrize("name", ["cs3d", "spiking_fer", "transformer"])
def test_state_dict_round_trip(name, tmp_path):
    model = _tiny(name).eval()
    x = _clips(model)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    clone = _tiny(name).eval()
    clone.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x))
