"""The ``snnfer`` command line (typer).

Each command is a thin wrapper: the work happens in the library modules, so everything
the CLI does is also available from Python.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

from snnfer.errors import MissingDependencyError, SnnferError

try:
    import typer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("typer", "all", "the snnfer command line") from exc

app = typer.Typer(
    name="snnfer",
    help="Spiking neural networks for event-camera facial expression recognition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("surrogates")
def surrogates_cmd(
    points: Annotated[str, typer.Option(help="Comma-separated x values.")] = "-1,-0.5,0,0.5,1",
) -> None:
    """Print every registered surrogate's derivative g'(x) at a few points.

    Example: snnfer surrogates --points=-2,0,2
    """
    import torch

    from snnfer.neuron import surrogate

    try:
        xs = [float(p) for p in points.split(",") if p.strip()]
    except ValueError as exc:
        raise SnnferError(f"--points must be comma-separated numbers, got {points!r}") from exc
    x = torch.tensor(xs, dtype=torch.float64)
    header = "| surrogate | " + " | ".join(f"g'({v:g})" for v in xs) + " |"
    typer.echo(header)
    typer.echo("|---|" + "---:|" * len(xs))
    for name in surrogate.available():
        if name == "custom":
            continue
        sg = surrogate.get(name)
        vals = sg.derivative(x).tolist()
        cells = " | ".join(f"{v:.4f}" for v in vals)
        typer.echo(f"| {name} (alpha={sg.alpha:g}) | {cells} |")


@app.command("neurons")
def neurons_cmd(
    steps: Annotated[int, typer.Option(help="Time steps T.")] = 8,
    current: Annotated[float, typer.Option(help="Constant input current.")] = 0.6,
) -> None:
    """Drive each snnfer neuron with a constant current and print its output over time.

    Example: snnfer neurons --steps 6 --current 0.8
    """
    import torch

    from snnfer.neuron import make_neuron

    x = torch.full((steps, 1), current)
    specs = {
        "ssn (stateless, theta=0.5)": ("ssn", {}),
        "ssn (decay=0.5)": ("ssn", {"decay": 0.5}),
        "lif (tau=2)": ("lif", {"tau": 2.0}),
        "if": ("if", {}),
    }
    typer.echo(f"constant input {current:g} for T={steps} steps")
    for label, (spec, kw) in specs.items():
        y = make_neuron(spec, **kw)(x).flatten().tolist()
        typer.echo(f"{label:28s} " + " ".join(f"{v:.2f}" for v in y))


# -- training and evaluation (snnfer.train: train, evaluate, predict, demo) ------------------
def _record(fn):
    """torchrun's error recording: a failing rank's error becomes the job's root cause."""
    if "TORCHELASTIC_ERROR_FILE" not in os.environ:
        return fn
    try:
        from torch.distributed.elastic.multiprocessing.errors import record
    except ImportError:  # pragma: no cover - torch without the distributed package
        return fn
    return record(fn)


_IMPORT_HELP = "Python module to import first, registering custom models/datasets (repeatable)."
_KEEP_HELP = ("Let glibc reuse freed memory instead of page-faulting every large tensor in "
              "again: CPU training steps 1.2-1.7x faster, the process keeps its peak memory "
              "(Linux/glibc; snnfer.fastpath.allocator).")


def _keep_freed_memory(enable: bool) -> None:
    """Apply ``--keep-freed-memory`` (process-wide, so only the CLI does it by default)."""
    if enable:
        from snnfer.fastpath import allocator

        allocator.keep_freed_memory()


