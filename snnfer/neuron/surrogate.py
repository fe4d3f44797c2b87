"""Surrogate-gradient library.

Forward pass: the Heaviside step with snnfer's convention

    H(x) = 1 if x >= 0 else 0

(spikingjelly's convention; snnTorch and Norse spike only at x > 0 -- the two differ
only at x == 0 exactly). Backward pass: the derivative ``g'(x)`` of a smooth
primitive ``g`` replaces the Dirac delta (Neftci, Mostafa & Zenke 2019).

Every surrogate is an :class:`torch.nn.Module` registered under a name::

    >>> from snnfer.neuron import surrogate
    >>> sg = surrogate.get("atan", alpha=2.0)
    >>> sorted(surrogate.available())[:3]
    ['atan', 'custom', 'erf']

Calling a surrogate module on ``x`` returns ``H(x)`` with gradient ``g'(x)``; with
``spiking=False`` it returns the smooth primitive ``g(x)`` itself (ANN mode, useful for
annealing studies). ``derivative(x)`` and ``primitive(x)`` are available directly.

Numerics: ``derivative`` is evaluated in float32 for float16/bfloat16 inputs and cast
back, and every formula is written so that no NaN/inf appears for |x| <= 100 (unlike
snnTorch 1.0's ``sigmoid``, which overflows ``exp(-slope x)`` below about -3.55).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, UnknownNameError

__all__ = [
    "ATan",
    "Custom",
    "Erf",
    "FastSigmoid",
    "PiecewiseExp",
    "PiecewiseQuadratic",
    "Rectangular",
    "Sigmoid",
    "SoftSign",
    "SurrogateFunction",
    "Triangle",
    "available",
    "get",
    "heaviside",
    "register",
]

_REGISTRY: dict[str, type[SurrogateFunction]] = {}
_ALIASES: dict[str, str] = {}


def heaviside(x: Tensor) -> Tensor:
    """``H(x) = 1 if x >= 0 else 0`` in ``x``'s dtype (no gradient)."""
    return (x >= 0).to(x.dtype)


def register(name: str, *aliases: str) -> Callable[[type[SurrogateFunction]], type]:
    """Class decorator adding a surrogate to the registry under ``name`` (and aliases)."""

    def deco(cls: type[SurrogateFunction]) -> type[SurrogateFunction]:
        cls.name = name
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        return cls

    return deco


def available() -> list[str]:
    """Names of the registered surrogates (aliases such as ``superspike`` excluded)."""
    return sorted(_REGISTRY)


def get(spec: str | SurrogateFunction, **params: float) -> SurrogateFunction:
    """Build a surrogate from a registry name (or alias) and parameters.

    A :class:`SurrogateFunction` instance is returned unchanged (``params`` must then be
    empty).
    """
    if isinstance(spec, SurrogateFunction):
        if params:
            raise ArgumentError(
                f"surrogate parameters {sorted(params)} given together with an already "
                f"built surrogate {spec!r}; pass a registry name instead"
            )
        return spec
    if not isinstance(spec, str):
        raise ArgumentError(
            f"surrogate must be a registry name or a SurrogateFunction, got {type(spec).__name__}"
        )
    key = spec.lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UnknownNameError("surrogate", spec, available() + sorted(_ALIASES))
    return _REGISTRY[key](**params)


