"""Fast path of whole models (issue 7): equivalence, checkpoints, BN folding, compile, energy."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from torch import nn

from snnfer.energy.compare import calibrate_batchnorm, compare_models
from snnfer.errors import ArgumentError
from snnfer.models import create_model, fuse_for_inference
from tests.conftest import TINY_C3D

ARCHS = ["c3d", "c3d_ssn", "c3d_factorized", "c3d_attention", "cs3d"]


def _tiny(name: str, dtype=torch.float64, **kw) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, in_channels=2, **{**TINY_C3D, **kw}).to(dtype)
    calibrate_batchnorm(model, _clip(dtype))  # keeps the random SSN network active
    return model


def _clip(dtype=torch.float64, batch=1) -> torch.Tensor:
    return torch.rand(batch, 16, 2, 32, 32, generator=torch.Generator().manual_seed(1),
                      dtype=dtype)


def _step(model, x, mode):
    model.set_execution(mode).train()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    logits.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads, copy.deepcopy(model.state_dict())


def _rel(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("name", ARCHS)
def test_model_fast_path_matches_reference_train_and_eval(name):
    ref = _tiny(name)
    fast = copy.deepcopy(ref)
    x = _clip()
    # the SSN network is not silent (else equality would be trivial)
    feats = ref.set_execution("reference").features.eval()(x.transpose(1, 2))
    assert (feats != 0).float().mean() > 0.05
    with torch.no_grad():
        r_eval = ref.set_execution("reference").eval()(x)
        f_eval = fast.set_execution("fast").eval()(x)
    assert _rel(f_eval, r_eval) < 1e-10
    r_y, r_g, r_sd = _step(ref, x, "reference")
    f_y, f_g, f_sd = _step(fast, x, "fast")
    assert _rel(f_y, r_y) < 1e-10
    assert r_g.keys() == f_g.keys() and len(r_g) == sum(1 for _ in ref.parameters())
    for k in r_g:
        assert _rel(f_g[k], r_g[k]) < 1e-9, k
    for k in r_sd:
        assert torch.allclose(f_sd[k].double(), r_sd[k].double(), rtol=1e-10, atol=1e-12), k


@pytest.mark.parametrize("name", ["cs3d", "c3d"])
def test_float32_fast_path_within_issue_tolerance(name):
    # float32 rounds differently on the two paths (different kernels, ~1e-7 relative), so
    # a pre-activation within ~1e-7 of the SSN threshold can fall on the other side -- a
    # jump of theta in one element that no tolerance can absorb (about one in 10^6
    # elements). The algebra itself is checked to 1e-10 in float64 above; here a batch
    # of one clip keeps the number of elements near a threshold at zero.
    ref = _tiny(name, torch.float32)
    fast = copy.deepcopy(ref)
    x = _clip(torch.float32)
    with torch.no_grad():
        assert _rel(fast.eval()(x), ref.set_execution("reference").eval()(x)) < 1e-4
    r_y, r_g, _ = _step(ref, x, "reference")
    f_y, f_g, _ = _step(fast, x, "fast")
    assert _rel(f_y, r_y) < 1e-4
    worst = max(_rel(f_g[k], r_g[k]) for k in r_g)
    assert worst < 1e-4, worst


def test_checkpoint_trained_on_one_path_loads_into_the_other(tmp_path):
    model = _tiny("cs3d", torch.float32)
    keys = list(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(1):  # train on the fast path
        opt.zero_grad()
        model.set_execution("fast").train()(_clip(torch.float32)).sum().backward()
        opt.step()
    assert list(model.set_execution("reference").state_dict()) == keys
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    other = create_model("cs3d", num_classes=5, in_channels=2, **TINY_C3D)
    other.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True))
    with torch.no_grad():
        a = model.set_execution("fast").eval()(_clip(torch.float32))
        b = other.set_execution("reference").eval()(_clip(torch.float32))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_model_set_execution_modes_and_errors():
    model = create_model("cs3d", num_classes=5, in_channels=2, **TINY_C3D)
    assert model.execution == "fast" and model.features.conv1.execution == "fast"
    assert model.set_execution("reference") is model
    assert model.features.conv1.execution == "reference"
    assert model.attention.execution == "reference"
    with pytest.raises(ArgumentError, match="execution mode"):
        model.set_execution("fastest")


# -- BN folding ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,kw,pairs", [
    ("cs3d", {}, 10), ("c3d", {}, 5), ("c3d_ssn", {}, 5),
    ("cs3d", {"multipool_fusion": "concat"}, 11),
])
def test_fuse_for_inference_keeps_outputs(name, kw, pairs):
    model = _tiny(name, **kw).eval()
    before = copy.deepcopy(model.state_dict())
    fused = fuse_for_inference(model)
    assert fused.fused_batchnorms == pairs and not fused.training
    assert not any(isinstance(m, nn.BatchNorm3d) for m in fused.features.modules())
    for k, v in model.state_dict().items():  # the original is untouched
        assert torch.equal(v, before[k])
    x = _clip()
    with torch.no_grad():
        want = model.set_execution("reference")(x)
        for mode in ("fast", "reference"):
            assert _rel(fused.set_execution(mode)(x), want) < 1e-10


def test_fuse_for_inference_inplace_and_fast_path_on_folded_blocks():
    from snnfer.fastpath.factorized import supports_factorized

    model = _tiny("c3d_factorized")
    same = fuse_for_inference(model, inplace=True)
    assert same is model and isinstance(model.features.conv1.bn1, nn.Identity)
    assert model.features.conv1.pw1.bias is not None
    assert supports_factorized(model.features.conv1, torch.zeros(1, 2, 4, 8, 8,
                                                                 dtype=torch.float64))


# -- torch.compile -------------------------------------------------------------------------
@pytest.mark.slow
def test_compile_mode_matches_reference():
    pytest.importorskip("torch._inductor")
    ref = _tiny("cs3d", torch.float32)
    comp = copy.deepcopy(ref).set_execution("compile")
    x = _clip(torch.float32)
    with torch.no_grad():
        r = ref.set_execution("reference").eval()(x)
        c = comp.eval()(x)
    assert _rel(c, r) < 1e-4
    comp2 = copy.deepcopy(comp)  # the compiled function is not copied; rebuilt on use
    assert "_compiled_forward" not in comp2.__dict__


@pytest.mark.slow
def test_compile_mode_training_gradients():
    # graph capture + AOT autograd of the training step (the aot_eager backend skips
    # inductor's C++ code generation, which the eval test above exercises)
    ref = _tiny("cs3d", torch.float32)
    comp = copy.deepcopy(ref).set_execution("compile", backend="aot_eager")
    x = _clip(torch.float32)
    r_y, r_g, r_sd = _step(ref, x, "reference")
    comp.train().zero_grad(set_to_none=True)
    c_y = comp(x)
    c_y.square().sum().backward()
    assert _rel(c_y.detach(), r_y) < 1e-4
    for name, p in comp.named_parameters():
        assert _rel(p.grad, r_g[name]) < 1e-4, name
    for k, v in comp.state_dict().items():
        torch.testing.assert_close(v, r_sd[k])
    with pytest.raises(ArgumentError, match="compile options"):
        comp.set_execution("fast", backend="inductor")


# -- energy ------------------------------------------------------------------------------
def test_energy_latency_uses_the_requested_execution_path(monkeypatch):
    import snnfer.energy.compare as compare

    assert inspect.signature(compare_models).parameters["execution"].default == "fast"
    timed = []
    real = compare.interleaved_latency_ms

    def spy(entries, runs=5, warmup=1):
        timed.extend(m.execution for m, _ in entries)
        return real(entries, runs, 0)

    monkeypatch.setattr(compare, "interleaved_latency_ms", spy)
    kw = {"preset": "small", "latency_runs": 1, "model_kwargs": {"width_mult": 0.125,
                                                                 "fc_dim": 32}}
    fast = compare_models(["cs3d"], (16, 2, 32, 32), **kw)
    ref = compare_models(["cs3d"], (16, 2, 32, 32), execution="reference", **kw)
    assert timed == ["fast", "reference"]
    assert any("fast execution path" in n for n in fast.notes)
    assert any("reference execution path" in n for n in ref.notes)
    # counts see the reference structure either way (thop/count_ops hooks select it)
    assert fast.rows[0].gmacs == ref.rows[0].gmacs > 0
    with pytest.raises(ArgumentError, match="execution mode"):
        compare_models(["cs3d"], execution="turbo", latency_runs=0)


def test_energy_cli_rejects_an_unknown_execution_path(capsys):
    from snnfer.cli import main

    assert main(["energy", "--models", "cs3d", "--preset", "small", "--execution", "turbo"]) == 2
    assert "execution mode must be one of" in capsys.readouterr().err


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
@pytest.mark.parametrize("train", [False, True])
def test_c3d_fast_path_at_batch_1_never_uses_the_native_conv3d(train):
    """Fair baseline: PyTorch sends small batch-1 Conv3d calls to its slow im2col kernel
    (C3D's conv4/conv5 and the tiled conv1 chunks at 3 x 16 x 112 x 112); the fast path
    calls oneDNN for every one of them, in inference and in training."""
    model = _tiny("c3d", torch.float32).train(train)
    x = _clip(torch.float32)

    def run(mode: str) -> None:
        model.set_execution(mode)
        if train:
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)

    native = lambda ops: {o for o in ops if "slow_conv3d" in o}  # noqa: E731
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run("reference")
    assert native({e.key for e in prof.key_averages()})  # the dispatcher's choice
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run("fast")
    ops = {e.key for e in prof.key_averages()}
    assert not native(ops) and "aten::mkldnn_convolution" in ops
