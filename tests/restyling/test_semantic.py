"""The restyle measurement with the project's test CLIPs (trainer trains, judge scores).

A red disc on white, restyled from "a red circle" to "a blue circle" with the command line's
``--preset smoke --iters 200 --set content_features=clip``: the judge must rank "a blue circle"
first among the eight colour captions and the disc must keep its shape (IoU of the foreground
masks before / after); without the content loss the shape must do clearly worse; ``--apply`` on
another red-disc picture must shift its colours the same way.

The thresholds are here, at the top, so that a retrained test CLIP can move them in one place.
Figures when they were set (test CLIPs of commit 86a52a8, ``python tools/bench/restyle_check.py``):

====  =====================  ====================  ===========================
seed  with content loss      without               --apply (second picture)
====  =====================  ====================  ===========================
0     rank 1, IoU 0.911      rank 1, IoU 0.621     rank 1, IoU 0.879, shift 0.097
1     rank 1, IoU 0.948      rank 1, IoU 0.161     rank 1, IoU 0.909, shift 0.076
2     rank 2, IoU 0.868      rank 1, IoU 0.870     rank 2, IoU 0.782, shift 0.062
====  =====================  ====================  ===========================

Seed 2 is a known failure: the disc turns yellow on a mint background, which the *trainer*
scores 0.81 for "a blue circle" (a yellow disc on white already has a directional loss of 0.38
under it), and the judge ranks yellow first by 0.008. The test runs seed 0.
"""

from __future__ import annotations

import pytest
import torch
from generation_helpers import test_clip_specs

from stylize.cli import main
from stylize.config import resolve_config
from stylize.engine import ClipEngine, PromptSet, load_image
from stylize.images import save_image
from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig
from stylize.restyling.restyler import Restyler
from stylize.testing.restyle_check import colour_ranking, disc_picture, foreground_mask, mask_iou, mean_colour

#: The shape survives: IoU of the foreground masks of the content image and the result.
MIN_IOU = 0.8
#: Without the content loss the IoU must be at least this much lower.
MIN_IOU_GAP_WITHOUT_CONTENT = 0.1
#: The judge's cosine for "a blue circle" must beat the runner-up caption's by this much.
MIN_JUDGE_MARGIN = 0.05
#: The disc's mean colour must be blue in pixels too (not only for the judge): its blue channel
#: must exceed its red and green channels by this much.
MIN_BLUE_LEAD = 0.2
#: --apply on another picture: largest per-channel difference of the mean colour shifts
#: (foreground and background, after minus before) between the two pictures.
MAX_SHIFT_DIFFERENCE = 0.12

pytestmark = pytest.mark.slow

SMOKE_200 = ["--preset", "smoke", "--iters", "200", "--set", "content_features=clip", "--device", "cpu", "--seed", "0"]


@pytest.fixture(scope="module")
def judge():
    _, judge_spec = test_clip_specs()
    return ClipEngine([judge_spec], PromptSet.build("a blue circle"), device="cpu")


@pytest.fixture(scope="module")
def restyled(tmp_path_factory):
    """The CLI run of the issue's command on a red disc (shared by the tests below)."""
    trainer, _ = test_clip_specs()
    folder = tmp_path_factory.mktemp("restyle_semantic")
    save_image(folder / "red.png", disc_picture(128, (0.45, 0.55), 0.3))
    code = main(["restyle", str(folder / "red.png"), "a blue circle", "--source", "a red circle", "--clip", trainer,
                 "--out", str(folder / "run"), "--progress", "none", *SMOKE_200])  # fmt: skip
    assert code == 0
    return folder


def _blue_lead(before: torch.Tensor, after: torch.Tensor) -> float:
    """How much the blue channel of the disc's mean colour exceeds its red and green ones."""
    red, green, blue = mean_colour(after, foreground_mask(before)).tolist()
    return blue - max(red, green)


def _measure(judge, before: torch.Tensor, after: torch.Tensor) -> dict:
    ranking = colour_ranking(judge, after)
    captions = [caption for caption, _ in ranking]
    return {"rank": captions.index("a blue circle") + 1, "ranking": ranking, "blue_lead": _blue_lead(before, after),
            "iou": mask_iou(foreground_mask(before), foreground_mask(after))}  # fmt: skip


def test_judge_ranks_the_new_colour_first_and_the_shape_survives(restyled, judge):
    before, after = load_image(restyled / "red.png"), load_image(restyled / "run" / "image.png")
    figures = _measure(judge, before, after)
    print(f"with content loss: judge rank {figures['rank']}, top {figures['ranking'][:2]}, IoU {figures['iou']:.3f}, "
          f"blue lead {figures['blue_lead']:.3f}")  # fmt: skip
    assert figures["rank"] == 1
    assert figures["ranking"][0][1] - figures["ranking"][1][1] > MIN_JUDGE_MARGIN
    assert figures["blue_lead"] >= MIN_BLUE_LEAD
    assert figures["iou"] >= MIN_IOU


def test_without_the_content_loss_the_shape_does_worse(restyled, judge):
    trainer, _ = test_clip_specs()
    # 120 steps, not the 200 of the run with the content loss: a shorter run has had less time to
    # drift, so it doing worse still is the stronger claim (with v4 its IoU is 0.0 at 120 and at 200)
    overrides = {"image": str(restyled / "red.png"), "prompt": "a blue circle", "source": "a red circle", "clip": [trainer],
                 "iters": 120, "content_features": "clip", "lambda_content": 0.0, "device": "cpu"}  # fmt: skip
    result = Restyler(resolve_config(RestyleConfig, RESTYLE_PRESETS, "smoke", overrides=overrides)).run()
    with_content = _measure(judge, load_image(restyled / "red.png"), load_image(restyled / "run" / "image.png"))
    without = _measure(judge, result.content, result.image)
    print(f"without content loss: judge rank {without['rank']}, top {without['ranking'][:2]}, IoU {without['iou']:.3f} "
          f"(with: {with_content['iou']:.3f})")  # fmt: skip
    assert without["iou"] < with_content["iou"] - MIN_IOU_GAP_WITHOUT_CONTENT


def test_apply_gives_another_picture_the_same_colour_shift(restyled, judge):
    other = restyled / "other.png"
    save_image(other, disc_picture((144, 176), (0.62, 0.4), 0.24))  # another size, place and radius
    assert main(["restyle", "--apply", str(restyled / "run"), str(other), "--out", str(restyled / "applied")]) == 0
    shifts = []
    for before_path, after_path in ((restyled / "red.png", restyled / "run" / "image.png"),
                                    (other, restyled / "applied" / "image.png")):  # fmt: skip
        before, after = load_image(before_path), load_image(after_path)
        mask = foreground_mask(before)
        shifts.append(torch.cat([mean_colour(after, mask) - mean_colour(before, mask),
                                 mean_colour(after, ~mask) - mean_colour(before, ~mask)]))  # fmt: skip
    applied = load_image(restyled / "applied" / "image.png")
    figures = _measure(judge, load_image(other), applied)
    difference = float((shifts[0] - shifts[1]).abs().max())
    print(f"--apply: shift trained {shifts[0].numpy().round(3)}, applied {shifts[1].numpy().round(3)}, "
          f"max difference {difference:.3f}; judge rank {figures['rank']}, IoU {figures['iou']:.3f}")  # fmt: skip
    assert difference <= MAX_SHIFT_DIFFERENCE
    assert figures["rank"] == 1 and figures["blue_lead"] >= MIN_BLUE_LEAD and figures["iou"] >= MIN_IOU
