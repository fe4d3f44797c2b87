"""Compare registered models: params, GMACs, ACs, estimated and measured energy, latency.

What ``snnfer energy`` and ``benchmarks/energy_cs3d_vs_c3d.py`` print (CS3D §IV-B,
Tables I and IV). Estimated energy depends on the network's activity, so every comparison
states which weights it used: a checkpoint, or a seeded random initialisation -- by default
with BatchNorm statistics re-estimated on the example input (:func:`calibrate_batchnorm`),
without which an untrained SSN network falls silent after a few layers.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from snnfer.atomic import atomic_path
from snnfer.energy.constants import get_constants
from snnfer.energy.estimate import EnergyReport, price
from snnfer.energy.inputs import (
    INPUT_KINDS,
    ModelInputs,
    as_model_inputs,
    example_inputs,
    inference,
)
from snnfer.energy.ops import count_ops
from snnfer.energy.power import PowerMeter
from snnfer.errors import ArgumentError, CheckpointError, SensorNotFoundError
from snnfer.neuron import reset
from snnfer.optional import require

__all__ = [
    "PAPER_ENERGY_RATIO",
    "PAPER_GMACS",
    "EnergyComparison",
    "ModelEnergy",
    "calibrate_batchnorm",
    "compare_models",
    "interleaved_latency_ms",
    "load_weights",
    "median_latency_ms",
]

PAPER_GMACS = {"c3d": 21.29, "c3d_ssn": 21.29, "c3d_factorized": 4.26, "cs3d": 4.68}
"""thop GMACs at 3 x 16 x 112 x 112 from the CS3D paper (Tables I and IV)."""
PAPER_ENERGY_RATIO = 0.2197
"""CS3D paper: "the energy consumption of CS3D is just 21.97% of the original C3D"."""


def interleaved_latency_ms(entries: Sequence[tuple[nn.Module, Tensor | Mapping[str, Tensor]]],
                           runs: int = 5, warmup: int = 1) -> list[float]:
    """Median wall time (ms) of one forward pass of each ``(model, inputs)``, timed in
    round-robin order (model 1, 2, ..., 1, 2, ...) so that a varying machine load affects
    every model alike and the ratios stay meaningful (eval, no grad, neurons reset)."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ArgumentError(f"runs must be a positive int, got {runs!r}")
    prepared = [(model, as_model_inputs(model, inputs)) for model, inputs in entries]
    times: list[list[float]] = [[] for _ in prepared]
    with contextlib.ExitStack() as stack:
        for model, _ in prepared:
            stack.enter_context(inference(model))
        for i in range(warmup + runs):
            for j, (model, model_inputs) in enumerate(prepared):
                reset(model)
                start = time.perf_counter()
                model_inputs.call(model)
                if i >= warmup:
                    times[j].append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) for t in times]


def median_latency_ms(model: nn.Module, inputs: Tensor | Mapping[str, Tensor], runs: int = 5,
                      warmup: int = 1) -> float:
    """Median wall time (ms) of one forward pass (eval, no grad, neurons reset each run)."""
    return interleaved_latency_ms([(model, inputs)], runs, warmup)[0]


def calibrate_batchnorm(model: nn.Module, inputs: Tensor | Mapping[str, Tensor]) -> int:
    """Re-estimate every BatchNorm's running mean/variance on ``inputs`` (one train-mode
    forward of the BN layers only, cumulative average, no gradients). Returns the number
    of BatchNorm layers. Gives a random-init network the per-channel normalised
    pre-activations a trained one has, so activity-dependent estimates are not dominated
    by a dying signal."""
    model_inputs = as_model_inputs(model, inputs)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    with inference(model):
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        try:
            model_inputs.call(model)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
                m.eval()
    return len(norms)


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a state dict (or a checkpoint dict holding one under ``model``/``state_dict``/
    ``model_state_dict``) with ``torch.load(weights_only=True)``, strictly."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    if isinstance(state, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping):
        raise CheckpointError(f"checkpoint {path} holds {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit {type(model).__name__}: "
                              f"{exc}") from exc


def _shape_text(inputs: ModelInputs) -> str:
    """``CxTxHxW`` (the paper's notation) of each input, prefixed by the modality name."""
    named = [("", a) for a in inputs.args] + list(inputs.kwargs.items())
    parts = []
    for name, x in named:
        t, c, h, w = x.shape[1:]
        parts.append(f"{name + ':' if name else ''}{c}x{t}x{h}x{w}")
    return ", ".join(parts)


