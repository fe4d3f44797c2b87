"""Parameters and MACs of the HEC-Net family and SEEN at their paper and small presets.

Prints a markdown table: parameters (unique tensors), thop MACs (convolutions, linear
layers, norms; thop counts zero for neurons and for functional matmuls) and the
attention matmul MACs that thop misses (QK^T and AV of every attention block, counted
densely -- top-k selection masks but does not skip work), per sample (batch 1).

    python benchmarks/hecnet_complexity.py [--models hecnet seen] [--presets small] [--json F]
    python benchmarks/hecnet_complexity.py --quick     # smoke test: the small preset only
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnfer.atomic import atomic_write_text
from snnfer.layers import DualTopKAttention, TemporalTransformer, WindowCrossAttention
from snnfer.models import create_model

MODELS = ("hecnet", "hecnet_snn", "hecnet_event", "hecnet_rgb", "seen")


def example_inputs(model: nn.Module) -> tuple[torch.Tensor, ...]:
    """One sample of the model's default input shape (modalities in declared order)."""
    shape = model.default_input_shape
    if isinstance(shape, dict):
        return tuple(torch.rand(1, *shape[m]) for m in model.modalities)
    return (torch.rand(1, *shape),)


def attention_macs(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Dense MACs of the attention matmuls (QK^T and AV) of one forward pass."""
    total = 0

    def topk_hook(mod, args, out):
        nonlocal total
        q, k, v = args[:3]
        total += math.prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])

    def window_hook(mod, args, out):
        nonlocal total
        c, h, w = args[0].shape[-3:]
        frames = math.prod(args[0].shape[:-3])
        wh, ww = mod.window_size
        windows = math.ceil(h / wh) * math.ceil(w / ww)
        total += len(mod.updated) * frames * windows * (wh * ww) ** 2 * 2 * c

    def transformer_hook(mod, args, out):
        nonlocal total
        t, b, d = args[0].shape
        total += b * t * t * 2 * d

    hooks = {DualTopKAttention: topk_hook, WindowCrossAttention: window_hook,
             TemporalTransformer: transformer_hook}
    handles = [m.register_forward_hook(hooks[type(m)]) for m in model.modules()
               if type(m) in hooks]
    with torch.no_grad():
        model(*inputs)
    for h in handles:
        h.remove()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--presets", nargs="+", default=None, help="default: paper small")
    ap.add_argument("--quick", action="store_true", help="smoke test: the small preset only")
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args()
    args.presets = args.presets or (["small"] if args.quick else ["paper", "small"])
    import thop

    rows = []
    print("| model | preset | input (per modality T x C x H x W) | params (M) | thop GMACs "
          "| attention matmul GMACs | total GMACs |")
    print("|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for name in args.models:
            model = create_model(name, preset=preset).eval()
            inputs = example_inputs(model)
            params = sum(p.numel() for p in model.parameters())
            with contextlib.redirect_stdout(io.StringIO()):
                macs, _ = thop.profile(model, inputs=inputs, verbose=False)
            att = attention_macs(model, inputs)
            shape = model.default_input_shape
            desc = ", ".join(f"{m}: {'x'.join(map(str, s))}" for m, s in shape.items()) \
                if isinstance(shape, dict) else "x".join(map(str, shape))
            print(f"| {name} | {preset} | {desc} | {params / 1e6:.3f} | {macs / 1e9:.3f} "
                  f"| {att / 1e9:.4f} | {(macs + att) / 1e9:.3f} |")
            rows.append({"model": name, "preset": preset, "input": desc, "params": params,
                         "thop_gmacs": macs / 1e9, "attention_gmacs": att / 1e9,
                         "total_gmacs": (macs + att) / 1e9})
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
