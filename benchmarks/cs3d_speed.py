"""CS3D vs C3D on this CPU: inference latency, training step, peak memory, and where time goes.

Issue 7's benchmark. Paper input 3 x 16 x 112 x 112, fp32, ``--threads`` (default 2),
batches 1 and 4. Each model runs in two execution modes with the same weights:
``reference`` (the modules' plain PyTorch code) and ``fast`` (:mod:`snnfer.fastpath`:
channels-last memory and BN folding for C3D, which stays the standard ``Conv3d`` model;
the fused factorized blocks for CS3D); ``--compile`` adds CS3D under ``torch.compile``
(inference only unless ``--compile-train``).
All entries are timed round-robin in the same run after ``--warmup`` runs (median of
``--repeats``), so machine load affects them alike; ratios are to C3D measured in that
run. Training step = forward + cross-entropy + backward + SGD (momentum 0.9) step.
Peak memory = growth of the resident set size during one step (after a warm-up step), in
a fresh subprocess per entry. The breakdown tables give, at the largest batch, the median
inference time of every stage (conv block + pool, attention, classifier) with its MAC
rate, and the
``torch.profiler`` self time of one training step by operation class. Usage::

    python benchmarks/cs3d_speed.py [--batches 1 4] [--repeats 5] [--threads 2]
        [--models c3d cs3d c3d_ssn c3d_factorized c3d_attention] [--compile [--compile-train]]
        [--thp]
        [--json out.json] [--quick]

``--thp`` re-runs the benchmark with ``THP_MEM_ALLOC_ENABLE=1`` (PyTorch backs large
tensors with transparent huge pages; fresh 200 MB activations otherwise cost ~0.4 ms per
MB in page faults here), for every entry alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from snnfer.atomic import atomic_write_text
from snnfer.models import create_model

SHAPE = (16, 3, 112, 112)  # (T, C, H, W): the paper's 3 x 16 x 112 x 112
BASELINE = ("c3d", "fast")


def _build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=7)


def _clip(batch: int) -> torch.Tensor:
    return torch.rand(batch, *SHAPE, generator=torch.Generator().manual_seed(0))


def _train_step(model, opt, x, y) -> None:
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_entries(entries, batch: int, repeats: int, warmup: int, train: bool,
                 skip_train: set[str]) -> dict[str, dict]:
    """Median inference / training-step seconds and per-stage inference seconds."""
    models = {name: _build(name) for name in {n for n, _ in entries}}
    opts = {n: torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9) for n, m in models.items()}
    x, y = _clip(batch), torch.zeros(batch, dtype=torch.long)
    res = {f"{n}:{mode}": {"infer": [], "train": [], "stages": {}} for n, mode in entries}
    for r in range(warmup + repeats):
        for name, mode in entries:
            key, model = f"{name}:{mode}", models[name].set_execution(mode)
            model.eval()
            with torch.no_grad():
                t = _timed(lambda m=model: m(x))
                stage_times = _stage_times(model, x, mode) if mode != "compile" else {}
            if r >= warmup:
                res[key]["infer"].append(t)
                for s, v in stage_times.items():
                    res[key]["stages"].setdefault(s, []).append(v)
    if train:
        for r in range(warmup + repeats):
            for name, mode in entries:
                key = f"{name}:{mode}"
                if key in skip_train:
                    continue
                model = models[name].set_execution(mode).train()
                t = _timed(lambda m=model, o=opts[name]: _train_step(m, o, x, y))
                if r >= warmup:
                    res[key]["train"].append(t)
    out = {}
    for key, v in res.items():
        out[key] = {"infer_s": statistics.median(v["infer"]),
                    "train_s": statistics.median(v["train"]) if v["train"] else None,
                    "stages_s": {s: statistics.median(t) for s, t in v["stages"].items()}}
    return out


def _stage_times(model, x, mode: str) -> dict[str, float]:
    """Seconds per stage of one inference (``model.stages``)."""
    from snnfer.neuron import reset

    reset(model)
    times = {}
    for name, fn in model.stages(fast=mode != "reference"):
        t0 = time.perf_counter()
        x = fn(x)
        times[name] = time.perf_counter() - t0
    return times


# -- peak memory (subprocess) ----------------------------------------------------------
def _status_bytes(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) * 1024


def _memory_child(name: str, mode: str, batch: int, phase: str, threads: int) -> None:
    """Print the RSS growth (bytes) of one inference or training step, after a warm-up."""
    torch.set_num_threads(threads)
    untiled = mode == "fast-untiled"
    model = _build(name).set_execution("fast" if untiled else mode)
    x, y = _clip(batch), torch.zeros(batch, dtype=torch.long)
    if phase == "train":
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        step = lambda: _train_step(model.train(), opt, x, y)  # noqa: E731
    else:
        def step() -> None:
            with torch.no_grad(), _untiled() if untiled else contextlib.nullcontext():
                model.eval()(x)
    step()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
    before = _status_bytes("VmRSS")
    step()
    print(json.dumps({"peak_bytes": _status_bytes("VmHWM") - before}))


def peak_memory(name: str, mode: str, batch: int, phase: str, threads: int) -> float | None:
    cmd = [sys.executable, __file__, "--memory-child", name, mode, str(batch), phase,
           str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"memory measurement {name}:{mode} failed:\n{proc.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"]


# -- training-step breakdown by operation class -------------------------------------------
def _conv_kind(weight: list[int], x: list[int]) -> str:
    if len(weight) < 3:
        return "conv"
    if all(k == 1 for k in weight[2:]):
        return "point-wise conv"
    if weight[1] == 1 and len(x) > 1 and x[1] > 1:
        return "depth-wise conv"
    return f"dense {'x'.join(map(str, weight[2:]))} conv"


def _op_class(name: str, shapes: list) -> str:
    if "convolution_backward" in name and len(shapes) > 2:
        return _conv_kind(shapes[2], shapes[1]) + " backward"
    if "_convolution_pointwise" in name and len(shapes) > 2:
        return _conv_kind(shapes[2], shapes[1]) + " (fused sum)"
    if "convolution" in name or "conv2d" in name or "conv3d" in name:
        return _conv_kind(shapes[1], shapes[0]) if len(shapes) > 1 else "conv"
    if "pool" in name:
        return "pooling" + (" backward" if "backward" in name else "")
    if "batch_norm" in name:
        return "BatchNorm" + (" backward" if "backward" in name else "")
    if name in ("aten::mm", "aten::addmm", "aten::bmm"):
        big = any(len(s) == 2 and max(s) > 100_000 for s in shapes)
        return "Gram matrices (BN statistics)" if big else "fully connected"
    if name in ("aten::copy_", "aten::clone", "aten::contiguous", "aten::_to_copy"):
        return "copies / layout"
    if name.startswith("aten::"):
        return "element-wise & reductions"
    return "other"


def op_breakdown(name: str, mode: str, batch: int) -> dict[str, float]:
    """``torch.profiler`` self CPU seconds of one training step, by operation class."""
    from torch.profiler import ProfilerActivity, profile

    model = _build(name).set_execution(mode).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    x, y = _clip(batch), torch.zeros(batch, dtype=torch.long)
    _train_step(model, opt, x, y)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        _train_step(model, opt, x, y)
    out: dict[str, float] = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        cls = _op_class(ev.key, ev.input_shapes or [])
        out[cls] = out.get(cls, 0.0) + ev.self_cpu_time_total / 1e6
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def memory_pass_ms(batch: int) -> dict[str, float]:
    """One copy of CS3D's block-1 activation (64 x 16 x 112 x 112 per clip) into an existing
    buffer and into a fresh one: the price of one memory pass, and of a fresh allocation."""
    src = torch.rand(batch, 16, 112, 112, 64)
    dst = torch.empty_like(src)
    reuse = statistics.median(_timed(lambda: dst.copy_(src)) for _ in range(5))
    fresh = statistics.median(_timed(lambda: src.clone()) for _ in range(5))
    return {"mb": src.numel() * 4 / 1e6, "copy_ms": 1e3 * reuse, "clone_ms": 1e3 * fresh}


@contextlib.contextmanager
def _untiled():
    """The fast path without cache tiling (:mod:`snnfer.fastpath.tiled`)."""
    from snnfer.fastpath import tiled

    limit = tiled.MIN_TILED_BYTES
    tiled.MIN_TILED_BYTES = 1 << 62
    try:
        yield
    finally:
        tiled.MIN_TILED_BYTES = limit


def tiling_effect(names, batch: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median fast-path inference seconds with and without cache tiling, same weights,
    alternating runs."""
    models = {n: _build(n).set_execution("fast").eval() for n in names}
    x = _clip(batch)
    times: dict[str, dict[str, list[float]]] = {n: {"untiled": [], "tiled": []} for n in names}
    with torch.no_grad():
        for r in range(repeats + 1):
            for n, m in models.items():
                for kind, ctx in (("untiled", _untiled), ("tiled", contextlib.nullcontext)):
                    with ctx():
                        t = _timed(lambda m=m: m(x))
                    if r:
                        times[n][kind].append(t)
    return {n: {k: statistics.median(v) for k, v in d.items()} for n, d in times.items()}


