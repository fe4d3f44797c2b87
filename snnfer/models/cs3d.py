"""CS3D (CS3D paper §III, Fig. 1): factorized 3-D convs + SSNs, Multi-Pool, joint attention.

    clip [B, T, C, H, W]
    -> five FactorizedConv3d stages (64, 128, 256, 512, 512 channels x width_mult, SSN
       neurons, C3D's max-pools (1,2,2), (2,2,2) x 3 after stages 1-4)     §III-A, §III-B
    -> MultiPool (average + max, learned per-channel mix; window (1,2,2))   Fig. 1
    -> JointAttention (temporal then spatial, residual)                     §III-C, Eq. 3
    -> mean over the remaining time steps (attention-weighted temporal pooling)
    -> FC 4096 -> SSN -> dropout -> FC 4096 -> SSN -> dropout -> FC classes

thop at 3 x 16 x 112 x 112: 4.242 G MACs (paper: 4.68 G; the factorized stack alone
4.24 G, paper 4.26 G). See :mod:`snnfer.models.c3d` for the shared network and knobs.
"""

from __future__ import annotations

from typing import Any

from snnfer.models.c3d import _KNOB_DOC, C3DNet, build_c3d_family
from snnfer.models.registry import register_model

__all__ = ["cs3d"]


@register_model("cs3d")
def cs3d(num_classes: int = 7, in_channels: int | None = None, **knobs: Any) -> C3DNet:
    return build_c3d_family("cs3d", num_classes, in_channels, **knobs)


cs3d.__doc__ = ("CS3D (§III): factorized blocks with SSNs, MultiPool, joint attention, "
                "FC head; default neuron 'ssn' (threshold 0.5)." + _KNOB_DOC)
