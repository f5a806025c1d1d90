"""Seconds per ``stylize sketch`` step, split into raster, augment, CLIP and the optimiser.

Usage: PYTHONPATH=. python tools/bench/bench_sketch.py [--clip ViT-B-32:random] [--iters 3] [--device cpu]

Runs the reference settings (``--preset clipasso``: 224 px, 16 strokes, 3 seeds side by side, 4
augmented copies plus the unaugmented pair, so every step renders 3 sketches in one rasterizer
call and encodes (4 + 1) x (1 photo + 3 sketches) = 20 images in one CLIP pass) through
:class:`stylize.sketching.sketcher.Sketcher` with a random-init CLIP (random weights cost what
pretrained ones do; no download). Each phase's backward is timed with its forward. Prints the
seconds per step of each phase, the rasterizer's share (goal: under 5 % on CPU), and the
reference loop's cost model for comparison: three seeds run one after the other (three
processes in CLIPasso) encode 3 x 10 images per step instead of 20.

``--json`` prints only the JSON line (for ``tools/bench/bench_gpu.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stylize.config import resolve_config  # noqa: E402
from stylize.generation import RunContext, Timer  # noqa: E402
from stylize.sketching.config import SKETCH_PRESETS, SketchConfig  # noqa: E402
from stylize.sketching.sketcher import Sketcher  # noqa: E402

PHASES = {"render": "raster", "augment": "augment", "clip": "clip", "step": "optimiser"}


def photo(folder: Path, size: int = 224) -> Path:
    """A test picture: the instrument's own drawing of a shape (no files needed)."""
    from stylize.images import save_image
    from stylize.testing.shapes import draw_shapes

    batch = draw_shapes(1, size, torch.Generator().manual_seed(5), white_background=1.0)
    return save_image(folder / "photo.png", batch.images[0])


def measure(sketcher: Sketcher, iters: int) -> dict:
    cuda = sketcher.device.type == "cuda"
    sketcher.config.iters, sketcher.config.early_stop = 2, False
    sketcher.generate(RunContext(None, Timer(), None, 2))  # warm-up: allocators, kernels, text embeddings
    sketcher.config.iters = iters
    timer = Timer(synchronize=torch.cuda.synchronize if cuda else None)
    context = RunContext(None, timer, None, iters)
    sketcher.generate(context)
    per_step = {PHASES.get(name, name): round(total / context.steps, 4) for name, total in timer.totals.items()}
    per_step["total"] = round(sum(timer.totals.values()) / context.steps, 4)
    return {"seconds_per_step": per_step, "raster_share": round(per_step["raster"] / per_step["total"], 4),
            "steps": context.steps}  # fmt: skip


def build(clip: str, device: str, image: Path, smoke: bool, best_of: int | None = None) -> Sketcher:
    overrides = {"image": str(image), "clip": [clip], "saliency_clip": "", "device": device}
    if best_of is not None:
        overrides["best_of"] = best_of
    if smoke:
        overrides.update({"size": 48, "copies": 1, "strokes": [4]})
    return Sketcher(resolve_config(SketchConfig, SKETCH_PRESETS, "clipasso", overrides=overrides))


def run(clip: str = "ViT-B-32:random", iters: int = 3, device: str = "cpu", smoke: bool = False,
        compare: bool = True) -> dict:  # fmt: skip
    """The measurement as a dict (the batched run and, with ``compare``, one seed alone)."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        image = photo(Path(folder), 48 if smoke else 224)
        sketcher = build(clip, device, image, smoke)
        batched = measure(sketcher, iters)
        result = {"clip": clip, "device": str(sketcher.device), "threads": torch.get_num_threads(), "iters": iters,
                  "sketches_per_step": len(sketcher.config.strokes) * sketcher.config.best_of,
                  "images_per_clip_pass": (sketcher.config.copies + 1) * (1 + sketcher.config.best_of),
                  "batched": batched}  # fmt: skip
        if compare:
            single = measure(build(clip, device, image, smoke, best_of=1), iters)
            result["one_seed"] = single
            seeds = sketcher.config.best_of
            result["batched_over_seeds_in_turn"] = round(
                batched["seconds_per_step"]["total"] / (seeds * single["seconds_per_step"]["total"]), 3
            )
    result["load_before_after"] = [load_before, os.getloadavg()[0]]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="ViT-B-32:random")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--smoke", action="store_true", help="tiny settings (a dry run)")
    parser.add_argument("--no-compare", action="store_true", help="skip the one-seed run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.clip, args.iters, args.device, args.smoke, compare=not args.no_compare)
    print(json.dumps(result))
    split = result["batched"]["seconds_per_step"]
    print("\n| phase | s/step | share |\n|---|---:|---:|")
    for name in ("raster", "augment", "clip", "optimiser", "total"):
        print(f"| {name} | {split.get(name, 0):.4f} | {split.get(name, 0) / split['total']:.1%} |")


if __name__ == "__main__":
    main()
