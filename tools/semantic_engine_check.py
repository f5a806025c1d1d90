"""Semantic check of the engine: optimise a picture towards a prompt with the trainer test CLIP,
then print where the independent judge ranks that prompt among all 32 captions.

    python tools/semantic_engine_check.py [--steps 60]

Not part of the test suite yet: with plain low-resolution pixels the optimisation finds textures
that move the trainer but transfer to the judge only for some prompts (measured ranks are in the
closing note of issue 3). A smoother parameterisation is the open work.
"""

from __future__ import annotations

from pathlib import Path

import argparse
import torch
import torch.nn.functional as F

from stylize.engine import Augmenter, ClipEngine
from stylize.eval import caption_rank, caption_scores
from stylize.testing.shapes import short_captions

CLIP_ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets" / "clip"
TRAINER = f"local-dir:{CLIP_ASSETS / 'trainer'}"
JUDGE = f"local-dir:{CLIP_ASSETS / 'judge'}"


def optimise_picture(prompt: str, steps: int = 60, seed: int = 0) -> torch.Tensor:
    """Low-resolution logits, upsampled and augmented, optimised against the trainer."""
    torch.manual_seed(seed)
    engine = ClipEngine([TRAINER], prompt, device="cpu")
    augment = Augmenter("clipdraw", copies=4, seed=seed)
    logits = torch.zeros(1, 3, 16, 16).normal_(0, 0.1).add_(2.0).requires_grad_(True)  # start near white
    optimizer = torch.optim.Adam([logits], lr=0.15)
    for _ in range(steps):
        image = F.interpolate(torch.sigmoid(logits), size=(64, 64), mode="bilinear", align_corners=False)
        loss = engine(augment(image)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return F.interpolate(torch.sigmoid(logits), size=(64, 64), mode="bilinear", align_corners=False).detach()


PROMPTS = ["a red circle", "a blue square", "a yellow star", "a green triangle", "a purple circle"]


def main() -> None:
    parser = argparse.ArgumentParser(description="judge ranks of pictures optimised with the trainer CLIP")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    judge = ClipEngine([JUDGE], "a red circle", device="cpu")
    captions = short_captions()
    blank = torch.ones(1, 3, 64, 64)
    for prompt in PROMPTS:
        before = caption_rank(caption_scores(judge, blank, captions), prompt)
        after = caption_rank(caption_scores(judge, optimise_picture(prompt, steps=args.steps), captions), prompt)
        print(f"{prompt!r}: judge rank {after} of {len(captions)} (blank picture: {before})")


if __name__ == "__main__":
    main()
