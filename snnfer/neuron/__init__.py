"""snnfer's neuron layer: soft spiking neuron, LIF/IF, surrogates, any-library adapters.

>>> import torch
>>> from snnfer.neuron import SoftSpikingNeuron, LIFNode, make_neuron, reset
>>> ssn = SoftSpikingNeuron(threshold=0.5)             # stateless, CS3D Eq. 1-2
>>> lif = make_neuron("lif", tau=2.0)                   # multi-step, [T, B, ...]
>>> spikes = lif(torch.rand(4, 2, 8))
>>> _ = reset(lif)
"""

from snnfer.neuron import functional, surrogate
from snnfer.neuron.base import SpikingNeuron, reset
from snnfer.neuron.factory import NATIVE_NEURONS, NeuronSpec, make_neuron, neuron_specs
from snnfer.neuron.lif import IFNode, LIFNode
from snnfer.neuron.ssn import SoftSpikingNeuron

SSN = SoftSpikingNeuron

__all__ = [
    "NATIVE_NEURONS",
    "SSN",
    "IFNode",
    "LIFNode",
    "NeuronSpec",
    "SoftSpikingNeuron",
    "SpikingNeuron",
    "functional",
    "make_neuron",
    "neuron_specs",
    "reset",
    "surrogate",
]
