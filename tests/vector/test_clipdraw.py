"""Tests for stylize.vector.clipdraw (and palettes, scene initialisers): CLIPDraw runs end to end."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import torch
from generation_helpers import CAPTIONS, test_clip_specs

from stylize.colors import parse_color, parse_palette
from stylize.config import resolve_config
from stylize.engine import ClipEngine, ModelCache
from stylize.errors import InputError
from stylize.eval import caption_rank, caption_scores
from stylize.generation import InitContext, milestone_factor
from stylize.vector import read_svg, save_svg
from stylize.vector.clipdraw import ClipDraw
from stylize.vector.config import DRAW_PRESETS, DrawConfig
from stylize.vector.initial import initial_scene
from stylize.vector.palette import PaletteColors, palette_from_image


def _config(clip: str, **overrides) -> DrawConfig:
    values = {"prompts": ["a red circle"], "clip": [clip], "device": "cpu", "size": 32, "paths": 8}
    values.update(overrides)
    return resolve_config(DrawConfig, DRAW_PRESETS, "smoke", overrides=values)


def test_reference_presets_match_clipdraw():
    reference = resolve_config(DrawConfig, DRAW_PRESETS, "clipdraw")
    assert (reference.size, reference.paths, reference.segments, reference.iters, reference.copies) == (224, 256, 3, 1000, 4)
    assert (reference.lr_points, reference.lr_widths, reference.lr_colors) == (1.0, 0.1, 0.01)
    assert (reference.min_width, reference.max_width, reference.negative_weight) == (1.0, 50.0, 0.3)
    style = resolve_config(DrawConfig, DRAW_PRESETS, "styleclipdraw")
    assert (style.iters, style.copies, style.style_weight, style.style_only_fraction, style.final_scale) == (500, 10, 2.0, 0.1, 4)
    assert [milestone_factor(s, 1000, [0.5, 0.75], [0.4, 0.1]) for s in (0, 499, 500, 749, 750, 999)] == [
        1,
        1,
        0.4,
        0.4,
        0.1,
        0.1,
    ]


def test_palette_parsing():
    assert parse_color("#ff8000") == pytest.approx((1.0, 128 / 255, 0.0))
    assert parse_color("f00") == (1.0, 0.0, 0.0)
    assert parse_palette("#aa3300, #ffffff").shape == (2, 3)
    for bad in ("", "#12345", "red,#ffffff", "#gg0000"):
        with pytest.raises(InputError, match="bad palette"):
            parse_palette(bad)


def test_palette_from_image(tmp_path):
    from PIL import Image

    pixels = np.zeros((20, 20, 3), np.uint8)
    pixels[:, :10] = (255, 0, 0)
    pixels[:, 10:] = (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "two.png")
    palette = palette_from_image(tmp_path / "two.png", colors=2)
    assert sorted(map(tuple, palette.tolist())) == [(0.0, 0.0, 1.0), (1.0, 0.0, 0.0)]


def test_palette_colors_are_hard_but_differentiable():
    palette = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    choice = PaletteColors(palette, torch.tensor([0, 1, 1]))
    colors = choice()
    assert torch.equal(colors[:, :3], palette[[0, 1, 1]]) and torch.equal(colors[:, 3], torch.ones(3))
    colors[:, 2].sum().backward()
    assert choice.logits.grad[0, 1] > 0  # descent on this loss would lower blue


def test_initialisers_make_strokes_fills_or_both():
    context = InitContext((64, 64), torch.Generator().manual_seed(0))
    strokes = initial_scene("strokes", 6, context)
    fills = initial_scene("fills", 6, context)
    both = initial_scene("both", 6, context, fill_fraction=0.5)
    assert strokes.has_stroke.all() and not strokes.has_fill.any()
    assert fills.has_fill.all() and not fills.has_stroke.any() and fills.contour_closed.all()
    assert both.has_fill.tolist() == [True] * 3 + [False] * 3
    with pytest.raises(ValueError, match="unknown scene initialiser"):
        initial_scene("dots", 6, context)


def test_run_folder_and_svg_matches_png(tmp_path, tiny_clip_spec):
    resvg = pytest.importorskip("resvg_py")
    from PIL import Image

    result = ClipDraw(_config(tiny_clip_spec, shapes="both", final_scale=2)).run(tmp_path / "run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"drawing.svg", "drawing.png", "progress.gif", "preview.png", "config.toml", "run.json", "metrics.jsonl"} <= names
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["seed"] == 0 and run["device"] == "cpu" and run["steps"] == 8
    assert set(run["timings"]["per_iteration"]) >= {"render", "augment", "clip", "step"}
    assert "a red circle" in run["scores"]["trainer"]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5 and "sim/a red circle" in json.loads(lines[-1])
    with Image.open(tmp_path / "run" / "progress.gif") as gif:
        assert gif.n_frames == 5
    png = np.asarray(Image.open(tmp_path / "run" / "drawing.png").convert("RGB"), np.float32) / 255
    assert png.shape == (64, 64, 3) and result.image.shape == (3, 64, 64)
    svg = (tmp_path / "run" / "drawing.svg").read_text()
    reference = resvg.svg_to_bytes(svg_string=svg, background="#ffffff")
    other = np.asarray(Image.open(io.BytesIO(bytes(reference))).convert("RGB"), np.float32) / 255
    error = float(np.abs(png - other).mean())
    assert error < 0.01, f"resvg vs drawing.png mean abs error {error:.4f}"
    assert read_svg(tmp_path / "run" / "drawing.svg").metadata["prompts"] == ["a red circle"]


def test_same_seed_same_drawing(tiny_clip_spec):
    cache = ModelCache()
    first = ClipDraw(_config(tiny_clip_spec, iters=3), cache)
    result, again = first.run(), ClipDraw(_config(tiny_clip_spec, iters=3), cache).run()
    assert torch.equal(result.scene.points, again.scene.points)
    assert torch.equal(result.image, again.image)
    assert not torch.equal(first.initial(0).points[:4], first.initial(1).points[:4])


def test_palette_run_uses_only_palette_colours(tmp_path, tiny_clip_spec):
    palette = "#aa3300,#ffffff,#1040c0"
    result = ClipDraw(_config(tiny_clip_spec, palette=palette, shapes="both", iters=4)).run(tmp_path / "run")
    allowed = {"#aa3300", "#ffffff", "#1040c0"}
    svg = (tmp_path / "run" / "drawing.svg").read_text()
    used = set(re.findall(r'(?:fill|stroke)="(#[0-9a-f]{6})"', svg))
    assert used and used <= allowed
    assert set(re.findall(r'opacity="([0-9.]+)"', svg)) == {"1"}
    allowed_rgb = parse_palette(palette)
    for colors, flags in (
        (result.scene.stroke_colors, result.scene.has_stroke),
        (result.scene.fill_colors, result.scene.has_fill),
    ):
        chosen = colors[flags][:, :3]
        assert torch.cdist(chosen, allowed_rgb).min(1).values.max() < 1e-6


def test_gradient_fills_are_optimised_and_written(tmp_path, tiny_clip_spec):
    """``--set fills=gradient``: every filled shape is a gradient whose stops and end points move."""
    config = _config(tiny_clip_spec, shapes="both", fills="gradient", iters=4)
    draw = ClipDraw(config)
    start = draw.initial(0)
    assert start.num_gradients == int(start.has_fill.sum()) > 0
    assert (start.fill_gradient[start.has_fill] >= 0).all()
    result = draw.run(tmp_path / "run")
    assert not torch.allclose(result.scene.gradient_geometry, start.gradient_geometry)
    assert not torch.allclose(result.scene.stop_colors, start.stop_colors)
    offsets = result.scene.stop_offsets.reshape(-1, 2)
    assert ((offsets >= 0) & (offsets <= 1)).all() and (offsets[:, 1] >= offsets[:, 0]).all()
    svg = (tmp_path / "run" / "drawing.svg").read_text()
    assert svg.count("<linearGradient") == start.num_gradients
    back = read_svg(tmp_path / "run" / "drawing.svg").scene
    assert back.num_gradients == start.num_gradients
    with pytest.raises(InputError, match="'fills'"):
        ClipDraw(_config(tiny_clip_spec, fills="plaid"))


def test_palette_rules_gradient_stops(tmp_path, tiny_clip_spec):
    palette = "#aa3300,#ffffff,#1040c0"
    result = ClipDraw(_config(tiny_clip_spec, palette=palette, shapes="fills", fills="gradient", iters=3)).run(tmp_path / "r")
    stops = result.scene.stop_colors[:, :3]
    assert result.scene.num_gradients > 0
    assert torch.cdist(stops, parse_palette(palette)).min(1).values.max() < 1e-6
    svg = (tmp_path / "r" / "drawing.svg").read_text()
    assert set(re.findall(r'stop-color="(#[0-9a-f]{6})"', svg)) <= {"#aa3300", "#ffffff", "#1040c0"}


def test_init_svg_and_best_of(tmp_path, tiny_clip_spec):
    from stylize.vector import Scene, VectorPath, ellipse_contour

    scene = Scene.from_paths(
        [VectorPath([ellipse_contour((16, 16), 8, 6)], closed=True, stroke_color=(0, 0, 0, 1), fill_color=(1, 0, 0, 1))]
    )
    save_svg(scene, tmp_path / "init.svg", 48, 48)
    before = (tmp_path / "init.svg").read_bytes()
    result = ClipDraw(_config(tiny_clip_spec, init=str(tmp_path / "init.svg"), best_of=2, iters=3, size=64)).run()
    assert (tmp_path / "init.svg").read_bytes() == before  # input untouched
    assert result.scene.num_paths == 1 and result.scene.has_fill.tolist() == [True]
    assert float(result.scene.points[:, 0].max()) > 28  # the ellipse reached x = 24 of 48 px; now 32 of 64
    assert [c["seed"] for c in result.candidates] == [0, 1]
    assert result.scores["trainer"]["mean"] == pytest.approx(max(c["judged"] for c in result.candidates), abs=1e-6)


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"style": "missing.png"}, "does not exist"),
        ({"palette": "#12zz00"}, "bad palette"),
        ({"init": "missing.svg"}, "does not exist"),
        ({"background": "grey"}, "bad colour"),
        ({"prompts": []}, "no prompt"),
        ({"min_width": 5.0, "max_width": 2.0}, "min_width"),
    ],
)
def test_bad_inputs(tiny_clip_spec, overrides, words):
    with pytest.raises(InputError, match=words):
        ClipDraw(_config(tiny_clip_spec, **overrides))


def test_unreadable_style_image(tmp_path, tiny_clip_spec):
    (tmp_path / "style.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read image"):
        ClipDraw(_config(tiny_clip_spec, style=str(tmp_path / "style.png")))


def test_style_moves_colours_toward_style_image(tmp_path, tiny_clip_spec):
    from PIL import Image

    style = np.zeros((32, 32, 3), np.uint8)
    style[:] = (250, 120, 0)
    style[::8] = (200, 40, 0)
    Image.fromarray(style).save(tmp_path / "orange.png")
    target = torch.tensor([250, 120, 0], dtype=torch.float32) / 255 * 0.875 + torch.tensor([200, 40, 0]) / 255 * 0.125

    def colour_distance(image: torch.Tensor) -> float:
        ink = image.reshape(3, -1)
        ink = ink[:, (ink < 0.95).any(0)]  # the strokes, not the white background
        return float((ink.mean(1) - target).norm())

    # the reference colour lr (0.01) moves colours by at most 0.01 a step: faster here, few steps
    # the reference colour lr (0.01) moves colours by at most 0.01 a step: faster here, few steps
    config = _config(tiny_clip_spec, style=str(tmp_path / "orange.png"), iters=8, style_features="clip", style_weight=10.0,
                     style_only_fraction=0.5, lr_colors=0.05)  # fmt: skip
    draw = ClipDraw(config)
    with torch.no_grad():
        start = draw.render(draw.initial(0))[0]
    styled = draw.run()
    before, after = colour_distance(start), colour_distance(styled.image)
    print(f"mean ink colour distance to the style image's: {before:.3f} -> {after:.3f}")
    assert after < 0.8 * before


PROMPTS = ["a red circle", "a blue square", "a green triangle", "a yellow star"]


@pytest.mark.slow
def test_judge_ranks_prompted_caption_near_the_top():
    trainer, judge_spec = test_clip_specs()
    cache = ModelCache()
    judge = ClipEngine([judge_spec], CAPTIONS, device="cpu", model_cache=cache)
    ranks = {}
    for prompt in PROMPTS:
        config = resolve_config(
            DrawConfig, DRAW_PRESETS, "test", overrides={"prompts": [prompt], "clip": [trainer], "device": "cpu"}
        )
        result = ClipDraw(config, cache).run()
        ranks[prompt] = caption_rank(caption_scores(judge, result.image[None], CAPTIONS), prompt)
    print("judged ranks:", ranks)
    # Instrument v2 ranked them 5, 3, 4, 2 of 32 (v1: three in the top 3); chance is 16.5.
    assert max(ranks.values()) <= 6 and sum(ranks.values()) / len(ranks) <= 4.0, ranks


def test_ctrl_c_saves_what_exists(tmp_path, tiny_clip_spec, monkeypatch):
    draw = ClipDraw(_config(tiny_clip_spec, iters=6))
    original, calls = draw._step, []

    def interrupted_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(draw, "_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        draw.run(tmp_path / "run")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["interrupted"] is True and run["steps"] == 2
    assert (tmp_path / "run" / "drawing.svg").is_file() and (tmp_path / "run" / "drawing.png").is_file()


@pytest.mark.slow
def test_ensemble_and_several_prompts(tiny_clip_pair):
    first, second = tiny_clip_pair
    config = _config(f"local-dir:{first}", prompts=["a red circle", "a blue square"], negatives=["a mess"], iters=2)
    config.clip = [f"local-dir:{first}", f"local-dir:{second}"]
    draw = ClipDraw(config)
    assert len(draw.engine.clip_models) == 2 and len(draw.engine.prompts.negatives) == 1
    result = draw.run()
    assert set(result.scores["trainer"]) == {"a red circle", "a blue square", "mean"}
    assert all(np.isfinite(v) for v in result.scores["trainer"].values())
