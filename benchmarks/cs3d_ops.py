"""CS3D vs C3D call by call: each ATen call's time inside the model and alone.

Issue 7's kernel-quality check. One fast-path inference and one training step (3 x 16 x
112 x 112, fp32, ``--threads`` 2, batches 1 and 4) run under a ``TorchDispatchMode``
that times every ATen call where it happens ("in model"). Calls with the same operator,
tensor shapes/strides/dtypes and scalar arguments form a group. In a second run the
first call of each group is replayed right after it ran, on its own arguments (copies
for in-place operators), and the fastest replay is its "alone" time: warm caches, no
interference from neighbouring calls, no Python in between. The alone sum is what the
network costs with today's kernels and perfect scheduling. If CS3D's alone sum is above
issue 7's goal (0.25x C3D's inference, 0.5x its training step), no reordering or tiling
of these calls meets it; only faster kernels, or fused kernels that replace calls, can.

Per operation class the tables give calls, time in the model, time alone, and the alone
rate: GMAC/s for convolutions and linear layers (a convolution backward counts the
forward's MACs once per gradient it computes), GB/s of tensor data read + written for
all. glibc keeps freed memory in this process (:func:`snnfer.fastpath.keep_freed_memory`)
so that replays, which allocate a fresh output each time, are not billed for page faults
(``--default-allocator`` turns that off). Usage::

    python benchmarks/cs3d_ops.py [--batches 1 4] [--phases inference training]
        [--threads 2] [--repeats 5] [--models c3d cs3d] [--default-allocator]
        [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from benchmarks.cs3d_speed import _build, _clip, _conv_kind, _train_step
from snnfer.atomic import atomic_write_text

_VIEWS = {"view", "_unsafe_view", "permute", "select", "slice", "as_strided", "expand",
          "unsqueeze", "squeeze", "t", "transpose", "alias", "detach", "reshape", "_reshape_alias",
          "unflatten", "flatten", "split", "chunk", "narrow", "unbind", "resize_", "empty",
          "empty_like", "empty_strided", "lift_fresh"}


@dataclass
class OpGroup:
    """Identical calls of one operator: their count, in-model and alone seconds."""

    name: str
    op_class: str
    macs: float
    nbytes: float
    calls: int = 0
    in_model_s: float = 0.0
    alone_s: float = 0.0


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _key(func, args, kwargs) -> tuple:
    def sig(a):
        if isinstance(a, torch.Tensor):
            return ("T", tuple(a.shape), a.stride(), str(a.dtype))
        if a is None or isinstance(a, (bool, int, float, str, torch.dtype, torch.device,
                                       torch.memory_format, torch.layout)):
            return repr(a)
        return type(a).__name__  # e.g. a profiler handle: its repr holds an address
    return (str(func), tuple(sig(a) for a in tree_flatten((args, kwargs))[0]))


def _writes(func) -> bool:
    """True for in-place / ``out=`` operators (replays must not touch live tensors)."""
    schema = getattr(func, "_schema", None)
    return schema is None or any(a.alias_info is not None and a.alias_info.is_write
                                 for a in schema.arguments)


_CONV_INPUT_WEIGHT = {"mkldnn._convolution_pointwise_.binary": 1,
                      "mkldnn._convolution_pointwise": 0, "aten.mkldnn_convolution": 0,
                      "aten.convolution_backward": 1, "aten.convolution": 0}
"""Operator name prefix -> position of the input (the weight follows it); the first
matching prefix wins."""


def _conv_args(name: str, args) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(input, weight)`` of a convolution call, else ``None``."""
    for prefix, i in _CONV_INPUT_WEIGHT.items():
        if name.startswith(prefix):
            return args[i], args[i + 1]
    return None


def classify(name: str, args, out) -> tuple[str, float]:
    """Operation class and MACs of one call (a convolution's backward: per computed
    gradient, each costing the forward's MACs)."""
    conv = _conv_args(name, args)
    if conv is not None:
        x, w = conv
        y = args[0] if "backward" in name or not _tensors(out) else _tensors(out)[0]
        grads = sum(map(bool, args[-1][:2])) if "backward" in name else 1
        macs = y.numel() * w.shape[1] * math.prod(w.shape[2:]) * grads
        kind = _conv_kind(list(w.shape), list(x.shape))
        suffix = " + add" if "binary" in name else " backward" if "backward" in name else ""
        return kind + suffix, float(macs)
    if any(s in name for s in ("linear", "addmm", "aten.mm")):
        w = args[1]
        y = _tensors(out)[0]
        return "fully connected", float(y.numel() * w.shape[-1 if "linear" in name else 0])
    if "maximum" in name or "max_pool" in name:
        return "max-pool" + (" backward" if "backward" in name else ""), 0.0
    if name.split(".")[1] in ("threshold", "relu", "relu_", "clamp_min"):
        return "neuron / ReLU", 0.0
    if "batch_norm" in name:
        return "BatchNorm" + (" backward" if "backward" in name else ""), 0.0
    if any(s in name for s in ("copy_", "cat", "clone", "contiguous", "zeros", "fill_")):
        return "copies / padding", 0.0
    if name.startswith("aten."):  # incl. neuron gradients, BN statistics, SGD
        return "element-wise & reductions", 0.0
    return "other", 0.0


