"""snnfer.atomic: all-or-nothing writes with ordinary file permissions."""

from __future__ import annotations

import os
import stat

import pytest

from snnfer.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_creates_folders_and_leaves_no_temp_file(tmp_path):
    dest = tmp_path / "a" / "b" / "out.json"
    atomic_write_text(dest, '{"x": 1}')
    assert dest.read_text() == '{"x": 1}'
    atomic_write_bytes(dest, b"\x00\x01")
    assert dest.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["out.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    dest = tmp_path / "keep.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".keep.txt.")
        assert tmp.name.endswith(".tmp.txt")             # the suffix survives for dispatchers
        tmp.write_text("half-writ")
        raise RuntimeError("boom")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_new_files_get_the_permissions_of_a_plain_open_not_0600(tmp_path):
    """mkstemp creates 0600 files; the result must look like any file the user writes."""
    atomic_write_text(tmp_path / "atomic.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "plain.txt")
    assert _mode(tmp_path / "atomic.txt") != 0o600 or _mode(tmp_path / "plain.txt") == 0o600


def test_replacing_a_file_keeps_its_permissions(tmp_path):
    dest = tmp_path / "ckpt.pt"
    dest.write_bytes(b"v1")
    os.chmod(dest, 0o640)
    atomic_write_bytes(dest, b"v2")
    assert dest.read_bytes() == b"v2" and _mode(dest) == 0o640
