"""The ``snnfer`` command line (typer).

Each command is a thin wrapper: the work happens in the library modules, so everything
the CLI does is also available from Python.
"""

from __future__ import annotations

import sys
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
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Convert videos and frame folders to event files with the DVS emulator.

    Resumable (existing outputs are skipped), failures are listed in
    OUT/conversion_report.json and the run continues; exits non-zero if every clip failed.

    Example: snnfer convert videos/ events/ --align-faces --size 112 --workers 2
    """
    from snnfer.data.convert import ClipConverter, convert_folder, parse_shard, report_name

    converter = ClipConverter(align_faces=align_faces, size=size or None, preset=preset,
                              fps=fps, seed=seed)
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
        app(args=argv, standalone_mode=False)
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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
