"""SVG dashes: ``stroke-dasharray`` and ``stroke-dashoffset`` cut a stroke's contours into dashes.

Each dash becomes an open contour of exact cubic pieces of the original curves (de Casteljau
splits at the parameters where the arc length reaches the dash's ends), so every dash gets the
path's caps and, where it runs through a corner, its joins, as SVG draws them. Arc length is
measured on a fine polyline of each cubic (64 chords, within a small fraction of a pixel for
shapes of drawing size). An odd-length dash array is repeated twice; the offset shifts the
pattern's start (negative values count backwards); every contour restarts the pattern, and a
closed contour's dashes stop at its end.
"""

from __future__ import annotations

import numpy as np

_SAMPLES = 64
# More dashes than this on one element are not cut (the stroke is drawn solid and reported).
MAX_DASHES = 20_000


def _cubics(points: np.ndarray, closed: bool) -> np.ndarray:
    """(S, 4, 2) control points of a contour's segments."""
    if closed:
        points = np.concatenate([points, points[:1]])
    count = (points.shape[0] - 1) // 3
    index = 3 * np.arange(count)[:, None] + np.arange(4)[None, :]
    return points[index]


def _split(cubic: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """The part of a cubic between parameters t0 < t1, as a cubic (4, 2)."""

    def left(control: np.ndarray, t: float) -> np.ndarray:  # the part over [0, t]
        p01, p12, p23 = (
            control[0] + t * (control[1] - control[0]),
            control[1] + t * (control[2] - control[1]),
            control[2] + t * (control[3] - control[2]),
        )
        p012, p123 = p01 + t * (p12 - p01), p12 + t * (p23 - p12)
        return np.stack([control[0], p01, p012, p012 + t * (p123 - p012)])

    head = left(cubic, t1) if t1 < 1.0 else cubic
    if t0 <= 0.0:
        return head
    reverse = left(head[::-1], 1.0 - t0 / t1)  # the part over [t0 / t1, 1] of the head, reversed
    return reverse[::-1]


def _pattern(dasharray: tuple[float, ...]) -> np.ndarray:
    values = list(dasharray) * (2 if len(dasharray) % 2 else 1)
    return np.asarray(values, dtype=np.float64)


def count_dashes(contours, dasharray: tuple[float, ...]) -> int:
    """An upper bound on the number of dashes (to bound the work before cutting)."""
    pattern = _pattern(dasharray)
    total = sum(float(np.linalg.norm(np.diff(np.asarray(p, dtype=np.float64), axis=0), axis=1).sum()) for p, _ in contours)
    return int(total / pattern.sum() * (len(pattern) / 2)) + 2 * len(contours)


def dash_contours(contours, dasharray: tuple[float, ...], offset: float) -> list[tuple[np.ndarray, bool]]:
    """The dashes of ``contours`` (``[(points, closed)]``, cubic layout, user space) as open contours."""
    pattern = _pattern(dasharray)
    period = float(pattern.sum())
    boundaries = np.concatenate([[0.0], np.cumsum(pattern)])
    dashes = []
    t = np.linspace(0.0, 1.0, _SAMPLES + 1)
    basis = np.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3], axis=1)  # (samples, 4)
    for points, closed in contours:
        points = np.asarray(points, dtype=np.float64)
        if points.shape[0] < 4 and not closed:
            continue
        cubics = _cubics(points, closed)
        samples = np.einsum("tk,skd->std", basis, cubics)  # (S, samples, 2)
        lengths = np.concatenate([np.zeros((cubics.shape[0], 1)), np.cumsum(np.linalg.norm(np.diff(samples, axis=1), axis=2), axis=1)], axis=1)  # fmt: skip
        starts = np.concatenate([[0.0], np.cumsum(lengths[:, -1])])
        total = starts[-1]
        # Dash intervals [a, b] in this contour's arc length.
        phase = offset % period
        position = -phase
        intervals = []
        while position < total:
            for index in range(0, len(pattern), 2):
                a, b = position + boundaries[index], position + boundaries[index + 1]
                if b >= 0 and a <= total:
                    intervals.append((max(a, 0.0), min(b, total)))
            position += period
        for a, b in intervals:
            dashes.append((_cut(cubics, lengths, starts, a, b), False))
    return dashes


def _parameter(lengths: np.ndarray, s: float) -> float:
    """The parameter where a segment's arc length (sample table ``lengths``) reaches ``s``."""
    t = np.interp(s, lengths, np.linspace(0.0, 1.0, lengths.shape[0]))
    return float(t)


def _cut(cubics: np.ndarray, lengths: np.ndarray, starts: np.ndarray, a: float, b: float) -> np.ndarray:
    """Control points (open contour layout) of the contour between arc lengths a <= b."""
    first = int(np.clip(np.searchsorted(starts, a, side="right") - 1, 0, cubics.shape[0] - 1))
    last = int(np.clip(np.searchsorted(starts, b, side="left") - 1, 0, cubics.shape[0] - 1))
    pieces = []
    for segment in range(first, last + 1):
        local_a = max(a - starts[segment], 0.0)
        local_b = min(b - starts[segment], lengths[segment, -1])
        t0 = _parameter(lengths[segment], local_a) if segment == first else 0.0
        t1 = _parameter(lengths[segment], local_b) if segment == last else 1.0
        if t1 <= t0 and segment != first:
            continue
        piece = _split(cubics[segment], t0, max(t1, t0))
        pieces.append(piece if not pieces else piece[1:])
    return np.concatenate(pieces)
