"""Package-level guarantees: core-only import, README/CI agreement, lint, CLI basics."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snnfer.cli import main
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]

# Everything that is not a core dependency (torch, numpy, thop).
OPTIONAL = ["typer", "click", "h5py", "cv2", "av", "aedat", "yaml", "tqdm", "matplotlib",
            "tensorboard", "tonic", "spikingjelly", "snntorch", "norse", "pynvml", "openpyxl",
            "scipy", "PIL", "skimage"]


def test_import_snnfer_works_with_core_dependencies_only():
    code = textwrap.dedent(f"""
        import importlib.abc, sys
        blocked = {OPTIONAL!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in blocked:
                    raise ImportError("blocked optional dependency " + name)
        sys.meta_path.insert(0, Block())
        import snnfer, snnfer.neuron, snnfer.layers, snnfer.models, snnfer.energy
        import snnfer.data, snnfer.train
        from snnfer.neuron import make_neuron
        import torch
        make_neuron("lif")(torch.ones(2, 3))
        try:
            make_neuron("spikingjelly:LIFNode")
        except ImportError as e:
            assert "snnfer[interop]" in str(e), e
        else:
            raise AssertionError("spikingjelly should be blocked")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def _readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    cmds = _readme_setup_commands()
    assert len(cmds) == 2 and all("\n" not in c for c in cmds), cmds
    install_main, install_test = cmds
    assert install_main.startswith('pip install -e ".[all]" && snnfer ')
    assert install_test.startswith('pip install -e ".[dev]" && ')
    ci = (ROOT / ".ci" / "run").read_text()
    pip_part, test_part = install_test.split(" && ", 1)
    ci_lines = [ln.strip() for ln in ci.splitlines() if not ln.lstrip().startswith("#")]
    assert any(ln.startswith(pip_part) for ln in ci_lines)
    assert test_part in ci_lines
    assert "-eq 5" in ci  # pytest's "no tests collected" is treated as failure


def test_readme_main_job_command_exists():
    subcommand = _readme_setup_commands()[0].split("&& snnfer ", 1)[1].split()[0]
    assert main([subcommand, "--help"]) == 0


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        require("ruff")  # skip locally, fail under CI
    out = subprocess.run([ruff or "ruff", "check", "."], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_surrogates_prints_the_table(capsys):
    assert main(["surrogates", "--points=-1,0,1"]) == 0
    out = capsys.readouterr().out
    assert "| sigmoid (alpha=4) | 0.0707 | 1.0000 | 0.0707 |" in out
    assert "| atan (alpha=2) | 0.0920 | 1.0000 | 0.0920 |" in out


def test_cli_neurons_and_errors(capsys):
    assert main(["neurons", "--steps", "4", "--current", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "if" in out and "0.00 0.00 0.00 1.00" in out  # IF integrates 0.3 to 1.2 at step 4
    assert main(["surrogates", "--points", "x"]) == 2
    assert "error: --points must be comma-separated numbers" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize("args", [["--help"], ["surrogates", "--help"]])
def test_python_dash_m_snnfer(args):
    out = subprocess.run([sys.executable, "-m", "snnfer", *args], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout


def test_main_returns_a_commands_exit_code():
    import typer

    from snnfer.cli import app

    @app.command("zz-exit-code-probe")
    def probe() -> None:
        raise typer.Exit(3)

    try:
        assert main(["zz-exit-code-probe"]) == 3
    finally:
        app.registered_commands.pop()
