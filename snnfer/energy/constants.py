"""Energy per operation: Horowitz (ISSCC 2014) 45 nm figures as frozen presets.

M. Horowitz, "1.1 Computing's energy problem (and what we can do about it)", ISSCC 2014,
doi:10.1109/ISSCC.2014.6757323, Fig. 1.1.9 (45 nm, 0.9 V). A multiply-accumulate (MAC)
costs one multiply plus one add; an accumulate (AC, what a binary spike triggers) costs
one add:

========  ============  ========  ===========  ==========
preset    multiply      add (AC)  MAC          source
========  ============  ========  ===========  ==========
fp32      3.7 pJ        0.9 pJ    4.6 pJ       Horowitz
fp16      1.1 pJ        0.4 pJ    1.5 pJ       Horowitz
int8      0.2 pJ        0.03 pJ   0.23 pJ      Horowitz
========  ============  ========  ===========  ==========

These are the constants of the common SNN energy formula (Spikformer and successors:
``E = E_MAC * MACs + E_AC * ACs``) and of spikingjelly's ``op_counter.SimpleEnergyCostConfig``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from snnfer.errors import ArgumentError, UnknownNameError

__all__ = ["HOROWITZ_2014", "TECH_PRESETS", "EnergyConstants", "get_constants"]

HOROWITZ_2014 = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
    "IEEE ISSCC 2014, pp. 10-14, doi:10.1109/ISSCC.2014.6757323 (45 nm, 0.9 V)"
)


@dataclass(frozen=True)
class EnergyConstants:
    """Energy of one multiply and one add (pJ) for a technology/precision; MAC = mult + add."""

    name: str
    mult_pj: float
    add_pj: float
    source: str = HOROWITZ_2014

    def __post_init__(self) -> None:
        for field in ("mult_pj", "add_pj"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ArgumentError(
                    f"EnergyConstants.{field} must be a finite number >= 0 (pJ), got {value!r}"
                )

    @property
    def mac_pj(self) -> float:
        """Energy of one multiply-accumulate (pJ)."""
        return round(self.mult_pj + self.add_pj, 6)

    @property
    def ac_pj(self) -> float:
        """Energy of one accumulate, i.e. one add (pJ)."""
        return self.add_pj

    def to_dict(self) -> dict[str, object]:
        """Plain dict including the derived MAC/AC energies."""
        return {**asdict(self), "mac_pj": self.mac_pj, "ac_pj": self.ac_pj}


TECH_PRESETS: dict[str, EnergyConstants] = {
    "45nm-fp32": EnergyConstants("45nm-fp32", mult_pj=3.7, add_pj=0.9),
    "45nm-fp16": EnergyConstants("45nm-fp16", mult_pj=1.1, add_pj=0.4),
    "45nm-int8": EnergyConstants("45nm-int8", mult_pj=0.2, add_pj=0.03),
}


def get_constants(tech: str | EnergyConstants) -> EnergyConstants:
    """The preset named ``tech`` (see :data:`TECH_PRESETS`) or ``tech`` itself."""
    if isinstance(tech, EnergyConstants):
        return tech
    if not isinstance(tech, str) or tech not in TECH_PRESETS:
        raise UnknownNameError("energy technology preset (tech=)", str(tech), list(TECH_PRESETS))
    return TECH_PRESETS[tech]
