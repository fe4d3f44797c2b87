"""README.md stays true: every ```python block runs, every `snnfer` command and option exists."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)

# Optional packages a block needs (skipped locally when missing, required under CI).
OPTIONAL_TRIGGERS = {"spikingjelly": "spikingjelly", "snntorch": "snntorch", "norse": "norse",
                     "skimage": "skimage", "h5py": "h5py", "write_events": "h5py",
                     "FaceAligner": "cv2", "write_video": "av", "run_training": "yaml"}


def _block_id(index: int, block: str) -> str:
    first = next((ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")), "")
    return f"{index}-" + re.sub(r"[^A-Za-z0-9_]+", "_", first)[:40].strip("_")


def test_readme_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 8, "the API tour lost its examples"


@pytest.mark.parametrize("block", PYTHON_BLOCKS,
                         ids=[_block_id(i, b) for i, b in enumerate(PYTHON_BLOCKS)])
def test_python_block_runs(block: str, tmp_path: Path):
    for trigger, module in OPTIONAL_TRIGGERS.items():
        if trigger in block:
            require(module)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"README block failed:\n{block}\n--- stderr ---\n{out.stderr}"


# --- CLI commands mentioned in the README -------------------------------------------------

def _shell_commands() -> list[str]:
    """Every command line of the README's bash blocks (continuations joined)."""
    lines = []
    for block in BASH_BLOCKS:
        lines += block.replace("\\\n", " ").splitlines()
    return [ln.strip() for ln in lines if ln.strip()]


def _snnfer_invocations(line: str) -> list[list[str]]:
    """Argument lists after each `snnfer` / `python -m snnfer` / `torchrun ... -m snnfer`."""
    calls = []
    for part in line.split("&&"):
        words = shlex.split(part, comments=True)
        for i, word in enumerate(words):
            if word == "snnfer" and (i == 0 or words[i - 1] == "-m"):
                calls.append(words[i + 1:])
                break
    return calls


def _cli():
    typer = require("typer")
    from snnfer.cli import app

    return typer.main.get_command(app)


INVOCATIONS = [call for line in _shell_commands() for call in _snnfer_invocations(line)]
INLINE = re.findall(r"`snnfer ([a-z][\w-]*)[^`]*`", README)


def test_readme_mentions_every_cli_command():
    commands = set(_cli().commands)
    mentioned = {call[0] for call in INVOCATIONS if call} | set(INLINE)
    assert commands <= mentioned, f"not in the README: {sorted(commands - mentioned)}"


def test_every_snnfer_command_in_the_readme_exists():
    commands = _cli().commands
    assert len(INVOCATIONS) >= 20
    for call in INVOCATIONS:
        assert call and call[0] in commands, f"unknown command in README: snnfer {call}"
    unknown_inline = sorted(set(INLINE) - set(commands))
    assert not unknown_inline, f"unknown commands in README text: {unknown_inline}"


def test_every_option_in_the_readme_commands_exists():
    commands = _cli().commands
    for call in INVOCATIONS:
        cmd = commands[call[0]]
        options = {"--help"}
        for param in cmd.params:
            options.update(getattr(param, "opts", []))
            options.update(getattr(param, "secondary_opts", []))
        for word in call[1:]:
            if word.startswith("--"):
                name = word.split("=", 1)[0]
                assert name in options, (f"snnfer {call[0]} has no option {name} "
                                         f"(README: snnfer {' '.join(call)})")
