"""Tests for stylize.vector.svg.paint: gradient and pattern averages computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylize.vector.scene import Scene, VectorPath, rect_contour
from stylize.vector.svg.paint import bounding_box, gradient_average, paint_samples, pattern_average
from stylize.vector.svg.path import ellipse, polyline, rect
from stylize.vector.svg.values import LengthContext

RED, BLUE = (1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)
CONTEXT = LengthContext(100.0, 100.0)


def _average(tag, stops, contours, **attributes):
    bbox = bounding_box(contours)
    samples = paint_samples(contours, True, False, bbox)
    return gradient_average({"tag": tag, **attributes}, stops, samples, bbox, CONTEXT)


def test_linear_gradient_average_over_a_rectangle():
    square = rect(0, 0, 40, 20, 0, 0)
    assert _average("linearGradient", [(0.0, RED), (1.0, BLUE)], square) == pytest.approx((0.5, 0.0, 0.5, 1.0), abs=1e-6)
    # Red for the first 3/4 (a hard stop), blue after.
    stepped = [(0.0, RED), (0.75, RED), (0.75, BLUE), (1.0, BLUE)]
    assert _average("linearGradient", stepped, square) == pytest.approx((0.75, 0.0, 0.25, 1.0), abs=0.02)
    # Stops interpolate straight colour (as SVG does) and the average is taken premultiplied:
    # alpha 1 - t, colour (1 - t, 0, t): red 1/3 / 1/2, blue 1/6 / 1/2, alpha 1/2.
    fading = [(0.0, RED), (1.0, (0.0, 0.0, 1.0, 0.0))]
    assert _average("linearGradient", fading, square) == pytest.approx((2 / 3, 0.0, 1 / 3, 0.5), abs=0.02)
    # Vertical in user space over a shape spanning y 0..20 of a 0..40 gradient: t in [0, 0.5].
    vertical = _average("linearGradient", [(0.0, RED), (1.0, BLUE)], square, gradientUnits="userSpaceOnUse", x2="0", y2="40")
    assert vertical == pytest.approx((0.75, 0.0, 0.25, 1.0), abs=0.02)


def test_radial_gradient_average_weights_area():
    # Over its own circle, t = r / R is distributed with density 2t: the mean of t is 2/3.
    disk = ellipse(50, 50, 30, 30)
    average = _average("radialGradient", [(0.0, RED), (1.0, BLUE)], disk)
    assert average == pytest.approx((1 / 3, 0.0, 2 / 3, 1.0), abs=0.03)


def test_pattern_average_of_a_checkerboard_tile():
    tile = Scene.from_paths(
        [VectorPath([rect_contour(0, 0, 5, 5)], True, 0.5, None, (0, 0, 0, 1)), VectorPath([rect_contour(5, 5, 5, 5)], True, 0.5, None, (0, 0, 0, 1))],
        dtype=torch.float64,
    )  # fmt: skip
    assert pattern_average(tile, 10, 10) == pytest.approx((0.0, 0.0, 0.0, 0.5), abs=1e-6)
    assert pattern_average(Scene.from_paths([]), 10, 10) == (0.0, 0.0, 0.0, 0.0)


def test_fill_samples_stay_inside_the_shape():
    ring = rect(0, 0, 30, 30, 0, 0) + polyline([10, 10, 10, 20, 20, 20, 20, 10], closed=True)  # a hole by orientation
    samples = paint_samples(ring, True, False, bounding_box(ring))
    inside_hole = (samples[:, 0] > 10) & (samples[:, 0] < 20) & (samples[:, 1] > 10) & (samples[:, 1] < 20)
    assert samples.shape[0] > 100 and not inside_hole.any()
    assert np.allclose(bounding_box(ellipse(0, 0, 5, 2)), (-5, -2, 5, 2), atol=1e-3)
