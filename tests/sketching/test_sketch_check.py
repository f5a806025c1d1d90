"""The sketch measurement (stylize.testing.sketch_check) and the instrument's line drawings
(stylize.testing.sketches): hand-computed figures, and a reduced version of
tools/bench/sketch_check.py on one picture (slow)."""

from __future__ import annotations

import pytest
import torch
from generation_helpers import test_clip_specs

from stylize.testing.shapes import SHAPES
from stylize.testing.sketch_check import edge_pixels, ink_distance, measure_picture, shape_picture, summarise
from stylize.testing.sketches import draw_sketches, sketch_caption, sketch_captions


def test_ink_distance_is_the_mean_distance_to_the_nearest_edge_pixel():
    edges = torch.tensor([[10.0, c] for c in range(32)])  # row 10
    render = torch.ones(3, 32, 32)
    render[:, 12, 4:8] = 0.0  # 4 ink pixels, 2 rows below the edge
    render[:, 30, 0] = 0.0  # 1 ink pixel, 20 rows below
    assert ink_distance(render, edges) == pytest.approx((4 * 2 + 20) / 5)
    assert ink_distance(torch.ones(3, 8, 8), edges) != ink_distance(torch.ones(3, 8, 8), edges)  # no ink: NaN


def test_edge_pixels_follow_the_outline_of_the_instrument_picture():
    picture = torch.ones(3, 64, 64)
    picture[:, 20:40, 20:40] = 0.2
    edges = edge_pixels(picture)
    inside = torch.minimum(
        torch.minimum(edges[:, 0] - 19.5, 39.5 - edges[:, 0]), torch.minimum(edges[:, 1] - 19.5, 39.5 - edges[:, 1])
    )
    assert len(edges) > 60 and float(inside.abs().max()) <= 2.5
    assert len(edge_pixels(shape_picture("star", "red", 0, 96))) > 50


def test_line_drawings_are_dark_ink_on_white_paper_of_the_named_shape():
    batch = draw_sketches(12, 48, torch.Generator().manual_seed(3), shape=torch.arange(12) % 4)
    assert batch.images.shape == (12, 3, 48, 48) and batch.shape.tolist() == [i % 4 for i in range(12)]
    paper = batch.images.median(dim=-1).values.median(dim=-1).values
    assert float(paper.min()) > 0.85  # mostly paper
    ink = (batch.images.mean(1) < 0.5).float().mean((1, 2))
    assert float(ink.min()) > 0.003 and float(ink.max()) < 0.5
    assert torch.equal(draw_sketches(3, 32, torch.Generator().manual_seed(1)).images,
                       draw_sketches(3, 32, torch.Generator().manual_seed(1)).images)  # fmt: skip
    assert sketch_captions() == [sketch_caption(shape) for shape in SHAPES] and sketch_caption("star") == "a sketch of a star"


@pytest.mark.slow
def test_sketch_ink_moves_to_the_photo_edges_and_more_strokes_fit_better(tmp_path):
    """A reduced tools/bench/sketch_check.py: one picture, 4 and 16 strokes, 150 steps, one seed.
    The trainer pulls the strokes towards the photo's edges (the initial strokes start half on
    edges, half anywhere) and 16 strokes fit the photo's CLIP layers better than 4."""
    trainer, judge = test_clip_specs()
    measured = measure_picture("star", "red", 0, tmp_path, trainer, judge, strokes=(4, 16),
                               overrides={"iters": 150, "best_of": 1})  # fmt: skip
    assert measured.ink_distance <= 0.5 * measured.initial_ink_distance, measured.as_dict()
    assert measured.geometric[4] > measured.geometric[16], measured.as_dict()
    summary = summarise([measured])
    assert summary["pictures"] == 1 and summary["geometric_decreasing_share"] == 1.0
