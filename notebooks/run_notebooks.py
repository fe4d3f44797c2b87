"""Execute snnfer's notebooks with nbclient: the full studies, or CI's fast mode.

Every notebook reads ``SNNFER_FAST`` in its first (parameter) cell: ``1`` selects tiny
sizes that run in well under a minute (what CI executes), anything else the full study
whose outputs are committed. The kernel runs in a scratch directory (files a notebook
writes never land in the repository) with the repository root on ``PYTHONPATH``, so a
source checkout works without ``pip install -e .``. Usage::

    python notebooks/run_notebooks.py                       # full run of every notebook, in place
    python notebooks/run_notebooks.py 04 03 --fast --out /tmp/nb   # fast mode, copies elsewhere
    nohup nice -n 10 python notebooks/run_notebooks.py 02_surrogate_gradients > nb02.log &

The executed notebook is written atomically (a failed or interrupted run leaves the old
file untouched); its metadata ``snnfer`` records the mode, wall time, date and machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.run_all import machine_info  # noqa: E402
from snnfer.atomic import atomic_path  # noqa: E402
from snnfer.errors import ArgumentError  # noqa: E402

__all__ = ["execute_notebook", "find_notebooks", "main", "notebook_env"]


def find_notebooks(names: list[str] | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The notebooks of ``folder`` (sorted), or those whose file name starts with one of
    ``names`` (``"02"``, ``"02_surrogate_gradients"`` or the full file name); a name that is
    the path of an existing ``.ipynb`` file is taken as it is."""
    every = sorted(folder.glob("[0-9]*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        if name.endswith(".ipynb") and Path(name).is_file():
            chosen.append(Path(name))
            continue
        hits = [p for p in every if p.name == name or p.stem == name or p.name.startswith(name)]
        if len(hits) != 1:
            raise ArgumentError(f"notebook {name!r} matches {[p.name for p in hits]}; "
                                f"expected exactly one of {[p.name for p in every]}")
        chosen += hits
    return chosen


def notebook_env(fast: bool, threads: int | None = None) -> dict[str, str]:
    """Environment of the kernel: ``SNNFER_FAST``, the repository on ``PYTHONPATH``, and
    ``SNNFER_THREADS`` (torch threads the notebooks use) when given."""
    env = dict(os.environ)
    env["SNNFER_FAST"] = "1" if fast else "0"
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if threads is not None:
        env["SNNFER_THREADS"] = str(threads)
    return env


def execute_notebook(path: str | os.PathLike, *, fast: bool, out: str | os.PathLike | None = None,
                     timeout: float | None = None, threads: int | None = None,
                     workdir: str | os.PathLike | None = None) -> float:
    """Run every cell of ``path`` and write the executed notebook to ``out`` (default: in
    place). Returns the wall time in seconds; a failing cell raises nbclient's
    ``CellExecutionError`` naming the cell and the error, and nothing is written.

    ``timeout`` bounds each cell (seconds, ``None`` = no limit); ``workdir`` is the kernel's
    working directory (default: a fresh temporary directory, removed afterwards).
    """
    import nbformat
    from nbclient import NotebookClient

    src = Path(path)
    nb = nbformat.read(src, as_version=4)
    env = notebook_env(fast, threads)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="snnfer-nb-") as scratch:
        cwd = Path(workdir) if workdir is not None else Path(scratch)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}})
        start = time.perf_counter()
        client.execute(env=env, cwd=str(cwd))
        wall = time.perf_counter() - start
    nb.metadata["snnfer"] = {
        "mode": "fast (SNNFER_FAST=1, CI sizes)" if fast else "full",
        "wall_time_s": round(wall, 1),
        "executed": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
                   f"load average at start {machine['load_average_at_start'][0]:g}",
    }
    dest = Path(out) if out is not None else src
    if dest.is_dir():
        dest = dest / src.name
    with atomic_path(dest) as tmp:
        nbformat.write(nb, str(tmp))
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks (prefix such as 02); default: all")
    ap.add_argument("--fast", action="store_true", help="SNNFER_FAST=1 (CI sizes)")
    ap.add_argument("--out", type=Path, help="folder for the executed copies (default: in place)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (SNNFER_THREADS)")
    args = ap.parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    for nb in find_notebooks(args.names):
        print(f"{nb.name}: running ({'fast' if args.fast else 'full'} mode) ...", flush=True)
        wall = execute_notebook(nb, fast=args.fast, out=args.out, timeout=args.timeout,
                                threads=args.threads)
        print(f"{nb.name}: done in {wall:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
