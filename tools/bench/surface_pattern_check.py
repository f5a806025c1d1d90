"""Surface vs vertex mode on a 4-vertex square: does the judge see the prompted pattern?

Prints the judge's margin (patterned caption minus plain caption, 100 x cosine) per mode and
seed, and writes the README picture ``docs/images/surface_vs_vertex.png`` (front views: one
column per field kind, vertex, surface and texture by default; one row per prompt). See :mod:`stylize.testing.patterns`.

    python tools/bench/surface_pattern_check.py                      # both prompts, seeds 0 and 1, 150 steps
    python tools/bench/surface_pattern_check.py --iters 60 --seeds 0 --no-picture
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import torch

    from stylize.engine import ClipEngine, ModelCache
    from stylize.images import image_grid, save_image
    from stylize.testing.patterns import pattern_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", nargs="+", default=["a blue striped square", "a red dotted square"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--iters", type=int, default=150)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clips", default=str(ROOT / "tests" / "assets" / "clip"))
    parser.add_argument("--picture", default=str(ROOT / "docs" / "images" / "surface_vs_vertex.png"))
    parser.add_argument("--no-picture", action="store_true")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["vertex", "surface", "texture"],
        help="field kinds to compare (the picture has one column per kind)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = ModelCache()
    trainer = f"local-dir:{Path(args.clips) / 'trainer'}"
    judge = ClipEngine([f"local-dir:{Path(args.clips) / 'judge'}"], "x", device="cpu", model_cache=cache)
    rows, tiles = [], []
    for prompt in args.prompts:
        for seed in args.seeds:
            for mode in args.modes:
                result = pattern_run(mode, prompt, trainer, judge, args.iters, seed, args.size, cache)
                rows.append(
                    {
                        "prompt": prompt,
                        "seed": seed,
                        "mode": mode,
                        "margin": round(result.margin, 2),
                        "scores": {k: round(v, 2) for k, v in result.scores.items()},
                        "seconds": round(result.seconds, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                if seed == args.seeds[0]:
                    tiles.append(torch.nn.functional.interpolate(result.image[None], size=160, mode="nearest")[0])
    for prompt in args.prompts:
        for mode in args.modes:
            margins = [r["margin"] for r in rows if r["prompt"] == prompt and r["mode"] == mode]
            print(
                f"{prompt!r} {mode}: judge margin patterned - plain {sum(margins) / len(margins):+.2f} "
                f"(seeds {', '.join(f'{m:+.2f}' for m in margins)})"
            )
    if not args.no_picture:
        Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        print("wrote", save_image(args.picture, image_grid(tiles, columns=len(args.modes))))


if __name__ == "__main__":
    main()