class OpRecorder(TorchDispatchMode):
    """Times every non-view ATen call and groups identical ones (see module docstring).

    With ``replays`` the first call of each group is replayed that many times right after
    it ran, on its own arguments (copies of them for in-place / ``out=`` operators): the
    fastest replay is the group's per-call alone time (slower ones are mostly page faults
    of a fresh output that glibc placed on new pages: 30 vs 8 ms for a 206 MB
    ``threshold_backward`` here). Replays distort the neighbours' in-model
    times, so those come from a separate pass without replays.
    """

    def __init__(self, replays: int = 0) -> None:
        super().__init__()
        self.replays = replays
        self.groups: dict[tuple, OpGroup] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func.overloadpacket.__name__) if hasattr(func, "overloadpacket") else str(func)
        if name in _VIEWS or str(func).startswith("profiler."):
            return func(*args, **kwargs)
        key = _key(func, args, kwargs)
        grp = self.groups.get(key)
        t0 = time.perf_counter()
        out = func(*args, **kwargs)
        dt = time.perf_counter() - t0
        if grp is None:
            op_class, macs = classify(str(func), args, out)
            nbytes = sum(t.numel() * t.element_size() for t in _tensors((args, kwargs, out)))
            grp = self.groups[key] = OpGroup(str(func), op_class, macs, float(nbytes))
            if self.replays:
                a, k = tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v,
                                (args, kwargs)) if _writes(func) else (args, kwargs)
                grp.alone_s = min(_times_s(lambda: func(*a, **k), self.replays))
        grp.calls += 1
        grp.in_model_s += dt
        return out


