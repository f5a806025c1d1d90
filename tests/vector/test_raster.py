"""Tests for stylize.vector.raster: analytic coverage, winding rules, gradients, batching, culling."""

from __future__ import annotations

import math

import pytest
import torch

from stylize.vector.raster import render
from stylize.vector.renderer import VECTOR_RENDERERS, available_renderers, get_renderer
from stylize.vector.scene import Scene, VectorPath, ellipse_contour, polyline_contour, random_strokes, rect_contour


def _single(path: VectorPath, dtype=torch.float64) -> Scene:
    return Scene.from_paths([path], dtype=dtype)


def test_thick_stroke_covers_its_analytic_area():
    half_width = 6.0
    path = VectorPath([polyline_contour([[20.3, 40.6], [90.1, 71.2]])], stroke_width=half_width)
    image = render(_single(path), 128, 128, background=None)
    length = math.hypot(90.1 - 20.3, 71.2 - 40.6)
    expected = 2 * half_width * length + math.pi * half_width**2  # round caps
    assert image.shape == (128, 128, 4)
    assert image[..., 3].sum().item() == pytest.approx(expected, rel=0.01)


def test_filled_square_covers_its_analytic_area():
    path = VectorPath([rect_contour(10.3, 20.7, 30.2, 40.9)], closed=True, stroke_color=None, fill_color=(1, 0, 0, 1))
    image = render(_single(path), 64, 80, background=None)
    assert image.shape == (80, 64, 4)
    assert image[..., 3].sum().item() == pytest.approx(30.2 * 40.9, rel=0.01)
    inside = image[40, 25]
    assert torch.allclose(inside, torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=inside.dtype))


def test_filled_circle_area_and_curved_stroke_length():
    circle = VectorPath([ellipse_contour((50.0, 50.0), 30.0, 30.0)], closed=True, stroke_color=None, fill_color=(0, 0, 1, 1))
    image = render(_single(circle), 100, 100, background=None)
    assert image[..., 3].sum().item() == pytest.approx(math.pi * 900, rel=0.01)
    ring = VectorPath([ellipse_contour((50.0, 50.0), 30.0, 30.0)], closed=True, stroke_width=2.0)
    image = render(_single(ring), 100, 100, background=None)
    assert image[..., 3].sum().item() == pytest.approx(2 * math.pi * 30 * 4.0, rel=0.01)


def test_background_and_colour_compositing_by_hand():
    red = VectorPath([rect_contour(0, 0, 8, 8)], closed=True, stroke_color=None, fill_color=(1, 0, 0, 0.5))
    blue = VectorPath([rect_contour(4, 0, 4, 8)], closed=True, stroke_color=None, fill_color=(0, 0, 1, 0.5))
    scene = Scene.from_paths([red, blue], dtype=torch.float64)
    image = render(scene, 8, 8, background=(0.0, 1.0, 0.0))
    assert torch.allclose(image[4, 1], torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64), atol=1e-6)
    # blue over (red over green): 0.5 * blue + 0.5 * (0.5 red + 0.5 green)
    assert torch.allclose(image[4, 6], torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64), atol=1e-6)
    rgba = render(scene, 8, 8, background=None)
    assert torch.allclose(rgba[4, 6], torch.tensor([1 / 3, 0.0, 2 / 3, 0.75], dtype=torch.float64), atol=1e-6)
    premultiplied = render(scene, 8, 8, background=None, premultiplied=True)
    assert torch.allclose(premultiplied[4, 6, :3], torch.tensor([0.25, 0.0, 0.5], dtype=torch.float64), atol=1e-6)


def test_fill_under_own_stroke_and_z_order():
    square = VectorPath(
        [rect_contour(4, 4, 24, 24)], closed=True, stroke_width=2.0, stroke_color=(0, 0, 1, 1), fill_color=(1, 0, 0, 1)
    )
    image = render(_single(square), 32, 32)
    assert torch.allclose(image[4, 16], torch.tensor([0.0, 0.0, 1.0], dtype=image.dtype), atol=1e-5)  # on the edge: stroke
    assert torch.allclose(image[16, 16], torch.tensor([1.0, 0.0, 0.0], dtype=image.dtype), atol=1e-5)


