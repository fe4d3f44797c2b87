"""Every notebook runs end to end in fast mode (``SNNFER_FAST=1``), as CI executes them.

Each notebook is copied to a temporary folder and executed there by
``notebooks/run_notebooks.py`` in a subprocess with a per-notebook time limit, so CI never
rewrites the committed notebooks (which carry the outputs of a full run). A cell error fails
the test with nbclient's message naming the cell.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
TIMEOUT_S = 300  # per notebook; fast mode needs ~10-30 s on 2 idle cores


def test_every_issue_notebook_is_present():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["01_quickstart", "02_surrogate_gradients", "03_energy_cs3d_vs_c3d",
                     "04_event_pipeline", "05_hecnet_lighting"]


@pytest.mark.parametrize("committed", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_parameter_cell_and_full_outputs(committed):
    nb = nbformat.read(committed, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])
    assert 'os.environ.get("SNNFER_FAST"' in first_code.source
    # committed notebooks carry the outputs of a full run (python notebooks/run_notebooks.py)
    assert nb.metadata.get("snnfer", {}).get("mode") == "full", \
        f"{committed.name} is not committed with the outputs of a full run"
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.get("execution_count") for c in code)
    errors = [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{committed.name} is committed with an error output"
    assert committed.stat().st_size < 2_500_000, f"{committed.name} is too large"


@pytest.mark.slow
@pytest.mark.parametrize("committed", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(committed, tmp_path):
    copy = tmp_path / committed.name
    shutil.copyfile(committed, copy)
    before = committed.read_bytes()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "notebooks" / "run_notebooks.py"), str(copy), "--fast",
         "--threads", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{committed.name} failed in fast mode:\n{proc.stderr[-4000:]}"
    assert committed.read_bytes() == before                      # the committed file is untouched
    nb = nbformat.read(copy, as_version=4)
    assert nb.metadata["snnfer"]["mode"].startswith("fast")
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    first_out = "".join(o.get("text", "") for o in params.get("outputs", []))
    assert "mode: FAST" in first_out                             # the parameter cell says so
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code if c.source.strip())
    assert not [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]
