"""``python -m benchmarks``: discovery, options, report writing, failures, resume."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks import run_all
from snnfer.errors import ArgumentError

FAKE_WITH_OPTIONS = '''
"""Fake benchmark with --quick and --json."""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--json")
args = ap.parse_args()
print("| case | quick |")
print("|---|---|")
print(f"| fake_a | {args.quick} |")
if args.json:
    with open(args.json, "w") as fh:
        json.dump({"quick": args.quick, "value": 42}, fh)
'''

FAKE_PLAIN = '''
"""Fake benchmark without runner options."""
import sys

if len(sys.argv) > 1:
    raise SystemExit(f"unexpected arguments {sys.argv[1:]}")
print("| only | table |")
print("|---|---|")
print("| fake_b | 1 |")
'''

FAKE_FAILING = '''
"""Fake benchmark that fails."""
import sys

print("partial output")
print("RuntimeError: the fake benchmark broke", file=sys.stderr)
sys.exit(3)
'''

FAKE_SLOW = '''
"""Fake benchmark that sleeps."""
import time

time.sleep(30)
'''


def _folder(tmp_path: Path, **scripts: str) -> Path:
    folder = tmp_path / "bench"
    folder.mkdir()
    for name, source in scripts.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    # never benchmarks: the runner itself, package files, private helpers
    for name in ("run_all", "__init__", "__main__", "_helper"):
        (folder / f"{name}.py").write_text('"""not a benchmark"""\nraise SystemExit(9)\n')
    return folder


def test_discovery_finds_scripts_and_their_options(tmp_path):
    folder = _folder(tmp_path, fake_a=FAKE_WITH_OPTIONS, fake_b=FAKE_PLAIN)
    scripts = run_all.discover(folder)
    assert [s.name for s in scripts] == ["fake_a", "fake_b"]
    a, b = scripts
    assert (a.has_quick, a.has_json, b.has_quick, b.has_json) == (True, True, False, False)
    assert a.summary == "Fake benchmark with --quick and --json."
    assert a.command(True, Path("x.json"))[2:] == ["--quick", "--json", "x.json"]
    assert b.command(True, Path("x.json"))[2:] == []


def test_quick_report_markdown_and_json(tmp_path):
    folder = _folder(tmp_path, fake_a=FAKE_WITH_OPTIONS, fake_b=FAKE_PLAIN)
    out = tmp_path / "results"
    results = run_all.run_benchmarks(None, quick=True, out_dir=out, folder=folder, echo=False)
    assert [r.status for r in results] == ["ok", "ok"]
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]  # no temp files
    report = json.loads((out / "report.json").read_text())
    a, b = report["scripts"]
    assert a["command"] == "python bench/fake_a.py --quick"
    assert a["data"] == {"quick": True, "value": 42}            # the script's --json output
    assert "| fake_a | True |" in a["stdout"]
    assert b["command"] == "python bench/fake_b.py"
    assert b["data"] is None
    assert b["notes"] == ["the script has no --quick option; ran at its full size"]
    machine = report["machine"]
    assert machine["cores"] >= 1 and len(machine["load_average_at_start"]) == 3
    assert machine["torch"].split("+")[0] == __import__("torch").__version__.split("+")[0]
    assert report["quick"] is True and report["total_wall_s"] >= a["wall_s"]
    md = (out / "report.md").read_text()
    assert "| fake_a | ok |" in md and "| fake_b | ok |" in md
    assert "| fake_a | True |" in md and "| fake_b | 1 |" in md      # each script's table
    assert "`python -m benchmarks --quick`" in md
    assert f"{machine['cores']} logical cores" in md and machine["cpu"] in md


def test_only_selects_in_order_and_full_mode_passes_no_quick(tmp_path):
    folder = _folder(tmp_path, fake_a=FAKE_WITH_OPTIONS, fake_b=FAKE_PLAIN)
    out = tmp_path / "results"
    results = run_all.run_benchmarks(["fake_b.py,fake_a"], out_dir=out, folder=folder,
                                     echo=False)
    assert [r.name for r in results] == ["fake_b", "fake_a"]
    assert results[1].data == {"quick": False, "value": 42}
    assert "--only fake_b --only fake_a" in (out / "report.md").read_text()


def test_unknown_only_name_is_a_typed_error(tmp_path):
    folder = _folder(tmp_path, fake_a=FAKE_WITH_OPTIONS)
    with pytest.raises(ArgumentError, match="'nope'.*available: fake_a"):
        run_all.run_benchmarks(["nope"], out_dir=tmp_path / "o", folder=folder, echo=False)
    assert run_all.main(["--only", "no_such_benchmark", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_failing_script_is_reported_and_the_run_continues(tmp_path):
    folder = _folder(tmp_path, fake_a=FAKE_WITH_OPTIONS, fake_fail=FAKE_FAILING)
    out = tmp_path / "results"
    results = run_all.run_benchmarks(None, out_dir=out, folder=folder, echo=False)
    by_name = {r.name: r for r in results}
    assert by_name["fake_a"].status == "ok"
    fail = by_name["fake_fail"]
    assert (fail.status, fail.returncode) == ("failed", 3)
    assert "the fake benchmark broke" in fail.stderr_tail
    md = (out / "report.md").read_text()
    assert "| fake_fail | failed |" in md and "the fake benchmark broke" in md
    assert run_all.main(["--folder", str(folder), "--out", str(out)]) == 1   # exit status


def test_timeout_stops_a_script(tmp_path):
    folder = _folder(tmp_path, fake_slow=FAKE_SLOW)
    (result,) = run_all.run_benchmarks(None, out_dir=tmp_path / "o", folder=folder, timeout=1,
                                       echo=False)
    assert result.status == "timeout" and result.returncode is None
    assert result.wall_s < 20
    assert "stopped after the 1 s timeout" in result.notes


def test_resume_reuses_successful_entries(tmp_path):
    folder = _folder(tmp_path, fake_a=FAKE_WITH_OPTIONS, fake_fail=FAKE_FAILING)
    out = tmp_path / "results"
    run_all.run_benchmarks(None, out_dir=out, folder=folder, echo=False)
    # fake_a now breaks, fake_fail now works: resume keeps fake_a's earlier success and
    # re-runs the script that failed before
    (folder / "fake_a.py").write_text(FAKE_FAILING)
    (folder / "fake_fail.py").write_text(textwrap.dedent(FAKE_PLAIN))
    # the earlier run was on another day and commit: reused entries keep their provenance
    report = json.loads((out / "report.json").read_text())
    report["scripts"][0]["run"] = {"date": "2001-01-01 00:00:00 UTC", "git_commit": "0ld",
                                   "load_average": 0.25, "of": "script"}
    (out / "report.json").write_text(json.dumps(report))
    results = run_all.run_benchmarks(None, out_dir=out, folder=folder, resume=True, echo=False)
    assert [(r.name, r.status) for r in results] == [("fake_a", "ok"), ("fake_fail", "ok")]
    assert results[0].data == {"quick": False, "value": 42}
    assert results[0].run["git_commit"] == "0ld"
    assert results[1].run["date"] != "2001-01-01 00:00:00 UTC"
    report = json.loads((out / "report.json").read_text())
    assert "(2001-01-01 00:00:00 UTC, commit 0ld)" in (out / "report.md").read_text()
    block = run_all.readme_block(report["scripts"][0], report["machine"])
    assert "load average 0.25 at the start of the script; " in block
    assert block.split("\n")[0].endswith("(2001-01-01 00:00:00 UTC, commit 0ld).")
    # a report written before entries had "run": a reused entry takes the report's
    del report["scripts"][0]["run"]
    report["machine"].update(date="2002-02-02", git_commit="0lder")
    (out / "report.json").write_text(json.dumps(report))
    results = run_all.run_benchmarks(None, out_dir=out, folder=folder, resume=True, echo=False)
    assert results[0].run["git_commit"] == "0lder" and results[0].run["date"] == "2002-02-02"
    assert "at the start of the report; " in run_all.readme_block(asdict(results[0]), {})
    # a quick run does not reuse full-size results
    results = run_all.run_benchmarks(None, quick=True, out_dir=out, folder=folder, resume=True,
                                     echo=False)
    assert results[0].status == "failed"


def test_repository_scripts_share_the_runner_options():
    scripts = {s.name: s for s in run_all.discover()}
    assert set(scripts) >= {"neuron_speed", "emulator_speed", "model_zoo", "hecnet_complexity",
                            "cs3d_speed", "energy_cs3d_vs_c3d", "hecnet_ablation"}
    for name in scripts:  # every script runs at smoke size in `python -m benchmarks --quick`
        assert scripts[name].has_quick and scripts[name].has_json, name
    assert all(s.summary for s in scripts.values())


@pytest.mark.slow
def test_real_quick_run_of_one_benchmark(tmp_path):
    """End to end on a real script: ``python -m benchmarks --quick --only hecnet_complexity``."""
    out = tmp_path / "results"
    assert run_all.main(["--quick", "--only", "hecnet_complexity", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    (entry,) = report["scripts"]
    assert entry["command"] == "python benchmarks/hecnet_complexity.py --quick"
    rows = {r["model"]: r for r in entry["data"]}
    assert set(rows) == {"hecnet", "hecnet_snn", "hecnet_event", "hecnet_rgb", "seen"}
    assert {r["preset"] for r in rows.values()} == {"small"}
    # SEEN's small preset has 0.640 M parameters (hecnet notes); the table shows the same
    assert rows["seen"]["params"] == pytest.approx(0.640e6, rel=2e-3)
    assert "| seen | small |" in (out / "report.md").read_text()


def _report(**stdouts: str) -> dict:
    machine = {"cpu": "Test CPU", "cores": 2, "torch": "9.9", "date": "2026-01-01",
               "git_commit": "abc1234", "load_average_at_start": [0.5, 0.4, 0.3]}
    return {"machine": machine, "scripts": [
        {"name": n, "status": "failed" if out is None else "ok", "command": f"python {n}.py",
         "wall_s": 12.3, "stdout": out or ""} for n, out in stdouts.items()]}


def test_update_readme_fills_marked_blocks_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nintro\n\n<!-- benchmark:speed -->\nold table\n"
                      "<!-- /benchmark:speed -->\n\nmiddle\n\n<!-- benchmark:broken -->\nkept\n"
                      "<!-- /benchmark:broken -->\n<!-- benchmark:absent -->\nalso kept\n"
                      "<!-- /benchmark:absent -->\nend\n")
    report = _report(speed="[1/2] warm-up: 0.1 min so far\n# Speed on CPU\n\n| a | b |\n"
                           "|---|---|\n| 1 | 2 |\ncommand: python speed.py --json /tmp/x (3 s)\n",
                     broken=None)
    assert run_all.update_readme(readme, report) == ["speed"]
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n<!-- benchmark:speed -->\nCommand: "
                           "`python speed.py` - Test CPU, 2 logical cores, torch 9.9, load "
                           "average 0.50 at the start of the report; 12 s (2026-01-01, "
                           "commit abc1234).\n\n**Speed on CPU**\n\n| a | b |\n|---|---|\n"
                           "| 1 | 2 |\n<!-- /benchmark:speed -->\n\nmiddle\n")
    assert "old table" not in text
    assert "<!-- benchmark:broken -->\nkept\n" in text  # a failed script keeps the old block
    assert "<!-- benchmark:absent -->\nalso kept\n" in text
    assert text.endswith("end\n") and text.count("# ") == 1  # script headings are demoted
    # idempotent: a second fill changes nothing
    assert run_all.update_readme(readme, report) == ["speed"]
    assert readme.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_update_readme_cli_needs_a_report(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- benchmark:x -->\n<!-- /benchmark:x -->\n")
    assert run_all.main(["--update-readme", str(readme), "--out", str(tmp_path / "none")]) == 2
    assert "run python -m benchmarks first" in capsys.readouterr().err
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "report.json").write_text(json.dumps(_report(x="| v |\n|---|\n| 3 |")))
    assert run_all.main(["--update-readme", str(readme), "--out", str(tmp_path / "r")]) == 0
    assert "| 3 |\n<!-- /benchmark:x -->" in readme.read_text()
