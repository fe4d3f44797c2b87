"""Frames per second of snnfer's DVSEmulator (and of v2e's EventEmulator, if given).

Inputs, 30 fps, uint8:
- ``texture``: a uniform-random 8-bit texture (values 24-255) shifted one pixel per frame, so
  every pixel changes every frame (~34,000 events per frame at 112 x 112);
- ``face``: a smooth synthetic face (shaded ellipse, blinking eyes, moving brows and mouth,
  slow head sway) — sparse, realistic FER-like activity.

Both emulators get the same parameters (``--presets``, v2e's names) and no frame
interpolation (``upsample=1``); fps = frames / wall time (best of ``--repeats``), measured in
the same run; "CPU fps" = frames / CPU seconds used by the process (all its threads), which a
loaded shared machine disturbs less. v2e is not on PyPI: pass its source folder with
``--v2e-path`` (or ``V2E_PATH``); GUI/output-only imports it needs (screeninfo, easygui,
engineering_notation, dv_processing) are replaced by empty stand-ins if missing, since they
play no part in the emulation.

    python benchmarks/emulator_speed.py --v2e-path ~/src/v2e [--json out.json]
    python benchmarks/emulator_speed.py --quick      # smoke test: 30 frames, 112 x 112, clean

``--quick`` measures 30-frame clips at 112 x 112 with the ``clean`` preset, one repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnfer.atomic import atomic_write_text
from snnfer.data.emulator import PRESETS, DVSEmulator


def texture_clip(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    tex = np.random.default_rng(seed).integers(24, 256, (h, w + n), dtype=np.uint8)
    return np.stack([tex[:, i:i + w] for i in range(n)])


def face_clip(n: int, h: int, w: int) -> np.ndarray:
    """A smooth synthetic face: shaded skin ellipse, eyes that blink, brows and mouth that
    move, a slow sway of the whole head."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h - 0.5, xx / w - 0.5
    frames = np.empty((n, h, w), np.uint8)
    for i in range(n):
        ph = 2 * np.pi * i / 30
        x, y = xx - 0.03 * np.sin(ph / 3), yy - 0.02 * np.cos(ph / 4)
        img = 60 + 30 * (y + 0.5)  # background gradient
        face = (x / 0.36) ** 2 + (y / 0.46) ** 2 < 1
        img = np.where(face, 175 - 60 * (x ** 2 + y ** 2), img)
        openness = 0.035 * max(0.05, abs(np.cos(ph / 2)))  # blinks
        for ex in (-0.15, 0.15):
            eye = ((x - ex) / 0.08) ** 2 + ((y + 0.1) / openness) ** 2 < 1
            img = np.where(eye, 40, img)
            brow = (np.abs(x - ex) < 0.09) & (np.abs(y + 0.18 + 0.02 * np.sin(ph)) < 0.012)
            img = np.where(brow, 50, img)
        mouth = (x / 0.14) ** 2 + ((y - 0.22) / (0.015 + 0.03 * (1 + np.sin(ph / 1.5)))) ** 2 < 1
        frames[i] = np.where(mouth, 70, img).clip(0, 255).astype(np.uint8)
    return frames


def load_v2e(path: str):
    """Import v2e's EventEmulator from a source checkout, stubbing GUI/output-only modules."""
    for name in ("screeninfo", "easygui", "engineering_notation", "dv_processing"):
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.get_monitors = lambda: []
            stub.EngNumber = str
            sys.modules[name] = stub
    sys.path.insert(0, str(Path(path).expanduser()))
    from v2ecore.emulator import EventEmulator

    return EventEmulator


def _timed(fn):
    """(wall seconds, CPU seconds of this process, result)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def run_snnfer(frames, ts, params, repeats, workers, timestamps):
    emu = DVSEmulator(**params, upsample=1, workers=workers, seed=1, timestamps=timestamps)
    wall, cpu, n = np.inf, np.inf, 0
    for _ in range(repeats):
        w, c, ev = _timed(lambda: emu(frames, ts))
        wall, cpu, n = min(wall, w), min(cpu, c), len(ev)
    steps = len(frames) - 1
    return steps / wall, steps / cpu, n / steps


def run_v2e(event_emulator, frames, ts, params, repeats):
    wall, cpu, n = np.inf, np.inf, 0
    for _ in range(repeats):
        emu = event_emulator(device="cpu", seed=1, **params)
        emu.generate_events(frames[0], ts[0])  # like ours: the first frame initialises

        def clip(emu=emu):
            return sum(len(e) for f, t in zip(frames[1:], ts[1:])
                       if (e := emu.generate_events(f, float(t))) is not None)

        w, c, total = _timed(clip)
        wall, cpu, n = min(wall, w), min(cpu, c), total
    steps = len(frames) - 1
    return steps / wall, steps / cpu, n / steps


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--sizes", default="112x112,346x260", help="WxH list")
    ap.add_argument("--inputs", default="texture,face")
    ap.add_argument("--presets", default="clean,v2e-default")
    ap.add_argument("--timestamps", default="linear,v2e",
                    help="snnfer timestamp rules to time (linear = exact crossings, v2e = v2e's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="snnfer expansion threads")
    ap.add_argument("--v2e-path", default=os.environ.get("V2E_PATH"))
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 30 frames, 112x112, clean preset, 1 repeat")
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.frames, args.sizes, args.presets, args.repeats = 30, "112x112", "clean", 1
    event_emulator = load_v2e(args.v2e_path) if args.v2e_path else None
    import logging

    logging.disable(logging.WARNING)  # v2e warns on every frame without events
    print(f"torch threads: {torch.get_num_threads()}, frames per clip: {args.frames}, "
          f"30 fps, upsample=1{'' if event_emulator else ' (no --v2e-path: v2e not measured)'}")
    print()
    print("| input | W x H | preset | timestamps | snnfer fps (CPU fps) | snnfer events/frame "
          "| v2e fps (CPU fps) | v2e events/frame | speed-up wall (CPU) |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        clips = {"texture": texture_clip(args.frames, h, w), "face": face_clip(args.frames, h, w)}
        ts = np.arange(args.frames) / 30.0
        for name in args.inputs.split(","):
            for preset in args.presets.split(","):
                params = PRESETS[preset]
                v2e = None
                if event_emulator is not None:
                    v2e = run_v2e(event_emulator, clips[name], ts, params, args.repeats)
                for rule in args.timestamps.split(","):
                    fps, cfps, epf = run_snnfer(clips[name], ts, params, args.repeats,
                                                args.workers, rule)
                    row = (f"| {name} | {w} x {h} | {preset} | {rule} | {fps:,.0f} ({cfps:,.0f})"
                           f" | {epf:,.0f} |")
                    record = {"input": name, "width": w, "height": h, "preset": preset,
                              "timestamps": rule, "snnfer_fps": fps, "snnfer_cpu_fps": cfps,
                              "snnfer_events_per_frame": epf}
                    if v2e is not None:
                        vfps, vcfps, vepf = v2e
                        row += (f" {vfps:,.0f} ({vcfps:,.0f}) | {vepf:,.0f} | {fps / vfps:.1f}x"
                                f" ({cfps / vcfps:.1f}x) |")
                        record.update(v2e_fps=vfps, v2e_cpu_fps=vcfps, v2e_events_per_frame=vepf)
                    else:
                        row += " - | - | - |"
                    rows.append(record)
                    print(row, flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps(
            {"frames": args.frames, "repeats": args.repeats, "v2e": event_emulator is not None,
             "torch_threads": torch.get_num_threads(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
