"""Input checks shared by the models: one clear error for a malformed clip batch."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from snnfer.errors import ArgumentError, InputDtypeError, InputShapeError

__all__ = ["as_triple", "check_clip", "check_positive_int", "pooled_size"]


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_positive_int(owner: str, name: str, value: object) -> int:
    """``value`` as a positive int, or an :class:`~snnfer.errors.ArgumentError` naming it."""
    if not _is_positive_int(value):
        raise ArgumentError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


def as_triple(owner: str, name: str, value: object, *,
              allow_int: bool = True) -> tuple[int, int, int]:
    """``value`` (an int, if ``allow_int``, or a ``(t, h, w)`` triple) as a triple of
    positive ints, or an :class:`~snnfer.errors.ArgumentError` naming ``owner.name``."""
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        vals: tuple = (value,) * 3
    elif isinstance(value, (tuple, list)):
        vals = tuple(value)
    else:
        vals = ()
    if len(vals) != 3 or not all(_is_positive_int(v) for v in vals):
        what = "a positive int or a (t, h, w) triple" if allow_int else "a (t, h, w) triple"
        raise ArgumentError(f"{owner}: {name} must be {what} of positive ints, got {value!r}")
    return vals  # type: ignore[return-value]


def pooled_size(n: int, kernel: int, stride: int | None = None, padding: int = 0) -> int:
    """Output length of a pooling/conv window along one axis (PyTorch floor rule)."""
    stride = kernel if stride is None else stride
    return (n + 2 * padding - kernel) // stride + 1


def _expected(channels: int, min_size: Sequence[int]) -> str:
    t, h, w = min_size
    return f"[B, T, C, H, W] with C={channels}, T>={t}, H>={h}, W>={w}"


def check_clip(x: object, *, owner: str, channels: int,
               min_size: Sequence[int] = (1, 1, 1)) -> tuple[int, int, int]:
    """Check a batch of clips ``[B, T, C, H, W]``; return its ``(T, H, W)``.

    Raises :class:`~snnfer.errors.InputShapeError` (wrong rank, channel count, or a
    ``T``/``H``/``W`` below ``min_size`` -- the smallest clip the model's pooling stack
    accepts) and :class:`~snnfer.errors.InputDtypeError` (not a floating tensor). The
    message states the expected layout and the minimum sizes.
    """
    expected = _expected(channels, min_size)
    if not isinstance(x, Tensor):
        raise InputDtypeError(f"{owner}: expected a torch.Tensor {expected}, "
                              f"got {type(x).__name__}")
    shape = tuple(x.shape)
    if x.dim() != 5:
        hint = ""
        if x.dim() == 4 and shape[1] == channels:
            hint = " (a single [T, C, H, W] sample? add the batch axis with x.unsqueeze(0))"
        raise InputShapeError(f"{owner}: expected a 5-D input {expected}; got a "
                              f"{x.dim()}-D tensor of shape {shape}{hint}")
    if not x.is_floating_point():
        raise InputDtypeError(f"{owner}: input has dtype {x.dtype}; expected a floating "
                              "dtype -- cast with x.float()")
    b, t, c, h, w = shape
    if c != channels:
        hint = ""
        if t == channels:
            hint = " (is it [B, C, T, H, W]? use x.transpose(1, 2))"
        raise InputShapeError(f"{owner}: expected {expected}; got C={c} in input of shape "
                              f"{shape}{hint}")
    if b == 0:
        raise InputShapeError(f"{owner}: input of shape {shape} has an empty batch")
    too_small = [f"{n}={v} < {m}" for n, v, m in zip("THW", (t, h, w), min_size) if v < m]
    if too_small:
        raise InputShapeError(f"{owner}: input of shape {shape} is too small for the "
                              f"model's pooling stack ({', '.join(too_small)}); expected "
                              f"{expected}")
    return t, h, w