def _nested_squares(rule: str, same_direction: bool) -> Scene:
    outer = rect_contour(4, 4, 24, 24)
    inner = rect_contour(10, 10, 12, 12)
    if not same_direction:
        inner = torch.flip(inner, [0]).roll(1, 0)  # reversed orientation, still a valid closed contour
    path = VectorPath([outer, inner], closed=True, stroke_color=None, fill_color=(0, 0, 0, 1), fill_rule=rule)
    return _single(path)


def test_winding_rules_nested_squares():
    centre = (16, 16)
    nonzero = render(_nested_squares("nonzero", True), 32, 32, background=None)
    evenodd = render(_nested_squares("evenodd", True), 32, 32, background=None)
    assert nonzero[centre][3] == pytest.approx(1.0)
    assert evenodd[centre][3] == pytest.approx(0.0, abs=1e-6)
    opposite = render(_nested_squares("nonzero", False), 32, 32, background=None)
    assert opposite[centre][3] == pytest.approx(0.0, abs=1e-6)  # a hole by orientation
    for image in (nonzero, evenodd, opposite):
        assert image[6, 6][3] == pytest.approx(1.0)  # the ring is filled under every rule


def test_winding_rules_star():
    angles = torch.arange(5, dtype=torch.float64) * (4 * math.pi / 5) - math.pi / 2
    star = torch.stack([32 + 28 * torch.cos(angles), 32 + 28 * torch.sin(angles)], dim=1)
    images = {}
    for rule in ("nonzero", "evenodd"):
        path = VectorPath(
            [polyline_contour(star, closed=True)], closed=True, stroke_color=None, fill_color=(0, 0, 0, 1), fill_rule=rule
        )
        images[rule] = render(_single(path), 64, 64, background=None)[..., 3]
    assert images["nonzero"][32, 32] == pytest.approx(1.0)
    assert images["evenodd"][32, 32] == pytest.approx(0.0, abs=1e-6)
    assert images["nonzero"].sum() > images["evenodd"].sum() + 100


def _scene_from(points, widths, stroke_colors, fill_colors, template: Scene) -> Scene:
    return Scene(
        points=points, stroke_widths=widths, stroke_colors=stroke_colors, fill_colors=fill_colors,
        contour_point_counts=template.contour_point_counts, contour_closed=template.contour_closed,
        contour_path=template.contour_path, has_stroke=template.has_stroke, has_fill=template.has_fill,
        evenodd=template.evenodd,
    )  # fmt: skip


def test_gradcheck_points_widths_colours():
    stroke = VectorPath(
        [torch.tensor([[2.3, 3.1], [6.2, 11.7], [9.4, 1.9], [13.6, 9.2]])], stroke_width=1.7, stroke_color=(0.2, 0.5, 0.9, 0.8)
    )
    blob = VectorPath(
        [torch.tensor([[4.1, 4.3], [9.7, 3.6], [12.2, 8.1], [11.3, 12.4], [6.6, 13.1], [3.2, 9.4]])],
        closed=True, stroke_width=0.9, stroke_color=(0.9, 0.1, 0.3, 0.6), fill_color=(0.3, 0.8, 0.2, 0.7),
    )  # fmt: skip
    template = Scene.from_paths([stroke, blob], dtype=torch.float64)
    inputs = tuple(t.detach().clone().requires_grad_(True) for t in template.parameters())
    weights = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss(*tensors):
        scene = _scene_from(*tensors, template)
        return (render(scene, 16, 16, pieces_per_segment=4) * weights).sum()

    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)
    for tensor in inputs:
        tensor.grad = None
    loss(*inputs).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in inputs)


