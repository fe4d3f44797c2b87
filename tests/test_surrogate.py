"""Surrogate-gradient library: analytic values, consistency, numerics, peer cross-checks."""

from __future__ import annotations

import math

import pytest
import torch

from snnfer.errors import ArgumentError, UnknownNameError
from snnfer.neuron import surrogate
from tests.conftest import require

NAMES = [n for n in surrogate.available() if n != "custom"]
X = [-1.0, -0.5, 0.0, 0.5, 1.0]


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# Independent scalar formulas g'(x) (math module, no torch) for default parameters.
ANALYTIC = {
    "sigmoid": lambda x, a=4.0: a * _sig(a * x) * (1 - _sig(a * x)),
    "atan": lambda x, a=2.0: (a / 2) / (1 + (math.pi / 2 * a * x) ** 2),
    "fast_sigmoid": lambda x, a=25.0: 1.0 / (a * abs(x) + 1) ** 2,
    "triangle": lambda x, a=1.0: a * max(0.0, 1 - abs(x)),
    "piecewise_quadratic": lambda x, a=1.0: max(0.0, a - a * a * abs(x)),
    "erf": lambda x, a=2.0: a / math.sqrt(math.pi) * math.exp(-(a * x) ** 2),
    "rectangular": lambda x, a=1.0: a if abs(x) < 0.5 / a else 0.0,
    "piecewise_exp": lambda x, a=1.0: a / 2 * math.exp(-a * abs(x)),
    "softsign": lambda x, a=2.0: a / (2 * (1 + a * abs(x)) ** 2),
}


def test_registry_lists_every_surrogate_and_aliases_resolve():
    assert set(NAMES) == set(ANALYTIC)
    assert "custom" in surrogate.available()
    assert isinstance(surrogate.get("superspike"), surrogate.FastSigmoid)
    assert isinstance(surrogate.get("gaussian"), surrogate.Erf)
    assert isinstance(surrogate.get("ATan"), surrogate.ATan)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_analytic_formula(name):
    sg = surrogate.get(name)
    x = torch.tensor(X + [0.03, -2.5, 7.0], dtype=torch.float64)
    expected = torch.tensor([ANALYTIC[name](v) for v in x.tolist()], dtype=torch.float64)
    torch.testing.assert_close(sg.derivative(x), expected, rtol=1e-12, atol=1e-12)


