"""SVG dashes (stylize.vector.svg.dash): cut positions, patterns, offsets, closed contours, bounds."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from stylize.vector.svg.dash import MAX_DASHES, dash_contours


def _line(length: float) -> list:
    return [(np.array([[0.0, 0.0], [length / 3, 0.0], [2 * length / 3, 0.0], [length, 0.0]]), False)]


def _ends(dashes) -> list[list[float]]:
    return [[round(float(points[0, 0]), 6), round(float(points[-1, 0]), 6)] for points, _ in dashes]


def test_dash_positions_follow_the_pattern_and_offset():
    assert _ends(dash_contours(_line(30), (5.0, 5.0), 0.0)) == [[0, 5], [10, 15], [20, 25]]
    # An odd array repeats twice: 4 on 2 off 1 on 4 off 2 on 1 off; an offset of 3 starts inside it.
    assert _ends(dash_contours(_line(29), (4.0, 2.0, 1.0), 3.0)) == [
        [0, 1],
        [3, 4],
        [8, 10],
        [11, 15],
        [17, 18],
        [22, 24],
        [25, 29],
    ]
    # A negative offset counts backwards: the pattern starts 3 before the contour.
    assert _ends(dash_contours(_line(20), (6.0, 4.0), -3.0)) == [[3, 9], [13, 19]]
    assert all(not closed for _, closed in dash_contours(_line(20), (6.0, 4.0), 0.0))


def test_dashes_follow_curves_and_run_through_corners():
    square = np.array([[0, 0], [10 / 3, 0], [20 / 3, 0], [10, 0], [10, 10 / 3], [10, 20 / 3], [10, 10],
                       [20 / 3, 10], [10 / 3, 10], [0, 10], [0, 20 / 3], [0, 10 / 3]], dtype=np.float64)  # fmt: skip
    dashes = dash_contours([(square, True)], (15.0, 5.0), 0.0)
    assert len(dashes) == 2  # a closed contour's dashes stop at its end
    first = dashes[0][0]
    assert first.shape == (7, 2) and np.allclose(first[3], [10, 0]) and np.allclose(first[-1], [10, 5])
    arc = np.array([[0.0, 0.0], [0.0, 20.0], [20.0, 20.0], [20.0, 0.0]])
    pieces = dash_contours([(arc, False)], (3.0, 2.0), 0.0)
    t = np.linspace(0, 1, 2001)[:, None]
    curve = (1 - t) ** 3 * arc[0] + 3 * (1 - t) ** 2 * t * arc[1] + 3 * (1 - t) * t * t * arc[2] + t**3 * arc[3]
    length = np.linalg.norm(np.diff(curve, axis=0), axis=1).sum()
    assert len(pieces) == int(np.ceil(length / 5.0))
    for points, _ in pieces[:-1]:  # each dash is 3 long, measured on the cut curve
        s = np.linspace(0, 1, 401)[:, None]
        cut = (1 - s) ** 3 * points[0] + 3 * (1 - s) ** 2 * s * points[1] + 3 * (1 - s) * s * s * points[2] + s**3 * points[3]
        assert np.linalg.norm(np.diff(cut, axis=0), axis=1).sum() == pytest.approx(3.0, abs=0.02)


def test_too_many_dashes_are_drawn_solid_and_said(caplog):
    from stylize.vector.svg.importer import import_svg
    from stylize.vector.svg.read import parse_document

    fine = f'<path d="M0 5 H{MAX_DASHES}" stroke="black" fill="none" stroke-dasharray="0.5"/>'
    text = f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="10">{fine}</svg>'
    with caplog.at_level(logging.WARNING, logger="stylize.vector.svg"):
        paths, _, _ = import_svg(parse_document(text.encode(), "fine"), "fine")
    assert len(paths) == 1 and len(paths[0].contours) == 1
    assert any("20,000 dashes" in record.getMessage() for record in caplog.records)
