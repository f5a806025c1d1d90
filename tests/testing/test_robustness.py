"""Seed robustness of Text2Mesh, judged by the judge test CLIP (stylize/testing/robustness.py;
the full figure is tools/bench/seed_robustness.py, 8 colours x 5 seeds x sphere and cube)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stylize.engine import ClipEngine, ModelCache
from stylize.mesh.io import LoadedMesh
from stylize.testing.robustness import (
    RobustnessCase,
    RobustnessResult,
    judge_views,
    judged_colour,
    primitive_mesh,
    run_case,
    success_rate,
)
from stylize.testing.shapes import COLOUR_RGB, COLOURS

CLIPS = Path(__file__).resolve().parents[2] / "tests" / "assets" / "clip"
TRAINER, JUDGE = f"local-dir:{CLIPS / 'trainer'}", f"local-dir:{CLIPS / 'judge'}"
#: The start of a 300-iteration fast run. With v4 the verdict has settled by then: at 30 and at 50
#: steps all eight runs end the same pure colours with the same judge margins (0.83-0.87 against at
#: most 0.58); at 15 steps the blue runs are still grey-cyan (0.38 / 0.55 / 0.52) and judged white.
ITERS = 30


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


@pytest.fixture(scope="module")
def judge(cache):
    return ClipEngine([JUDGE], "a red circle", device="cpu", model_cache=cache)


def _painted(name: str, rgb) -> LoadedMesh:
    mesh = primitive_mesh(name)
    colours = np.tile(np.asarray(rgb, dtype=np.float32), (len(mesh.vertices), 1))
    return LoadedMesh(mesh.vertices, mesh.faces, colours, mesh.normalization)


def test_judge_views_go_all_around():
    views = judge_views(8)
    assert len(views) == 16
    assert torch.allclose(views.azimuth[:8], torch.arange(8) * (2 * torch.pi / 8))


@pytest.mark.parametrize("primitive", ["sphere", "cube"])
def test_judge_names_the_colour_of_a_painted_primitive(judge, primitive):
    noun = {"sphere": "circle", "cube": "square"}[primitive]
    named = [judged_colour(judge, _painted(primitive, COLOUR_RGB[colour]), noun)[0] for colour in COLOURS]
    # every colour, white included: the v2 judge read a white cube on the white background as black
    # (its training never put light objects on white); v3 has them there, as pipelines render them
    assert named == list(COLOURS)
    # an untouched grey start is not a success for a hue
    assert judged_colour(judge, _painted(primitive, (0.5, 0.5, 0.5)), noun)[0] in ("black", "white")


def test_success_rate_counts_winners():
    case = RobustnessCase("fast", "sphere", "blue", 0)
    assert case.prompt == "a blue circle" and RobustnessCase("fast", "cube", "red", 1).prompt == "a red square"
    results = [RobustnessResult(case, 10, winner, winner == "blue", (0.0, 0.0, 1.0), {}) for winner in ("blue", "purple", "blue")]
    assert success_rate(results) == pytest.approx(2 / 3)
    assert results[1].to_dict()["case"] == {"preset": "fast", "primitive": "sphere", "colour": "blue", "seed": 0}
    with pytest.raises(ValueError, match="at least one"):
        success_rate([])
    with pytest.raises(ValueError, match="expected a primitive"):
        primitive_mesh("teapot")


@pytest.mark.slow
def test_fast_preset_gives_the_prompted_colour_whatever_the_seed(judge, cache):
    """4 colours x 2 seeds of the full figure, ITERS steps each (tools/bench/seed_robustness.py:
    80 of 80 runs with instrument v4, 76 of 80 with v3, 70 of 80 with v2, 34 of 74 with v1). The
    judge must name the *prompted* colour in every run: with v4 all eight are right by a wide
    margin (the prompted colour's judge cosine 0.83-0.87 against at most 0.58 for the runner-up);
    with v3 the blue sphere of seed 1 turned cyan, and this test allowed one miss."""
    results = [
        run_case(RobustnessCase("fast", "sphere", colour, seed), TRAINER, judge, iters=ITERS, model_cache=cache)
        for colour in ("red", "green", "blue", "yellow") for seed in (0, 1)
    ]  # fmt: skip
    missed = [(r.case.colour, r.case.seed, r.winner, r.mean_colour) for r in results if not r.success]
    assert success_rate(results) == 1.0, missed
