"""Neurons from spikingjelly, snnTorch and Norse, wrapped to snnfer's conventions.

A wrapper takes and returns snnfer's layout (multi-step, time on ``time_dim``, default
``[T, B, ...]``), keeps the library neuron's state inside itself and is reset by
:func:`snnfer.neuron.reset`. Build them with :func:`snnfer.neuron.make_neuron`::

    make_neuron("spikingjelly:LIFNode", tau=2.0)
    make_neuron("snntorch:Leaky", beta=0.5)
    make_neuron("norse:LIFBoxCell")

The libraries are imported only when a wrapper is built; a missing one raises
:class:`~snnfer.errors.MissingDependencyError` (an ``ImportError``) naming the
``interop`` extra.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, UnknownNameError
from snnfer.neuron.base import SpikingNeuron
from snnfer.neuron.surrogate import get as get_surrogate
from snnfer.optional import require

__all__ = ["LIBRARIES", "NorseNeuron", "SnnTorchNeuron", "SpikingJellyNeuron", "build_external"]


class _ExternalNeuron(SpikingNeuron):
    """A library neuron in ``self.module`` with snnfer's layout and reset."""

    library = ""

    def __init__(self, module: nn.Module, time_dim: int = 0, step_mode: str = "m") -> None:
        super().__init__(step_mode=step_mode, time_dim=time_dim)
        self.module = module

    def extra_repr(self) -> str:
        return f"library={self.library!r}, " + super().extra_repr()


class SpikingJellyNeuron(_ExternalNeuron):
    """A spikingjelly ``activation_based`` neuron run in its multi-step mode (``[T, ...]``)."""

    library = "spikingjelly"

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        return self.module(x_seq)

    def reset(self) -> None:
        self.module.reset()


class SnnTorchNeuron(_ExternalNeuron):
    """An snnTorch neuron (built with ``init_hidden=True``) looped over time."""

    library = "snntorch"

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        out = []
        for x in x_seq:
            y = self.module(x)
            out.append(y[0] if isinstance(y, tuple) else y)
        return torch.stack(out)

    def reset(self) -> None:
        # snnTorch 1.x keeps its hidden state (mem, syn, ...) in non-persistent buffers
        # and re-initialises them to zeros when their shape does not match the input.
        for name in self.module._non_persistent_buffers_set:
            buf = getattr(self.module, name)
            if isinstance(buf, Tensor):
                setattr(self.module, name, torch.zeros_like(buf).detach())


class NorseNeuron(_ExternalNeuron):
    """A Norse neuron: ``*Cell`` modules are looped over time, others take ``[T, ...]``."""

    library = "norse"
    state_names = ("state",)

    def __init__(self, module: nn.Module, time_dim: int = 0, step_mode: str = "m") -> None:
        super().__init__(module, time_dim, step_mode)
        self.is_cell = type(module).__name__.endswith("Cell")

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        if not self.is_cell:
            y, self.state = self.module(x_seq, self.state)
            return y
        out = []
        for x in x_seq:
            y, self.state = self.module(x, self.state)
            out.append(y)
        return torch.stack(out)


def _classes(module: Any, base: type) -> dict[str, type]:
    return {
        n: c for n, c in vars(module).items()
        if inspect.isclass(c) and issubclass(c, base) and not n.startswith("_")
    }


def _spikingjelly(name: str, kw: dict[str, Any]) -> nn.Module:
    neuron = require("spikingjelly.activation_based.neuron", "interop", "spikingjelly neurons")
    base = require("spikingjelly.activation_based.base", "interop", "spikingjelly neurons")
    classes = _classes(neuron, base.MemoryModule)
    if name not in classes:
        raise UnknownNameError("spikingjelly neuron", name, list(classes))
    if "surrogate" in kw:
        kw["surrogate_function"] = get_surrogate(kw.pop("surrogate"))
    return classes[name](step_mode="m", **kw)


def _snntorch(name: str, kw: dict[str, Any]) -> nn.Module:
    snntorch = require("snntorch", "interop", "snnTorch neurons")
    classes = _classes(snntorch, snntorch.SpikingNeuron)
    if name not in classes:
        raise UnknownNameError("snnTorch neuron", name, list(classes))
    if "surrogate" in kw:
        kw["spike_grad"] = get_surrogate(kw.pop("surrogate"))
    kw.setdefault("init_hidden", True)
    if not kw["init_hidden"]:
        raise ArgumentError("snnTorch neurons are wrapped with init_hidden=True "
                            "(the wrapper keeps the state)")
    return classes[name](**kw)


def _norse(name: str, kw: dict[str, Any]) -> nn.Module:
    norse = require("norse.torch", "interop", "Norse neurons")
    classes = {
        n: c for n, c in _classes(norse, nn.Module).items()
        if any(k in n for k in ("LIF", "IAF", "LI", "LSNN", "Izhikevich"))
        and "Encoder" not in n and "Decoder" not in n
    }
    if name not in classes:
        raise UnknownNameError("Norse neuron", name, list(classes))
    if "surrogate" in kw:
        raise ArgumentError("Norse neurons take their surrogate through their parameters, "
                            "e.g. p=norse.torch.LIFBoxParameters(method='super', alpha=100.)")
    return classes[name](**kw)


LIBRARIES = {
    "spikingjelly": (_spikingjelly, SpikingJellyNeuron),
    "snntorch": (_snntorch, SnnTorchNeuron),
    "norse": (_norse, NorseNeuron),
}


def build_external(library: str, name: str, **kw: Any) -> SpikingNeuron:
    """Build ``library``'s neuron class ``name`` and wrap it (see :func:`make_neuron`)."""
    key = library.lower()
    if key not in LIBRARIES:
        raise UnknownNameError("neuron library", library, list(LIBRARIES))
    # time_dim and step_mode are the wrapper's (snnfer's layout), never the library's
    time_dim = kw.pop("time_dim", 0)
    step_mode = kw.pop("step_mode", "m")
    build, wrapper = LIBRARIES[key]
    return wrapper(build(name, dict(kw)), time_dim=time_dim, step_mode=step_mode)
