"""Saliency (XDoG edges, ViT attention relevance), initial strokes and drawing order."""

from __future__ import annotations

import pytest
import torch

from stylize.engine.models import load_clip
from stylize.engine.specs import parse_model_spec
from stylize.sketching.order import drawing_order, ordered_scene
from stylize.sketching.saliency import attention_relevance, has_attention, saliency_map, saliency_strokes, xdog_edges
from stylize.vector.raster import render
from stylize.vector.scene import Scene, VectorPath


def _square_picture(size: int = 64, low: int = 20, high: int = 44) -> torch.Tensor:
    image = torch.ones(3, size, size)
    image[:, low:high, low:high] = torch.tensor([0.1, 0.2, 0.8]).view(3, 1, 1)
    return image


def test_xdog_inks_a_band_along_the_outline_of_a_square_and_nothing_else():
    # XDoG inks the dark side of an edge over about 1.5 x the wide blur (k sigma = 8 px).
    edges = xdog_edges(_square_picture(160, 30, 130))
    assert edges.shape == (160, 160) and set(edges.unique().tolist()) <= {0.0, 1.0}
    ys, xs = torch.nonzero(edges > 0.5, as_tuple=True)
    inside = torch.minimum(torch.minimum(ys - 30, 129 - ys), torch.minimum(xs - 30, 129 - xs))
    assert len(ys) > 4 * 100 and int(inside.min()) >= -2 and int(inside.max()) <= 16
    assert all(bool(((side - edge).abs() <= 2).any()) for side in (ys, xs) for edge in (30, 129))  # all four sides
    assert float(xdog_edges(torch.ones(3, 32, 32)).sum()) == 0  # a blank page has no edges


def test_xdog_rejects_a_batch():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        xdog_edges(torch.ones(1, 3, 8, 8))


def test_attention_relevance_of_a_vit_and_the_resnet_fallback(tiny_clip_spec):
    model = load_clip(parse_model_spec(tiny_clip_spec), "cpu")
    assert has_attention(model)
    relevance = attention_relevance(model, _square_picture())
    assert relevance.shape == (64, 64) and float(relevance.min()) == 0.0 and float(relevance.max()) == pytest.approx(1.0)
    # Relevance x edges: nothing salient off the edges.
    salient = saliency_map(_square_picture(), model)
    assert float(salient[xdog_edges(_square_picture()) == 0].abs().max()) == 0.0
    # Without attention (a ResNet or no model) the map is the edges alone.
    torch.testing.assert_close(saliency_map(_square_picture(), None), xdog_edges(_square_picture()))


def test_a_mask_keeps_strokes_off_the_background():
    mask = torch.zeros(64, 64)
    mask[:, :32] = 1
    salient = saliency_map(_square_picture(), None, mask)
    assert float(salient[:, 32:].max()) == 0.0 and float(salient[:, :32].max()) == 1.0


def test_strokes_start_on_salient_pixels_without_replacement():
    saliency = torch.zeros(32, 32)
    saliency[10:14, 20:24] = 1.0  # 16 salient pixels
    scene = saliency_strokes(saliency, 16, torch.Generator().manual_seed(0), temperature=0.02, walk_radius=0.05)
    assert scene.num_paths == 16 and scene.points.shape == (16 * 4, 2)
    starts = scene.points.view(16, 4, 2)[:, 0]
    assert len({tuple(p) for p in starts.tolist()}) == 16  # no start drawn twice
    assert bool(((starts[:, 0] > 20) & (starts[:, 0] < 24) & (starts[:, 1] > 10) & (starts[:, 1] < 14)).all())
    walk = (scene.points.view(16, 4, 2)[:, 1:] - scene.points.view(16, 4, 2)[:, :-1]).abs()
    assert float(walk.max()) <= 0.025 * 32 + 1e-5  # each step within walk_radius / 2 of the canvas
    assert torch.equal(scene.stroke_colors, torch.tensor([[0.0, 0.0, 0.0, 1.0]]).expand(16, 4))
    with pytest.raises(ValueError, match="between 1 and"):
        saliency_strokes(saliency, 32 * 32 + 1, torch.Generator())


def _stroke(*points) -> VectorPath:
    return VectorPath([torch.tensor(points, dtype=torch.float32)], closed=False, stroke_width=1.5)


def test_drawing_order_chains_strokes_from_the_longest_and_keeps_the_picture():
    scene = Scene.from_paths([
        _stroke((40, 5), (41, 5), (42, 5), (43, 5)),  # short, far away
        _stroke((5, 20), (15, 20), (25, 20), (35, 20)),  # longest: first
        _stroke((36, 30), (36, 28), (36, 25), (36, 21)),  # starts near the longest one's end... reversed
    ])  # fmt: skip
    assert drawing_order(scene) == [(1, False), (2, True), (0, False)]
    ordered = ordered_scene(scene)
    assert torch.equal(ordered.points[:4], scene.points[4:8]) and torch.equal(ordered.points[4:8], scene.points[8:12].flip(0))
    torch.testing.assert_close(render(ordered, 48, 48), render(scene, 48, 48), atol=1e-5, rtol=0)
    # Strokes of several colours keep their painter's order.
    scene.stroke_colors[0] = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert ordered_scene(scene) is scene
