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


TINY_C3D = {"preset": "small", "width_mult": 0.125, "fc_dim": 32, "dropout": 0.0,
            "input_size": (16, 32, 32)}
"""Constructor arguments of a C3D-family model small enough for float64 equivalence tests."""


def randomize_bn(module: torch.nn.Module) -> None:
    """Non-trivial BatchNorm3d parameters and running statistics (seeded)."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


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


@pytest.fixture(autouse=True)
def keep_freed_memory_calls(monkeypatch) -> list[bool]:
    """``snnfer train`` turns on glibc's keep-freed-memory setting, which is process-wide:
    in-process CLI tests record the calls instead (``tests/test_fastpath_allocator.py``
    tests the real setting in subprocesses)."""
    from snnfer.fastpath import allocator

    calls: list[bool] = []
    monkeypatch.setitem(allocator._state, "kept", False)

    def record(enable: bool = True) -> bool:
        calls.append(enable)
        allocator._state["kept"] = enable
        return True

    monkeypatch.setattr(allocator, "keep_freed_memory", record)
    return calls