def test_reference_values_of_spikingjelly_defaults():
    # REFERENCE.md: spikingjelly Sigmoid(4) and ATan(2) at x = -1, -0.5, 0, 0.5, 1
    x = torch.tensor(X)
    torch.testing.assert_close(
        surrogate.get("sigmoid").derivative(x),
        torch.tensor([0.0707, 0.42, 1.0, 0.42, 0.0707]), atol=5e-4, rtol=0)
    torch.testing.assert_close(
        surrogate.get("atan").derivative(x),
        torch.tensor([0.092, 0.288, 1.0, 0.288, 0.092]), atol=5e-4, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_heaviside_with_ge_convention_and_backward_is_derivative(name):
    sg = surrogate.get(name)
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 2.0], requires_grad=True)
    y = sg(x)
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    (g,) = torch.autograd.grad(y, x, torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    torch.testing.assert_close(g, torch.tensor([1.0, 2, 3, 4, 5]) * sg.derivative(x.detach()))


@pytest.mark.parametrize("name", NAMES)
def test_primitive_gradcheck_and_derivative_is_its_gradient(name):
    sg = surrogate.get(name, spiking=False) if name else None
    # avoid the kinks of piecewise primitives, where finite differences are ill-defined
    x = torch.tensor([-1.7, -0.83, -0.31, -0.11, 0.07, 0.26, 0.61, 1.3], dtype=torch.float64,
                     requires_grad=True)
    assert torch.autograd.gradcheck(sg, (x,))
    (g,) = torch.autograd.grad(sg(x).sum(), x)
    torch.testing.assert_close(g, sg.derivative(x.detach()), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(sg(x), sg.primitive(x))


@pytest.mark.parametrize("name", ["sigmoid", "atan", "erf", "piecewise_quadratic",
                                  "rectangular", "piecewise_exp", "softsign", "triangle"])
def test_unit_step_primitives_go_from_zero_to_one(name):
    sg = surrogate.get(name)
    ends = sg.primitive(torch.tensor([-1e7, 0.0, 1e7], dtype=torch.float64))  # atan: slow tails
    torch.testing.assert_close(ends, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_no_nan_or_inf_on_wide_range(name, dtype):
    for alpha in (0.5, 4.0, 100.0):
        sg = surrogate.get(name, alpha=alpha)
        x = torch.linspace(-100, 100, 2001).to(dtype).requires_grad_(True)
        (g,) = torch.autograd.grad(sg(x).sum(), x)
        assert g.dtype == dtype
        assert torch.isfinite(g).all(), (name, alpha, dtype)
        assert torch.isfinite(sg.primitive(x.detach())).all()
        assert (g >= 0).all()


def test_derivative_in_place_matches_out_of_place():
    x = torch.linspace(-3, 3, 101)
    for name in NAMES:
        sg = surrogate.get(name)
        expected = sg.derivative(x)
        buf = x.clone()
        out = sg.derivative_(buf)
        assert out.data_ptr() == buf.data_ptr()
        torch.testing.assert_close(out, expected)
        half = x.half()
        torch.testing.assert_close(sg.derivative_(half.clone()).float(),
                                   sg.derivative(half).float())


def test_spiking_false_uses_the_smooth_primitive_forward():
    sg = surrogate.get("sigmoid", alpha=2.0, spiking=False)
    x = torch.tensor([-1.0, 0.0, 1.0])
    torch.testing.assert_close(sg(x), torch.sigmoid(2 * x))


def test_fast_sigmoid_scale_and_triangle_width():
    x = torch.tensor([0.0, 0.5, 2.0])
    torch.testing.assert_close(surrogate.FastSigmoid(alpha=1.0, scale=3.0).derivative(x),
                               3.0 / (x.abs() + 1) ** 2)
    torch.testing.assert_close(surrogate.Triangle(alpha=2.0, width=0.5).derivative(x),
                               torch.tensor([2.0, 0.0, 0.0]))
    # piecewise_quadratic(a) == triangle(alpha=a, width=1/a)
    xs = torch.linspace(-2, 2, 41)
    torch.testing.assert_close(surrogate.PiecewiseQuadratic(alpha=2.0).derivative(xs),
                               surrogate.Triangle(alpha=2.0, width=0.5).derivative(xs))


def test_custom_surrogate():
    sg = surrogate.get("custom", derivative=lambda x: 2.0 / (1 + x.abs()) ** 2,
                       primitive=lambda x: 0.5 + x / (1 + x.abs()))
    x = torch.tensor([-1.0, 0.0, 3.0], requires_grad=True)
    (g,) = torch.autograd.grad(sg(x).sum(), x)
    torch.testing.assert_close(g, torch.tensor([0.5, 2.0, 0.125]))
    x64 = torch.tensor([-0.4, 0.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(surrogate.Custom(lambda x: 1 / (1 + x.abs()) ** 2,
                                                     lambda x: 0.5 + 0.5 * x / (1 + x.abs()),
                                                     spiking=False), (x64,))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "4", True])
def test_non_positive_or_non_numeric_alpha_is_rejected(bad):
    with pytest.raises(ArgumentError, match="alpha"):
        surrogate.get("sigmoid", alpha=bad)


def test_bad_registry_and_custom_arguments():
    with pytest.raises(UnknownNameError, match="available: .*atan.*sigmoid"):
        surrogate.get("sigmoidd")
    with pytest.raises(ArgumentError, match="derivative must be a callable"):
        surrogate.get("custom")
    with pytest.raises(ArgumentError, match="needs a primitive"):
        surrogate.Custom(lambda x: x, spiking=False)
    with pytest.raises(ArgumentError, match="already built"):
        surrogate.get(surrogate.Sigmoid(), alpha=2.0)
    with pytest.raises(ArgumentError, match="scale"):
        surrogate.FastSigmoid(scale=0)


# -- peer libraries ------------------------------------------------------------------


def _grad(fn, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g


@pytest.mark.interop
@pytest.mark.parametrize("alpha", [0.5, 2.0, 4.0, 10.0])
def test_matches_spikingjelly(alpha):
    sj = require("spikingjelly.activation_based.surrogate")
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    pairs = {
        "sigmoid": sj.Sigmoid(alpha=alpha),
        "atan": sj.ATan(alpha=alpha),
        "erf": sj.Erf(alpha=alpha),
        "piecewise_quadratic": sj.PiecewiseQuadratic(alpha=alpha),
        "piecewise_exp": sj.PiecewiseExp(alpha=alpha),
        "softsign": sj.SoftSign(alpha=alpha),
    }
    for name, peer in pairs.items():
        ours = surrogate.get(name, alpha=alpha)
        torch.testing.assert_close(ours(x), peer(x), rtol=0, atol=0)  # same H(x) at x >= 0
        torch.testing.assert_close(_grad(ours, x), _grad(peer, x), rtol=0, atol=1e-6)
        peer_smooth = type(peer)(alpha=alpha, spiking=False)
        ours_smooth = surrogate.get(name, alpha=alpha, spiking=False)
        torch.testing.assert_close(ours_smooth(x), peer_smooth(x), rtol=0, atol=1e-6)
    # SuperSpike(alpha=a): a / (1 + |x|)^2 == fast_sigmoid(alpha=1, scale=a)
    torch.testing.assert_close(_grad(surrogate.FastSigmoid(alpha=1.0, scale=alpha), x),
                               _grad(sj.SuperSpike(alpha=alpha), x), rtol=0, atol=1e-6)


@pytest.mark.interop
@pytest.mark.parametrize("k", [1.0, 5.0, 25.0])
def test_matches_snntorch(k):
    snn_sg = require("snntorch.surrogate")
    # snnTorch's sigmoid overflows below about -3.55 at slope 25: compare where it is finite
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    x = x[x != 0]  # snnTorch spikes at x > 0, snnfer at x >= 0: same everywhere else
    pairs = {
        "sigmoid": (surrogate.get("sigmoid", alpha=k), snn_sg.sigmoid(slope=k)),
        "atan": (surrogate.get("atan", alpha=k), snn_sg.atan(alpha=k)),
        "fast_sigmoid": (surrogate.get("fast_sigmoid", alpha=k), snn_sg.fast_sigmoid(slope=k)),
    }
    for name, (ours, peer) in pairs.items():
        torch.testing.assert_close(ours(x), peer(x).to(x.dtype), rtol=0, atol=0, msg=name)
        torch.testing.assert_close(_grad(ours, x), _grad(peer, x), rtol=0, atol=1e-9,
                                   msg=name)


@pytest.mark.interop
def test_snntorch_sigmoid_nan_quirk_is_absent_here():
    snn_sg = require("snntorch.surrogate")
    x = torch.tensor([-5.0, -50.0])
    assert torch.isnan(_grad(snn_sg.sigmoid(slope=25), x)).any()  # the documented quirk
    assert torch.isfinite(_grad(surrogate.get("sigmoid", alpha=25.0), x)).all()


@pytest.mark.interop
@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_triangle_matches_norse(alpha):
    thr = require("norse.torch.functional.threshold")
    x = torch.linspace(-2, 2, 401)
    torch.testing.assert_close(_grad(surrogate.get("triangle", alpha=alpha), x),
                               _grad(lambda v: thr.triangle_fn(v, alpha), x))