@dataclass(frozen=True)
class ModelEnergy:
    """One model's row (per sample unless stated): ``gmacs`` is thop's count, ``acs_g`` /
    ``sparse_gmacs`` the zero-skipping estimate's ACs and sparse MACs, ``estimated_mj``
    that estimate, ``dense_estimated_mj`` every MAC priced dense; latency at
    ``latency_batch``; ``measured_mj`` per inference (``None`` without a sensor);
    ``paper_gmacs`` the CS3D paper's figure when the model was built as in the paper."""

    name: str
    input: str
    params: int
    gmacs: float
    dense_gmacs: float
    acs_g: float
    sparse_gmacs: float
    estimated_mj: float
    dense_estimated_mj: float
    latency_ms: float | None
    latency_batch: int
    measured_mj: float | None
    weights: str
    paper_gmacs: float | None = None
    report: EnergyReport | None = field(default=None, repr=False, compare=False)

    def to_dict(self, layers: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "report"}
        if layers and self.report is not None:
            out["layers"] = self.report.to_dict()["rows"]
        return out


@dataclass(frozen=True)
class EnergyComparison:
    """Rows of :func:`compare_models` plus the settings every figure depends on."""

    rows: tuple[ModelEnergy, ...]
    tech: str
    input_kind: str
    device: str
    measured_note: str
    notes: tuple[str, ...]

    def row(self, name: str) -> ModelEnergy:
        """The row of model ``name`` (its label, or the registered name of a row labelled
        ``name(key=value, ...)``)."""
        for r in self.rows:
            if r.name == name or r.name.split("(", 1)[0] == name:
                return r
        raise ArgumentError(f"no model {name!r} in this comparison; have "
                            f"{[r.name for r in self.rows]}")

    def to_dict(self, layers: bool = False) -> dict[str, Any]:
        return {"tech": self.tech, "input_kind": self.input_kind, "device": self.device,
                "measured_note": self.measured_note, "notes": list(self.notes),
                "models": [r.to_dict(layers) for r in self.rows]}

    def to_markdown(self) -> str:
        lat_batch = sorted({r.latency_batch for r in self.rows})
        lines = [
            "| model | input (CxTxHxW) | params (M) | GMACs (thop) | paper GMACs | ACs (G) "
            f"| sparse MACs (G) | est. energy (mJ) | dense est. (mJ) | latency (ms, batch "
            f"{'/'.join(map(str, lat_batch))}) | measured (mJ) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            paper = f"{r.paper_gmacs:.2f}" if r.paper_gmacs else "-"
            lat = f"{r.latency_ms:.1f}" if r.latency_ms is not None else "-"
            meas = f"{r.measured_mj:.3f}" if r.measured_mj is not None else "n/a"
            lines.append(
                f"| {r.name} | {r.input} | {r.params / 1e6:.2f} | {r.gmacs:.3f} | {paper} | "
                f"{r.acs_g:.3f} | {r.sparse_gmacs:.3f} | {r.estimated_mj:.3f} | "
                f"{r.dense_estimated_mj:.3f} | {lat} | {meas} |"
            )
        lines += ["", f"- energy constants: {self.tech}; device: {self.device}",
                  f"- measured energy: {self.measured_note}", *[f"- {n}" for n in self.notes]]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> Path:
        """Bar chart (PNG, written atomically) of estimated, dense and measured energy."""
        require("matplotlib", "train", "the energy bar chart")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        names = [r.name for r in self.rows]
        series = [("estimated (zero-skipping)", [r.estimated_mj for r in self.rows]),
                  ("estimated (dense MACs)", [r.dense_estimated_mj for r in self.rows])]
        if any(r.measured_mj is not None for r in self.rows):
            series.append(("measured", [r.measured_mj or 0.0 for r in self.rows]))
        fig = Figure(figsize=(max(5.0, 1.4 * len(names) + 2), 4.0))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / len(series)
        for i, (label, values) in enumerate(series):
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(names))]
            bars = ax.bar(xs, values, width, label=label)
            ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("energy per inference (mJ)")
        ax.set_title(f"snnfer energy ({self.tech})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        dest = Path(path)
        with atomic_path(dest) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
        return dest


def _device_text() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {name}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def compare_models(
    names: Sequence[str],
    input_shape: tuple[int, int, int, int] | None = None,
    *,
    preset: str = "paper",
    tech: str = "45nm-fp32",
    batch_size: int = 1,
    latency_batch: int = 1,
    latency_runs: int = 5,
    measure: bool = False,
    power_source: Any = "auto",
    measure_runs: int = 10,
    power_kwargs: Mapping[str, Any] | None = None,
    weights: Mapping[str, str | os.PathLike] | None = None,
    calibrate_bn: bool = True,
    input_kind: str = "uniform",
    seed: int = 0,
    num_classes: int = 7,
    model_kwargs: Mapping[str, Any] | None = None,
    execution: str = "fast",
    per_model_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> EnergyComparison:
    """Build each registered model and measure it (see the module docstring).

    ``input_shape``: ``(T, C, H, W)`` for every model (passed as ``in_channels`` and
    ``input_size``); default each model's ``default_input_shape``. Estimates use a seeded
    example input of ``batch_size`` samples and are reported per sample. ``weights`` maps a
    model name to a checkpoint; other models are randomly initialised with ``seed`` (and
    BatchNorm-calibrated unless ``calibrate_bn=False``). ``measure=True`` opens a
    :class:`~snnfer.energy.PowerMeter` on ``power_source``; without a sensor the rows get
    ``measured_mj=None`` and ``measured_note`` says what was tried.

    ``execution``: the implementation timed for the latency column and run for measured
    energy -- ``"fast"`` (default, :mod:`snnfer.fastpath`), ``"reference"`` or
    ``"compile"`` (see :meth:`snnfer.models.ClipClassifier.set_execution`). Operation
    counts always see the reference structure (the counting hooks select it), so GMACs,
    ACs and estimated energy do not depend on it.

    ``model_kwargs`` go to every model's constructor; ``per_model_kwargs`` maps a model name
    to keyword arguments for that model only (e.g. ``{"hecnet_snn": {"spiking": "all"}}``);
    such a row is labelled ``name(key=value, ...)``.
    """
    from snnfer.fastpath import set_execution
    from snnfer.fastpath.execution import check_mode
    from snnfer.models import create_model

    if not names:
        raise ArgumentError("compare_models needs at least one model name")
    check_mode(execution)
    get_constants(tech)
    if input_kind not in INPUT_KINDS:
        raise ArgumentError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ArgumentError(f"weights given for {unknown}, which are not among the models "
                            f"{list(names)}")
    meter, measured_note = None, "not requested (pass measure=True / --measure)"
    if measure:
        try:
            meter = PowerMeter(power_source, **dict(power_kwargs or {}))
            measured_note = f"{meter.source.describe()}, idle baseline subtracted, " \
                            f"mean of {measure_runs} runs"
        except SensorNotFoundError as exc:
            measured_note = f"no power sensor on this machine ({exc})"
    kw = dict(model_kwargs or {})
    if input_shape is not None:
        t, c, h, w = input_shape
        kw.update(in_channels=c, input_size=(t, h, w))
    own = {k: dict(v) for k, v in (per_model_kwargs or {}).items()}
    unknown = sorted(set(own) - set(names))
    if unknown:
        raise ArgumentError(f"per-model keyword arguments for {unknown}, which are not among "
                            f"the compared models {list(names)}")
    built = []
    for name in names:
        torch.manual_seed(seed)
        model = create_model(name, num_classes=num_classes, preset=preset,
                             **{**kw, **own.get(name, {})})
        x = example_inputs(model, input_shape, batch_size, input_kind, seed)
        if name in weights:
            load_weights(model, weights[name])
            source = f"checkpoint {weights[name]}"
        else:
            source = f"random init (seed {seed})"
            if calibrate_bn and calibrate_batchnorm(model, x):
                source += ", BN statistics calibrated on the example input"
        ops = count_ops(model, x)
        set_execution(model, execution)
        built.append((name, model, x, source, ops))
    latencies: list[float | None] = [None] * len(built)
    if latency_runs:
        latencies = interleaved_latency_ms(
            [(m, example_inputs(m, input_shape, latency_batch, input_kind, seed))
             for _, m, _, _, _ in built], latency_runs)
    rows = []
    try:
        for (name, model, x, source, ops), latency in zip(built, latencies):
            report, dense = price(ops, tech, True), price(ops, tech, False)
            b = ops.batch_size
            measured = None
            if meter is not None:
                mi = as_model_inputs(model, x)
                with inference(model):
                    reading = meter.measure(lambda m=model, i=mi: i.call(m), runs=measure_runs)
                measured = reading.per_run_mj / b
            shape = _shape_text(as_model_inputs(model, x))
            as_in_paper = (preset == "paper" and shape == "3x16x112x112" and not model_kwargs
                           and not own.get(name))
            label = name + ("(" + ", ".join(f"{k}={v}" for k, v in own[name].items()) + ")"
                            if own.get(name) else "")
            rows.append(ModelEnergy(
                label, shape, ops.params, ops.thop_macs / b / 1e9, ops.total_macs / b / 1e9,
                report.total_acs / b / 1e9, report.total_sparse_macs / b / 1e9,
                report.per_sample_mj, dense.per_sample_mj, latency, latency_batch, measured,
                source, PAPER_GMACS.get(name) if as_in_paper else None, report))
    finally:
        if meter is not None:
            meter.close()
    notes = (
        f"input: seeded example ({input_kind}, seed {seed}); estimates per sample over a "
        f"batch of {batch_size}",
        "est. energy: zero-skipping pricing (binary spikes -> ACs on the spike-driven ops, "
        "sparse non-binary inputs such as SSN soft spikes -> MACs x non-zero rate, dense -> "
        "MACs); dense est.: every MAC priced, as on a GPU",
        "weights: " + "; ".join(f"{r.name}: {r.weights}" for r in rows),
    )
    if latency_runs:
        notes += (f"latency: median of {latency_runs} runs per model after a warm-up, models "
                  f"timed in round-robin order, {execution} execution path"
                  + (" (snnfer.fastpath)" if execution == "fast" else ""),)
    return EnergyComparison(tuple(rows), tech, input_kind, _device_text(), measured_note, notes)
