"""Atomic file writing: nothing is ever half-written.

Writers produce a temporary file next to the destination and ``os.replace`` it
into place only after the write succeeded, so an interrupted job leaves either
the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _process_umask() -> int:
    mask = os.umask(0o022)  # read by setting; restored at once (done once, at import)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` on success.

    The temporary name is hidden (leading dot), contains ``.tmp`` and ends with
    ``path``'s suffix (or ``suffix``), so libraries that dispatch on the extension
    (numpy, PIL, OpenCV) still work. On error the temporary file is removed and the
    destination is left untouched. The result gets the permissions a plain ``open`` would
    give (``0o666`` minus the umask), or keeps those of the file it replaces.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=".tmp" + (dest.suffix if suffix is None else suffix),
        dir=dest.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            mode = dest.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
