"""``make_neuron``: one spec string for snnfer's and other libraries' neurons."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from snnfer.errors import ArgumentError, UnknownNameError
from snnfer.neuron.adapters import LIBRARIES, build_external
from snnfer.neuron.lif import IFNode, LIFNode
from snnfer.neuron.ssn import SoftSpikingNeuron

__all__ = ["NATIVE_NEURONS", "NeuronSpec", "make_neuron", "neuron_specs"]

NATIVE_NEURONS: dict[str, type[nn.Module]] = {
    "ssn": SoftSpikingNeuron,
    "lif": LIFNode,
    "if": IFNode,
}

NeuronSpec = str | Mapping[str, Any] | nn.Module | Callable[..., nn.Module]


def neuron_specs() -> list[str]:
    """Spec forms accepted by :func:`make_neuron` (native names and library prefixes)."""
    return sorted(NATIVE_NEURONS) + [f"{lib}:<ClassName>" for lib in LIBRARIES]


def make_neuron(spec: NeuronSpec, **kw: Any) -> nn.Module:
    """Build a neuron from a spec; every model's ``neuron=`` argument goes through here.

    Specs:

    - ``"ssn"``, ``"lif"``, ``"if"``: :class:`SoftSpikingNeuron`, :class:`LIFNode`,
      :class:`IFNode` with ``**kw``;
    - ``"spikingjelly:<Class>"``, ``"snntorch:<Class>"``, ``"norse:<Class>"``: that
      library's neuron wrapped to snnfer's layout (``time_dim``/``step_mode`` in ``kw``
      belong to the wrapper; ``surrogate=<snnfer name>`` is mapped for spikingjelly and
      snnTorch);
    - a mapping ``{"name": spec, **params}`` (params merged with ``kw``);
    - an ``nn.Module`` instance: a deep copy is returned (so each layer has its own state);
    - any other callable (class or factory): ``spec(**kw)``.

    >>> make_neuron("lif", tau=2.0)
    LIFNode(tau=2, decay_input=True, v_threshold=1, v_reset=0.0, ...)
    """
    if isinstance(spec, nn.Module):
        if kw:
            raise ArgumentError(f"make_neuron: keyword arguments {sorted(kw)} cannot be applied "
                                "to an already built module; pass a spec string instead")
        return copy.deepcopy(spec)
    if isinstance(spec, Mapping):
        params = dict(spec)
        if "name" not in params:
            raise ArgumentError(
                f"make_neuron: a mapping spec needs a 'name' key, got {sorted(params)}"
            )
        name = params.pop("name")
        return make_neuron(name, **{**params, **kw})
    if isinstance(spec, str):
        key = spec.strip()
        if ":" in key:
            library, _, cls_name = key.partition(":")
            return build_external(library, cls_name, **kw)
        native = NATIVE_NEURONS.get(key.lower())
        if native is None:
            raise UnknownNameError("neuron spec", spec, neuron_specs())
        return native(**kw)
    if callable(spec):
        module = spec(**kw)
        if not isinstance(module, nn.Module):
            raise ArgumentError(f"make_neuron: factory {spec!r} returned "
                                f"{type(module).__name__}, expected an nn.Module")
        return module
    raise ArgumentError(
        f"make_neuron: unsupported spec {spec!r}; accepted: {', '.join(neuron_specs())}, "
        "a mapping with 'name', an nn.Module or a factory"
    )