def _times_s(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def profile_calls(fn: Callable[[], object], repeats: int) -> tuple[float, list[OpGroup]]:
    """Median seconds of ``fn()`` and its op groups: in-model time from one recorded call,
    alone time (best of ``repeats`` replays, times the group's calls) from another."""
    plain_s = statistics.median(_times_s(fn, repeats))
    timing, replay = OpRecorder(), OpRecorder(replays=repeats)
    with timing:
        fn()
    with replay:
        fn()
    groups = list(timing.groups.values())
    for g, key in zip(groups, timing.groups):
        g.alone_s = replay.groups[key].alone_s * g.calls if key in replay.groups else \
            g.in_model_s
    return plain_s, groups


def profile_inference(model: torch.nn.Module, x: torch.Tensor, repeats: int,
                      ) -> tuple[float, list[OpGroup]]:
    """:func:`profile_calls` of one inference (no autograd)."""
    with torch.no_grad():
        return profile_calls(lambda: model(x), repeats)


def profile_training(model: torch.nn.Module, x: torch.Tensor, repeats: int,
                     ) -> tuple[float, list[OpGroup]]:
    """:func:`profile_calls` of one training step: forward, cross-entropy, backward and an
    SGD step (momentum 0.9), as in ``benchmarks/cs3d_speed.py``."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    y = torch.zeros(x.shape[0], dtype=torch.long)
    return profile_calls(lambda: _train_step(model, opt, x, y), repeats)


def by_class(groups: list[OpGroup]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for g in groups:
        row = out.setdefault(g.op_class, {"calls": 0, "in_model_s": 0.0, "alone_s": 0.0,
                                          "macs": 0.0, "bytes": 0.0})
        row["calls"] += g.calls
        row["in_model_s"] += g.in_model_s
        row["alone_s"] += g.alone_s
        row["macs"] += g.macs * g.calls
        row["bytes"] += g.nbytes * g.calls
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["alone_s"]))


def class_table(res: dict[str, dict]) -> str:
    """Per operation class, each model's calls, in-model and alone ms; alone rates of the
    last model (CS3D)."""
    names = list(res)
    classes = sorted(dict.fromkeys(c for n in names for c in res[n]["classes"]),
                     key=lambda c: -max(res[n]["classes"].get(c, {}).get("alone_s", 0.0)
                                        for n in names))
    head = "| operation class | " + " | ".join(
        f"{n} calls | {n} in model (ms) | {n} alone (ms)" for n in names)
    lines = [head + f" | {names[-1]} alone GMAC/s | {names[-1]} alone GB/s |",
             "|---|" + "---:|" * (3 * len(names) + 2)]
    for c in classes:
        cells = []
        for n in names:
            r = res[n]["classes"].get(c)
            cells += ["-"] * 3 if r is None else [
                f"{r['calls']:.0f}", f"{1e3 * r['in_model_s']:.1f}", f"{1e3 * r['alone_s']:.1f}"]
        r = res[names[-1]]["classes"].get(c)
        ok = r is not None and r["alone_s"] > 0
        cells.append(f"{r['macs'] / r['alone_s'] / 1e9:.0f}" if ok and r["macs"] else "-")
        cells.append(f"{r['bytes'] / r['alone_s'] / 1e9:.0f}" if ok else "-")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    tot = []
    for n in names:
        rows = res[n]["classes"].values()
        tot += [f"{sum(r['calls'] for r in rows):.0f}",
                f"{1e3 * sum(r['in_model_s'] for r in rows):.1f}",
                f"{1e3 * sum(r['alone_s'] for r in rows):.1f}"]
    lines.append("| **total** | " + " | ".join(tot) + " | | |")
    return "\n".join(lines)


def summary(res: dict[str, dict], target: float) -> dict[str, float]:
    """CS3D against C3D: measured ratio, alone-sum ratio (to C3D's measured time and to
    C3D's alone sum), and the alone sum with every CS3D convolution at C3D's dense-conv
    alone rate where that is faster (``dense_rate`` MAC/s); ``target`` is issue 7's goal."""
    c3d, cs3d = res["c3d"], res["cs3d"]
    t_c3d = c3d["measured_s"]
    alone = sum(r["alone_s"] for r in cs3d["classes"].values())
    c3d_alone = sum(r["alone_s"] for r in c3d["classes"].values())
    dense = [r for k, r in c3d["classes"].items() if k.startswith("dense") and r["macs"]]
    rate = sum(r["macs"] for r in dense) / sum(r["alone_s"] for r in dense) if dense else 0.0
    at_rate = sum(min(r["alone_s"], r["macs"] / rate) if "conv" in k and r["macs"] and rate
                  else r["alone_s"] for k, r in cs3d["classes"].items())
    return {"c3d_s": t_c3d, "cs3d_s": cs3d["measured_s"], "measured": cs3d["measured_s"] / t_c3d,
            "alone_s": alone, "alone": alone / t_c3d, "alone_vs_alone": alone / c3d_alone,
            "dense_rate": rate, "at_dense_rate": at_rate / t_c3d, "goal": target}


def summary_table(rows: dict[tuple[str, int], dict[str, float]]) -> str:
    lines = ["| phase | batch | C3D (ms) | CS3D (ms) | CS3D / C3D | CS3D alone sum (ms) | "
             "alone / C3D | alone / C3D alone | CS3D convs at C3D's rate / C3D | goal |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (phase, b), r in rows.items():
        lines.append(f"| {phase} | {b} | {1e3 * r['c3d_s']:.0f} | {1e3 * r['cs3d_s']:.0f} | "
                     f"{r['measured']:.2f}x | {1e3 * r['alone_s']:.0f} | {r['alone']:.2f}x | "
                     f"{r['alone_vs_alone']:.2f}x | {r['at_dense_rate']:.2f}x "
                     f"({r['dense_rate'] / 1e9:.0f} GMAC/s) | {r['goal']}x |")
    return "\n".join(lines)


PHASES = {"inference": (profile_inference, 0.25), "training": (profile_training, 0.5)}
"""Phase -> (profiler, issue 7's goal for CS3D as a fraction of C3D's time)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--phases", nargs="+", choices=list(PHASES), default=list(PHASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["c3d", "cs3d"])
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (replays then pay page faults)")
    parser.add_argument("--json", help="write all numbers as JSON")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 1, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.repeats = [1], 1
    if not args.default_allocator:
        from snnfer.fastpath import keep_freed_memory

        keep_freed_memory()
    torch.set_num_threads(args.threads)
    load0, start = os.getloadavg(), time.perf_counter()
    results: dict[str, dict[int, dict]] = {}
    for phase in args.phases:
        profiler = PHASES[phase][0]
        for b in args.batches:
            x = _clip(b)
            res = results.setdefault(phase, {}).setdefault(b, {})
            for name in args.models:
                model = _build(name).set_execution("fast").eval()
                measured, groups = profiler(model, x, args.repeats)
                res[name] = {"measured_s": measured, "classes": by_class(groups),
                             "groups": len(groups)}
    alloc = "glibc default" if args.default_allocator else "freed memory kept"
    print(f"# CS3D and C3D call by call ({torch.get_num_threads()} threads, fp32, input "
          f"3x16x112x112, fast path, {alloc}; measured: median of {args.repeats}, alone: best "
          f"of {args.repeats} replays)\n")
    rows = {(phase, b): summary(res, PHASES[phase][1]) for phase, by_batch in results.items()
            for b, res in by_batch.items() if {"c3d", "cs3d"} <= set(res)}
    if rows:
        print(summary_table(rows))
        print("\nalone = the sum of every call's best replay time (today's kernels, perfect "
              "scheduling); last column: the same with CS3D's convolutions at C3D's "
              "dense-conv alone rate.")
    for phase, by_batch in results.items():
        for b, res in by_batch.items():
            print(f"\n## {phase.capitalize()}, batch {b}, by operation class\n")
            print(class_table(res))
    load1 = os.getloadavg()
    print(f"\nload average before/after: {load0[0]:.2f} / {load1[0]:.2f} ({os.cpu_count()} "
          f"CPUs); {time.perf_counter() - start:.0f} s")
    if args.json:
        data = {"threads": torch.get_num_threads(), "allocator": alloc,
                "results": {p: {str(b): r for b, r in d.items()} for p, d in results.items()},
                "summary": {f"{p}:{b}": r for (p, b), r in rows.items()}}
        atomic_write_text(args.json, json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
