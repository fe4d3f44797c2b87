"""Activations for snnfer's layers and models: ReLU or any ``make_neuron`` spec.

Every spiking activation of a model is built here, from the model's ``neuron=`` spec
and ``neuron_kwargs``, so that any snnfer, spikingjelly, snnTorch or Norse neuron can be
used (:func:`snnfer.neuron.make_neuron`). The helper also puts the neuron into the
tensor layout of the layer it follows:

- 3-D convolution stacks (C3D, CS3D) hold ``[B, C, T, H, W]``: neurons get
  ``time_dim=2``, so a stateful neuron integrates over ``T`` and the stateless SSN sees
  the channel on dim 1 (for a per-channel threshold);
- a flattened feature vector ``[B, F]`` has no time axis: :class:`FeatureActivation`
  runs the neuron as a single time step on ``[1, B, F]``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from snnfer.errors import ArgumentError
from snnfer.neuron import NeuronSpec, SpikingNeuron, make_neuron

__all__ = ["ActivationSpec", "FeatureActivation", "build_activation"]

ActivationSpec = NeuronSpec
"""``"relu"`` or anything :func:`snnfer.neuron.make_neuron` accepts."""


def _accepts_time_dim(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "time_dim" or p.kind is p.VAR_KEYWORD for p in params)


def build_activation(spec: ActivationSpec, *, time_dim: int = 2, channels: int | None = None,
                     **neuron_kwargs: Any) -> nn.Module:
    """One activation module for a layer whose output has time on ``time_dim``.

    ``spec="relu"`` gives ``nn.ReLU`` (the ANN baselines); any other spec goes through
    :func:`~snnfer.neuron.make_neuron` with ``time_dim`` and ``neuron_kwargs``. When the
    kwargs ask for an SSN threshold per channel (``learnable_threshold="channel"``) and
    give no ``num_channels``, ``channels`` (the layer's width) is filled in. A module
    instance is deep-copied; if it is an snnfer neuron its ``time_dim`` is set.
    """
    if isinstance(spec, str) and spec.strip().lower() == "relu":
        if neuron_kwargs:
            raise ArgumentError(
                f"activation 'relu' takes no neuron_kwargs, got {sorted(neuron_kwargs)}"
            )
        return nn.ReLU()
    if isinstance(spec, Mapping):
        params = dict(spec)
        if "name" not in params:
            raise ArgumentError(
                f"neuron spec mapping needs a 'name' key, got keys {sorted(params)}"
            )
        spec = params.pop("name")
        neuron_kwargs = {**params, **neuron_kwargs}
        return build_activation(spec, time_dim=time_dim, channels=channels, **neuron_kwargs)
    per_channel = neuron_kwargs.get("learnable_threshold") == "channel"
    if per_channel and "num_channels" not in neuron_kwargs:
        if channels is None:
            raise ArgumentError("learnable_threshold='channel' needs the layer's channel count")
        neuron_kwargs = {**neuron_kwargs, "num_channels": channels}
    if isinstance(spec, nn.Module):
        module = make_neuron(spec, **neuron_kwargs)
        if isinstance(module, SpikingNeuron):
            module.time_dim = time_dim
        return module
    if isinstance(spec, str) or _accepts_time_dim(spec):
        return make_neuron(spec, time_dim=time_dim, **neuron_kwargs)
    return make_neuron(spec, **neuron_kwargs)


class FeatureActivation(nn.Module):
    """Apply an activation to ``[B, F]`` features as one time step (``[1, B, F]``).

    Used in fully connected heads, where the time axis has already been flattened into
    the features; a stateful neuron therefore sees a single step (its state is reset by
    the model before every batch).
    """

    def __init__(self, spec: ActivationSpec, features: int | None = None,
                 **neuron_kwargs: Any) -> None:
        super().__init__()
        self.act = build_activation(spec, time_dim=0, channels=features, **neuron_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.act, nn.ReLU):
            return self.act(x)
        return self.act(x.unsqueeze(0)).squeeze(0)
