"""Semantic check of the engine: optimise a picture towards a prompt with the trainer test CLIP,
then print where the independent judge ranks that prompt among all 32 colour x shape captions.

    python tools/bench/semantic_engine_check.py [--steps 60] [--population 12] [--out grid.png]

The parameterisation and the selection rule are in :mod:`stylize.testing.semantic`; the test
suite runs three of these prompts (tests/testing/test_semantic.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from stylize.engine import ClipEngine
from stylize.eval import caption_rank, caption_scores
from stylize.images import image_grid, save_image, to_uint8_image
from stylize.testing.semantic import optimise_towards
from stylize.testing.shapes import short_captions

CLIP_ASSETS = Path(__file__).resolve().parents[2] / "tests" / "assets" / "clip"
TRAINER = f"local-dir:{CLIP_ASSETS / 'trainer'}"
JUDGE = f"local-dir:{CLIP_ASSETS / 'judge'}"
PROMPTS = [
    "a red circle",
    "a blue square",
    "a yellow star",
    "a green triangle",
    "a purple circle",
    "a orange square",
    "a black triangle",
    "a white star",
]


def main() -> None:
    parser = argparse.ArgumentParser(description="judge ranks of pictures optimised with the trainer CLIP")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write a grid of the chosen pictures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    judge = ClipEngine([JUDGE], "a red circle", device="cpu")
    captions = short_captions()
    pictures, ranks = [], []
    for prompt in PROMPTS:
        started = time.perf_counter()
        result = optimise_towards(prompt, TRAINER, steps=args.steps, population=args.population, seed=args.seed)
        scores = caption_scores(judge, result.image, captions)
        ranks.append(caption_rank(scores, prompt))
        pictures.append(result.image[0])
        top = sorted(scores, key=scores.get, reverse=True)[:3]
        print(
            f"{prompt!r}: judge rank {ranks[-1]} of {len(captions)}; judge's top 3 {top}; {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    print(f"mean judge rank {sum(ranks) / len(ranks):.2f}; worst {max(ranks)}")
    if args.out is not None:
        save_labelled(
            args.out,
            pictures,
            [p.removeprefix("a ").replace(" ", "\n", 1) + f"\njudge rank {r}" for p, r in zip(PROMPTS, ranks, strict=True)],
        )


def save_labelled(path: Path, pictures: list[torch.Tensor], labels: list[str]) -> None:
    """The pictures side by side, each framed in grey (a white picture on white still shows where
    it is) with its prompt and the judge's rank of it written underneath."""
    from PIL import Image, ImageDraw

    grid = image_grid(pictures, columns=len(pictures))
    size = pictures[0].shape[-1]
    array = to_uint8_image(grid)
    canvas = Image.new("RGB", (array.shape[1], array.shape[0] + 38), (255, 255, 255))
    canvas.paste(Image.fromarray(array), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for index, label in enumerate(labels):
        left = index * size
        draw.rectangle([left, 0, left + size - 1, size - 1], outline=(190, 190, 190))
        draw.multiline_text((left + 2, size + 1), label, fill=(40, 40, 40), spacing=1)
    save_image(path, np.asarray(canvas))


if __name__ == "__main__":
    main()
