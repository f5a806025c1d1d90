"""Seconds per CLIPDraw iteration, split into render, augment, CLIP and the optimiser step.

Usage: PYTHONPATH=. python tools/bench/bench_clipdraw.py [--clip ViT-B-32:random] [--iters 5] [--device cpu]

Runs the ``clipdraw`` preset (224 px, 256 strokes, 4 augmented copies) through
:class:`stylize.vector.clipdraw.ClipDraw`, twice in one process: scoring the augmented copies
in one CLIP batch (what the loop does) and, for comparison, one engine call per copy (the same
loss: the engine averages over copies). Each phase's backward is timed with its forward (the
loop back-propagates stage by stage). Random-init weights cost what pretrained ones do. Also
prints the project's host reads per step (reads that would make a CUDA step wait on the GPU).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from stylize.config import resolve_config
from stylize.engine.engine import EngineOutput
from stylize.generation import Timer
from stylize.testing.syncs import count_host_reads
from stylize.vector.clipdraw import ClipDraw
from stylize.vector.config import DRAW_PRESETS, DrawConfig


def _one_call_per_copy(engine, copies: int):
    """An engine forward that scores each augmented copy with its own call (the unbatched path)."""
    batched = engine.forward

    def forward(images, pool=False):
        parts = [batched(part, pool=pool) for part in images.chunk(copies)]
        out = EngineOutput(loss=torch.stack([p.loss for p in parts]).mean())
        out.similarity_tensors = {m: {k: torch.stack([p.similarity_tensors[m][k] for p in parts]).mean() for k in s}
                                  for m, s in parts[0].similarity_tensors.items()}  # fmt: skip
        return out

    return forward


def measure(draw: ClipDraw, iters: int) -> dict:
    cuda = draw.device.type == "cuda"
    draw.config.iters = 1
    draw.optimise(seed=0, timer=Timer())  # warm-up: allocators, kernels, text embeddings
    with count_host_reads() as reads:
        draw.optimise(seed=0, timer=Timer())
    draw.config.iters = iters
    timer = Timer(synchronize=torch.cuda.synchronize if cuda else None)
    candidate = draw.optimise(seed=0, timer=timer)
    per_iteration = {name: round(total / candidate.steps, 4) for name, total in timer.totals.items()}
    per_iteration["total"] = round(sum(timer.totals.values()) / candidate.steps, 4)
    return {"seconds_per_iteration": per_iteration, "host_reads_per_step": len(reads.project_sites())}


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
    load_before = os.getloadavg()[0]
    overrides = {"prompts": ["a red circle"], "clip": [args.clip], "device": args.device, "iters": args.iters}
    draw = ClipDraw(resolve_config(DrawConfig, DRAW_PRESETS, args.preset, overrides=overrides))
    batched = measure(draw, args.iters)
    draw.engine.forward = _one_call_per_copy(draw.engine, draw.config.copies)
    per_copy = measure(draw, args.iters)
    ratio = batched["seconds_per_iteration"]["total"] / per_copy["seconds_per_iteration"]["total"]
    print(json.dumps({"preset": args.preset, "clip": args.clip, "device": str(draw.device), "threads": torch.get_num_threads(),
                      "iters": args.iters, "one_batch": batched, "one_call_per_copy": per_copy,
                      "one_batch_over_per_copy": round(ratio, 3), "load_before_after": [load_before, os.getloadavg()[0]]}))  # fmt: skip


if __name__ == "__main__":
    main()
