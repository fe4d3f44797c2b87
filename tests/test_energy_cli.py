"""``snnfer energy`` and compare_models on small presets; paper complexity figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnfer.cli import main
from snnfer.energy import count_ops, estimate_energy, parse_input_shape
from snnfer.energy.compare import (
    PAPER_ENERGY_RATIO,
    PAPER_GMACS,
    calibrate_batchnorm,
    compare_models,
    interleaved_latency_ms,
)
from snnfer.errors import ArgumentError
from snnfer.models import create_model

SMALL = ["--preset", "small", "--input", "2x16x32x32", "--runs", "1"]


def _small(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, preset="small", in_channels=2, input_size=(16, 32, 32))


def test_cli_table_json_and_plot(tmp_path, capsys):
    out_json, png = tmp_path / "e.json", tmp_path / "plots" / "e.png"
    rc = main(["energy", "--models", "c3d", "cs3d", *SMALL, "--json", str(out_json),
               "--plot", str(png)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "| model | input (CxTxHxW) | params (M) | GMACs (thop) |" in text
    assert "| c3d | 2x16x32x32 |" in text and "| cs3d | 2x16x32x32 |" in text
    assert "measured energy: not requested" in text and "random init (seed 0)" in text
    data = json.loads(out_json.read_text())
    rows = {m["name"]: m for m in data["models"]}
    x = torch.rand(1, 16, 2, 32, 32)
    assert rows["cs3d"]["gmacs"] == pytest.approx(count_ops(_small("cs3d"), x).thop_macs / 1e9)
    for name in ("c3d", "cs3d"):
        assert rows[name]["layers"] and rows[name]["latency_ms"] > 0
        assert rows[name]["paper_gmacs"] is None              # not the paper's input
    assert rows["cs3d"]["gmacs"] < 0.3 * rows["c3d"]["gmacs"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in png.parent.iterdir() if p.name != "e.png"]   # no temp file left


def test_cli_model_list_forms(capsys):
    assert main(["energy", "--models", "c3d,c3d_ssn", *SMALL, "--runs", "0"]) == 0
    text = capsys.readouterr().out
    assert "| c3d |" in text and "| c3d_ssn |" in text


def _static_rapl(root: Path) -> None:
    zone = root / "sys/class/powercap/intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("123456\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")


def test_cli_measure_with_a_sensor_and_without(tmp_path, capsys):
    _static_rapl(tmp_path / "rapl")
    measure = ["--measure", "--measure-runs", "1", "--idle-s", "0", "--interval-s", "0.01"]
    rc = main(["energy", "--models", "c3d", *SMALL, "--runs", "0", *measure,
               "--source", "rapl", "--sysfs-root", str(tmp_path / "rapl")])
    text = capsys.readouterr().out
    assert rc == 0 and "rapl:intel-rapl:0(package-0)" in text
    assert text.splitlines()[2].endswith("| 0.000 |")          # the counter did not move
    rc = main(["energy", "--models", "c3d", *SMALL, "--runs", "0", *measure,
               "--source", "jetson", "--sysfs-root", str(tmp_path / "empty")])
    text = capsys.readouterr().out
    assert rc == 0 and "no power sensor on this machine" in text
    assert text.splitlines()[2].endswith("| n/a |")


def test_cli_weights_from_a_checkpoint(tmp_path, capsys):
    model = _small("c3d")
    torch.nn.init.constant_(model.classifier.fc8.weight, 0.5)
    path = tmp_path / "c3d.pt"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)
    out_json = tmp_path / "w.json"
    assert main(["energy", "--models", "c3d", *SMALL, "--runs", "0", "--weights",
                 f"c3d={path}", "--json", str(out_json)]) == 0
    (row,) = json.loads(out_json.read_text())["models"]
    assert row["weights"] == f"checkpoint {path}"
    assert main(["energy", "--models", "cs3d", *SMALL, "--runs", "0", "--weights",
                 f"cs3d={path}"]) == 2
    assert "does not fit" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--input", "3x16"], "C x T x H x W"),
    (["--models", "c4d"], "unknown model 'c4d'; available: c3d"),
    (["--weights", "c3d"], "name=path"),
    (["--weights", "c3d=/nonexistent.pt"], "does not exist"),
    (["--tech", "5nm"], "45nm-fp32"),
    (["--kw", "c3d=1"], "name.key=value"),
    (["--kw", "cs3d.width_mult=0.5"], "not among the compared models"),
])
def test_cli_bad_input(args, message, capsys):
    base = ["energy", "--preset", "small", "--runs", "0", "--models", "c3d"]
    assert main([*base, *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_per_model_keyword_arguments(tmp_path, capsys):
    """--kw name.key=value builds that model only with the argument (YAML-typed value): a
    narrow CS3D has fewer MACs than the default one; the row says so; others unchanged."""
    args = ["energy", "--models", "cs3d", "c3d_factorized", *SMALL, "--runs", "0"]
    assert main([*args, "--json", str(tmp_path / "a.json")]) == 0
    assert main([*args, "--kw", "cs3d.width_mult=0.0625", "--json", str(tmp_path / "b.json")]) == 0
    text = capsys.readouterr().out
    assert "| cs3d(width_mult=0.0625) | 2x16x32x32 |" in text
    plain, narrow = ({m["name"]: m for m in json.loads((tmp_path / f).read_text())["models"]}
                     for f in ("a.json", "b.json"))
    x = torch.rand(1, 16, 2, 32, 32)
    torch.manual_seed(0)
    model = create_model("cs3d", preset="small", in_channels=2, input_size=(16, 32, 32),
                         width_mult=0.0625)
    want = count_ops(model, x).thop_macs / 1e9
    assert narrow["cs3d(width_mult=0.0625)"]["gmacs"] == pytest.approx(want)
    assert want < 0.5 * plain["cs3d"]["gmacs"]
    assert narrow["c3d_factorized"]["gmacs"] == plain["c3d_factorized"]["gmacs"]


def test_compare_models_api():
    cmp = compare_models(["c3d_ssn"], (16, 2, 32, 32), preset="small", latency_runs=0)
    row = cmp.row("c3d_ssn")
    assert row.latency_ms is None and row.measured_mj is None
    assert row.estimated_mj < row.dense_estimated_mj            # soft spikes skip zeros
    assert row.sparse_gmacs > 0 and row.report is not None
    with pytest.raises(ArgumentError, match="no model 'cs3d'"):
        cmp.row("cs3d")
    with pytest.raises(ArgumentError, match="not among the models"):
        compare_models(["c3d"], weights={"cs3d": "x.pt"})
    with pytest.raises(ArgumentError, match="at least one"):
        compare_models([])
    assert parse_input_shape("3x16x112x112") == (16, 3, 112, 112)


def test_calibrated_batchnorm_keeps_an_untrained_ssn_network_alive():
    model = _small("c3d_factorized")
    x = torch.rand(1, 16, 2, 32, 32)
    last = "features.conv5.pw2"
    silent = next(r for r in estimate_energy(model, x).rows if r.layer == last)
    assert calibrate_batchnorm(model, x) > 0
    assert model.training                                      # mode restored
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert norms and all(m.momentum == 0.1 and m.num_batches_tracked == 1 for m in norms)
    alive = next(r for r in estimate_energy(model, x).rows if r.layer == last)
    assert alive.input_nonzero_fraction > max(silent.input_nonzero_fraction, 0.01)


def test_interleaved_latency_returns_one_median_per_model():
    a, b = _small("c3d"), _small("cs3d")
    x = torch.rand(1, 16, 2, 32, 32)
    lat = interleaved_latency_ms([(a, x), (b, x)], runs=2)
    assert len(lat) == 2 and all(t > 0 for t in lat)
    with pytest.raises(ArgumentError, match="runs"):
        interleaved_latency_ms([(a, x)], runs=0)


@pytest.mark.slow
def test_count_ops_reproduces_the_paper_complexity_figures():
    """CS3D paper Tables I/IV at 3 x 16 x 112 x 112: C3D 21.29 G, C3D + factorized 4.26 G
    (within 1%); CS3D at most 4.68 G; the "21.97% energy" is the GMAC ratio 4.68 / 21.29."""
    x = torch.rand(1, 16, 3, 112, 112)
    gmacs = {}
    for name in ("c3d", "c3d_factorized", "cs3d"):
        torch.manual_seed(0)
        gmacs[name] = count_ops(create_model(name, preset="paper"), x).thop_macs / 1e9
    assert gmacs["c3d"] == pytest.approx(PAPER_GMACS["c3d"], rel=0.01)
    assert gmacs["c3d_factorized"] == pytest.approx(PAPER_GMACS["c3d_factorized"], rel=0.01)
    assert gmacs["cs3d"] <= PAPER_GMACS["cs3d"]
    assert PAPER_GMACS["cs3d"] / PAPER_GMACS["c3d"] == pytest.approx(PAPER_ENERGY_RATIO,
                                                                     abs=2e-4)
