"""Tests for stylize.vector.scene: packing, validation, parameter groups, shapes, random init."""

from __future__ import annotations

import math

import pytest
import torch

from stylize.vector.scene import (
    Scene,
    VectorPath,
    ellipse_contour,
    line_to_cubic,
    polyline_contour,
    quadratic_to_cubic,
    random_strokes,
    rect_contour,
)


def _bezier(control: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    s = 1 - t
    weights = torch.stack([s**3, 3 * s * s * t, 3 * s * t * t, t**3], dim=-1)
    return weights @ control


def test_from_paths_packs_and_unpacks():
    stroke = VectorPath([torch.rand(7, 2)], closed=False, stroke_width=2.0, stroke_color=(1, 0, 0))
    shape = VectorPath(
        [rect_contour(1, 2, 3, 4), rect_contour(2, 3, 1, 1)],
        closed=True,
        stroke_color=None,
        fill_color=(0, 1, 0, 0.5),
        fill_rule="evenodd",
    )
    scene = Scene.from_paths([stroke, shape], requires_grad=True)
    assert scene.num_paths == 2 and len(scene) == 2
    assert scene.points.shape == (7 + 12 + 12, 2)
    assert scene.contour_path.tolist() == [0, 1, 1]
    assert scene.has_stroke.tolist() == [True, False] and scene.has_fill.tolist() == [False, True]
    assert scene.stroke_colors[0].tolist() == [1, 0, 0, 1]  # RGB gets alpha 1
    back = scene.path(1)
    assert back.fill_rule == "evenodd" and back.closed_flags() == [True, True] and back.stroke_color is None
    assert torch.equal(back.contours[1], rect_contour(2, 3, 1, 1))
    assert all(t.requires_grad and t.is_leaf for t in scene.parameters())


def test_segments_wrap_for_closed_contours():
    open_path = VectorPath([torch.arange(14, dtype=torch.float32).reshape(7, 2)])
    closed_path = VectorPath([torch.arange(12, dtype=torch.float32).reshape(6, 2) + 100], closed=True, fill_color=(0, 0, 0, 1))
    scene = Scene.from_paths([open_path, closed_path])
    control, owner = scene.segments()
    assert control.shape == (4, 4, 2) and owner.tolist() == [0, 0, 1, 1]
    assert torch.equal(control[1, 0], scene.points[3]) and torch.equal(control[1, 3], scene.points[6])
    assert torch.equal(control[3, 3], scene.points[7])  # the closing segment ends at the first point


@pytest.mark.parametrize(
    "path, message",
    [
        (VectorPath([torch.rand(5, 2)]), "3n \\+ 1"),
        (VectorPath([torch.rand(4, 2)], closed=True), "3n control points"),
        (VectorPath([torch.rand(4, 3)]), "shape \\(N, 2\\)"),
        (VectorPath([torch.rand(4, 2)], fill_rule="odd"), "fill_rule"),
        (VectorPath([torch.rand(4, 2)], stroke_color=(1, 0)), "RGB or RGBA"),
    ],
)
def test_bad_paths_are_rejected(path, message):
    with pytest.raises(ValueError, match=message):
        Scene.from_paths([path])


def test_filled_open_contour_and_wrong_types_are_rejected():
    with pytest.raises(ValueError, match="filled but has an open contour"):
        Scene.from_paths([VectorPath([torch.rand(4, 2)], closed=False, fill_color=(0, 0, 0, 1))])
    with pytest.raises(TypeError, match="VectorPath"):
        Scene.from_paths([torch.rand(4, 2)])


def test_parameter_groups_clamp_and_scale():
    scene = random_strokes(5, 100, 100, generator=torch.Generator().manual_seed(0))
    groups = scene.param_groups()
    assert set(groups) == {"points", "widths", "colors"}
    assert sum(len(group) for group in groups.values()) == len(scene.parameters()) == 4
    optimizers = [
        torch.optim.Adam(scene.point_params(), lr=1.0),
        torch.optim.Adam(scene.width_params(), lr=0.1),
        torch.optim.Adam(scene.color_params(), lr=0.01),
    ]
    assert len(optimizers) == 3
    with torch.no_grad():
        scene.stroke_widths.fill_(100.0)
        scene.stroke_colors.add_(2.0)
    scene.clamp_(min_width=1.0, max_width=50.0)
    assert scene.stroke_widths.max() == 50.0 and scene.stroke_colors.max() == 1.0
    big = scene.scaled(4.0)
    assert torch.allclose(big.points, scene.points * 4) and torch.allclose(big.stroke_widths, scene.stroke_widths * 4)
    big.points.sum().backward()
    assert torch.allclose(scene.points.grad, torch.full_like(scene.points, 4.0))
    with pytest.raises(ValueError, match="positive scale"):
        scene.scaled(0)
    double = scene.detach().to(dtype=torch.float64)
    assert double.points.dtype == torch.float64 and double.contour_point_counts.dtype == torch.long


def test_random_strokes_follow_clipdraw_and_are_seeded():
    first = random_strokes(50, 224, 224, generator=torch.Generator().manual_seed(5))
    second = random_strokes(50, 224, 224, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first.points, second.points) and torch.equal(first.stroke_colors, second.stroke_colors)
    segments = (first.contour_point_counts - 1) // 3
    assert segments.min() >= 1 and segments.max() <= 3
    steps = torch.cat([first.path(i).contours[0].diff(dim=0) for i in range(50)])
    assert steps.abs().max() <= 0.05 * 224 + 1e-4
    assert torch.all(first.stroke_widths == 1.0) and not first.has_fill.any()


def test_shape_helpers_are_exact_or_close():
    start, control, end = torch.tensor([0.0, 0.0]), torch.tensor([5.0, 10.0]), torch.tensor([10.0, 0.0])
    cubic = torch.stack([start, *quadratic_to_cubic(start, control, end), end])
    t = torch.linspace(0, 1, 11)
    quadratic = ((1 - t) ** 2)[:, None] * start + (2 * (1 - t) * t)[:, None] * control + (t**2)[:, None] * end
    assert torch.allclose(_bezier(cubic, t), quadratic, atol=1e-5)
    line = torch.stack([start, *line_to_cubic(start, end), end])
    assert torch.allclose(_bezier(line, t), t[:, None] * end, atol=1e-5)
    ellipse = ellipse_contour((3.0, 4.0), 10.0, 10.0)
    quarter = torch.cat([ellipse[:3], ellipse[3:4]])
    radii = (_bezier(quarter, t) - torch.tensor([3.0, 4.0])).norm(dim=-1)
    assert (radii - 10).abs().max() < 10 * 3e-4
    assert polyline_contour([[0, 0], [1, 0], [1, 1]]).shape == (7, 2)
    assert polyline_contour([[0, 0], [1, 0], [1, 1]], closed=True).shape == (9, 2)
    with pytest.raises(ValueError, match="positive"):
        rect_contour(0, 0, -1, 1)
    with pytest.raises(ValueError, match="at least 2"):
        polyline_contour([[0, 0]])
    assert math.isclose(float(rect_contour(0, 0, 2, 3)[:, 1].max()), 3.0)


def test_stroke_styles_and_opacity_pack_unpack_and_validate():
    paths = [
        VectorPath([torch.rand(4, 2)], linecap="butt", linejoin="miter", miter_limit=10.0, opacity=0.5),
        VectorPath([torch.rand(4, 2)]),
    ]
    scene = Scene.from_paths(paths)
    assert scene.stroke_caps.tolist() == [0, 1] and scene.stroke_joins.tolist() == [0, 1]
    assert scene.miter_limits.tolist() == [10.0, 4.0] and scene.opacities.tolist() == [0.5, 1.0]
    assert scene.has_stroke_styles
    back = scene.to(dtype=torch.float64).clone().detach().path(0)
    assert (back.linecap, back.linejoin, back.miter_limit, back.opacity) == ("butt", "miter", 10.0, 0.5)
    assert scene.scaled(2.0).stroke_caps.tolist() == [0, 1]
    # The constructor fills in CLIPDraw's defaults (round, round, 4, opaque) when they are left out.
    bare = Scene(**{name: getattr(scene, name) for name in Scene._tensor_names()[:10]})
    assert bare.stroke_caps.tolist() == [1, 1] and bare.opacities.tolist() == [1.0, 1.0] and not bare.has_stroke_styles
    with pytest.raises(ValueError, match="linecap"):
        Scene.from_paths([VectorPath([torch.rand(4, 2)], linecap="flat")])
    with pytest.raises(ValueError, match="miter_limit"):
        Scene.from_paths([VectorPath([torch.rand(4, 2)], miter_limit=0.5)])
    with pytest.raises(ValueError, match="stroke_joins"):
        Scene(**{**{name: getattr(scene, name) for name in Scene._tensor_names()}, "stroke_joins": torch.tensor([0, 7])})


def test_segment_links_wrap_closed_contours():
    open_path = VectorPath([torch.rand(10, 2)])  # 3 segments
    closed_path = VectorPath([torch.rand(6, 2)], closed=True, fill_color=(0, 0, 0, 1))  # 2 segments
    previous, following = Scene.from_paths([open_path, closed_path]).segment_links()
    assert previous.tolist() == [-1, 0, 1, 4, 3]
    assert following.tolist() == [1, 2, -1, 4, 3]
