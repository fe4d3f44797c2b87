"""HEC-Net models: registry, presets, ablation switches, event-native SNN state, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError, UnknownNameError
from snnfer.layers import TemporalPyramidAlignment, TemporalShift
from snnfer.models import TABLE2_ROWS, create_model, list_models
from snnfer.neuron import SpikingNeuron, reset
from tests.conftest import require

# tiny sizes: 32x32 clips, T = 4, 4x4 maps in four 2x2 windows
TINY = {"preset": "small", "widths": (8, 8, 16, 16), "blocks": (1, 1, 1, 1), "out_stride": 8,
        "window_size": 2, "num_heads": 2, "mlp_ratio": 1.0, "head_hidden": 16}
TINY_SEEN = {"preset": "small", "image_size": 32, "widths": (8, 16, 16), "fc_hidden": 16}
B, T, S = 2, 4, 32


def _inputs(model: nn.Module, batch: int = B, steps: int = T, size: int = S, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = model.default_input_shape
    if isinstance(shape, dict):
        return {m: torch.rand(batch, steps, shape[m][1], size, size, generator=g)
                for m in model.modalities}
    return {"x": torch.rand(batch, steps, shape[1], size, size, generator=g)}


def _run(model: nn.Module, inputs: dict) -> torch.Tensor:
    return model(**inputs) if "x" not in inputs else model(inputs["x"])


CASES = [
    ("hecnet", TINY),
    ("hecnet_snn", TINY),
    ("hecnet_snn", {**TINY, "spiking": "all", "neuron": "lif"}),
    ("hecnet_event", TINY),
    ("hecnet_rgb", TINY),
    ("seen", TINY_SEEN),
]


def test_all_issue_models_are_registered():
    assert {"hecnet", "hecnet_snn", "hecnet_event", "hecnet_rgb", "seen"} <= set(list_models())


@pytest.mark.parametrize(("name", "kw"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_forward_backward_every_model(name, kw):
    model = create_model(name, **kw)
    inputs = _inputs(model, steps=T if name != "seen" else 4)
    logits = _run(model, inputs)
    assert logits.shape == (B, 7) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: no gradient reached {missing}"


def test_contract_attributes():
    two = create_model("hecnet", **TINY)
    assert two.modalities == ("event", "rgb") and two.preset == "small"
    assert two.default_input_shape == {"event": (8, 3, 64, 64), "rgb": (8, 3, 64, 64)}
    ev = create_model("hecnet_event", in_channels=2, preset="small")
    assert ev.modalities == ("event",) and ev.default_input_shape == (8, 2, 64, 64)
    assert create_model("hecnet_rgb", preset="small").modalities == ("rgb",)
    paper = create_model("hecnet_rgb", stfe=False)
    assert paper.preset == "paper" and paper.default_input_shape == (8, 3, 224, 224)
    # the paper's streams are ResNet-18 trunks (torchvision resnet18 minus its 1000-way fc)
    assert sum(p.numel() for p in paper.stfe.trunk.parameters()) == 11_689_512 - 513_000


def test_small_preset_runs_at_its_default_shape():
    model = create_model("hecnet_snn", in_channels=2, preset="small").eval()
    shapes = model.default_input_shape
    with torch.no_grad():
        y = model(event=torch.rand(1, *shapes["event"]), rgb=torch.rand(1, *shapes["rgb"]))
    assert y.shape == (1, 7)


# --- event-native SNN ------------------------------------------------------------------------

def _count(module: nn.Module, kind) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def test_hecnet_snn_event_stream_is_spiking():
    snn = create_model("hecnet_snn", **TINY)
    assert _count(snn.stfe_event, SpikingNeuron) > 0 and _count(snn.stfe_event, nn.ReLU) == 0
    assert _count(snn.stfe_rgb, SpikingNeuron) == 0 and _count(snn.stfe_rgb, nn.ReLU) > 0
    full = create_model("hecnet_snn", spiking="all", **TINY)
    assert _count(full, nn.ReLU) == 0 and _count(full, nn.GELU) == 0
    assert _count(full.stfe_rgb, SpikingNeuron) > 0
    assert _count(create_model("hecnet", **TINY), SpikingNeuron) == 0


def test_hecnet_snn_event_features_are_spikes_with_lif():
    snn = create_model("hecnet_snn", neuron="lif", **TINY).eval()
    seen = {}
    snn.stfe_event.register_forward_hook(lambda m, a, out: seen.setdefault("f", out))
    with torch.no_grad():
        snn(**_inputs(snn))
    assert set(torch.unique(seen["f"]).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(("name", "kw"), [("hecnet_snn", TINY), ("hecnet_event", TINY),
                                         ("seen", TINY_SEEN)])
def test_no_state_leaks_between_batches(name, kw):
    model = create_model(name, **kw).eval()
    fresh = copy.deepcopy(model)
    steps = 4
    x1, x2 = _inputs(model, steps=steps, seed=1), _inputs(model, steps=steps, seed=2)
    with torch.no_grad():
        expected = _run(fresh, x2)
        _run(model, x1)
        neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
        assert neurons and all(n.v is not None for n in neurons)  # state was kept over T
        assert torch.equal(_run(model, x2), expected)  # every forward starts from rest
        _run(model, _inputs(model, batch=3, steps=steps))  # another batch size is fine too
    reset(model)  # the trainer's reset also clears every neuron
    assert all(n.v is None for n in neurons)


def test_hecnet_snn_state_carries_over_time():
    # plain spiking trunk (no temporal shift): frames interact only through the membranes
    model = create_model("hecnet_snn", stfe_event=False, **TINY).eval()
    clip = _inputs(model)["event"].transpose(0, 1)
    with torch.no_grad():
        whole = model.stfe_event(clip)
        reset(model)
        # the same clip in two halves, state kept in between, equals the whole clip ...
        halves = torch.cat([model.stfe_event(clip[:2]), model.stfe_event(clip[2:])])
        reset(model)
        # ... while the second half alone (from rest) differs: the membrane carries time
        alone = model.stfe_event(clip[2:])
    assert torch.allclose(halves, whole, atol=1e-6)
    assert not torch.allclose(alone, whole[2:], atol=1e-3)


# --- Table 2 ablation switches -----------------------------------------------------------------

def test_table2_rows_build_and_differ_as_described():
    assert len(TABLE2_ROWS) == 9
    models = {label: create_model(name, **{**TINY, **kw}) for label, name, kw in TABLE2_ROWS}
    full = models["HEC-Net (Ours)"]
    assert _count(full.stfe_rgb, TemporalShift) > 0 and _count(full.stfe_event, TemporalShift) > 0
    assert full.window.updated == ("rgb", "event")
    assert not models["w/o STFE on RGB (Standard ResNet)"].stfe_rgb.selection
    assert _count(models["w/o STFE on RGB (Standard ResNet)"].stfe_rgb, TemporalShift) == 0
    assert models["w/o STFE on RGB (Standard ResNet)"].stfe_event.selection
    assert not models["w/o STFE on Event (Standard ResNet)"].stfe_event.selection
    assert models["One-way Interaction (from rgb to event)"].window.updated == ("event",)
    assert models["One-way Interaction (from event to rgb)"].window.updated == ("rgb",)
    assert _count(models["w/o TPA (Single Temporal Scale)"], TemporalPyramidAlignment) == 0
    assert models["w/o Trilinear Interpolation"].temporal_rgb.tpa.mode == "nearest"
    rgb_only = models["RGB Stream Only (ResNet-18)"]
    assert rgb_only.modalities == ("rgb",) and not rgb_only.stfe.selection
    ev_only = models["Event Stream Only (ResNet-18)"]
    assert ev_only.modalities == ("event",) and _count(ev_only, SpikingNeuron) == 0
    for label, model in models.items():
        assert _run(model.eval(), _inputs(model)).shape == (B, 7), label


def test_window_not_dividing_the_map_is_padded():
    model = create_model("hecnet", **{**TINY, "window_size": 3}).eval()  # 4x4 maps
    with torch.no_grad():
        assert model(**_inputs(model)).shape == (B, 7)


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "change", "match"), [
    ("rgb", lambda x: x[:1], "batch size"),
    ("rgb", lambda x: x[:, :3], "time steps"),
    ("rgb", lambda x: x[..., :16, :], "height"),
    ("rgb", lambda x: x[..., :16], "width"),
    ("event", lambda x: x[:, :, :2], "3 channels"),
    ("event", lambda x: x[:, 0], "5-D"),
])
def test_mismatched_modalities_raise(field, change, match):
    model = create_model("hecnet", **TINY)
    inputs = _inputs(model)
    inputs[field] = change(inputs[field])
    with pytest.raises(InputShapeError, match=match):
        model(**inputs)


def test_other_bad_inputs():
    model = create_model("hecnet", **TINY)
    inputs = _inputs(model, steps=3)
    with pytest.raises(InputShapeError, match="T >= 4"):
        model(**inputs)
    assert create_model("hecnet", tpa=False, **TINY)(**inputs).shape == (B, 7)
    with pytest.raises(InputShapeError, match="missing"):
        model(event=inputs["event"])
    with pytest.raises(InputDtypeError):
        model(event=inputs["event"].to(torch.int64), rgb=inputs["rgb"])
    single = create_model("hecnet_event", **TINY)
    with pytest.raises(InputShapeError, match="T >= 4"):
        single(torch.rand(2, 2, 3, S, S))
    with pytest.raises(InputShapeError):
        single(torch.rand(2, 3, S, S))


def test_bad_arguments():
    with pytest.raises(ArgumentError, match="unknown argument"):
        create_model("hecnet", windows=4)
    with pytest.raises(ArgumentError, match="hecnet_snn"):
        create_model("hecnet", spiking="event")
    with pytest.raises(ArgumentError):
        create_model("hecnet_snn", spiking="none")
    with pytest.raises(ArgumentError):
        create_model("hecnet", interaction="sideways")
    with pytest.raises(ArgumentError):
        create_model("hecnet", tpa_interp="cubic")
    with pytest.raises(UnknownNameError):
        create_model("hecnet", preset="huge")
    with pytest.raises(UnknownNameError):
        create_model("hecnet_snn", neuron="nope", **TINY)


@pytest.mark.interop
@pytest.mark.parametrize(("spec", "kw", "module"), [
    ("spikingjelly:LIFNode", None, "spikingjelly"),
    ("snntorch:Leaky", {"beta": 0.5}, "snntorch"),
    ("norse:LIFCell", None, "norse"),
])
def test_hecnet_snn_with_peer_library_neurons(spec, kw, module):
    require(module)
    model = create_model("hecnet_snn", neuron=spec, neuron_kw=kw, **TINY).eval()
    x1, x2 = _inputs(model, size=16, seed=1), _inputs(model, size=16, seed=2)
    with torch.no_grad():
        first = model(**x2)
        model(**x1)
        assert torch.equal(model(**x2), first)  # peer neurons are reset at every forward too
    model.train()
    model(**x1).sum().backward()
    assert model.stfe_event.trunk.stem.module[0].weight.grad.abs().sum() > 0