@app.command("train")
def train_cmd(
    model: Annotated[str | None, typer.Option(
        help="Registered model name, e.g. cs3d, c3d, hecnet_snn.")] = None,
    data: Annotated[str | None, typer.Option(
        help="'synthetic' or a data folder.")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Loader for --data: see, casme2, nefer, ferdvs, folder, video_folder, adfes, "
        "szu_emodage, synthetic, synthetic_see.")] = None,
    protocol: Annotated[str | None, typer.Option(
        help="holdout | subject_holdout | kfold | loso | folds_csv.")] = None,
    config: Annotated[Path | None, typer.Option(
        help="YAML config (sections model, data, optim, schedule, train).")] = None,
    preset: Annotated[str | None, typer.Option(
        help="paper (the papers' settings, default) | small (CPU-friendly).")] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Number of epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Batch size per process.")] = None,
    lr: Annotated[float | None, typer.Option(
        help="Learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed (splits, init, order).")] = None,
    fold: Annotated[int | None, typer.Option(
        help="Run only this fold of a multi-fold protocol.")] = None,
    folds: Annotated[int | None, typer.Option(
        help="Number of folds for kfold.")] = None,
    balanced: Annotated[bool | None, typer.Option(
        "--balanced/--no-balanced", help="Class-balanced sampling.")] = None,
    device: Annotated[str | None, typer.Option(
        help="auto | cpu | cuda | cuda:N.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="DataLoader worker processes.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Run directory (default runs/<model>-<dataset>-<time>).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out from its last checkpoint.")] = False,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config key: --set optim.weight_decay=1e-4 (repeatable).")
    ] = None,
    imports: Annotated[list[str] | None, typer.Option(
        "--import", help=_IMPORT_HELP)] = None,
    progress: Annotated[bool, typer.Option(
        help="Show progress bars.")] = True,
    keep_freed_memory: Annotated[bool, typer.Option(
        "--keep-freed-memory/--no-keep-freed-memory", help=_KEEP_HELP)] = True,
) -> None:
    """Train a model; writes checkpoints, metrics.csv, TensorBoard logs, plots, summary.json.

    Examples:

      snnfer train --model cs3d --data synthetic --preset small --epochs 5 --out runs/cs3d

      snnfer train --model hecnet_snn --dataset see --data /data/SEE --preset paper

      snnfer train --model cs3d --data /data/casme2 --dataset casme2 --protocol loso

      snnfer train --out runs/cs3d --resume

      torchrun --nproc_per_node 2 -m snnfer train --model cs3d --data synthetic
    """
    from snnfer.train.commands import cli_overrides, import_plugins, train_config
    from snnfer.train.run import run_training

    import_plugins(imports)
    _keep_freed_memory(keep_freed_memory)
    overrides = cli_overrides(model=model, data=data, dataset=dataset, protocol=protocol,
                              epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, fold=fold,
                              folds=folds, device=device, workers=workers, balanced=balanced,
                              progress=None if progress else False, sets=set_)
    cfg = train_config(out=out, resume=resume, config=config, preset=preset, overrides=overrides)
    result = _record(run_training)(cfg, out, resume=resume)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        typer.echo(f"run directory: {result.run_dir}")
        typer.echo((result.run_dir / "metrics.md").read_text(encoding="utf-8"))


