"""Typed errors raised by snnfer.

Every error names what was wrong (argument, file, field, shape) and what was
expected, so that a user can fix the input without reading the source. Each
class also derives from the closest built-in exception, so ``except ValueError``
keeps working for callers that do not know snnfer's types.
"""

from __future__ import annotations


class SnnferError(Exception):
    """Base class of every error raised on purpose by snnfer."""


class ArgumentError(SnnferError, ValueError):
    """An argument has a value outside its accepted range or set."""


class UnknownNameError(SnnferError, ValueError):
    """A registry lookup (surrogate, neuron spec, model, dataset, preset) failed."""

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]):
        self.kind, self.name, self.available = kind, name, list(available)
        super().__init__(
            f"unknown {kind} {name!r}; available: {', '.join(sorted(self.available))}"
        )


class InputShapeError(SnnferError, ValueError):
    """A tensor or array has the wrong rank, size or layout."""


class InputDtypeError(SnnferError, TypeError):
    """A tensor or array has an unsupported dtype."""


class StateShapeError(SnnferError, RuntimeError):
    """A stateful neuron got input whose shape differs from its stored state."""


class MissingDependencyError(SnnferError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str, feature: str | None = None):
        self.module, self.extra = module, extra
        what = f" for {feature}" if feature else ""
        super().__init__(
            f"{module!r} is required{what} but is not installed; "
            f"install it with: pip install 'snnfer[{extra}]'"
        )


class ConfigError(SnnferError, ValueError):
    """A configuration (YAML/dict/CLI options) has unknown keys or bad values."""


class EventFormatError(SnnferError, ValueError):
    """An event file or array violates the event format (file, field, first bad index)."""


class DatasetError(SnnferError, ValueError):
    """A dataset folder, annotation file or split is missing or malformed."""


class VideoError(SnnferError, ValueError):
    """A video or frame folder cannot be read."""


class FaceNotFoundError(SnnferError, RuntimeError):
    """No face (or no usable eye pair) was found in a clip."""


class CheckpointError(SnnferError, ValueError):
    """A checkpoint is unreadable or incompatible with the requested model."""


class SensorNotFoundError(SnnferError, RuntimeError):
    """No power sensor is available; the message lists what was tried."""


class TrainingError(SnnferError, RuntimeError):
    """Training cannot continue (e.g. a non-finite loss)."""
