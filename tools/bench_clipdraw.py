"""Seconds per CLIPDraw iteration, split into render, augment, CLIP and the optimiser step.

Usage: PYTHONPATH=. python tools/bench_clipdraw.py [--clip ViT-B-32:random] [--iters 5] [--device cpu]

Runs the ``clipdraw`` preset (224 px, 256 strokes, 4 augmented copies) through
:class:`stylize.vector.clipdraw.ClipDraw`. Each phase's backward is timed with its forward
(the loop back-propagates stage by stage). Random-init weights cost what pretrained ones do.
"""

from __future__ import annotations

import argparse
import json

import torch

from stylize.config import resolve_config
from stylize.generation import Timer
from stylize.vector.clipdraw import DRAW_PRESETS, ClipDraw, DrawConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="ViT-B-32:random")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--preset", default="clipdraw")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    overrides = {"prompts": ["a red circle"], "clip": [args.clip], "device": args.device, "progress": False, "iters": args.iters}
    draw = ClipDraw(resolve_config(DrawConfig, DRAW_PRESETS, args.preset, overrides=overrides))
    cuda = draw.device.type == "cuda"
    draw.config.iters = 1
    draw.optimise(seed=0, timer=Timer())  # warm-up: allocators, kernels, text embeddings
    draw.config.iters = args.iters
    timer = Timer(synchronize=torch.cuda.synchronize if cuda else None)
    candidate = draw.optimise(seed=0, timer=timer)
    per_iteration = {name: round(total / candidate.steps, 4) for name, total in timer.totals.items()}
    per_iteration["total"] = round(sum(timer.totals.values()) / candidate.steps, 4)
    print(json.dumps({"preset": args.preset, "clip": args.clip, "device": str(draw.device), "threads": torch.get_num_threads(),
                      "iters": candidate.steps, "seconds_per_iteration": per_iteration}))  # fmt: skip


if __name__ == "__main__":
    main()
