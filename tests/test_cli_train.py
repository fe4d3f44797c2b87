"""``snnfer train / evaluate / predict / demo``: end to end on toy data, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from snnfer.cli import main
from snnfer.data.base import FERDataset, SampleInfo
from snnfer.train.data import list_datasets, register_dataset
from tests.conftest import error_line
from tests.train_fixtures import SHAPE, ToyFER


class ToyDir(FERDataset):
    """``root/<class>/<name>.pt`` tensors (a minimal folder dataset)."""

    def __init__(self, root) -> None:
        root = Path(root)
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.samples = [SampleInfo(label=c, sequence=f.stem, subject=f.stem[:2], path=str(f))
                        for c, name in enumerate(self.classes)
                        for f in sorted((root / name).glob("*.pt"))]

    def load(self, index):
        return torch.load(self.samples[index].path, weights_only=True)


if "toy_dir" not in list_datasets():
    register_dataset("toy_dir", ToyDir)
    register_dataset("toy4", lambda **kw: ToyFER(num_classes=4, **kw), needs_root=False)

TRAIN = ["train", "--model", "toy_snn", "--dataset", "toy", "--preset", "small",
         "--no-progress", "--set", "data.batch_size=8", "--set", "train.tensorboard=false"]


def test_train_resume_evaluate_predict(tmp_path, capsys, keep_freed_memory_calls):
    run = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "1", "--out", str(run)]) == 0
    assert keep_freed_memory_calls == [True]  # on by default (glibc reuses freed memory)
    assert json.loads((run / "summary.json").read_text())["freed_memory_kept"] is True
    out = capsys.readouterr().out
    assert f"run directory: {run}" in out and "| accuracy (WAR) |" in out
    # continue the same run for one more epoch: only --epochs changes
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--no-progress",
                 "--no-keep-freed-memory"]) == 0
    assert keep_freed_memory_calls == [True]
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", "--no-progress"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads((run / "summary.json").read_text())["test"]
    assert (run / "eval" / "metrics.json").is_file()
    x = ToyFER(per_class=1)[0][0]
    torch.save(x, tmp_path / "clip.pt")
    assert main(["predict", str(run), str(tmp_path / "clip.pt"), "--json"]) == 0
    (pred,) = json.loads(capsys.readouterr().out)
    assert pred["label"] in ("class0", "class1", "class2")
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert pred["label"] == max(pred["probabilities"], key=pred["probabilities"].get)
    assert main(["predict", str(run), str(tmp_path / "clip.pt")]) == 0
    assert "| input | prediction | top classes |" in capsys.readouterr().out


def _write_dir(root: Path, counts: dict[str, int]) -> Path:
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            torch.save(torch.rand(SHAPE), root / name / f"s{i}_{name}.pt")
    return root


@pytest.mark.parametrize("case, args, match", [
    ("missing data path", ["--dataset", "toy_dir", "--data", "/no/such/dir"],
     "data path '/no/such/dir' does not exist"),
    ("unknown model", ["--model", "nope"], "unknown model 'nope'; available: "),
    ("unknown dataset", ["--dataset", "nope"], "unknown dataset 'nope'; available: "),
    ("unknown option", ["--set", "data.options={colour: red}"],
     r"dataset 'toy' does not accept option\(s\) \['colour'\]"),
    ("bad --set", ["--set", "optim.lr"], "--set expects KEY=VALUE"),
    ("bad fold", ["--fold", "3"], "data.fold=3 but protocol 'holdout' has 1 folds"),
])
def test_train_errors_are_one_line(tmp_path, capsys, case, args, match):
    argv = [*TRAIN, "--epochs", "1", "--out", str(tmp_path / "r")]
    # later options win in typer: put the case's options last
    assert main(argv + args) == 2, case
    assert re.search(match, error_line(capsys)), case
    assert not (tmp_path / "r" / "checkpoints").exists()  # nothing trained


def test_empty_data_folder(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert main([*TRAIN, "--dataset", "toy_dir", "--data", str(tmp_path / "data"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "dataset 'toy_dir' found no samples in" in error_line(capsys)


def test_class_missing_from_a_split(tmp_path, capsys):
    data = _write_dir(tmp_path / "data", {"angry": 6, "happy": 6, "sad": 1})
    assert main([*TRAIN, "--dataset", "toy_dir", "--data", str(data),
                 "--out", str(tmp_path / "r")]) == 2
    err = error_line(capsys)
    assert "holdout: the test split has no samples of class(es) 'sad' (label 2)" in err
    assert not (tmp_path / "r").exists()


def test_config_with_unknown_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  lrr: 0.1\n")
    assert main([*TRAIN, "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "unknown config key(s) ['optim.lrr']" in error_line(capsys)


def test_incompatible_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--dataset", "toy4", "--no-progress"]) == 2
    assert "was trained for 3 classes" in error_line(capsys)
    assert main(["train", "--out", str(run), "--resume", "--model", "toy_fusion",
                 "--no-progress"]) == 2
    assert "holds model 'toy_snn' but model 'toy_fusion' was requested" in error_line(capsys)
    assert main(["evaluate", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "does not exist" in error_line(capsys)
    assert main(["predict", str(run), str(tmp_path / "missing.h5")]) == 2
    assert "input" in error_line(capsys)
    (tmp_path / "x.xyz").write_text("?")
    assert main(["predict", str(run), str(tmp_path / "x.xyz")]) == 2
    assert "unsupported input" in error_line(capsys)


def test_resume_without_a_run(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in error_line(capsys)
    assert main(["train", "--resume"]) == 2
    assert "--resume needs --out" in error_line(capsys)


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "demo"])
def test_help_has_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and f"snnfer {command}" in out


@pytest.mark.parametrize("flag,calls", [([], [True]), (["--no-keep-freed-memory"], [])])
def test_demo_keeps_freed_memory_unless_told_not_to(flag, calls, tmp_path, monkeypatch,
                                                   capsys, keep_freed_memory_calls):
    import snnfer.train.demo as demo

    seen = {}

    def fake_run_demo(settings):
        seen["kept"] = list(keep_freed_memory_calls)  # applied before the models train
        return {"table": "| model |"}

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path), "--no-progress", *flag]) == 0
    assert seen["kept"] == calls and keep_freed_memory_calls == calls
    assert "| model |" in capsys.readouterr().out
