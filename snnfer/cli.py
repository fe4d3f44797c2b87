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
) -> None:
    """Params, GMACs, ACs, estimated/measured energy and latency of registered models.

    Example: snnfer energy --models c3d cs3d --input 3x16x112x112 --plot energy.png
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
    comparison = compare_models(
        names, parse_input_shape(input) if input else None, preset=preset, tech=tech,
        batch_size=batch, latency_batch=latency_batch, latency_runs=runs, measure=measure,
        power_source=source, measure_runs=measure_runs, weights=checkpoints,
        power_kwargs={"idle_s": idle_s, "interval_s": interval_s, "root": sysfs_root},
        calibrate_bn=calibrate_bn, input_kind=input_kind, seed=seed)
    typer.echo(comparison.to_markdown())
    if layers:
        for row in comparison.rows:
            typer.echo(f"\n### {row.name}\n\n{row.report.to_markdown()}")
    if json_path:
        atomic_write_text(json_path, json.dumps(comparison.to_dict(layers=True), indent=2))
        typer.echo(f"wrote {json_path}")
    if plot:
        typer.echo(f"wrote {comparison.plot(plot)}")


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
