"""snnfer: spiking neural networks for event-camera facial expression recognition."""

__version__ = "0.1.0"

from snnfer import neuron

__all__ = ["__version__", "neuron"]
