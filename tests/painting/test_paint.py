"""Tests for stylize.painting: image parameterisations and the paint loop."""

from __future__ import annotations

import json

import pytest
import torch
from generation_helpers import test_clip_specs

from stylize.config import resolve_config
from stylize.errors import InputError
from stylize.painting import get_image
from stylize.painting.config import PAINT_PRESETS, PaintConfig
from stylize.painting.painter import Painter


@pytest.mark.parametrize("name", ["pixel", "fft"])
def test_parameterisation_starts_at_init_and_has_gradients(name):
    init = torch.rand(3, 12, 20)
    image = get_image(name, 12, 20, init=init)
    output = image()
    assert output.shape == (1, 3, 12, 20)
    assert torch.allclose(output[0], init.clamp(0.001, 0.999), atol=1e-5)
    output.mean().backward()
    assert all(float(p.grad.abs().sum()) > 0 for p in image.parameters())


def test_fft_random_start_is_smooth_grey():
    with torch.no_grad():
        image = get_image("fft", 32, 32, generator=torch.Generator().manual_seed(0))()
    assert abs(float(image.mean()) - 0.9) < 0.05  # the light default canvas
    fft = get_image("fft", 32, 32)
    assert float(fft.scale[0, 0, 0, 0]) > float(fft.scale[0, 0, 16, 16])  # low frequencies scaled up


def test_parameterisation_bad_input():
    with pytest.raises(ValueError, match="unknown image parameterisation"):
        get_image("vqgan", 8, 8)
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        get_image("pixel", 8, 8, init=torch.rand(3, 4, 4))


def _config(clip: str, **overrides) -> PaintConfig:
    values = {"prompts": ["a red circle"], "clip": [clip], "device": "cpu"}
    values.update(overrides)
    return resolve_config(PaintConfig, PAINT_PRESETS, "smoke", overrides=values)


def test_paint_run_folder_and_init_content(tmp_path, tiny_clip_spec):
    from PIL import Image

    Image.new("RGB", (40, 40), (0, 0, 255)).save(tmp_path / "blue.png")
    before = (tmp_path / "blue.png").read_bytes()
    result = Painter(_config(tiny_clip_spec, init=str(tmp_path / "blue.png"), size=32, iters=4)).run(tmp_path / "run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"image.png", "preview.png", "progress.gif", "config.toml", "run.json", "metrics.jsonl"} <= names
    assert (tmp_path / "blue.png").read_bytes() == before
    assert result.image.shape == (3, 32, 32)
    assert float(result.image[2].mean()) > 0.8 and float(result.image[0].mean()) < 0.2  # still the blue picture
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["steps"] == 4 and "content_loss" in (tmp_path / "run" / "metrics.jsonl").read_text()


def test_paint_bad_inputs(tmp_path, tiny_clip_spec):
    with pytest.raises(InputError, match="does not exist"):
        Painter(_config(tiny_clip_spec, init=str(tmp_path / "missing.png")))
    with pytest.raises(InputError, match="expected one of"):
        _config(tiny_clip_spec, param="vqgan")
    with pytest.raises(InputError, match="unknown config key 'strength'"):
        _config(tiny_clip_spec, strength=1)


# 60 steps (not the preset's 24): with instrument v3 24 steps of the test preset leave the canvas
# near its start (judged 15.9 -> 4.4 fft, 15.8 -> 6.1 pixel, the trainer's own score no higher),
# and both parameterisations need a larger step than their default (0.05) to move in that time.
# At the default fft step the result depended on summation order: v3 rose 15.9 -> 40.4 with two
# torch threads and fell to 2.5 with one; with v4 and one thread, seeds 0 / 1 / 2 rose +9.5 /
# +16.0 / +6.3 at 0.05 and +31.4 / +11.8 / +22.0 at 0.1.
@pytest.mark.slow
@pytest.mark.parametrize("param, prompt, extra", [("fft", "a red circle", {"lr": 0.1}), ("pixel", "a red circle", {"lr": 0.3})])
def test_paint_raises_judged_score(param, prompt, extra):
    trainer, judge = test_clip_specs()
    overrides = {"prompts": [prompt], "clip": [trainer], "judge": [judge], "device": "cpu", "param": param, "iters": 60, **extra}
    result = Painter(resolve_config(PaintConfig, PAINT_PRESETS, "test", overrides=overrides)).run()
    before, after = result.initial_scores[prompt], result.scores["judge"][prompt]
    print(f"{param} {prompt!r}: judge score {before:.4f} -> {after:.4f}")
    # Scores are 100 x cosine. v1 gave +10 and more at 24 steps, v2 +2.8 fft and +0.9 pixel (its
    # trainer was fooled by faint patterns); v3 at 60 steps: +24.5 fft, +41 pixel (two threads);
    # v4 at 60 steps, one thread: +31.4 fft (step 0.1), +20.5 pixel.
    assert after > before + 10
