"""Common base class of snnfer neurons: step modes, time layout, state, reset."""

from __future__ import annotations

import abc

from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError, StateShapeError

__all__ = ["SpikingNeuron", "reset"]

STEP_MODES = ("s", "m")


class SpikingNeuron(nn.Module, metaclass=abc.ABCMeta):
    """Base class of every snnfer neuron (native or wrapped from another library).

    ``step_mode="m"`` (default): the input holds all time steps, time on ``time_dim``
    (default 0, i.e. ``[T, B, ...]``, spikingjelly's convention; CS3D's Conv3d layout
    ``[B, C, T, H, W]`` uses ``time_dim=2``). ``step_mode="s"``: each call is one time
    step ``[B, ...]`` and the state carries over between calls.

    State lives in attributes named in ``state_names``; :meth:`reset` clears it and
    :func:`reset` walks a whole model. Feeding input whose per-step shape differs from
    the stored state raises :class:`~snnfer.errors.StateShapeError`.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, step_mode: str = "m", time_dim: int = 0) -> None:
        super().__init__()
        if step_mode not in STEP_MODES:
            raise ArgumentError(f"step_mode must be one of {STEP_MODES}, got {step_mode!r}")
        if isinstance(time_dim, bool) or not isinstance(time_dim, int):
            raise ArgumentError(f"time_dim must be an int, got {time_dim!r}")
        self.step_mode = step_mode
        self.time_dim = time_dim
        for name in self.state_names:
            setattr(self, name, None)

    # -- state ------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the state (call between independent samples/batches)."""
        for name in self.state_names:
            setattr(self, name, None)

    def _checked_state(self, name: str, like: Tensor) -> Tensor | None:
        state = getattr(self, name)
        if state is None:
            return None
        if state.shape != like.shape or state.device != like.device or state.dtype != like.dtype:
            raise StateShapeError(
                f"{type(self).__name__}: stored state {name!r} has shape {tuple(state.shape)} "
                f"({state.dtype}, {state.device}) but this time step has shape "
                f"{tuple(like.shape)} ({like.dtype}, {like.device}); the batch or input size "
                "changed without a reset -- call snnfer.neuron.reset(model) between batches"
            )
        return state

    # -- input layout -------------------------------------------------------------
    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise InputDtypeError(
                f"{type(self).__name__}: input must be a torch.Tensor, got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise InputDtypeError(
                f"{type(self).__name__}: input has dtype {x.dtype}; expected a floating "
                "dtype (float16, bfloat16, float32 or float64) -- cast with x.float()"
            )

    def _time_dim_of(self, x: Tensor) -> int:
        nd = x.dim()
        if not -nd <= self.time_dim < nd:
            raise InputShapeError(
                f"{type(self).__name__}: time_dim={self.time_dim} is out of range for input "
                f"of shape {tuple(x.shape)} (accepted: {-nd}..{nd - 1})"
            )
        td = self.time_dim % nd
        if x.shape[td] == 0:
            raise InputShapeError(
                f"{type(self).__name__}: input of shape {tuple(x.shape)} has no time steps "
                f"on time_dim={self.time_dim}"
            )
        return td

    def forward(self, x: Tensor) -> Tensor:
        """Apply the neuron; see the class docstring for the layouts."""
        self._check_input(x)
        if self.step_mode == "s":
            return self.single_step_forward(x)
        td = self._time_dim_of(x)
        if td == 0:
            return self.multi_step_forward(x)
        y = self.multi_step_forward(x.movedim(td, 0))
        return y.movedim(0, td)

    def single_step_forward(self, x: Tensor) -> Tensor:
        """One time step ``[B, ...]``; the default runs a one-step sequence."""
        return self.multi_step_forward(x.unsqueeze(0))[0]

    @abc.abstractmethod
    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """All time steps, time on dim 0."""

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}, time_dim={self.time_dim}"


def _is_foreign_memory_module(module: nn.Module) -> bool:
    """spikingjelly ``MemoryModule`` used directly inside an snnfer model (duck-typed)."""
    return hasattr(module, "_memories") and callable(getattr(module, "reset", None))


def reset(model: nn.Module) -> nn.Module:
    """Reset the state of every neuron in ``model`` (walks the module tree).

    Resets snnfer neurons, wrapped external neurons and bare spikingjelly memory modules.
    Returns ``model`` for chaining.
    """
    for module in model.modules():
        if isinstance(module, SpikingNeuron) or _is_foreign_memory_module(module):
            module.reset()
    return model

