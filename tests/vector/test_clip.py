"""Clip groups: coverage multiplication in the rasterizer, SVG clip-path import, export and warnings."""

from __future__ import annotations

import io
import logging
import math

import numpy as np
import pytest
import torch

from stylize.vector.raster import render
from stylize.vector.scene import Scene, VectorPath, ellipse_contour, rect_contour
from stylize.vector.svg.importer import import_svg
from stylize.vector.svg.read import parse_document
from stylize.vector.svg.write import svg_string


def _clipped_square(dtype=torch.float64, requires_grad=False, rule="nonzero") -> Scene:
    paths = [
        VectorPath([rect_contour(8.0, 8.0, 48.0, 48.0), rect_contour(20.0, 20.0, 24.0, 24.0)], True, stroke_color=None,
                   fill_color=(0, 0, 0, 1), fill_rule=rule, clip_of=0),
        VectorPath([rect_contour(0.7, 0.9, 39.3, 62.0)], True, stroke_color=None, fill_color=(1, 0, 0, 1), clipped_by=0),
        VectorPath([rect_contour(30.0, 30.0, 10.0, 10.0)], True, stroke_color=None, fill_color=(0, 0, 1, 1)),
    ]  # fmt: skip
    return Scene.from_paths(paths, dtype=dtype, requires_grad=requires_grad)


def test_clip_multiplies_coverage_and_members_paint_nothing():
    for rule, hole in (("nonzero", False), ("evenodd", True)):
        image = render(_clipped_square(rule=rule), 64, 64, background=None)
        red = image[..., 3] * image[..., 0]
        # The red rectangle x < 40 inside the clip square 8..56 (minus its hole under evenodd).
        # The unclipped opaque blue square covers 100 of it (in the hole, under evenodd, nothing).
        expected = 32 * 48 - 20 * 24 if hole else 32 * 48 - 100  # (the red rectangle spans 0.7..40 x 0.9..62.9)
        assert red.sum().item() == pytest.approx(expected, abs=1.0)
        assert image[4, 4, 3].item() == 0 and image[60, 50, 3].item() == 0  # nothing of the clip shape shows
        assert image[35, 35, 2].item() == pytest.approx(1.0)


def test_clip_geometry_is_differentiable():
    scene = _clipped_square(requires_grad=True)
    weights = torch.rand(24, 24, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss(points):
        return (render(scene._replace(points=points).scaled(0.37), 24, 24, pieces_per_segment=2) * weights).sum()

    points = scene.points.detach().clone().requires_grad_()
    loss(points).backward()
    assert points.grad[:24].abs().sum() > 0  # the clip shape's points get gradients
    assert torch.autograd.gradcheck(loss, (points.detach().clone().requires_grad_(),), eps=1e-6, atol=1e-4)


def test_scene_refuses_clipped_or_unfilled_clip_members():
    member = VectorPath([rect_contour(0, 0, 4, 4)], True, stroke_color=None, fill_color=(0, 0, 0, 1), clip_of=0, clipped_by=1)
    with pytest.raises(ValueError, match="clip members"):
        Scene.from_paths([member])


def _import(body: str, size=(100, 100)):
    text = f'<svg xmlns="http://www.w3.org/2000/svg" width="{size[0]}" height="{size[1]}">{body}</svg>'
    return import_svg(parse_document(text.encode(), "clip"), "clip")[0]


def test_clip_path_import_units_transform_and_groups(caplog):
    paths = _import(
        '<clipPath id="c" clipPathUnits="objectBoundingBox" transform="translate(0.5 0)"><rect width="0.5" height="1"/></clipPath>'
        '<g clip-path="url(#c)" transform="translate(10 20)"><rect width="40" height="10"/><rect y="10" width="40" height="10"/></g>'
        '<rect width="5" height="5" clip-path="url(#nothing)"/>'
        '<clipPath id="empty"/><rect width="5" height="5" clip-path="url(#empty)"/>'
    )
    drawn = [path for path in paths if path.clip_of < 0]
    members = [path for path in paths if path.clip_of >= 0]
    assert [path.clipped_by for path in drawn] == [0, 0, -1]  # a missing clip path: unclipped; an empty one hides
    assert len(members) == 1 and torch.cat(members[0].contours)[:, 0].min().item() == pytest.approx(30.0)
    assert torch.cat(members[0].contours)[:, 0].max().item() == pytest.approx(50.0)
    assert torch.cat(members[0].contours)[:, 1].max().item() == pytest.approx(40.0)


def test_nested_clips_and_clip_text_are_said(caplog):
    body = (
        '<clipPath id="a"><rect width="50" height="50"/><text>x</text></clipPath>'
        '<clipPath id="b"><circle cx="20" cy="20" r="10"/></clipPath>'
        '<g clip-path="url(#a)"><rect width="90" height="90" clip-path="url(#b)"/></g>'
    )
    with caplog.at_level(logging.WARNING, logger="stylize.vector.svg"):
        paths = _import(body)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "not intersected" in text and "text in a clipPath" in text
    assert [path.clipped_by for path in paths if path.clip_of < 0] == [0]  # the innermost clip


def test_clip_round_trip_and_resvg():
    resvg = pytest.importorskip("resvg_py")
    from PIL import Image

    scene = _clipped_square(rule="evenodd")
    text = svg_string(scene, 64, 64)
    assert text.count("<clipPath") == 1 and 'clip-path="url(#clip0)"' in text
    back = Scene.from_paths(import_svg(parse_document(text.encode(), "back"), "back")[0], dtype=torch.float64)
    assert back.clip_of.tolist().count(0) == 1 and back.clipped_by.tolist().count(0) == 1
    ours = render(scene, 64, 64)
    assert torch.allclose(ours, render(back, 64, 64), atol=1e-6)
    reference = np.asarray(
        Image.open(io.BytesIO(bytes(resvg.svg_to_bytes(svg_string=text, background="#ffffff")))).convert("RGB")
    )
    assert float(np.abs(ours.numpy() - reference / 255.0).mean()) < 0.002


def test_ellipse_clip_area():
    paths = [
        VectorPath([ellipse_contour((32, 32), 20, 12)], True, stroke_color=None, fill_color=(0, 0, 0, 1), clip_of=0),
        VectorPath([rect_contour(0, 0, 64, 64)], True, stroke_color=None, fill_color=(0, 0, 0, 0.5), clipped_by=0),
    ]
    alpha = render(Scene.from_paths(paths, dtype=torch.float64), 64, 64, background=None)[..., 3]
    assert alpha.sum().item() == pytest.approx(0.5 * math.pi * 20 * 12, rel=0.01)
