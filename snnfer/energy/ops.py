"""``count_ops``: thop for standard layers plus snnfer's rules for what thop misses.

One forward pass (eval mode, ``torch.no_grad()``, reset neurons) records per layer:

- ``thop_macs``: what ``thop.profile`` counts for that module (same rule table, called from
  snnfer's hooks), so the model total stays comparable with the CS3D paper's thop figures
  (§IV-B1, Table I);
- ``rule_macs`` / ``rule_acs``: snnfer's own rules (:mod:`snnfer.energy.rules`) for neurons,
  functional operations inside modules (attention products, residual additions) and
  conv/linear subclasses thop has no rule for -- their own column;
- for conv/linear layers and functional products, the input's non-zero fraction and
  binariness, the dense MACs split by input kind (binary spikes / sparse non-binary /
  dense) and the non-zero-input part, which :func:`snnfer.energy.estimate_energy` prices as
  AC / sparse MAC / MAC.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from snnfer.energy.activity import first_tensor, is_neuron, is_synaptic, tensor_stats
from snnfer.energy.inputs import as_model_inputs, inference
from snnfer.energy.rules import FUNCTIONAL_RULES, neuron_cost, nonzero_synaptic_ops
from snnfer.errors import ArgumentError

__all__ = ["COUNTING_MODES", "LayerOps", "OpReport", "count_ops"]

COUNTING_MODES = ("exact", "rate")
_TRANSPARENT = (nn.Sequential, nn.ModuleList, nn.ModuleDict)

CustomRule = Callable[[nn.Module, tuple, Any], tuple[float, float]]


@dataclass
class LayerOps:
    """Operation counts of one layer (one module, or the functional ops inside a module).

    ``source``: ``"thop"`` (thop's rule), ``"rule"`` (a conv/linear/... subclass thop has no
    rule for, counted with its base class's rule), ``"neuron"``, ``"functional"``,
    ``"custom"`` (a user rule). ``binary_input_macs`` / ``sparse_input_macs`` are the dense
    MACs performed on binary-spike / sparse non-binary inputs. ``binary_input_nonzero_macs``:
    the spike-driven ones, i.e. with a non-zero input operand (``counting="exact"``: exact,
    zero padding does no work, as in spikingjelly's ``op_counter``; ``"rate"``: dense x
    non-zero rate). ``sparse_input_nonzero_macs``: dense x non-zero rate (continuous with the
    dense count as the rate tends to 1).
    """

    layer: str
    module: str
    source: str
    params: int = 0
    thop_macs: float = 0.0
    rule_macs: float = 0.0
    rule_acs: float = 0.0
    other_ops: float = 0.0
    binary_input_macs: float = 0.0
    binary_input_nonzero_macs: float = 0.0
    sparse_input_macs: float = 0.0
    sparse_input_nonzero_macs: float = 0.0
    input_elements: int = 0
    input_nonzero: int = 0
    input_binary: bool | None = None
    calls: int = 0

    @property
    def macs(self) -> float:
        """Dense MACs (thop's plus snnfer's rules)."""
        return self.thop_macs + self.rule_macs

    @property
    def input_nonzero_fraction(self) -> float | None:
        """Non-zero fraction of the activation input (``None`` when not recorded)."""
        return self.input_nonzero / self.input_elements if self.input_elements else None

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "macs": self.macs,
                "input_nonzero_fraction": self.input_nonzero_fraction}


@dataclass
class OpReport:
    """Result of :func:`count_ops`: per-layer rows and totals for the whole input batch."""

    rows: list[LayerOps]
    params: int
    batch_size: int
    counting: str

    @property
    def thop_macs(self) -> float:
        """What ``thop.profile`` reports for the model (the paper's "FLOPs")."""
        return sum(r.thop_macs for r in self.rows)

    @property
    def rule_macs(self) -> float:
        return sum(r.rule_macs for r in self.rows)

    @property
    def rule_acs(self) -> float:
        return sum(r.rule_acs for r in self.rows)

    @property
    def total_macs(self) -> float:
        """Dense MACs: thop's plus snnfer's rules."""
        return self.thop_macs + self.rule_macs

    @property
    def other_ops(self) -> float:
        """Non-linear function evaluations (sigmoid, softmax, ...); not priced."""
        return sum(r.other_ops for r in self.rows)

    def by_source(self) -> dict[str, dict[str, float]]:
        """Totals per row source: ``{"thop": {"macs": .., "acs": ..}, "neuron": ...}``."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            d = out.setdefault(r.source, {"macs": 0.0, "acs": 0.0})
            d["macs"] += r.macs
            d["acs"] += r.rule_acs
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params, "batch_size": self.batch_size, "counting": self.counting,
                "thop_macs": self.thop_macs, "rule_macs": self.rule_macs,
                "rule_acs": self.rule_acs, "total_macs": self.total_macs,
                "other_ops": self.other_ops, "rows": [r.record() for r in self.rows]}

    def to_markdown(self) -> str:
        """Per-layer table (counts in millions) and totals."""
        lines = [
            "| layer | module | source | params | thop MACs (M) | snnfer MACs (M) "
            "| snnfer ACs (M) | input non-zero | binary input |",
            "|---|---|---|---:|---:|---:|---:|---:|:-:|",
        ]
        for r in self.rows:
            rate = r.input_nonzero_fraction
            binary = "" if r.input_binary is None else ("yes" if r.input_binary else "no")
            lines.append(
                f"| {r.layer} | {r.module} | {r.source} | {r.params} | {r.thop_macs / 1e6:.3f} "
                f"| {r.rule_macs / 1e6:.3f} | {r.rule_acs / 1e6:.3f} | "
                f"{'' if rate is None else f'{rate:.4f}'} | {binary} |"
            )
        lines.append(
            f"| **total** | | | {self.params} | {self.thop_macs / 1e6:.3f} | "
            f"{self.rule_macs / 1e6:.3f} | {self.rule_acs / 1e6:.3f} | | |"
        )
        return "\n".join(lines)


def _thop_rules() -> dict[type, Callable[..., None]]:
    with warnings.catch_warnings():  # thop 0.1.1 compares versions with distutils
        warnings.simplefilter("ignore", DeprecationWarning)
        from thop.profile import register_hooks
    return register_hooks


class _ThopTally:
    """Stand-in passed to a thop rule: reads the module's attributes, collects ``total_ops``."""

    def __init__(self, module: nn.Module) -> None:
        self.__dict__["_module"] = module
        self.__dict__["total_ops"] = torch.zeros(1, dtype=torch.float64)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_module"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value


class _FunctionalOps(TorchDispatchMode):
    """Routes aten ops that run outside any counted module to the counter's rules."""

    def __init__(self, counter: _Counter) -> None:
        super().__init__()
        self.counter = counter

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        counter = self.counter
        if counter.paused or counter.covered_depth or not counter.stack:
            return out
        rule = FUNCTIONAL_RULES.get(func.overloadpacket)
        if rule is not None:
            counter.paused = True
            try:
                counter.current = counter.functional_row()
                rule(counter, args, out)
            finally:
                counter.paused = False
        return out


class _Counter:
    """Hooks on every module + a dispatch mode for functional ops; fills ``LayerOps`` rows."""

    def __init__(self, model: nn.Module, counting: str,
                 custom_ops: Mapping[type, CustomRule] | None) -> None:
        self.model = model
        self.counting = counting
        self.custom_ops = dict(custom_ops or {})
        self.thop = _thop_rules()
        self.rows: dict[tuple[str, str], LayerOps] = {}
        self.stack: list[tuple[str, nn.Module, bool]] = []
        self.covered_depth = 0
        self.paused = False
        self.current: LayerOps | None = None
        self._handles: list[Any] = []

    # -- classification ---------------------------------------------------------------
    def classify(self, module: nn.Module) -> tuple[str | None, Callable[..., Any] | None]:
        for cls in type(module).__mro__:
            if cls in self.custom_ops:
                return "custom", self.custom_ops[cls]
        if is_neuron(module):
            return "neuron", None
        if isinstance(module, _TRANSPARENT):
            return None, None
        if type(module) in self.thop:
            return "thop", self.thop[type(module)]
        for cls in type(module).__mro__[1:]:
            if cls in self.thop:
                return "rule", self.thop[cls]
        return None, None

    def row(self, name: str, module: nn.Module, source: str) -> LayerOps:
        key = (name, source)
        if key not in self.rows:
            params = sum(p.numel() for p in module.parameters()) if source != "functional" else 0
            self.rows[key] = LayerOps(name or "(model)", type(module).__name__, source, params)
        return self.rows[key]

    def functional_row(self) -> LayerOps:
        name, module, _ = self.stack[-1]
        return self.row(name, module, "functional")

    # -- OpSink interface (used by the functional rules and the module hooks) -------------
    def fixed(self, macs: float = 0.0, acs: float = 0.0, other: float = 0.0) -> None:
        row = self.current
        row.rule_macs += macs
        row.rule_acs += acs
        row.other_ops += other

    def activation(self, dense_macs: float, x: Tensor,
                   spike_driven: Callable[[], float | None] | None, thop: bool = False) -> None:
        """MACs whose type follows ``x``; ``spike_driven()`` gives the exact number with a
        non-zero input operand, evaluated only for binary input in ``"exact"`` mode."""
        row = self.current
        if thop:
            row.thop_macs += dense_macs
        else:
            row.rule_macs += dense_macs
        stats = tensor_stats(x)
        row.input_elements += stats.elements
        row.input_nonzero += stats.nonzero
        row.input_binary = stats.binary if row.input_binary is None \
            else row.input_binary and stats.binary
        by_rate = dense_macs * stats.nonzero_fraction
        if stats.binary:
            exact = spike_driven() if self.counting == "exact" and spike_driven else None
            row.binary_input_macs += dense_macs
            row.binary_input_nonzero_macs += by_rate if exact is None else exact
        elif stats.nonzero < stats.elements:
            row.sparse_input_macs += dense_macs
            row.sparse_input_nonzero_macs += by_rate

    # -- hooks --------------------------------------------------------------------------
    def _pre_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            source, _ = self.classify(module)
            covered = source is not None and not self.covered_depth
            self.stack.append((name, module, covered))
            self.covered_depth += covered

        return hook

    def _post_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            _, _, covered = self.stack.pop()
            self.covered_depth -= covered
            if covered and not self.paused:
                self.paused = True
                try:
                    self._count_module(name, module, args or tuple(kwargs.values()), output)
                finally:
                    self.paused = False

        return hook

    def _count_module(self, name: str, module: nn.Module, args: tuple, output: Any) -> None:
        source, rule = self.classify(module)
        self.current = row = self.row(name, module, source)
        row.calls += 1
        x = first_tensor(args)
        if source == "custom":
            macs, acs = rule(module, args, output)
            self.fixed(macs=float(macs), acs=float(acs))
        elif source == "neuron":
            if x is not None:
                macs, acs = neuron_cost(module)
                self.fixed(macs=float(macs * x.numel()), acs=float(acs * x.numel()))
        else:
            tally = _ThopTally(module)
            rule(tally, args, output)
            dense = float(tally.total_ops.sum())
            if is_synaptic(module) and x is not None:
                self.activation(dense, x, lambda: nonzero_synaptic_ops(module, x),
                                thop=source == "thop")
            elif source == "thop":
                row.thop_macs += dense
            else:
                row.rule_macs += dense

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Counter]:
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)  # count MHA's products, not one fused op
        try:
            for name, module in self.model.named_modules():
                self._handles.append(module.register_forward_pre_hook(
                    self._pre_hook(name), with_kwargs=True))
                self._handles.append(module.register_forward_hook(
                    self._post_hook(name), with_kwargs=True))
            with _FunctionalOps(self):
                yield self
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            torch.backends.mha.set_fastpath_enabled(fastpath)


