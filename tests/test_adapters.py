"""make_neuron specs and wrappers for spikingjelly, snnTorch and Norse neurons."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from snnfer.errors import ArgumentError, MissingDependencyError, UnknownNameError
from snnfer.neuron import IFNode, LIFNode, SoftSpikingNeuron, make_neuron, reset, surrogate
from tests.conftest import require


def test_native_specs_mappings_modules_and_factories():
    assert isinstance(make_neuron("ssn"), SoftSpikingNeuron)
    assert isinstance(make_neuron("LIF", tau=3.0), LIFNode)
    assert make_neuron("lif", tau=3.0).tau == 3.0
    assert isinstance(make_neuron("if"), IFNode)
    spec = {"name": "ssn", "threshold": 0.2, "decay": 0.5}
    n = make_neuron(spec, alpha=2.0)
    assert n.threshold == 0.2 and n.decay == 0.5 and n.surrogate.alpha == 2.0
    proto = LIFNode(tau=5.0)
    copy = make_neuron(proto)
    assert copy is not proto and copy.tau == 5.0
    copy(torch.ones(2, 3))
    assert proto.v is None  # independent state
    assert isinstance(make_neuron(lambda **kw: nn.ReLU()), nn.ReLU)
    with pytest.raises(ArgumentError, match="already built"):
        make_neuron(proto, tau=2.0)
    with pytest.raises(ArgumentError, match="'name'"):
        make_neuron({"tau": 2.0})
    with pytest.raises(ArgumentError, match="returned int"):
        make_neuron(lambda: 3)
    with pytest.raises(UnknownNameError, match="neuron library 'brian'"):
        make_neuron("brian:LIF")


@pytest.mark.interop
def test_spikingjelly_wrapper_equals_library_and_resets():
    sj = require("spikingjelly.activation_based.neuron")
    wrapped = make_neuron("spikingjelly:LIFNode", tau=2.0)
    direct = sj.LIFNode(tau=2.0, step_mode="m")
    x = torch.randn(6, 2, 4, 3, 3) + 0.8
    assert torch.equal(wrapped(x), direct(x))
    assert isinstance(wrapped.module.v, torch.Tensor)
    reset(wrapped)
    assert wrapped.module.v == 0.0  # spikingjelly's reset value
    # snnfer layout: [B, C, T, H, W] with time_dim=2
    w2 = make_neuron("spikingjelly:LIFNode", tau=2.0, time_dim=2)
    direct.reset()
    torch.testing.assert_close(w2(x.permute(1, 2, 0, 3, 4)),
                               direct(x).permute(1, 2, 0, 3, 4))


@pytest.mark.interop
def test_snnfer_surrogate_plugs_into_spikingjelly_and_snntorch():
    require("spikingjelly")
    require("snntorch")
    x = (torch.randn(5, 3, 4) + 0.8).requires_grad_(True)
    sj = make_neuron("spikingjelly:IFNode", surrogate="atan")
    assert isinstance(sj.module.surrogate_function, surrogate.ATan)
    (g1,) = torch.autograd.grad(sj(x).sum(), x)
    (g2,) = torch.autograd.grad(IFNode(surrogate="atan")(x).sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-6)
    st = make_neuron("snntorch:Leaky", beta=0.5, surrogate="sigmoid")
    assert isinstance(st.module.spike_grad, surrogate.Sigmoid)


@pytest.mark.interop
def test_snntorch_leaky_wrapper_equals_direct_loop():
    snntorch = require("snntorch")
    x = (torch.randn(8, 2, 6) + 0.6).requires_grad_(True)
    wrapped = make_neuron("snntorch:Leaky", beta=0.7, threshold=0.8)
    y = wrapped(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    leaky = snntorch.Leaky(beta=0.7, threshold=0.8)
    mem = leaky.reset_mem()
    outs = []
    for t in range(8):
        spk, mem = leaky(x[t], mem)
        outs.append(spk)
    yd = torch.stack(outs)
    (gd,) = torch.autograd.grad(yd.sum(), x)
    assert torch.equal(y, yd)
    torch.testing.assert_close(g, gd)
    # state persists across calls until reset, then starts from zero again
    second = wrapped(x.detach())
    reset(wrapped)
    assert torch.equal(wrapped(x.detach()), y.detach())
    assert not torch.equal(second, y.detach())


@pytest.mark.interop
def test_norse_cell_and_sequence_wrappers_equal_direct_calls():
    nt = require("norse.torch")
    x = (torch.randn(10, 2, 5) * 2 + 1).requires_grad_(True)
    wrapped = make_neuron("norse:LIFBoxCell")
    y = wrapped(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    cell = nt.LIFBoxCell()
    s, outs = None, []
    for t in range(10):
        z, s = cell(x[t], s)
        outs.append(z)
    yd = torch.stack(outs)
    (gd,) = torch.autograd.grad(yd.sum(), x)
    assert torch.equal(y, yd)
    torch.testing.assert_close(g, gd)
    assert y.sum() > 0
    assert wrapped.state is not None
    reset(wrapped)
    assert wrapped.state is None
    seq = make_neuron("norse:LIF")  # non-cell module: takes the whole [T, ...] sequence
    zd, _ = nt.LIF()(x.detach())
    assert torch.equal(seq(x.detach()), zd)


@pytest.mark.interop
def test_unknown_library_class_lists_available():
    require("spikingjelly")
    require("snntorch")
    require("norse")
    with pytest.raises(UnknownNameError, match="spikingjelly neuron 'LIFFNode'.*LIFNode"):
        make_neuron("spikingjelly:LIFFNode")
    with pytest.raises(UnknownNameError, match="snnTorch neuron 'Leakyy'.*Leaky"):
        make_neuron("snntorch:Leakyy")
    with pytest.raises(UnknownNameError, match="Norse neuron 'LIFBox'.*LIFBoxCell"):
        make_neuron("norse:LIFBox")
    with pytest.raises(ArgumentError, match="Norse neurons take their surrogate"):
        make_neuron("norse:LIFBoxCell", surrogate="atan")


@pytest.mark.parametrize("spec,module", [("spikingjelly:LIFNode", "spikingjelly"),
                                         ("snntorch:Leaky", "snntorch"),
                                         ("norse:LIFBoxCell", "norse")])
def test_missing_library_names_the_extra(monkeypatch, spec, module):
    for name in list(sys.modules):
        if name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'snnfer\[interop\]'") as e:
        make_neuron(spec)
    assert isinstance(e.value, ImportError)
