"""Shared test helpers."""

from __future__ import annotations

import importlib
import os

import pytest
import torch

torch.set_num_threads(1)


def error_line(capsys) -> str:
    """The CLI's stderr: exactly one line starting with 'error: ' (no traceback)."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def require(module: str):
    """Import an optional test dependency: skip if missing, but fail under CI (CI=true),
    where the ``dev`` extra installs everything and a skip would hide a broken install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip(f"{module} not installed (pip install -e '.[dev]')")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
