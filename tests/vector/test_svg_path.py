"""Tests for stylize.vector.svg.path: path data with SVG's error recovery, arcs and shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stylize.vector.svg.path import ellipse, parse_path_data, polyline, rect


def _ends(contour) -> list[tuple[float, float]]:
    points, closed = contour
    return [points[i] for i in range(0, len(points), 3)]


def test_commands_relative_implicit_and_close():
    contours, segments, error = parse_path_data("m10 10 20 0 0 20z l 5 5 M 0 0 H 4 V 3 h -4")
    assert error is None and segments == 3 + 1 + 3
    first, second, third = contours
    assert first[1] and _ends(first) == [(10, 10), (30, 10), (30, 30)]  # closed: 3 segments, 9 points
    assert not second[1] and _ends(second) == [(10, 10), (15, 15)]  # starts where the closed one began
    assert _ends(third) == [(0, 0), (4, 0), (4, 3), (0, 3)]


def test_smooth_curves_reflect_the_previous_control_point():
    ((points, _),) = parse_path_data("M0 0 C 0 10 10 10 10 0 S 20 -10 20 0")[0]
    assert points[4] == pytest.approx((10, -10))  # reflection of (10, 10) about (10, 0)
    ((points, _),) = parse_path_data("M0 0 Q 5 10 10 0 T 20 0")[0]
    # T's control point is (15, -10); as a cubic its first control is 2/3 of the way there
    assert points[4] == pytest.approx((10 + (15 - 10) * 2 / 3, -10 * 2 / 3))


def test_errors_keep_what_came_before():
    contours, _, error = parse_path_data("M 10 10 L 100 10 L 100 50 # L 10 90")
    assert "unexpected" in error and _ends(contours[0]) == [(10, 10), (100, 10), (100, 50)]
    contours, _, error = parse_path_data("M 0 0 L 5 5 L")
    assert "needs 2 numbers" in error and len(contours) == 1
    for bad in ("A 30 30 0 0 1 60 60 L 100 90", "L 10 10", "X 1 1"):
        contours, _, error = parse_path_data(bad)
        assert contours == [] and error is not None, bad


def test_zero_length_segments_and_subpaths():
    contours, _, _ = parse_path_data("M 0 0 L 0 0 L 10 0 L 10 0")
    assert _ends(contours[0]) == [(0, 0), (10, 0)]  # zero-length segments dropped
    assert parse_path_data("M 5 5 z")[0] == [([(5, 5)] * 4, False)]  # a dot for the caps
    assert parse_path_data("M 5 5")[0] == []  # a lone moveto draws nothing


def test_arcs_become_quarter_cubics_on_the_ellipse():
    ((points, _),) = parse_path_data("M 0 0 A 10 10 0 0 1 20 0")[0]  # upper half circle centred (10, 0)
    assert len(points) == 7  # two quarter arcs
    control = np.array(points)
    for start in (0, 3):
        p0, p1, p2, p3 = control[start : start + 4]
        middle = (p0 + 3 * p1 + 3 * p2 + p3) / 8
        assert math.dist(middle, (10, 0)) == pytest.approx(10, abs=0.01)
    assert points[3] == pytest.approx((10, -10))
    ((points, _),) = parse_path_data("M 0 0 A 1 1 0 0 0 20 0")[0]  # radii scaled up to fit
    assert points[3] == pytest.approx((10, 10))
    ((points, _),) = parse_path_data("M0 0a10 10 0 1020 0")[0]  # compact flags
    assert points[-1] == pytest.approx((20, 0))
    assert len(parse_path_data("M 0 0 A 0 5 0 0 1 10 0")[0][0][0]) == 4  # a zero radius is a line


def test_shapes():
    ((points, closed),) = rect(0, 0, 10, 4, 0, 0)
    assert closed and _ends((points, closed)) == [(0, 0), (10, 0), (10, 4), (0, 4)]
    ((points, closed),) = rect(0, 0, 10, 4, 2, 1)
    assert closed and len(points) == 24 and points[0] == (2, 0)
    ((points, closed),) = ellipse(5, 5, 3, 2)
    assert closed and points[0] == (8, 5) and points[3] == pytest.approx((5, 7))  # clockwise on screen
    assert polyline([0, 0, 5], closed=False) == [] and len(polyline([0, 0, 5, 5, 9, 0], closed=True)[0][0]) == 9
