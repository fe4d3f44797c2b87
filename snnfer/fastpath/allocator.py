"""Keep freed memory in the process: no page faults for the next large tensor (issue 7).

PyTorch's CPU allocator passes every tensor to ``malloc``. glibc serves a request above
its mmap threshold (at most 32 MB) with a fresh ``mmap`` and returns it to the kernel on
``free``, and it trims the heap whenever more than the trim threshold is free at its top.
So every full-size activation of a training step -- 206 MB per CS3D block-1 tensor at
batch 4 -- is page-faulted in again, page by page, each time it is allocated: one pass
over a fresh buffer took 28 ms here against 9 ms over a reused one
(``benchmarks/cs3d_speed.py``).

:func:`keep_freed_memory` sets glibc's ``M_MMAP_MAX = 0`` (large blocks come from the
heap) and ``M_TRIM_THRESHOLD = -1`` (the heap is never trimmed), so freed blocks are
reused without faults -- the setting OpenFHE and latency-tuning guides use; jemalloc and
tcmalloc keep freed memory by design. ``benchmarks/allocator_effect.py`` (fast path, 2
threads, 3 x 16 x 112 x 112, four runs): training steps 1.18-1.33x faster for C3D and
1.30-1.59x for CS3D (batch 1 and 4); inference 0.91-1.16x, within this machine's noise.

The cost is memory. The process keeps its high-water mark until it exits or calls
:func:`release_freed_memory`, and the heap fragments: PyTorch's 64-byte-aligned requests
are a few bytes larger than the block an equal tensor freed, so the heap grows for a few
steps until freed neighbours merge, then stays put (CS3D, batch 4: +1.4-1.7 GB over the
first step's resident set, flat from the 6th step to the 20th, against a 0.9 GB peak per
step with glibc's defaults). The setting is process-wide and glibc-only (a no-op that
returns ``False`` elsewhere); ``snnfer train`` turns it on unless given
``--no-keep-freed-memory``. Turning it off restores glibc's thresholds and trims the
heap, but free blocks inside the heap may still serve later requests.
"""

from __future__ import annotations

import ctypes
import functools
import platform

__all__ = ["freed_memory_kept", "keep_freed_memory", "release_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_GLIBC_MMAP_MAX = 65536  # glibc's DEFAULT_MMAP_MAX
_GLIBC_TRIM_THRESHOLD = 128 * 1024  # glibc's DEFAULT_TRIM_THRESHOLD

_state = {"kept": False}


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (``mallopt``/``malloc_trim``), else
    ``None``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory(enable: bool = True) -> bool:
    """Make glibc keep freed memory for reuse (``enable``) or return it to the kernel again
    (glibc's default thresholds, then a trim; glibc's dynamic mmap threshold stays off).
    Returns ``True`` when the setting was applied, ``False`` on other C libraries."""
    libc = _libc()
    if libc is None:
        return False
    if enable:
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, -1) == 1
    else:
        ok = (libc.mallopt(_M_MMAP_MAX, _GLIBC_MMAP_MAX) == 1
              and libc.mallopt(_M_TRIM_THRESHOLD, _GLIBC_TRIM_THRESHOLD) == 1)
        libc.malloc_trim(0)
    if ok:
        _state["kept"] = enable
    return ok


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` is in effect."""
    return _state["kept"]


def release_freed_memory() -> bool:
    """Return the free heap memory to the kernel now (glibc ``malloc_trim``); ``True`` if
    some was released."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
