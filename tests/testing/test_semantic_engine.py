"""End to end through the engine: optimising a picture towards a prompt with the trainer CLIP
makes the independent judge CLIP rank that prompt at or near the top of all 32 captions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stylize.engine import Augmenter, ClipEngine
from stylize.eval import caption_rank, caption_scores
from stylize.testing.shapes import short_captions

CLIP_ASSETS = Path(__file__).resolve().parents[2] / "tests" / "assets" / "clip"
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


@pytest.fixture(scope="module")
def judge():
    return ClipEngine([JUDGE], "a red circle", device="cpu")


@pytest.mark.parametrize("prompt", ["a red circle", "a blue square", "a yellow star"])
def test_judge_ranks_the_prompt_near_the_top(judge, prompt):
    captions = short_captions()
    blank = torch.ones(1, 3, 64, 64)
    before = caption_rank(caption_scores(judge, blank, captions), prompt)
    picture = optimise_picture(prompt)
    after = caption_rank(caption_scores(judge, picture, captions), prompt)
    assert after <= 3, f"judge ranked {prompt!r} {after} of {len(captions)} (before: {before})"
    assert after < before or before <= 3
