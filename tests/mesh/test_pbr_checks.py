"""The pbr material's measurements (stylize.testing.pbr_checks), reduced: a short run keeps the
light out of its base colour and still reaches the prompted colour."""

from __future__ import annotations

import pytest

from stylize.testing.pbr_checks import light_spread, pbr_run
from tests.generation_helpers import TRAINER


@pytest.mark.slow
def test_a_plain_colour_prompt_bakes_an_even_base_colour_under_varied_light(tmp_path):
    run = pbr_run("sphere", "a orange circle", f"local-dir:{TRAINER}", seed=0,
                  overrides={"iters": 40, "render_size": 64, "output.score_size": 64})  # fmt: skip
    spread = light_spread(run, tmp_path, size=64, bake_size=64)
    red, green, blue = spread["mean_rgb"]
    assert red > 0.8 and 0.3 < green < 0.75 and blue < 0.25, spread  # orange, not grey or another hue
    assert spread["lit"] > 0.03, spread  # the lit views do vary (light and highlights)
    assert spread["ratio"] <= 1 / 3, spread