def test_batch_matches_single_renders():
    generator = torch.Generator().manual_seed(3)
    scenes = [random_strokes(12, 48, 40, generator=generator, requires_grad=False) for _ in range(3)]
    batch = render(scenes, 48, 40)
    assert batch.shape == (3, 40, 48, 3)
    for index, scene in enumerate(scenes):
        assert torch.allclose(batch[index], render(scene, 48, 40), atol=1e-6)


def test_background_image_and_bad_inputs():
    scene = random_strokes(4, 16, 16, generator=torch.Generator().manual_seed(0))
    background = torch.rand(16, 16, 3)
    empty = Scene.from_paths([])
    assert torch.allclose(render(empty, 16, 16, background=background), background)
    assert render(scene, 16, 16, background=background).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="background"):
        render(scene, 16, 16, background=torch.rand(8, 8, 3))
    with pytest.raises(ValueError, match="canvas size"):
        render(scene, 0, 16)
    with pytest.raises(TypeError, match="Scene"):
        render([scene, "not a scene"], 16, 16)


def test_work_scales_with_covered_area_not_canvas(caplog):
    """The number of pixel tests depends on the strokes, not on the canvas size."""
    paths = [
        VectorPath(
            [polyline_contour([[4.0 + 30 * (i % 2), 4.0 + 8 * (i // 2)], [24.0 + 30 * (i % 2), 6.0 + 8 * (i // 2)]])],
            stroke_width=2.0,
        )
        for i in range(16)
    ]
    scene = Scene.from_paths(paths, requires_grad=True)
    tests = []
    for size in (128, 1024):
        caplog.clear()
        with caplog.at_level("DEBUG", logger="stylize.vector.raster"):
            image = render(scene, size, size, background=None)
        tests.append([r.getMessage() for r in caplog.records if "pixel tests" in r.getMessage()])
    assert tests[0] == tests[1] and tests[0]
    image[..., 3].sum().backward()
    assert scene.points.grad is not None
    assert image[..., 3].sum().item() == pytest.approx(16 * (2 * 2 * math.hypot(20, 2) + math.pi * 4), rel=0.01)


def test_empty_scene_backward_and_registry():
    scene = Scene.from_paths([], requires_grad=True)
    render(scene, 8, 8).sum().backward()
    assert "torch" in VECTOR_RENDERERS and "torch" in available_renderers()
    image = get_renderer("torch", piece_length=2.0)(random_strokes(3, 16, 16), 16, 16)
    assert image.shape == (16, 16, 3)
    with pytest.raises(ValueError, match="unknown vector renderer"):
        get_renderer("nope")


def test_diffvg_parity():
    pytest.importorskip("pydiffvg")
    scene = random_strokes(32, 64, 64, generator=torch.Generator().manual_seed(0), requires_grad=False)
    ours = render(scene, 64, 64)
    theirs = get_renderer("diffvg", samples=4)(scene, 64, 64)
    assert (ours - theirs).abs().mean() < 0.01


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    scene = random_strokes(64, 96, 96, generator=torch.Generator().manual_seed(0), requires_grad=False)
    cpu = render(scene, 96, 96)
    gpu = render(scene.to("cuda"), 96, 96)
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)


def test_tile_culling_of_thick_strokes_changes_nothing(monkeypatch):
    import stylize.vector.raster as raster

    scene = random_strokes(24, 96, 96, generator=torch.Generator().manual_seed(2), stroke_width=9.0)
    culled = render(scene, 96, 96)
    culled.square().sum().backward()
    culled_grads = [t.grad.clone() for t in scene.parameters()]
    for tensor in scene.parameters():
        tensor.grad = None
    monkeypatch.setattr(raster, "_THICK_WIDTH", float("inf"))
    plain = render(scene, 96, 96)
    plain.square().sum().backward()
    assert torch.allclose(culled, plain, atol=1e-6)
    for culled_grad, tensor in zip(culled_grads, scene.parameters(), strict=False):
        assert torch.allclose(culled_grad, tensor.grad, atol=1e-4, rtol=1e-4)
