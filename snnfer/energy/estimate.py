"""``estimate_energy``: price each layer's operations by what its input is.

Per conv/linear layer (and functional product) the op type follows the layer's input
(CS3D §IV-B2; the SNN convention of Spikformer and successors, made honest for soft
spikes):

- **AC** when the input is binary spikes: each spike triggers additions only, priced
  ``E_AC`` x spike-driven operations (dense ops x rate; exact per spike, zero padding doing
  no work, with ``counting="exact"``, the default -- spikingjelly's convention);
- **sparse MAC** when the input is not binary but has zeros -- the CS3D soft spiking
  neuron's output ``x * H(x - theta)`` is of this kind: the values still multiply the
  weights, so these are priced ``E_MAC`` x dense ops x non-zero rate, never as ACs;
- **MAC** when the input is dense: ``E_MAC`` x dense ops (thop's count).

Everything else (BatchNorm, pooling, neuron updates, element-wise products) is priced at
its dense count: multiplies as MACs, additions/comparisons as ACs. With
``zero_skipping=False`` (a GPU-like dense accelerator) every MAC is priced dense, so the
estimate is ``E_MAC x`` thop's count plus the rule columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor, nn

from snnfer.energy.constants import EnergyConstants, get_constants
from snnfer.energy.ops import CustomRule, LayerOps, OpReport, count_ops

__all__ = ["EnergyReport", "EnergyRow", "estimate_energy", "price"]


@dataclass(frozen=True)
class EnergyRow:
    """One layer: dense MACs, input non-zero rate, op type, effective ops, energy (pJ)."""

    layer: str
    module: str
    source: str
    op_type: str
    dense_macs: float
    input_nonzero_fraction: float | None
    macs: float
    sparse_macs: float
    acs: float
    energy_pj: float

    @property
    def effective_ops(self) -> float:
        """Operations actually priced: dense MACs + sparse MACs + ACs."""
        return self.macs + self.sparse_macs + self.acs


@dataclass(frozen=True)
class EnergyReport:
    """Estimated energy of one forward pass over the whole input batch.

    ``total_macs`` counts the multiply-accumulates priced at ``E_MAC`` (dense MACs plus the
    non-zero-input MACs of sparse non-binary inputs, ``total_sparse_macs``); ``total_acs``
    the accumulates priced at ``E_AC``. ``dense_macs`` is thop's count plus the rule
    columns with no sparsity (the "GMACs" figure), ``thop_macs`` thop's alone.
    """

    rows: tuple[EnergyRow, ...]
    tech: EnergyConstants
    zero_skipping: bool
    counting: str
    batch_size: int
    params: int
    thop_macs: float
    dense_macs: float
    other_ops: float

    @property
    def total_macs(self) -> float:
        return sum(r.macs + r.sparse_macs for r in self.rows)

    @property
    def total_sparse_macs(self) -> float:
        return sum(r.sparse_macs for r in self.rows)

    @property
    def total_acs(self) -> float:
        return sum(r.acs for r in self.rows)

    @property
    def total_pj(self) -> float:
        return sum(r.energy_pj for r in self.rows)

    @property
    def total_mj(self) -> float:
        """Energy of the whole batch in millijoules."""
        return self.total_pj * 1e-9

    @property
    def per_sample_mj(self) -> float:
        """Energy per sample (per inference) in millijoules."""
        return self.total_mj / self.batch_size

    def by_source(self) -> dict[str, dict[str, float]]:
        """Effective MACs (incl. sparse), sparse MACs, ACs and pJ per row source."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            d = out.setdefault(r.source, dict.fromkeys(("macs", "sparse_macs", "acs", "pj"), 0.0))
            d["macs"] += r.macs + r.sparse_macs
            d["sparse_macs"] += r.sparse_macs
            d["acs"] += r.acs
            d["pj"] += r.energy_pj
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "tech": self.tech.to_dict(), "zero_skipping": self.zero_skipping,
            "counting": self.counting, "batch_size": self.batch_size, "params": self.params,
            "thop_macs": self.thop_macs, "dense_macs": self.dense_macs,
            "total_macs": self.total_macs, "total_sparse_macs": self.total_sparse_macs,
            "total_acs": self.total_acs, "other_ops_unpriced": self.other_ops,
            "total_mj": self.total_mj, "per_sample_mj": self.per_sample_mj,
            "rows": [{**asdict(r), "effective_ops": r.effective_ops} for r in self.rows],
        }

    def to_markdown(self) -> str:
        """Per-layer table (operations in millions, energy in µJ) and totals."""
        t = self.tech
        lines = [
            f"energy constants {t.name}: MAC {t.mac_pj:g} pJ, AC {t.ac_pj:g} pJ "
            f"({'zero-skipping' if self.zero_skipping else 'dense'} pricing, "
            f"{self.counting} non-zero counting, batch {self.batch_size})",
            "",
            "| layer | module | op type | dense MACs (M) | input non-zero | MACs (M) "
            "| sparse MACs (M) | ACs (M) | energy (µJ) |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            rate = "" if r.input_nonzero_fraction is None else f"{r.input_nonzero_fraction:.4f}"
            lines.append(
                f"| {r.layer} | {r.module} | {r.op_type} | {r.dense_macs / 1e6:.3f} | {rate} | "
                f"{r.macs / 1e6:.3f} | {r.sparse_macs / 1e6:.3f} | {r.acs / 1e6:.3f} | "
                f"{r.energy_pj * 1e-6:.3f} |"
            )
        lines.append(
            f"| **total** | | | {self.dense_macs / 1e6:.3f} | | "
            f"{(self.total_macs - self.total_sparse_macs) / 1e6:.3f} | "
            f"{self.total_sparse_macs / 1e6:.3f} | {self.total_acs / 1e6:.3f} | "
            f"{self.total_pj * 1e-6:.3f} |"
        )
        return "\n".join(lines)


def _price_row(row: LayerOps, tech: EnergyConstants, zero_skipping: bool) -> EnergyRow:
    if zero_skipping:
        acs = row.binary_input_nonzero_macs + row.rule_acs
        sparse = row.sparse_input_nonzero_macs
        macs = row.macs - row.binary_input_macs - row.sparse_input_macs
    else:
        acs, sparse, macs = row.rule_acs, 0.0, row.macs
    kinds = [name for name, n in (("MAC", macs), ("sparse MAC", sparse), ("AC", acs)) if n > 0]
    if not kinds and row.input_binary and zero_skipping:
        kinds = ["AC"]  # silent spike input: an event-driven layer does no work
    energy = tech.mac_pj * (macs + sparse) + tech.ac_pj * acs
    return EnergyRow(row.layer, row.module, row.source, "+".join(kinds) or "-", row.macs,
                     row.input_nonzero_fraction, macs, sparse, acs, energy)


def price(ops: OpReport, tech: str | EnergyConstants = "45nm-fp32",
          zero_skipping: bool = True) -> EnergyReport:
    """Price an :class:`~snnfer.energy.ops.OpReport` (see the module docstring)."""
    constants = get_constants(tech)
    rows = tuple(_price_row(r, constants, bool(zero_skipping)) for r in ops.rows)
    return EnergyReport(rows, constants, bool(zero_skipping), ops.counting, ops.batch_size,
                        ops.params, ops.thop_macs, ops.total_macs, ops.other_ops)


def estimate_energy(
    model: nn.Module,
    inputs: Tensor | Mapping[str, Tensor],
    tech: str | EnergyConstants = "45nm-fp32",
    *,
    zero_skipping: bool = True,
    counting: str = "exact",
    custom_ops: Mapping[type, CustomRule] | None = None,
) -> EnergyReport:
    """Estimated compute energy of ``model`` on ``inputs`` (one forward pass).

    ``tech`` names a preset of :data:`snnfer.energy.TECH_PRESETS` (Horowitz ISSCC 2014,
    45 nm: ``"45nm-fp32"``, ``"45nm-fp16"``, ``"45nm-int8"``) or is an
    :class:`EnergyConstants`. See :func:`snnfer.energy.count_ops` for ``inputs``,
    ``counting`` and ``custom_ops``, and the module docstring for the pricing.
    """
    constants = get_constants(tech)
    return price(count_ops(model, inputs, counting=counting, custom_ops=custom_ops),
                 constants, zero_skipping)
