"""Execution modes: which implementation a layer or model runs (issue 7).

Every layer with a fast path (``FactorizedConv3d``, the attention blocks, ``MultiPool``,
C3D's conv block) and every C3D-family model has an ``execution`` attribute:

- ``"fast"`` (default): the channels-last fused implementation of :mod:`snnfer.fastpath`
  whenever it applies (CPU, floating input, stride 1, fusable neurons: stateless SSN with
  a fixed threshold or ReLU, no module hooks); otherwise the reference code runs.
  Inference (no autograd, BN with running statistics) of large blocks is cache-tiled:
  a block and its max-pool run a few frames at a time (:mod:`snnfer.fastpath.tiled`);
- ``"reference"``: the modules' plain PyTorch code (what the paper describes, what the
  equivalence tests compare against);
- ``"compile"``: models only -- the modules' code on channels-last memory under
  ``torch.compile`` (inductor fuses the element-wise chains itself; the hand-written
  autograd functions of the fast path are not traced).

The mode is a plain attribute, not a parameter or buffer: a ``state_dict`` is the same in
every mode, so a checkpoint trained with one path loads into the other.

Hooks: when a module or any of its children carries forward (pre-)hooks or backward
hooks (``thop.profile``, :func:`snnfer.energy.count_ops`, ``ActivityMonitor``, feature
extraction), the fast path would bypass the hooked sub-modules, so the reference path
runs instead -- operation counts and activity records always see the reference structure.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules import module as _module_globals

from snnfer.errors import ArgumentError

__all__ = ["EXECUTION_MODES", "LAYER_MODES", "check_mode", "fast_enabled", "has_hooks",
           "keep_graph", "set_execution"]

EXECUTION_MODES = ("fast", "reference", "compile")
LAYER_MODES = ("fast", "reference")


def check_mode(mode: object, allowed: tuple[str, ...] = EXECUTION_MODES) -> str:
    """``mode`` if it is one of ``allowed``, else an :class:`ArgumentError` listing them."""
    if mode not in allowed:
        raise ArgumentError(f"execution mode must be one of {allowed}, got {mode!r}")
    return mode  # type: ignore[return-value]


def set_execution(module: nn.Module, mode: str) -> nn.Module:
    """Set the execution mode of ``module`` and of every fast-path layer inside it.

    Models (:class:`~snnfer.models.ClipClassifier` subclasses with a ``set_execution``
    method) also accept ``"compile"``; plain layers accept ``"fast"`` and ``"reference"``.
    Returns ``module``.
    """
    own = getattr(module, "set_execution", None)
    if callable(own):
        return own(mode)
    check_mode(mode, LAYER_MODES)
    for m in module.modules():
        if hasattr(m, "execution"):
            m.execution = mode
    return module


def has_hooks(module: nn.Module) -> bool:
    """True if ``module`` or a child has forward/backward hooks, or global hooks exist."""
    if (_module_globals._global_forward_hooks or _module_globals._global_forward_pre_hooks
            or _module_globals._global_backward_hooks
            or _module_globals._global_backward_pre_hooks):
        return True
    for m in module.modules():
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks \
                or m._backward_pre_hooks:
            return True
    return False


def fast_enabled(module: nn.Module, x: object) -> bool:
    """Common preconditions of every fast path: mode, CPU float tensor, no hooks, not
    being traced by ``torch.jit``."""
    return (getattr(module, "execution", "fast") != "reference" and isinstance(x, Tensor)
            and x.device.type == "cpu" and x.is_floating_point()
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not has_hooks(module))


def keep_graph() -> bool:
    """True while the running backward pass keeps the graph (``retain_graph=True``); the
    fused backward then leaves its saved buffers intact instead of reusing them."""
    probe = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    if probe is None:
        return True
    try:
        return bool(probe())
    except RuntimeError:
        return True