def _check_positive(owner: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError(f"surrogate {owner!r}: {name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ArgumentError(
            f"surrogate {owner!r}: {name} must be a positive finite number, got {value!r}"
        )
    return float(value)


class _SurrogateSpike(torch.autograd.Function):
    """Heaviside forward, ``grad * g'(x)`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, sg: SurrogateFunction) -> Tensor:
        ctx.save_for_backward(x)
        ctx.sg = sg
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        return grad * ctx.sg.derivative(x), None


class SurrogateFunction(nn.Module, metaclass=abc.ABCMeta):
    """Base class: Heaviside forward, ``g'(x)`` backward (``spiking=False``: ``g(x)``).

    Subclasses implement ``_derivative_`` (in place, so the fused neurons need no
    temporaries) and ``_primitive`` in float32-safe torch ops.
    ``alpha`` is the steepness (larger = closer to the true step).
    """

    name: str = "base"

    def __init__(self, alpha: float = 1.0, spiking: bool = True) -> None:
        super().__init__()
        self.alpha = _check_positive(self.name, "alpha", alpha)
        self.spiking = bool(spiking)

    # -- formulas ---------------------------------------------------------------
    @abc.abstractmethod
    def _derivative_(self, x: Tensor) -> Tensor:
        """Overwrite ``x`` (a float32/float64 scratch tensor) with ``g'(x)``; return it."""

    @abc.abstractmethod
    def _primitive(self, x: Tensor) -> Tensor:
        """``g(x)`` in x's dtype (called with float32/float64 input)."""

    def derivative(self, x: Tensor) -> Tensor:
        """Surrogate gradient ``g'(x)`` (float32 internally for 16-bit inputs)."""
        if x.dtype in (torch.float16, torch.bfloat16):
            return self._derivative_(x.float()).to(x.dtype)
        return self._derivative_(x.clone())

    def derivative_(self, x: Tensor) -> Tensor:
        """In-place :meth:`derivative`: overwrites ``x`` (a scratch buffer) with ``g'(x)``."""
        if x.dtype in (torch.float16, torch.bfloat16):
            return x.copy_(self._derivative_(x.float()))
        return self._derivative_(x)

    def primitive(self, x: Tensor) -> Tensor:
        """The smooth step ``g(x)`` whose derivative is :meth:`derivative`."""
        if x.dtype in (torch.float16, torch.bfloat16):
            return self._primitive(x.float()).to(x.dtype)
        return self._primitive(x)

    def forward(self, x: Tensor) -> Tensor:
        """``H(x)`` with surrogate gradient, or ``g(x)`` when ``spiking`` is False."""
        if self.spiking:
            return _SurrogateSpike.apply(x, self)
        return self.primitive(x)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, spiking={self.spiking}"


@register("sigmoid")
class Sigmoid(SurrogateFunction):
    """``g(x) = sigmoid(alpha x)``, ``g'(x) = alpha s (1 - s)`` with ``s = sigmoid(alpha x)``.

    Default alpha = 4 (CS3D Eq. 2 uses the sigmoid surrogate). Mapping:
    spikingjelly ``Sigmoid(alpha=a)`` == ``sigmoid(alpha=a)``;
    snnTorch ``surrogate.sigmoid(slope=k)`` == ``sigmoid(alpha=k)``.
    """

    def __init__(self, alpha: float = 4.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        s = x.mul_(self.alpha).sigmoid_()
        return s.addcmul_(s, s, value=-1.0).mul_(self.alpha)  # alpha (s - s^2)

    def _primitive(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x * self.alpha)


@register("atan", "arctan")
class ATan(SurrogateFunction):
    """``g(x) = 1/2 + atan(pi/2 alpha x) / pi``, ``g'(x) = (alpha/2) / (1 + (pi/2 alpha x)^2)``.

    Default alpha = 2. Mapping: spikingjelly ``ATan(alpha=a)`` and snnTorch
    ``surrogate.atan(alpha=a)`` == ``atan(alpha=a)``.
    """

    def __init__(self, alpha: float = 2.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        z = x.mul_(math.pi / 2 * self.alpha)
        return z.square_().add_(1.0).reciprocal_().mul_(self.alpha / 2)

    def _primitive(self, x: Tensor) -> Tensor:
        return 0.5 + torch.atan(x * (math.pi / 2 * self.alpha)) / math.pi


@register("fast_sigmoid", "superspike")
class FastSigmoid(SurrogateFunction):
    """SuperSpike / fast sigmoid (Zenke & Ganguli 2018): ``g'(x) = scale / (alpha |x| + 1)^2``.

    Primitive ``g(x) = 1/2 + scale x / (1 + alpha |x|)``; note ``g'`` integrates to
    ``2 scale / alpha`` (not normalised, as in the paper); ``scale = alpha / 2`` gives a
    unit step. Default alpha = 25 (snnTorch's slope). Mapping: snnTorch
    ``surrogate.fast_sigmoid(slope=k)`` == ``fast_sigmoid(alpha=k)``; spikingjelly
    ``SuperSpike(alpha=a)`` (``a / (1 + |x|)^2``) == ``fast_sigmoid(alpha=1, scale=a)``;
    Norse's ``super`` method == ``fast_sigmoid(alpha=100)`` (Norse 1.1 ignores its alpha).
    """

    def __init__(self, alpha: float = 25.0, scale: float = 1.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)
        self.scale = _check_positive(self.name, "scale", scale)

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.abs_().mul_(self.alpha).add_(1.0).square_().reciprocal_().mul_(self.scale)

    def _primitive(self, x: Tensor) -> Tensor:
        return 0.5 + self.scale * x / (x.abs() * self.alpha + 1.0)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", scale={self.scale:g}"


@register("triangle", "triangular")
class Triangle(SurrogateFunction):
    """Triangle (Bellec et al. 2018; Norse ``triangle``): ``g'(x) = alpha max(0, 1 - |x|/width)``.

    Peak ``alpha`` at 0, support ``|x| < width``, area ``alpha * width`` (1 with the
    defaults alpha = 1, width = 1). Mapping: Norse ``triangle_fn(x, alpha=a)`` ==
    ``triangle(alpha=a)``; ``piecewise_quadratic(alpha=a)`` == ``triangle(alpha=a, width=1/a)``.
    """

    def __init__(self, alpha: float = 1.0, width: float = 1.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)
        self.width = _check_positive(self.name, "width", width)

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.abs_().mul_(-1.0 / self.width).add_(1.0).clamp_(min=0.0).mul_(self.alpha)

    def _primitive(self, x: Tensor) -> Tensor:
        z = torch.clamp(x / self.width, -1.0, 1.0)
        # unit triangular CDF: (1+z)^2/2 for z<0, 1-(1-z)^2/2 for z>=0
        cdf = 0.5 + z - 0.5 * z * z.abs()
        return cdf * (self.alpha * self.width)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", width={self.width:g}"


@register("piecewise_quadratic")
class PiecewiseQuadratic(SurrogateFunction):
    """Piecewise quadratic (Esser et al. 2016): ``g'(x) = max(0, alpha - alpha^2 |x|)``.

    Unit area, support ``|x| < 1/alpha``; ``g`` is quadratic on that interval, 0 below
    and 1 above. Default alpha = 1. Mapping: spikingjelly ``PiecewiseQuadratic(alpha=a)``
    == ``piecewise_quadratic(alpha=a)``.
    """

    def __init__(self, alpha: float = 1.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.abs_().mul_(-self.alpha * self.alpha).add_(self.alpha).clamp_(min=0.0)

    def _primitive(self, x: Tensor) -> Tensor:
        z = torch.clamp(x * self.alpha, -1.0, 1.0)
        return 0.5 + z - 0.5 * z * z.abs()


@register("erf", "gaussian")
class Erf(SurrogateFunction):
    """Gaussian / erf: ``g(x) = erfc(-alpha x) / 2``, ``g'(x) = alpha/sqrt(pi) exp(-(alpha x)^2)``.

    Default alpha = 2. Mapping: spikingjelly ``Erf(alpha=a)`` == ``erf(alpha=a)``.
    """

    def __init__(self, alpha: float = 2.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        z = x.mul_(self.alpha)
        return z.square_().neg_().exp_().mul_(self.alpha / math.sqrt(math.pi))

    def _primitive(self, x: Tensor) -> Tensor:
        return torch.special.erfc(-x * self.alpha) * 0.5


@register("rectangular", "rect", "boxcar")
class Rectangular(SurrogateFunction):
    """Rectangular (STBP, Wu et al. 2018): ``g'(x) = alpha if |x| < 1/(2 alpha) else 0``.

    Unit area; ``g(x) = clamp(alpha x + 1/2, 0, 1)``. Default alpha = 1, i.e. gradient 1
    where ``|x| < 0.5`` -- the surrogate of the SEEN baseline.
    """

    def __init__(self, alpha: float = 1.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.abs_().lt_(0.5 / self.alpha).mul_(self.alpha)

    def _primitive(self, x: Tensor) -> Tensor:
        return torch.clamp(x * self.alpha + 0.5, 0.0, 1.0)


@register("piecewise_exp")
class PiecewiseExp(SurrogateFunction):
    """Piecewise exponential (Shrestha & Orchard 2018): ``g'(x) = alpha/2 exp(-alpha |x|)``.

    Unit area. Default alpha = 1. Mapping: spikingjelly ``PiecewiseExp(alpha=a)``.
    """

    def __init__(self, alpha: float = 1.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.abs_().mul_(-self.alpha).exp_().mul_(self.alpha / 2)

    def _primitive(self, x: Tensor) -> Tensor:
        e = torch.exp(-x.abs() * self.alpha) * 0.5
        return torch.where(x >= 0, 1.0 - e, e)


@register("softsign")
class SoftSign(SurrogateFunction):
    """Soft sign: ``g'(x) = alpha / (2 (1 + alpha |x|)^2)``.

    ``g(x) = 1/2 (1 + alpha x / (1 + alpha |x|))``.

    Unit-area version of the fast sigmoid. Default alpha = 2. Mapping: spikingjelly
    ``SoftSign(alpha=a)``.
    """

    def __init__(self, alpha: float = 2.0, spiking: bool = True) -> None:
        super().__init__(alpha, spiking)

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.abs_().mul_(self.alpha).add_(1.0).square_().reciprocal_().mul_(self.alpha / 2)

    def _primitive(self, x: Tensor) -> Tensor:
        return 0.5 + 0.5 * (x * self.alpha) / (x.abs() * self.alpha + 1.0)


@register("custom")
class Custom(SurrogateFunction):
    """User-defined surrogate: ``derivative(x) -> g'(x)`` (and optionally ``primitive``).

    >>> sg = Custom(lambda x: 1.0 / (1.0 + x.abs()) ** 2)

    ``spiking=False`` needs ``primitive``. The functions receive float32 (or float64)
    tensors and must return a tensor of the same shape.
    """

    def __init__(
        self,
        derivative: Callable[[Tensor], Tensor] | None = None,
        primitive: Callable[[Tensor], Tensor] | None = None,
        spiking: bool = True,
    ) -> None:
        if derivative is None or not callable(derivative):
            raise ArgumentError(
                "surrogate 'custom': derivative must be a callable x -> g'(x), "
                f"got {derivative!r}"
            )
        if primitive is not None and not callable(primitive):
            raise ArgumentError(
                f"surrogate 'custom': primitive must be callable, got {primitive!r}"
            )
        if not spiking and primitive is None:
            raise ArgumentError("surrogate 'custom': spiking=False needs a primitive function")
        super().__init__(1.0, spiking)
        self._derivative_fn = derivative
        self._primitive_fn = primitive

    def _derivative_(self, x: Tensor) -> Tensor:
        return x.copy_(self._derivative_fn(x))

    def _primitive(self, x: Tensor) -> Tensor:
        if self._primitive_fn is None:
            raise ArgumentError("surrogate 'custom' has no primitive function")
        return self._primitive_fn(x)

    def extra_repr(self) -> str:
        name = getattr(self._derivative_fn, "__name__", "fn")
        return f"derivative={name}, spiking={self.spiking}"