def count_ops(
    model: nn.Module,
    inputs: Tensor | Mapping[str, Tensor],
    *,
    counting: str = "exact",
    custom_ops: Mapping[type, CustomRule] | None = None,
) -> OpReport:
    """Count the operations of one forward pass of ``model`` on ``inputs`` (CS3D §IV-B1).

    ``inputs``: ``[B, T, C, H, W]`` or, for two-modality models, a dict modality -> tensor.
    ``counting="exact"``: spike-driven operations of binary inputs are counted exactly
    (zero padding does no work, as in spikingjelly's ``op_counter``); ``"rate"``: dense
    MACs x input non-zero rate (the Spikformer convention). Sparse non-binary inputs are
    always dense MACs x non-zero rate. ``custom_ops`` maps a module type to
    ``fn(module, args, output) -> (macs, acs)`` (dense), overriding the built-in rules.
    Counts are for the whole batch.
    """
    if counting not in COUNTING_MODES:
        raise ArgumentError(f"counting must be one of {COUNTING_MODES}, got {counting!r}")
    if not isinstance(model, nn.Module):
        raise ArgumentError(f"count_ops needs an nn.Module, got {type(model).__name__}")
    model_inputs = as_model_inputs(model, inputs)
    counter = _Counter(model, counting, custom_ops)
    with inference(model), counter.installed():
        model_inputs.call(model)
    params = sum(p.numel() for p in model.parameters())
    return OpReport(list(counter.rows.values()), params, model_inputs.batch_size, counting)
