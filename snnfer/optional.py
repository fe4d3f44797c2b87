"""Import helpers for optional dependencies (extras)."""

from __future__ import annotations

import importlib
from types import ModuleType

from snnfer.errors import MissingDependencyError


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    >>> np = require("numpy", "all")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, extra, feature) from exc
