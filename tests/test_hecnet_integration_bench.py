"""``benchmarks/hecnet_ablation.py --quick``: every Table 2 row and the lighting table,
built from the runs' own results, and a re-run that reuses the finished runs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from snnfer.errors import ArgumentError
from snnfer.models import TABLE2_ROWS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "hecnet_ablation.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("hecnet_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_table2_and_the_lighting_table(bench, tmp_path):
    threads = torch.get_num_threads()
    try:
        text = bench.main(["--quick", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    lines = text.splitlines()
    results = json.loads((tmp_path / "results.json").read_text())
    unique, table2, lighting = bench.configs()
    assert len(table2) == len(TABLE2_ROWS) == 9 and len(unique) == 14  # hecnet shared
    by_key = {c.key: c for c in unique}
    for label, model, kw in TABLE2_ROWS:
        key = table2[label]
        assert (by_key[key].model, by_key[key].kwargs) == (model, kw)
        (run,) = results[key]
        row = next(x for x in lines if x.startswith(f"| {label} |"))
        war, uar = 100 * run["test"]["accuracy"], 100 * run["test"]["uar"]
        paper = bench.PAPER_TABLE2[label]
        assert row == f"| {label} | `{key}` | {war:.1f} | {uar:.1f} | {paper[0]} | {paper[1]} |"
        assert (tmp_path / key / "seed0" / "checkpoints" / "best.pt").is_file()
    header = next(x for x in lines if x.startswith("| model | WAR (%) |"))
    assert "| Normal | Overexposure | Low-light | HDR | low - normal |" in header
    for label, key in lighting.items():
        (run,) = results[key]
        row = next(x for x in lines if x.startswith(f"| {label} | ")).split(" | ")
        per = run["test"]["per_condition"]
        assert row[3:7] == [f"{100 * per[c]['accuracy']:.1f}"
                            for c in ("normal", "overexposure", "low", "hdr")]
        assert float(row[10]) == pytest.approx(run["energy_mj"], abs=6e-4)
        assert 0 < run["energy_mj"] <= run["dense_energy_mj"]
    assert (tmp_path / "results.md").read_text() == text
    # finished runs are reused: same numbers, nothing retrained
    stamp = (tmp_path / "hecnet" / "seed0" / "result.json").stat().st_mtime_ns
    js = tmp_path / "again.json"
    assert bench.main(["--quick", "--out", str(tmp_path), "--only", "hecnet", "--json",
                       str(js)]).count("|") > 0
    assert (tmp_path / "hecnet" / "seed0" / "result.json").stat().st_mtime_ns == stamp
    assert json.loads(js.read_text())["hecnet"][0]["energy_mj"] == pytest.approx(
        json.loads((tmp_path / "results.json").read_text())["hecnet"][0]["energy_mj"])
    # a finished run is only reused by a run with the same settings: a full-size run (or one
    # with another batch size) on the quick run's folder is an error, not a mix of results
    with pytest.raises(ArgumentError, match="pass another --out"):
        bench.main(["--quick", "--out", str(tmp_path), "--only", "hecnet", "--batch-size", "8"])
    with pytest.raises(ArgumentError, match="'quick': True"):
        bench.main(["--out", str(tmp_path), "--only", "hecnet"])
    assert json.loads((tmp_path / "hecnet" / "seed0" / "result.json").read_text())[
        "settings"] == {"quick": True, "epochs": 1, "subjects": 2, "test_subjects": 1,
                        "batch_size": 16, "energy_clips": 2}


def test_quick_and_full_runs_have_separate_default_folders(bench):
    assert bench.parse_args([]).out == "runs/hecnet_ablation"
    assert bench.parse_args(["--quick"]).out == "runs/hecnet_ablation-quick"
    assert bench.parse_args(["--quick", "--out", "x"]).out == "x"
