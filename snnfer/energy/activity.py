"""Activity of a network: how many values are non-zero, and are they binary spikes?

:class:`ActivityMonitor` records, through forward hooks installed only inside its
``with`` block, for every neuron layer its output and for every conv/linear layer its
input: the fraction of non-zero elements (the firing rate for binary spikes), whether all
values are in {0, 1}, and the mean value. These are the quantities the energy estimate
needs (AC for binary spikes, sparse MAC for soft spikes, see :mod:`snnfer.energy.estimate`)
and what a trainer plots as per-layer firing rates.

>>> import torch
>>> from torch import nn
>>> from snnfer.neuron import IFNode
>>> net = nn.Sequential(nn.Linear(4, 8), IFNode(), nn.Linear(8, 2))
>>> with ActivityMonitor(net) as mon:
...     _ = net(torch.rand(3, 5, 4))
>>> sorted(mon.firing_rates())
['1']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError
from snnfer.neuron.base import SpikingNeuron

__all__ = [
    "ActivityMonitor",
    "LayerActivity",
    "TensorStats",
    "is_neuron",
    "is_synaptic",
    "iter_monitored",
    "tensor_stats",
]


def is_neuron(module: nn.Module) -> bool:
    """An snnfer neuron (native or wrapped) or a bare spikingjelly neuron node."""
    if isinstance(module, SpikingNeuron):
        return True
    return hasattr(module, "_memories") and hasattr(module, "v_threshold")


def is_synaptic(module: nn.Module) -> bool:
    """A layer with weights applied to its input: convolutions and linear layers."""
    return isinstance(module, (nn.modules.conv._ConvNd, nn.Linear))


@dataclass(frozen=True)
class TensorStats:
    """Element count, non-zero count, sum and binariness of one tensor."""

    elements: int
    nonzero: int
    total: float
    binary: bool

    @property
    def nonzero_fraction(self) -> float:
        return self.nonzero / self.elements if self.elements else 0.0


def tensor_stats(x: Tensor) -> TensorStats:
    """Statistics of ``x``; binary means every value is exactly 0 or 1 (or ``x`` is bool)."""
    with torch.no_grad():
        nonzero = int(torch.count_nonzero(x))
        if x.dtype == torch.bool:
            return TensorStats(x.numel(), nonzero, float(nonzero), True)
        ones = int(torch.count_nonzero(x == 1))
        total = float(x.sum(dtype=torch.float64)) if x.is_floating_point() \
            else float(x.double().sum())
    return TensorStats(x.numel(), nonzero, total, ones == nonzero)


def first_tensor(value: Any) -> Tensor | None:
    """The first tensor in a (possibly nested) tuple/list/dict, or ``None``."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


@dataclass
class LayerActivity:
    """Accumulated activity of one monitored tensor (a neuron output or a layer input)."""

    layer: str
    module: str
    role: str
    elements: int = 0
    nonzero: int = 0
    total: float = 0.0
    binary: bool = True
    calls: int = 0

    def add(self, stats: TensorStats) -> None:
        self.elements += stats.elements
        self.nonzero += stats.nonzero
        self.total += stats.total
        self.binary = self.binary and stats.binary
        self.calls += 1

    @property
    def nonzero_fraction(self) -> float:
        """Fraction of non-zero elements (the firing rate when the values are spikes)."""
        return self.nonzero / self.elements if self.elements else 0.0

    @property
    def mean(self) -> float:
        return self.total / self.elements if self.elements else 0.0

    def record(self) -> dict[str, Any]:
        """One tidy row: layer, module, role, nonzero_fraction, binary, mean, elements, calls."""
        row = asdict(self)
        row.pop("total")
        row.pop("nonzero")
        return {**row, "nonzero_fraction": self.nonzero_fraction, "mean": self.mean}


def iter_monitored(model: nn.Module) -> Iterator[tuple[str, nn.Module, str]]:
    """``(name, module, role)`` for every neuron (role ``"neuron output"``) and conv/linear
    layer (role ``"layer input"``); modules inside a neuron (wrapped library neurons) are
    skipped."""
    inside_neuron: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside_neuron):
            continue
        if is_neuron(module):
            inside_neuron.append(name)
            yield name, module, "neuron output"
        elif is_synaptic(module):
            yield name, module, "layer input"


class ActivityMonitor:
    """Per-layer activity through forward hooks (context manager; no hooks outside it).

    ``neurons`` / ``layer_inputs`` choose what is recorded; ``include(name, module)``
    filters further. Statistics accumulate over every forward call inside the block (and
    over re-entries) until :meth:`reset`.

    >>> with ActivityMonitor(model) as mon:            # doctest: +SKIP
    ...     model(x)
    >>> mon.firing_rates()                             # doctest: +SKIP
    {'stage1.neuron': 0.12, ...}
    """

    def __init__(
        self,
        model: nn.Module,
        neurons: bool = True,
        layer_inputs: bool = True,
        include: Callable[[str, nn.Module], bool] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ArgumentError(f"ActivityMonitor needs an nn.Module, got {type(model).__name__}")
        self.model = model
        self.neurons = bool(neurons)
        self.layer_inputs = bool(layer_inputs)
        self.include = include
        self._handles: list[Any] = []
        self._layers: dict[str, LayerActivity] = {}

    # -- hooks -------------------------------------------------------------------
    def _hook(self, entry: LayerActivity, on_output: bool) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            x = first_tensor(output if on_output else args)
            if x is not None:
                entry.add(tensor_stats(x.detach()))

        return hook

    def __enter__(self) -> ActivityMonitor:
        if self._handles:
            raise ArgumentError("ActivityMonitor is already active (nested `with` on one monitor)")
        for name, module, role in iter_monitored(self.model):
            is_out = role == "neuron output"
            if (is_out and not self.neurons) or (not is_out and not self.layer_inputs):
                continue
            if self.include is not None and not self.include(name, module):
                continue
            key = f"{name}|{role}"
            entry = self._layers.setdefault(
                key, LayerActivity(name or "(model)", type(module).__name__, role)
            )
            self._handles.append(module.register_forward_hook(self._hook(entry, is_out)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def active(self) -> bool:
        """True while hooks are installed."""
        return bool(self._handles)

    def reset(self) -> None:
        """Forget the recorded statistics."""
        self._layers.clear()

    # -- results -----------------------------------------------------------------
    def layers(self) -> list[LayerActivity]:
        """Recorded layers (those that ran), in module order."""
        return [a for a in self._layers.values() if a.calls]

    def records(self) -> list[dict[str, Any]]:
        """Tidy table: one dict per layer (``pandas.DataFrame(mon.records())`` works)."""
        return [a.record() for a in self.layers()]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{"<layer>|<role>": record}``."""
        return {f"{a.layer}|{a.role}": a.record() for a in self.layers()}

    def firing_rates(self) -> dict[str, float]:
        """Non-zero fraction of every neuron layer's output, by layer name."""
        return {a.layer: a.nonzero_fraction for a in self.layers() if a.role == "neuron output"}

    def to_markdown(self) -> str:
        """The table as markdown."""
        lines = ["| layer | module | role | non-zero | binary | mean |",
                 "|---|---|---|---:|:-:|---:|"]
        for a in self.layers():
            lines.append(
                f"| {a.layer} | {a.module} | {a.role} | {a.nonzero_fraction:.4f} | "
                f"{'yes' if a.binary else 'no'} | {a.mean:.4g} |"
            )
        return "\n".join(lines)
