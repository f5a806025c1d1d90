"""Tests for stylize.vector.stroke: SVG caps, joins, miter limits and path opacity in the rasterizer.

Areas are compared with hand-computed values (the one-pixel ramp integrates to the exact area of
straight edges), single pixels with hand-computed coverages, and gradients with gradcheck.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
import torch

from stylize.vector.raster import render
from stylize.vector.scene import LINECAPS, LINEJOINS, Scene, VectorPath, polyline_contour, random_strokes, rect_contour
from stylize.vector.svg import svg_string


def _alpha(paths, width=128, height=128) -> torch.Tensor:
    return render(Scene.from_paths(paths, dtype=torch.float64), width, height, background=None)[..., 3]


@pytest.mark.parametrize("cap", LINECAPS)
def test_caps_cover_their_analytic_area(cap):
    w = 6.0
    start, end = (20.3, 40.6), (90.1, 71.2)
    length = math.dist(start, end)
    area = _alpha([VectorPath([polyline_contour([start, end])], stroke_width=w, linecap=cap)]).sum().item()
    expected = {"butt": 2 * w * length, "round": 2 * w * length + math.pi * w * w, "square": 2 * w * (length + 2 * w)}[cap]
    assert area == pytest.approx(expected, rel=0.002)


def test_butt_and_square_cap_edge_pixels_by_hand():
    # A horizontal stroke ending at x = 20.25: the pixel centred at x = 20.5 is 0.25 px past the
    # butt end, so its coverage is 0.5 - 0.25; a square cap moves that edge by the half-width 3.
    line = polyline_contour([[4.0, 10.5], [20.25, 10.5]])
    butt = _alpha([VectorPath([line], stroke_width=3.0, linecap="butt")], 32, 21)
    square = _alpha([VectorPath([line], stroke_width=3.0, linecap="square")], 32, 21)
    assert butt[10, 19].item() == pytest.approx(1.0)
    assert butt[10, 20].item() == pytest.approx(0.25)
    assert butt[10, 21].item() == pytest.approx(0.0)
    assert square[10, 22].item() == pytest.approx(1.0)
    assert square[10, 23].item() == pytest.approx(0.25)
    assert square[10, 0].item() == pytest.approx(0.0) and square[10, 1].item() == pytest.approx(1.0)  # starts at 4 - 3


@pytest.mark.parametrize("join, extra", [("miter", 1.0), ("bevel", 0.5), ("round", math.pi / 4)])
def test_right_angle_joins_add_their_corner(join, extra):
    # Two butt-ended bands of 60 x 12 meeting at a right angle overlap in a 6 x 6 square; the
    # outer corner adds w^2 (miter), w^2 / 2 (bevel) or a quarter disk (round).
    w = 6.0
    path = VectorPath([polyline_contour([[20, 20], [80, 20], [80, 80]])], stroke_width=w, linecap="butt", linejoin=join)
    base = 2 * (2 * w * 60) - w * w
    assert _alpha([path]).sum().item() == pytest.approx(base + extra * w * w, rel=1e-4)


def test_miter_limit_turns_a_sharp_miter_into_a_bevel():
    # A 120 degree turn: miter length / stroke width = 1 / cos(60) = 2, so limit 4 keeps the miter
    # and 1.9 bevels it. The kite minus the bevel triangle is w^2 (tan(60) - sin(120) / 2).
    w = 5.0
    turn = math.radians(120)
    corner = np.array([64.0, 40.0])
    points = [corner - 40 * np.array([1.0, 0.0]), corner, corner + 40 * np.array([math.cos(turn), math.sin(turn)])]

    def area(**style):
        return _alpha([VectorPath([polyline_contour(np.array(points))], stroke_width=w, linecap="butt", **style)]).sum().item()

    mitred, limited, bevelled = (
        area(linejoin="miter", miter_limit=4.0),
        area(linejoin="miter", miter_limit=1.9),
        area(linejoin="bevel"),
    )
    assert limited == pytest.approx(bevelled, abs=1e-6)
    assert mitred - bevelled == pytest.approx(w * w * (math.tan(turn / 2) - math.sin(turn) / 2), rel=0.01)


@pytest.mark.parametrize("join, corner_loss", [("miter", 0.0), ("bevel", 0.5), ("round", 1 - math.pi / 4)])
def test_closed_contour_joins_at_its_start(join, corner_loss):
    # A closed square of side 40, stroke width 4: the ring is 44^2 - 36^2 with mitred corners; each
    # of the four corners (including the one at the start point) loses w^2 / 2 or w^2 (1 - pi/4).
    w = 2.0
    path = VectorPath([rect_contour(20, 20, 40, 40)], closed=True, stroke_width=w, linejoin=join)
    expected = 44**2 - 36**2 - 4 * corner_loss * w * w
    assert _alpha([path], 80, 80).sum().item() == pytest.approx(expected, rel=1e-3)


def test_zero_length_subpath_caps():
    dot = torch.tensor([[32.0, 32.0]] * 4)
    round_area = _alpha([VectorPath([dot], stroke_width=8.0, linecap="round")], 64, 64).sum().item()
    square_area = _alpha([VectorPath([dot], stroke_width=8.0, linecap="square")], 64, 64).sum().item()
    butt_area = _alpha([VectorPath([dot], stroke_width=8.0, linecap="butt")], 64, 64).sum().item()
    assert round_area == pytest.approx(math.pi * 64, rel=0.01)
    assert square_area == pytest.approx(16 * 16, rel=1e-4)
    assert butt_area == 0.0


def test_curved_stroke_with_butt_caps_keeps_its_length():
    # A half circle of radius 30 as two cubics: butt caps add nothing to length x width.
    k = 4 * (math.sqrt(2) - 1) / 3 * 30
    arc = torch.tensor([[20.0, 64], [20, 64 - k], [50 - k, 34], [50, 34], [50 + k, 34], [80, 64 - k], [80, 64]])
    area = _alpha([VectorPath([arc], stroke_width=3.0, linecap="butt", linejoin="miter")]).sum().item()
    assert area == pytest.approx(math.pi * 30 * 6, rel=0.005)


def test_path_opacity_composites_fill_and_stroke_together():
    # Opaque blue stroke over opaque red fill at opacity 0.5, over white: where the stroke covers
    # the fill the result is half blue, not blue over half red.
    square = VectorPath(
        [rect_contour(8, 8, 24, 24)],
        closed=True,
        stroke_width=3.0,
        stroke_color=(0, 0, 1, 1),
        fill_color=(1, 0, 0, 1),
        opacity=0.5,
    )
    image = render(Scene.from_paths([square], dtype=torch.float64), 40, 40)
    assert torch.allclose(image[20, 9], torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64), atol=1e-6)  # inner half of the stroke
    assert torch.allclose(image[20, 20], torch.tensor([1.0, 0.5, 0.5], dtype=torch.float64), atol=1e-6)  # fill only
    # Translucent paints: opacity times (stroke over fill), over the background.
    s, f, o = 0.6, 0.8, 0.5
    square = dataclasses.replace(square, stroke_color=(0, 0, 1, s), fill_color=(1, 0, 0, f))
    rgba = render(Scene.from_paths([square], dtype=torch.float64), 40, 40, background=None)
    group_alpha = o * (1 - (1 - s) * (1 - f))
    premultiplied = o * np.array([(1 - s) * f, 0.0, s])
    assert rgba[20, 9, 3].item() == pytest.approx(group_alpha, abs=1e-6)
    assert rgba[20, 9, :3].numpy() == pytest.approx(premultiplied / group_alpha, abs=1e-6)


def _gradcheck(paths) -> bool:
    template = Scene.from_paths(paths, dtype=torch.float64)
    inputs = tuple(t.detach().clone().requires_grad_(True) for t in template.parameters())
    weights = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss(points, widths, strokes, fills):
        scene = dataclasses.replace(
            template, points=points, stroke_widths=widths, stroke_colors=strokes, fill_colors=fills, _segment_cache={}
        )
        return (render(scene, 16, 16, pieces_per_segment=4) * weights).sum()

    return torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.slow
def test_gradcheck_caps_joins_and_opacity():
    # Coordinates avoid pixel centres on clamp kinks, where finite differences are one-sided.
    stroke = VectorPath(
        [torch.tensor([[2.3, 3.1], [6.2, 11.7], [9.4, 1.9], [13.6, 9.2], [13.9, 10.1], [12.2, 12.3], [7.3, 14.1]])],
        stroke_width=1.7, stroke_color=(0.2, 0.5, 0.9, 0.8), linecap="butt", linejoin="miter",
    )  # fmt: skip
    blob = VectorPath(
        [torch.tensor([[4.1, 4.3], [9.7, 3.6], [12.2, 8.1], [11.3, 12.4], [6.6, 13.1], [3.2, 9.4]])], closed=True,
        stroke_width=0.9, stroke_color=(0.9, 0.1, 0.3, 0.6), fill_color=(0.3, 0.8, 0.2, 0.7), linejoin="bevel", opacity=0.6,
    )  # fmt: skip
    square = VectorPath(
        [torch.tensor([[3.37, 13.2], [4.4, 13.2], [5.5, 13.2], [6.6, 13.2]])],
        stroke_width=1.3,
        stroke_color=(0, 0, 0, 0.9),
        linecap="square",
    )
    assert _gradcheck([stroke, blob, square])


def test_round_styles_keep_the_plain_path_and_batches_mix_styles():
    generator = torch.Generator().manual_seed(4)
    plain = random_strokes(12, 48, 40, generator=generator, requires_grad=False)
    styled = Scene.from_paths([dataclasses.replace(p, linecap="butt", linejoin="bevel") for p in plain.paths()])
    assert not plain.has_stroke_styles and styled.has_stroke_styles
    batch = render([plain, styled], 48, 40)
    assert torch.allclose(batch[0], render(plain, 48, 40), atol=1e-6)
    assert torch.allclose(batch[1], render(styled, 48, 40), atol=1e-6)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)  # the caps are drawn differently


def test_thick_styled_strokes_skip_round_tile_culling():
    # Tile culling marks tiles within w - 0.5 of a piece as covered, which only holds for round
    # ends: a thick butt-capped stroke must not be widened by it.
    w = 12.0
    line = VectorPath([polyline_contour([[30.0, 64.0], [98.0, 64.0]])], stroke_width=w, linecap="butt")
    assert _alpha([line]).sum().item() == pytest.approx(2 * w * 68, rel=1e-4)


def _error_vs_resvg(caps, joins) -> float:
    """Mean absolute error vs resvg of polylines turning 20 to 160 degrees, one per cap and join."""
    import resvg_py
    from PIL import Image

    paths = []
    for row, cap in enumerate(caps):
        for column, join in enumerate(joins):
            for index, angle in enumerate((20, 45, 90, 135, 160)):
                x0, y0, a = 12 + 100 * column + 19 * index, 16 + 52 * row, math.radians(angle)
                corner = (x0 + 8, y0)
                points = [(x0, y0 + 28), corner, (corner[0] + 20 * math.sin(a), corner[1] + 20 * math.cos(a))]
                paths.append(
                    VectorPath(
                        [polyline_contour(points)], stroke_width=3.5, stroke_color=(0.1, 0.2, 0.6, 1), linecap=cap, linejoin=join
                    )
                )
    scene = Scene.from_paths(paths, dtype=torch.float64)
    png = resvg_py.svg_to_bytes(svg_string=svg_string(scene, 310, 170), background="#ffffff")
    reference = np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"), dtype=np.float64) / 255.0
    return float(np.abs(render(scene, 310, 170).numpy() - reference).mean())


def test_caps_and_joins_match_resvg():
    """Every cap and join, written by save_svg and drawn by resvg, as close as round ones are.

    All-round strokes of the same geometry measure the renderer's floor here (antialiasing of
    thin diagonal edges, about 0.0021); butt, square, miter and bevel must stay within 10 % of it.
    """
    floor = _error_vs_resvg(["round"] * 3, ["round"] * 3)
    styled = _error_vs_resvg(list(LINECAPS), list(LINEJOINS))
    assert floor < 0.0025
    assert styled < 1.1 * floor, f"mean absolute error vs resvg {styled:.5f}, round strokes {floor:.5f}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_with_caps_joins_and_opacity():
    base = random_strokes(48, 96, 96, generator=torch.Generator().manual_seed(5), requires_grad=False)
    styles = [{"linecap": cap, "linejoin": join, "opacity": 0.7} for cap in LINECAPS for join in LINEJOINS]
    scene = Scene.from_paths(
        [dataclasses.replace(path, **styles[index % len(styles)]) for index, path in enumerate(base.paths())]
    )
    assert torch.allclose(render(scene, 96, 96), render(scene.to("cuda"), 96, 96).cpu(), atol=1e-4)
