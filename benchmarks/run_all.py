"""Run every benchmark script and write one markdown + JSON report.

Every ``benchmarks/*.py`` script (this runner and private ``_*.py`` files excepted) is
discovered at run time, so scripts added later are picked up without changes here. Each
runs as its own subprocess (fresh interpreter, the repository on ``PYTHONPATH``), with
``--quick`` when the runner is given ``--quick`` and the script has that option, and with
``--json PATH`` when the script has that option (its JSON is embedded in the report). The
report holds, per script, its markdown tables (stdout), the exact command, wall time and
exit status, plus the machine (CPU model, cores, torch version, load average at start).
It is rewritten atomically after every script, so an interrupted run keeps what finished;
``--resume`` reuses the successful entries of an earlier report made with the same
commands. Usage::

    python -m benchmarks                        # everything, full sizes
    python -m benchmarks --quick                # every script's smoke size
    python -m benchmarks --only neuron_speed --only model_zoo
    python -m benchmarks --list
    python -m benchmarks --update-readme README.md   # refill README's tables from the report

README tables are generated from the report: a block between ``<!-- benchmark:NAME -->``
and ``<!-- /benchmark:NAME -->`` is replaced by script NAME's command, machine and output
(:func:`update_readme`); text outside the markers is left alone.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from snnfer.atomic import atomic_write_text  # noqa: E402
from snnfer.errors import ArgumentError  # noqa: E402

__all__ = ["BenchmarkScript", "ScriptResult", "discover", "machine_info", "main",
           "readme_block", "render_markdown", "run_benchmarks", "run_script", "update_readme"]

NOT_BENCHMARKS = {"__init__", "__main__", "run_all"}
DEFAULT_OUT = BENCH_DIR / "results"


@dataclass(frozen=True)
class BenchmarkScript:
    """One discovered script and the runner options its argument parser declares."""

    name: str
    path: Path
    has_quick: bool
    has_json: bool
    summary: str

    def command(self, quick: bool, json_path: Path | None) -> list[str]:
        """The argv that runs this script (``--quick`` / ``--json`` where supported)."""
        cmd = [sys.executable, str(self.path)]
        if quick and self.has_quick:
            cmd.append("--quick")
        if self.has_json and json_path is not None:
            cmd += ["--json", str(json_path)]
        return cmd

    def display_command(self, quick: bool) -> str:
        """The command as a user types it from the repository root (without ``--json``)."""
        shown = ["python", self.path.relative_to(self.path.parent.parent).as_posix()]
        return shlex.join(shown + (["--quick"] if quick and self.has_quick else []))


@dataclass
class ScriptResult:
    """Outcome of one script: status, command (as typed from the repository root), wall
    time, its stdout (the markdown tables), the tail of stderr and its JSON output."""

    name: str
    status: str  # "ok" | "failed" | "timeout"
    command: str
    quick: bool
    wall_s: float
    returncode: int | None
    stdout: str
    stderr_tail: str
    data: Any = None
    notes: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    """When and where this script ran: ``date``, ``git_commit``, ``load_average`` (1 min)
    at its start (``of`` "script"; "report" for entries of reports that predate this
    field, which take the report's). A resumed report keeps each reused entry's own."""


def _declares(source: str, option: str) -> bool:
    return re.search(r"add_argument\(\s*['\"]" + re.escape(option) + r"['\"]", source) is not None


def _summary(source: str) -> str:
    """First line of the module docstring ('' if the file has none or does not parse)."""
    try:
        doc = ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def discover(folder: str | os.PathLike = BENCH_DIR) -> list[BenchmarkScript]:
    """Every benchmark script of ``folder``, sorted by name, with the options it declares."""
    scripts = []
    for path in sorted(Path(folder).glob("*.py")):
        if path.stem in NOT_BENCHMARKS or path.stem.startswith("_"):
            continue
        source = path.read_text(encoding="utf-8")
        scripts.append(BenchmarkScript(path.stem, path, _declares(source, "--quick"),
                                       _declares(source, "--json"), _summary(source)))
    return scripts


def select(scripts: list[BenchmarkScript], only: list[str] | None) -> list[BenchmarkScript]:
    """The scripts named in ``only`` (names or ``name.py``; comma lists allowed), in the
    order given; all of them when ``only`` is empty."""
    if not only:
        return scripts
    by_name = {s.name: s for s in scripts}
    chosen: list[BenchmarkScript] = []
    for item in (n.strip() for entry in only for n in entry.split(",") if n.strip()):
        name = item[:-3] if item.endswith(".py") else item
        if name not in by_name:
            raise ArgumentError(f"--only {item!r}: no benchmark script of that name; available: "
                                f"{', '.join(sorted(by_name)) or '(none)'}")
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """CPU model, logical cores, load average, Python/torch versions, git commit, date."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in load],
        "python": platform.python_version(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "git_commit": _git_commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _run_info(machine: dict[str, Any] | None = None) -> dict[str, Any]:
    """``date``, ``git_commit``, ``load_average`` now, or those of a report's ``machine``."""
    if machine is not None:
        load = machine.get("load_average_at_start") or [float("nan")]
        return {"date": machine.get("date"), "git_commit": machine.get("git_commit"),
                "load_average": load[0], "of": "report"}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "git_commit": _git_commit(),
            "load_average": round(load, 2), "of": "script"}


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_script(script: BenchmarkScript, *, quick: bool, timeout: float | None = None,
               env: dict[str, str] | None = None) -> ScriptResult:
    """Run one script in a subprocess from the repository root and collect its output."""
    with tempfile.TemporaryDirectory(prefix=f"snnfer-bench-{script.name}-") as tmp:
        json_path = Path(tmp) / f"{script.name}.json"
        cmd = script.command(quick, json_path if script.has_json else None)
        run_env = dict(os.environ if env is None else env)
        paths = [str(REPO_ROOT)] + [p for p in run_env.get("PYTHONPATH", "").split(os.pathsep)
                                    if p]
        run_env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        run = _run_info()
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=run_env, capture_output=True,
                                  text=True, timeout=timeout)
            status = "ok" if proc.returncode == 0 else "failed"
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            status, code = "timeout", None
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        wall = time.perf_counter() - start
        data, notes = None, []
        if script.has_json and json_path.is_file():
            try:
                data = json.loads(json_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                notes.append(f"--json output was not valid JSON: {exc}")
        elif script.has_json and status == "ok":
            notes.append("the script declares --json but wrote no file")
    if quick and not script.has_quick:
        notes.append("the script has no --quick option; ran at its full size")
    if status == "timeout":
        notes.append(f"stopped after the {timeout:g} s timeout")
    return ScriptResult(script.name, status, script.display_command(quick), quick,
                        round(wall, 2), code,
                        stdout, _tail(stderr) if status != "ok" else "", data, notes, run)


def render_markdown(results: list[ScriptResult], machine: dict[str, Any], quick: bool,
                    total_s: float) -> str:
    """The report: machine, one summary table, then each script's own output."""
    load = ", ".join(f"{v:g}" for v in machine["load_average_at_start"])
    lines = [
        "# snnfer benchmark report", "",
        f"- date: {machine['date']}; git commit: {machine['git_commit'] or 'unknown'}",
        f"- machine: {machine['cpu']}, {machine['cores']} logical cores; load average at start "
        f"(1, 5, 15 min): {load}",
        f"- software: Python {machine['python']}, torch {machine['torch']} "
        f"({machine['torch_threads']} threads by default), {machine['platform']}",
        f"- mode: {'quick (each script --quick where it has one)' if quick else 'full'}; "
        f"total wall time {total_s:.0f} s",
        f"- command: `{machine.get('invocation', 'python -m benchmarks')}`", "",
        "| script | status | wall time (s) | command |", "|---|---|---:|---|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.status} | {r.wall_s:.1f} | `{r.command}` |")
    for r in results:
        when = (f" ({r.run.get('date')}, commit {r.run.get('git_commit') or 'unknown'})"
                if r.run else "")
        lines += ["", f"## {r.name}", "", f"`{r.command}` - {r.status}, {r.wall_s:.1f} s{when}",
                  ""]
        lines += [f"> note: {n}" for n in r.notes] + ([""] if r.notes else [])
        if r.stdout.strip():
            lines.append(r.stdout.strip())
        if r.status != "ok":
            lines += ["", "```", r.stderr_tail or "(no stderr)", "```"]
    return "\n".join(lines) + "\n"


def _write(out_dir: Path, results: list[ScriptResult], machine: dict[str, Any], quick: bool,
           total_s: float) -> None:
    payload = {"machine": machine, "quick": quick, "total_wall_s": round(total_s, 2),
               "scripts": [asdict(r) for r in results]}
    atomic_write_text(out_dir / "report.json", json.dumps(payload, indent=2, default=str) + "\n")
    atomic_write_text(out_dir / "report.md", render_markdown(results, machine, quick, total_s))


def _previous(out_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    path = out_dir / "report.json"
    if not path.is_file():
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    machine = _run_info(old.get("machine", {}))
    return {(s["name"], s["command"]): {**s, "run": s.get("run") or machine}
            for s in old.get("scripts", []) if s["status"] == "ok"}


def run_benchmarks(only: list[str] | None = None, *, quick: bool = False,
                   out_dir: str | os.PathLike = DEFAULT_OUT,
                   folder: str | os.PathLike = BENCH_DIR, timeout: float | None = None,
                   resume: bool = False, echo: bool = True) -> list[ScriptResult]:
    """Run the selected scripts one after the other and write ``out_dir/report.{md,json}``
    after each; returns the results (the report is complete when this returns)."""
    scripts = select(discover(folder), only)
    if not scripts:
        raise ArgumentError(f"no benchmark scripts found in {folder}")
    out = Path(out_dir)
    machine = machine_info()
    machine["invocation"] = shlex.join(["python", "-m", "benchmarks"] + ["--quick"] * quick + [
        arg for s in scripts for arg in ("--only", s.name)] * bool(only))
    reuse = _previous(out) if resume else {}
    results: list[ScriptResult] = []
    start = time.perf_counter()
    for k, script in enumerate(scripts, 1):
        old = reuse.get((script.name, script.display_command(quick)))
        if old is not None and old["quick"] == quick:
            results.append(ScriptResult(**old))
            if echo:
                print(f"[{k}/{len(scripts)}] {script.name}: reused from the earlier report",
                      flush=True)
            continue
        if echo:
            print(f"[{k}/{len(scripts)}] {script.name} ...", flush=True)
        result = run_script(script, quick=quick, timeout=timeout)
        results.append(result)
        if echo:
            print(f"[{k}/{len(scripts)}] {script.name}: {result.status} in {result.wall_s:.0f} s",
                  flush=True)
        _write(out, results, machine, quick, time.perf_counter() - start)
    _write(out, results, machine, quick, time.perf_counter() - start)
    return results


README_BLOCK = re.compile(r"(?P<open><!-- benchmark:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
                          r"(?P<close><!-- /benchmark:(?P=name) -->)", re.S)


PROGRESS_LINE = re.compile(r"^(\[\d+/\d+\] |command: )")


def readme_block(entry: dict[str, Any], machine: dict[str, Any]) -> str:
    """One script's README block: command, machine line (date, commit and load of the
    script's own run when the report has them, else the report's), its markdown output (headings
    turned into bold lines so they do not break the README's outline; progress lines and
    the script's echo of its own command left out)."""
    run = entry.get("run") or _run_info(machine)
    where = run.get("of", "script")  # the load average was read at the start of this
    load = run.get("load_average")
    head = (f"Command: `{entry['command']}` - {machine.get('cpu', '?')}, "
            f"{machine.get('cores', '?')} logical cores, torch {machine.get('torch', '?')}, "
            f"load average {load if load is not None else float('nan'):.2f} at the start of "
            f"the {where}; {entry['wall_s']:.0f} s ({run.get('date') or '?'}, commit "
            f"{run.get('git_commit') or 'unknown'}).")
    body = []
    for line in entry["stdout"].strip().splitlines():
        if PROGRESS_LINE.match(line):
            continue  # "[3/14] ..." progress and the script's own "command: ..." echo
        heading = re.match(r"#+\s+(.*)", line)
        body.append(f"**{heading.group(1).strip()}**" if heading else line)
    return head + "\n\n" + "\n".join(body).strip() + "\n"


def update_readme(readme: str | os.PathLike, report: dict[str, Any]) -> list[str]:
    """Replace every ``<!-- benchmark:NAME -->`` block of ``readme`` with the successful
    entry NAME of ``report`` (a ``report.json`` payload); returns the names filled in. Blocks
    without such an entry keep their text. Written atomically, only when something changed."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    entries = {s["name"]: s for s in report.get("scripts", []) if s.get("status") == "ok"}
    filled: list[str] = []

    def fill(m: re.Match) -> str:
        entry = entries.get(m["name"])
        if entry is None:
            return m.group(0)
        filled.append(m["name"])
        return m["open"] + readme_block(entry, report.get("machine", {})) + m["close"]

    new = README_BLOCK.sub(fill, text)
    if new != text:
        atomic_write_text(path, new)
    return filled


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this script (repeat, or a comma list)")
    ap.add_argument("--quick", action="store_true",
                    help="pass --quick to the scripts that have it (smoke sizes)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="folder of report.md / report.json (default benchmarks/results)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per script")
    ap.add_argument("--resume", action="store_true",
                    help="reuse successful entries of an earlier report with the same commands")
    ap.add_argument("--list", action="store_true", help="list the scripts and exit")
    ap.add_argument("--update-readme", type=Path, metavar="README",
                    help="fill README's <!-- benchmark:NAME --> blocks from OUT/report.json "
                         "(runs nothing)")
    ap.add_argument("--folder", type=Path, default=BENCH_DIR,
                    help="folder of the benchmark scripts (default: this package)")
    args = ap.parse_args(argv)
    if args.list:
        for s in discover(args.folder):
            flags = ", ".join(f for f, ok in (("--quick", s.has_quick), ("--json", s.has_json))
                              if ok) or "no runner options"
            print(f"{s.name:24s} {flags:18s} {s.summary}")
        return 0
    if args.update_readme:
        report_path = args.out / "report.json"
        if not report_path.is_file():
            print(f"error: {report_path} does not exist; run python -m benchmarks first",
                  file=sys.stderr)
            return 2
        filled = update_readme(args.update_readme,
                               json.loads(report_path.read_text(encoding="utf-8")))
        print(f"{args.update_readme}: filled {', '.join(filled) or 'no'} benchmark blocks")
        return 0
    try:
        results = run_benchmarks(args.only, quick=args.quick, out_dir=args.out,
                                 folder=args.folder, timeout=args.timeout, resume=args.resume)
    except ArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {args.out / 'report.md'} and report.json")
    failed = [r.name for r in results if r.status != "ok"]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