def pointwise_peak() -> dict[str, float]:
    """GMAC/s of the point-wise convs of CS3D's blocks 1-3 on one cache-sized chunk (the
    fastest operation the factorized network has: its compute ceiling on this CPU)."""
    from snnfer.fastpath.convs import pointwise

    out = {}
    for c_in, c_out, frames, hw in ((64, 64, 1, 112), (128, 128, 2, 56), (256, 256, 4, 28)):
        x = torch.rand(1, frames, hw, hw, c_in)
        w = torch.rand(c_out, c_in)
        for _ in range(5):
            pointwise(x, w)
        t = _timed(lambda x=x, w=w: [pointwise(x, w) for _ in range(50)]) / 50
        out[f"{c_in}->{c_out}"] = frames * hw * hw * c_in * c_out / t / 1e9
    return out


# -- report --------------------------------------------------------------------------------
def _fmt(v: float | None, scale: float = 1e3, digits: int = 0) -> str:
    return "-" if v is None else f"{v * scale:.{digits}f}"


def _ratio(v: float | None, ref: float | None) -> str:
    return "-" if v is None or not ref else f"{v / ref:.2f}"


def report(results: dict, mem: dict, entries, batches) -> str:
    lines = ["| model | path | batch | inference (ms) | / C3D fast | / C3D ref | train step (ms) "
             "| / C3D fast | / C3D ref | peak train mem (MB) | / C3D fast | / C3D ref |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in batches:
        r = results[b]
        base, ref = r[":".join(BASELINE)], r["c3d:reference"]
        mb, mr = mem.get((b, ":".join(BASELINE))), mem.get((b, "c3d:reference"))
        for name, mode in entries:
            key = f"{name}:{mode}"
            e, m = r[key], mem.get((b, key))
            lines.append(
                f"| {name} | {mode} | {b} | {_fmt(e['infer_s'])} | "
                f"{_ratio(e['infer_s'], base['infer_s'])} | "
                f"{_ratio(e['infer_s'], ref['infer_s'])} | "
                f"{_fmt(e['train_s'])} | {_ratio(e['train_s'], base['train_s'])} | "
                f"{_ratio(e['train_s'], ref['train_s'])} | {_fmt(m, 1e-6)} | {_ratio(m, mb)} | "
                f"{_ratio(m, mr)} |")
    return "\n".join(lines)


def stage_macs(name: str, batch: int) -> dict[str, float]:
    """thop MACs of every stage of ``name`` at ``batch`` (reference structure)."""
    import thop

    model = _build(name).eval()
    x = _clip(1)
    macs = {}
    with torch.no_grad():
        for stage, fn in model.stages(fast=False):
            owner = getattr(fn, "args", None)
            mods = [a for a in (owner or ()) if isinstance(a, torch.nn.Module)]
            if stage == "attention":
                mods = [model.attention]
            elif stage == "classifier":
                mods = [model.classifier]
            total = 0.0
            y = x
            for m in mods:
                m_macs, _ = thop.profile(m, (y,), verbose=False)
                total += m_macs
                y = m(y)
            macs[stage] = total * batch
            x = fn(x)
    return macs


def stage_table(stages: dict[str, dict[str, float]], macs: dict[str, dict[str, float]]) -> str:
    keys = list(stages)
    names = list(dict.fromkeys(s for k in keys for s in stages[k]))
    lines = ["| stage | " + " | ".join(f"{k} ms (GMAC/s)" for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]

    def cell(k: str, s: str) -> str:
        t, m = stages[k].get(s), macs.get(k.split(":")[0], {}).get(s)
        if t is None:
            return "-"
        rate = f" ({m / t / 1e9:.0f})" if m and t > 0 and m > 1e8 else ""
        return f"{t * 1e3:.0f}{rate}"

    for s in names:
        lines.append(f"| {s} | " + " | ".join(cell(k, s) for k in keys) + " |")
    lines.append("| **total** | " + " | ".join(_fmt(sum(stages[k].values())) for k in keys)
                 + " |")
    gmacs = " / ".join(f"{n} {sum(v.values()) / 1e9:.1f}" for n, v in macs.items())
    lines.append(f"\nthop GMACs of the whole batch: {gmacs}. GMAC/s = stage MACs / median "
                 "time (shown for stages above 0.1 GMAC).")
    return "\n".join(lines)


def infer_memory_table(mem: dict[tuple[int, str], float | None]) -> str:
    lines = ["| model | path | batch | peak (MB) | / C3D fast |", "|---|---|---:|---:|---:|"]
    for (b, key), v in sorted(mem.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        name, mode = key.split(":")
        lines.append(f"| {name} | {mode} | {b} | {_fmt(v, 1e-6)} | "
                     f"{_ratio(v, mem.get((b, ':'.join(BASELINE))))} |")
    return "\n".join(lines)


def tiling_table(tiling: dict[int, dict[str, dict[str, float]]]) -> str:
    lines = ["| model | batch | untiled | tiled | speed-up |", "|---|---:|---:|---:|---:|"]
    for b, per in tiling.items():
        for n, t in per.items():
            lines.append(f"| {n} | {b} | {_fmt(t['untiled'])} | {_fmt(t['tiled'])} | "
                         f"{t['untiled'] / t['tiled']:.2f}x |")
    ratios = []
    for b, per in tiling.items():
        if "c3d" in per and "cs3d" in per:
            u = per["cs3d"]["untiled"] / per["c3d"]["untiled"]
            t = per["cs3d"]["tiled"] / per["c3d"]["tiled"]
            ratios.append(f"batch {b}: {u:.2f} untiled -> {t:.2f} tiled")
    if ratios:
        lines.append("\nCS3D / C3D (both tiled where it helps; C3D tiles only its memory-bound "
                     "conv1): " + "; ".join(ratios) + ".")
    return "\n".join(lines)


def bound_text(macs: dict[str, dict[str, float]], res: dict, peak: dict[str, float],
               batch: int) -> str:
    """CS3D's latency floor from its MACs and the measured compute ceilings."""
    if "c3d" not in macs or "cs3d" not in macs:
        return "(needs c3d and cs3d)"
    m_c3d, m_cs3d = sum(macs["c3d"].values()), sum(macs["cs3d"].values())
    t_c3d, t_cs3d = res["c3d:fast"]["infer_s"], res["cs3d:fast"]["infer_s"]
    rate_c3d = m_c3d / t_c3d / 1e9
    best = max(peak.values())
    floor = m_cs3d / (best * 1e9)
    rates = ", ".join(f"{k} {v:.0f}" for k, v in peak.items())
    return (f"- MACs at batch {batch}: C3D {m_c3d / 1e9:.1f} G, CS3D {m_cs3d / 1e9:.1f} G "
            f"(ratio {m_cs3d / m_c3d:.3f}).\n"
            f"- C3D's fast path runs at {rate_c3d:.0f} GMAC/s on average; CS3D's at "
            f"{m_cs3d / t_cs3d / 1e9:.0f} GMAC/s.\n"
            f"- Point-wise (1x1) convs on a cache-resident chunk, the fastest kind of operation "
            f"in CS3D: {rates} GMAC/s.\n"
            f"- Floor: CS3D with every MAC at the best point-wise rate ({best:.0f} GMAC/s) and "
            f"no other cost would take {floor * 1e3:.0f} ms = {floor / t_c3d:.2f}x C3D; "
            f"0.25x C3D ({0.25 * t_c3d * 1e3:.0f} ms) needs CS3D to average "
            f"{m_cs3d / (0.25 * t_c3d) / 1e9:.0f} GMAC/s, although its depth-wise convs, "
            f"neurons and pools do little arithmetic per byte moved.")


def breakdown_table(rows: dict[str, dict[str, float]]) -> str:
    keys = list(rows)
    classes = list(dict.fromkeys(c for k in keys for c in rows[k]))
    lines = ["| operation class | " + " | ".join(f"{k} (ms)" for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for c in classes:
        lines.append(f"| {c} | " + " | ".join(_fmt(rows[k].get(c)) for k in keys) + " |")
    lines.append("| **total** | " + " | ".join(_fmt(sum(rows[k].values())) for k in keys)
                 + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["c3d", "cs3d"],
                        help="registered C3D-family models (e.g. the Table IV ablations "
                             "c3d_ssn c3d_factorized c3d_attention); c3d is always included")
    parser.add_argument("--compile", action="store_true",
                        help="add CS3D under torch.compile (inference; the first call compiles, "
                             "~10 s here)")
    parser.add_argument("--compile-train", action="store_true",
                        help="with --compile, also time its training step (inductor compiles "
                             "the training graphs per batch size: tens of minutes here)")
    parser.add_argument("--thp", action="store_true", help="THP_MEM_ALLOC_ENABLE=1 for all")
    parser.add_argument("--no-reference-train", action="store_true",
                        help="skip the (slow) reference training steps of the non-C3D models")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--json", help="write all numbers as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: batch 1, one timed run, no reference training steps, "
                             "no memory/op breakdown (the full benchmark takes ~15 min)")
    parser.add_argument("--memory-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        name, mode, batch, phase, threads = args.memory_child
        _memory_child(name, mode, int(batch), phase, int(threads))
        return 0
    if args.quick:
        args.batches, args.repeats, args.warmup = [1], 1, 0
        args.no_reference_train = args.no_memory = args.no_breakdown = True
    if args.thp and os.environ.get("THP_MEM_ALLOC_ENABLE") != "1":
        env = dict(os.environ, THP_MEM_ALLOC_ENABLE="1")
        argv_ = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--thp"]
        return subprocess.call([sys.executable, __file__, *argv_], env=env)
    torch.set_num_threads(args.threads)
    names = ["c3d"] + [n for n in dict.fromkeys(args.models) if n != "c3d"]
    entries = [(n, mode) for n in names for mode in ("reference", "fast")]
    entries += [("cs3d", "compile")] if args.compile else []
    skip = {f"{n}:reference" for n in names if n != "c3d"} if args.no_reference_train \
        else set()
    if args.compile and not args.compile_train:
        skip.add("cs3d:compile")
    load0 = os.getloadavg()
    start = time.perf_counter()
    results = {b: time_entries(entries, b, args.repeats, args.warmup, True, skip)
               for b in args.batches}
    mem: dict = {}
    if not args.no_memory:
        for b in args.batches:
            for name, mode in entries:
                if f"{name}:{mode}" not in skip:
                    mem[(b, f"{name}:{mode}")] = peak_memory(name, mode, b, "train", args.threads)
    infer_mem: dict = {}
    if not args.no_memory:
        for b in args.batches:
            for name, mode in [*entries, ("c3d", "fast-untiled"), ("cs3d", "fast-untiled")]:
                if mode != "compile" and name in names:
                    infer_mem[(b, f"{name}:{mode}")] = peak_memory(name, mode, b, "infer",
                                                                   args.threads)
    big = max(args.batches)
    breakdown = {}
    if not args.no_breakdown:
        for name in ("c3d", "cs3d"):
            if name in names:
                breakdown[f"{name} fast"] = op_breakdown(name, "fast", big)
    passes = memory_pass_ms(big)
    tiling = {b: tiling_effect([n for n in ("c3d", "cs3d") if n in names], b, args.repeats)
              for b in args.batches}
    peak = pointwise_peak()
    load1 = os.getloadavg()
    print(f"# CS3D vs C3D on CPU ({torch.get_num_threads()} threads, fp32, input 3x16x112x112,"
          f" median of {args.repeats} after {args.warmup} warm-up)\n")
    print(report(results, mem, entries, args.batches))
    print(f"\n## Inference time per stage, batch {big}\n")
    macs = {n: stage_macs(n, big) for n in dict.fromkeys(n for n, _ in entries)}
    print(stage_table({k: v["stages_s"] for k, v in results[big].items()}, macs))
    if infer_mem:
        print("\n## Peak inference memory (RSS growth during one inference, no grad)\n")
        print(infer_memory_table(infer_mem))
    print("\n## Cache tiling (fast path, inference; median ms)\n")
    print(tiling_table(tiling))
    print("\n## What bounds CS3D's inference")
    for b in args.batches:
        print(f"\nBatch {b}:\n")
        scaled = {n: {s: v * b / big for s, v in m.items()} for n, m in macs.items()}
        print(bound_text(scaled, results[b], peak, b))  # MACs are linear in the batch
    if breakdown:
        print(f"\n## Training step by operation class (torch.profiler self time), batch {big}\n")
        print(breakdown_table(breakdown))
    print(f"\n- one pass over a CS3D block-1 activation ({passes['mb']:.0f} MB at batch {big}): "
          f"copy into an existing buffer {passes['copy_ms']:.1f} ms, into a fresh one "
          f"{passes['clone_ms']:.1f} ms (page faults)")
    print(f"- THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '0')}; "
          f"load average before/after: {load0[0]:.2f} / {load1[0]:.2f} "
          f"({os.cpu_count()} CPUs); {time.perf_counter() - start:.0f} s")
    if args.json:
        data = {"threads": torch.get_num_threads(), "results": {str(b): r for b, r in
                                                                 results.items()},
                "peak_train_bytes": {f"{b}:{k}": v for (b, k), v in mem.items()},
                "peak_infer_bytes": {f"{b}:{k}": v for (b, k), v in infer_mem.items()},
                "breakdown_s": breakdown, "memory_pass": passes,
                "tiling_s": {str(b): v for b, v in tiling.items()}, "pointwise_gmacs": peak,
                "load_average": [load0, load1],
                "thp": os.environ.get("THP_MEM_ALLOC_ENABLE", "0")}
        atomic_write_text(args.json, json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