@app.command("evaluate")
def evaluate_cmd(
    run: Annotated[Path, typer.Argument(
        help="Run directory (or fold directory) or checkpoint file.")],
    data: Annotated[str | None, typer.Option(
        help="'synthetic' or a data folder (default: the training data).")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Loader for --data (default: the training one, else folder).")] = None,
    split: Annotated[str, typer.Option(
        help="test (the run's test split) | all (every sample).")] = "test",
    out: Annotated[Path | None, typer.Option(
        help="Where to write metrics, predictions and plots (default RUN/eval).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Batch size.")] = None,
    device: Annotated[str, typer.Option(
        help="auto | cpu | cuda.")] = "auto",
    json_: Annotated[bool, typer.Option(
        "--json", help="Print the metrics as JSON.")] = False,
    imports: Annotated[list[str] | None, typer.Option(
        "--import", help=_IMPORT_HELP)] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Evaluate a trained model: accuracy (WAR), UAR, UF1, per-class and per-condition tables.

    Examples:

      snnfer evaluate runs/cs3d

      snnfer evaluate runs/cs3d/checkpoints/best.pt --data /data/other --split all --json
    """
    from snnfer.train.commands import dumps, import_plugins
    from snnfer.train.evaluate import evaluate_checkpoint

    import_plugins(imports)
    if out is None:
        out = (run if run.is_dir() else run.parent.parent) / "eval"
    report = evaluate_checkpoint(run, data=data, dataset=dataset, split=split, out_dir=out,
                                 batch_size=batch_size, device=device, progress=progress)
    if json_:
        typer.echo(dumps(report.result.metrics.to_dict()))
    else:
        typer.echo(f"{report.checkpoint} on {len(report.dataset)} samples ({report.split})")
        typer.echo(report.to_markdown())
        typer.echo(f"written to {out}")


@app.command("predict")
def predict_cmd(
    checkpoint: Annotated[Path, typer.Argument(
        help="Run directory or checkpoint file.")],
    inputs: Annotated[list[Path], typer.Argument(
        help="Event files, videos, frame folders, .pt tensors (or dicts of modality tensors);"
        " for two-modality models also SEE sequence folders (SEE/event|frame/<emotion>/<seq>)"
        " or folders with event/ and frame/ image sub-folders.")],
    json_: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of a table.")] = False,
    top: Annotated[int, typer.Option(
        help="Classes shown per input in the table.")] = 3,
    device: Annotated[str, typer.Option(
        help="auto | cpu | cuda.")] = "auto",
    align_faces: Annotated[bool | None, typer.Option(
        "--align-faces/--no-align-faces",
        help="Videos: crop and level the face (default: as the run's training data).")] = None,
    imports: Annotated[list[str] | None, typer.Option(
        "--import", help=_IMPORT_HELP)] = None,
) -> None:
    """Predict the emotion of event files, videos or frame folders, with class probabilities.

    Inputs are converted like the run's training data (representation, sensor, video).

    Examples:

      snnfer predict runs/cs3d clip.h5 face.mp4 frames_dir/

      snnfer predict runs/cs3d/checkpoints/best.pt clip.npz --json

      snnfer predict runs/hecnet SEE/event/happiness/<sequence> clip.pt

      snnfer predict runs/cs3d cropped_face.avi --no-align-faces
    """
    from snnfer.train.commands import dumps, import_plugins
    from snnfer.train.predict import Predictor, format_predictions

    import_plugins(imports)
    predictor = Predictor.from_checkpoint(checkpoint, device=device, align_faces=align_faces)
    preds = [predictor.predict(p) for p in inputs]
    if json_:
        typer.echo(dumps([p.to_dict() for p in preds]))
    else:
        typer.echo(format_predictions(preds, top=top))


@app.command("demo")
def demo_cmd(
    all_: Annotated[bool, typer.Option(
        "--all", help="Also train the RNN, LSTM and Transformer baselines.")] = False,
    models: Annotated[str | None, typer.Option(
        help="Comma-separated models (default cs3d,c3d).")] = None,
    seeds: Annotated[str, typer.Option(
        help="Comma-separated seeds (data and training); several give mean ± sd.")] = "0",
    epochs: Annotated[int | None, typer.Option(
        help="Epochs per model (default 20).")] = None,
    subjects: Annotated[int | None, typer.Option(
        help="Synthetic subjects (default 12; 3 held out for testing, 1 for validation).")
    ] = None,
    clips_per_class: Annotated[int | None, typer.Option(
        help="Clips per subject and expression (default 4).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Batch size (default 16).")] = None,
    lr: Annotated[float | None, typer.Option(
        help="Adam learning rate, cosine decay (default 2e-3).")] = None,
    threads: Annotated[int | None, typer.Option(
        help="torch CPU threads (default: the cores not busy with other work).")] = None,
    out: Annotated[Path, typer.Option(
        help="Output folder.")] = Path("snnfer-demo"),
    device: Annotated[str, typer.Option(
        help="auto | cpu | cuda.")] = "auto",
    progress: Annotated[bool, typer.Option(
        help="Show progress bars.")] = True,
    keep_freed_memory: Annotated[bool, typer.Option(
        "--keep-freed-memory/--no-keep-freed-memory", help=_KEEP_HELP)] = True,
) -> None:
    """Train CS3D and C3D (small presets) on synthetic FER data and compare them.

    Synthetic benchmark: 7 expressions, DVS-emulated; one recipe for every model.

    Tests on held-out subjects: accuracy, UAR, UF1, params, GMACs, energy, latency, time.

    Writes runs, plots, results.md and summary.json to ./snnfer-demo/ (a re-run resumes).

    Examples:

      snnfer demo

      snnfer demo --all --seeds 0,1,2

      snnfer demo --models cs3d --epochs 30 --out runs/demo-cs3d
    """
    from snnfer.train.demo import ALL_MODELS, DEFAULT_MODELS, DemoSettings, run_demo

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise SnnferError(f"--seeds must be comma-separated integers, got {seeds!r}") from exc
    names = ([m.strip() for m in models.split(",") if m.strip()] if models
             else list(ALL_MODELS if all_ else DEFAULT_MODELS))
    given = {"epochs": epochs, "subjects": subjects, "clips_per_class": clips_per_class,
             "batch_size": batch_size, "lr": lr, "threads": threads}
    settings = DemoSettings(models=names, seeds=seed_list, out=out, device=device,
                            progress=progress, **{k: v for k, v in given.items() if v is not None})
    _keep_freed_memory(keep_freed_memory)
    summary = run_demo(settings)
    typer.echo(summary["table"])
    typer.echo(f"\nruns, plots and summary written to {out}/")


# -- energy (snnfer.energy: estimated and measured energy, CS3D §IV-B) -------------------
@app.command("energy", context_settings={"allow_extra_args": True})
def energy_cmd(
    ctx: typer.Context,
    models: Annotated[list[str] | None, typer.Option(
        "--models", help="Registered models, space or comma separated (default: c3d cs3d)."
    )] = None,
    input: Annotated[str | None, typer.Option(
        "--input", help="C x T x H x W for every model, e.g. 3x16x112x112 "
                        "(default: each model's own input).")] = None,
    preset: Annotated[str, typer.Option(help="Model preset: paper or small.")] = "paper",
    tech: Annotated[str, typer.Option(help="Energy constants: 45nm-fp32/fp16/int8.")] = "45nm-fp32",
    batch: Annotated[int, typer.Option(help="Batch of the energy estimate.")] = 1,
    latency_batch: Annotated[int, typer.Option(help="Batch of the latency runs.")] = 1,
    runs: Annotated[int, typer.Option(help="Timed latency runs (median).")] = 5,
    measure: Annotated[bool, typer.Option(help="Measure energy with a power sensor.")] = False,
    source: Annotated[str, typer.Option(help="Power sensor: auto, nvml, jetson, rapl.")] = "auto",
    measure_runs: Annotated[int, typer.Option(help="Inferences per measurement.")] = 10,
    idle_s: Annotated[float, typer.Option(help="Idle-baseline seconds per measurement.")] = 1.0,
    interval_s: Annotated[float, typer.Option(help="Power sampling interval (s).")] = 0.05,
    sysfs_root: Annotated[str, typer.Option(help="sysfs root for Jetson/RAPL sensors.")] = "/",
    weights: Annotated[list[str] | None, typer.Option(
        help="Checkpoint for a model, as name=path (repeatable).")] = None,
    calibrate_bn: Annotated[bool, typer.Option(
        help="Re-estimate BatchNorm statistics of randomly initialised models.")] = True,
    input_kind: Annotated[str, typer.Option(help="Example input: uniform or events.")] = "uniform",
    seed: Annotated[int, typer.Option(help="Seed of weights and input.")] = 0,
    layers: Annotated[bool, typer.Option(help="Also print each model's per-layer table.")] = False,
    json_path: Annotated[str | None, typer.Option(
        "--json", help="Write the results (with per-layer rows) as JSON.")] = None,
    plot: Annotated[str | None, typer.Option(help="Write a bar chart PNG.")] = None,
    execution: Annotated[str, typer.Option(
        help="Implementation timed for latency: fast, reference or compile.")] = "fast",
    kw: Annotated[list[str] | None, typer.Option(
        "--kw", help="Keyword argument for one model, as name.key=value (YAML value; "
                     "repeatable), e.g. hecnet_snn.spiking=all.")] = None,
) -> None:
    """Params, GMACs, ACs, estimated/measured energy and latency of registered models.

    Example: snnfer energy --models c3d cs3d --input 3x16x112x112 --plot energy.png

    Example: snnfer energy --models hecnet hecnet_snn --preset small --kw hecnet_snn.spiking=all
    """
    import json

    from snnfer.atomic import atomic_write_text
    from snnfer.energy import parse_input_shape
    from snnfer.energy.compare import compare_models

    names = [n.strip() for item in [*(models or []), *ctx.args] for n in item.split(",")
             if n.strip()] or ["c3d", "cs3d"]
    checkpoints = {}
    for item in weights or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SnnferError(f"--weights must be name=path, got {item!r}")
        checkpoints[name] = path
    per_model: dict[str, dict] = {}
    for item in kw or []:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not name or not key:
            raise SnnferError(f"--kw must be name.key=value, got {item!r}")
        import yaml

        per_model.setdefault(name, {})[key] = yaml.safe_load(value)
    comparison = compare_models(
        names, parse_input_shape(input) if input else None, preset=preset, tech=tech,
        batch_size=batch, latency_batch=latency_batch, latency_runs=runs, measure=measure,
        power_source=source, measure_runs=measure_runs, weights=checkpoints,
        power_kwargs={"idle_s": idle_s, "interval_s": interval_s, "root": sysfs_root},
        calibrate_bn=calibrate_bn, input_kind=input_kind, seed=seed, execution=execution,
        per_model_kwargs=per_model)
    typer.echo(comparison.to_markdown())
    if layers:
        for row in comparison.rows:
            typer.echo(f"\n### {row.name}\n\n{row.report.to_markdown()}")
    if json_path:
        atomic_write_text(json_path, json.dumps(comparison.to_dict(layers=True), indent=2))
        typer.echo(f"wrote {json_path}")
    if plot:
        typer.echo(f"wrote {comparison.plot(plot)}")


# ---- data-events: event files (inspect) ------------------------------------------------------
@app.command("inspect")
def inspect_cmd(
    file: Annotated[str, typer.Argument(help="Event file: .npz .h5 .hdf5 .txt .csv .aedat4")],
    png: Annotated[str | None, typer.Option(help="Write a PNG of accumulated frames.")] = None,
    frames: Annotated[int, typer.Option(help="Number of time bins in the PNG.")] = 6,
    sensor_size: Annotated[
        str | None, typer.Option(help="W,H when the file stores none (default: max x/y + 1).")
    ] = None,
    time_unit: Annotated[str, typer.Option(help="Text files: auto | s | us.")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the stats as JSON.")] = False,
) -> None:
    """Counts, duration, rate, polarity balance of an event file; optional PNG preview.

    Example: snnfer inspect clip.h5 --png clip.png
    """
    from snnfer.data.inspect import inspect_file

    size = None
    if sensor_size is not None:
        try:
            size = tuple(int(v) for v in sensor_size.split(","))
        except ValueError as exc:
            raise SnnferError(f"--sensor-size must be W,H, got {sensor_size!r}") from exc
    stats = inspect_file(file, png=png, n_frames=frames, sensor_size=size, time_unit=time_unit)
    typer.echo(stats.to_json() if json_out else stats.to_text())
    if png is not None and not json_out:
        typer.echo(f"preview:         {png}")


# ---- data-sets: videos / frame folders -> event files (convert) -----------------------------
@app.command("convert")
def convert_cmd(
    input_dir: Annotated[str, typer.Argument(help="Folder of videos / frame folders (recursive).")],
    output_dir: Annotated[str, typer.Argument(help="Output folder; mirrors the input tree.")],
    align_faces: Annotated[
        bool, typer.Option("--align-faces", help="Crop and rotate the face (Haar cascades).")
    ] = False,
    size: Annotated[int, typer.Option(help="Output side in pixels; 0 keeps the frames.")] = 112,
    preset: Annotated[str, typer.Option(help="DVS emulator preset.")] = "clean",
    fmt: Annotated[str, typer.Option("--format", help="Event file format: h5 | npz.")] = "h5",
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 1,
    shard: Annotated[
        str | None, typer.Option(help="K/N: convert only shard K (0-based) of N.")
    ] = None,
    fps: Annotated[
        float | None, typer.Option(help="Frame rate of frame folders / override (CASME II: 200).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Emulator seed.")] = 0,
    timestamps: Annotated[
        str | None, typer.Option(help="Event time rule: linear (exact crossing times, the "
                                      "default) | uniform | v2e (v2e's rule, fastest).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Convert videos and frame folders to event files with the DVS emulator.

    Resumable (existing outputs are skipped), failures are listed in
    OUT/conversion_report.json and the run continues; exits non-zero if every clip failed.

    Example: snnfer convert videos/ events/ --align-faces --size 112 --workers 2

    Example: snnfer convert videos/ events/ --timestamps v2e --shard 0/4
    """
    from snnfer.data.convert import ClipConverter, convert_folder, parse_shard, report_name

    options = {"timestamps": timestamps} if timestamps else {}
    converter = ClipConverter(align_faces=align_faces, size=size or None, preset=preset,
                              fps=fps, seed=seed, emulator_options=options)
    report = convert_folder(input_dir, output_dir, converter, fmt=fmt, workers=workers,
                            shard=shard, progress=not quiet)
    typer.echo(report.summary())
    where = f"{output_dir.rstrip('/')}/{report_name(parse_shard(shard))}"
    typer.echo(f"report: {where}")
    if report.all_failed:
        raise SnnferError(f"all {len(report.failed)} clip(s) failed to convert; see {where}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, print snnfer errors as one clear line (exit code 2)."""
    try:
        # with standalone_mode=False click returns a command's typer.Exit code instead of
        # raising it
        result = app(args=argv, standalone_mode=False)
    except SnnferError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except Exception as exc:
        # usage errors (unknown command/option): typer's bundled click exceptions
        if callable(getattr(exc, "show", None)) and isinstance(
            getattr(exc, "exit_code", None), int
        ):
            exc.show()
            return exc.exit_code
        raise
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
