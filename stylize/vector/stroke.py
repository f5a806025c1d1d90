"""Stroke geometry for SVG's caps and joins, on top of the rasterizer's flattened pieces.

The rasterizer (:mod:`stylize.vector.raster`) covers a stroke of half-width ``w`` with
``clamp(w + 0.5 - D, 0, 1)``, where ``D`` is the smallest *stroke distance* from the pixel centre
to the path's pieces. With plain point-to-segment distances the union of the pieces is the
Minkowski sum of the path and a disk: round caps and round joins, diffvg's only kind (and
CLIPDraw's). For every other style, the pieces of that path get an end treatment at both ends,
expressed as changes to ``D`` so that it stays continuous wherever two pieces meet (no seams) and
keeps the one-pixel ramp on the outer boundary (antialiasing, gradients):

- ``CLAMP``: the distance to the end point (a round cap, and the disk side of a round join);
- ``BUTT``: ``max(D, w + u)``, where ``u`` is the signed distance past the end along the path's
  tangent: the band stops at the end with a soft edge;
- ``SQUARE``: ``max(D, u)``: the band goes on for ``w`` past the end;
- ``CUT``: nothing past the end (``D`` large where ``u > 0``); the next piece starts there. Used
  between the pieces of one curve, where SVG has no join, so the band follows the curve;
- ``MITER``, ``ROUND``, ``BEVEL``: at a vertex between two segments. Past the end, a piece keeps only the side of the
  join's bisector line that faces it, so that the two pieces split the outer wedge between them;
  there ``D`` is the distance to the end point (round), to the piece's line (miter: the two halves
  of the miter's kite) or that, capped by the bevel line (bevel, and a miter past its limit).

Tangents at segment ends are the curve's own (SVG's directionality), not the chords'. Pieces of
zero length take the x axis as their direction (SVG's rule for a zero-length subpath), and the
joins next to them are drawn round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from stylize.vector.scene import LINECAPS, LINEJOINS

END_CLAMP, END_BUTT, END_SQUARE, END_CUT, END_MITER, END_ROUND, END_BEVEL = range(7)
_CAP_KIND = {LINECAPS.index("butt"): END_BUTT, LINECAPS.index("round"): END_CLAMP, LINECAPS.index("square"): END_SQUARE}
_JOIN_KIND = {LINEJOINS.index("miter"): END_MITER, LINEJOINS.index("round"): END_ROUND, LINEJOINS.index("bevel"): END_BEVEL}
# Joins whose tangents turn by less than this (radians) are drawn as a cut: they are smooth.
_SMOOTH_TURN = 1e-3
_DEGENERATE = 1e-9


@dataclass
class StrokeEnds:
    """End treatments of the pieces of styled paths (see the module docstring).

    Attributes:
        row: for every piece, its row here, or -1 when its path is drawn with plain distances.
            Shape (Q,).
        kind: ``END_*`` code of each styled piece's start and end. Shape (R, 2), long.
        away: unit tangent pointing out of the piece at its start and end. Shape (R, 2, 2).
        gate: normal of the join's bisector line (join ends): past the end, a point ``x``
            belongs to this piece when ``(x - end) . gate <= 0``. Shape (R, 2, 2).
        bevel_normal: unit normal of the bevel line, pointing outwards. Shape (R, 2, 2).
        cos_half: cosine of half the turn angle at a join. Shape (R, 2).
        extent: how far the stroke reaches from the piece, in half-widths (square caps and
            miters reach further than 1). Shape (R,).
    """

    row: Tensor
    kind: Tensor
    away: Tensor
    gate: Tensor
    bevel_normal: Tensor
    cos_half: Tensor
    extent: Tensor


def _unit(vector: Tensor, fallback: Tensor) -> tuple[Tensor, Tensor]:
    """``vector`` normalised along its last axis, ``fallback`` where it has no length; and that mask."""
    # The epsilon keeps the gradient of a zero-length vector finite (zero) instead of NaN.
    length = torch.sqrt((vector * vector).sum(-1, keepdim=True) + 1e-30)
    degenerate = length[..., 0] <= _DEGENERATE
    unit = vector / length.clamp(min=_DEGENERATE)
    return torch.where(degenerate[..., None], fallback, unit), degenerate


def _tangents(control: Tensor, t: Tensor) -> Tensor:
    """Derivative of cubic Béziers at parameters ``t``; at t = 0 or 1 SVG's fallbacks apply.

    Shape:
        control: (N, 4, 2); t: (N,). Returns (N, 2).
    """
    s = 1.0 - t
    p0, p1, p2, p3 = control.unbind(1)
    derivative = (s * s)[:, None] * (p1 - p0) + (2 * s * t)[:, None] * (p2 - p1) + (t * t)[:, None] * (p3 - p2)
    # A control point on its end point leaves the derivative zero there: take the next one.
    at_start = torch.where(
        ((p1 - p0).norm(dim=-1) > _DEGENERATE)[:, None],
        p1 - p0,
        torch.where(((p2 - p0).norm(dim=-1) > _DEGENERATE)[:, None], p2 - p0, p3 - p0),
    )
    at_end = torch.where(
        ((p3 - p2).norm(dim=-1) > _DEGENERATE)[:, None],
        p3 - p2,
        torch.where(((p3 - p1).norm(dim=-1) > _DEGENERATE)[:, None], p3 - p1, p3 - p0),
    )
    derivative = torch.where((t <= 0)[:, None], at_start, derivative)
    return torch.where((t >= 1)[:, None], at_end, derivative)


def stroke_ends(
    styled_path: Tensor,
    caps: Tensor,
    joins: Tensor,
    miter_limits: Tensor,
    control: Tensor,
    segment_path: Tensor,
    segment_previous: Tensor,
    segment_next: Tensor,
    ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor,
    piece_segment: Tensor,
    piece_local: Tensor,
    pieces: Tensor,
) -> StrokeEnds | None:  # fmt: skip
    """End treatments of every piece of the paths flagged in ``styled_path``, or None if none is.

    Args:
        styled_path: paths drawn with caps and joins. Shape (P,), bool.
        caps, joins, miter_limits: each path's style. Shape (P,).
        control: cubic control points of every segment. Shape (S, 4, 2).
        segment_path: owner path of each segment; segment_previous / segment_next: neighbour
            segment in the contour or -1 (:meth:`~stylize.vector.scene.Scene.segment_links`).
            Shape (S,).
        ax, ay, bx, by: piece start and end points. Shape (Q,).
        piece_segment, piece_local: each piece's segment and index in it. Shape (Q,).
        pieces: pieces per segment. Shape (S,).

    Returns:
        The :class:`StrokeEnds`; ``away``, ``gate``, ``bevel_normal`` and ``cos_half`` are
        differentiable w.r.t. the control points.
    """
    piece_path = segment_path[piece_segment]
    styled = styled_path[piece_path]
    if not bool(styled.any()):
        return None
    device, dtype = control.device, control.dtype
    with torch.no_grad():
        rows = styled.nonzero().flatten()
        row = torch.full_like(piece_segment, -1)
        row[rows] = torch.arange(rows.numel(), device=device)
        segment = piece_segment[rows]
        local = piece_local[rows]
        count = pieces[segment]
        first_piece = torch.cumsum(pieces, 0) - pieces  # of each segment
        # Neighbour piece across each end (-1: none, an end of an open contour).
        prev_segment, next_segment = segment_previous[segment], segment_next[segment]
        prev_piece = torch.where(
            local > 0,
            rows - 1,
            torch.where(prev_segment >= 0, first_piece[prev_segment.clamp(min=0)] + pieces[prev_segment.clamp(min=0)] - 1, -1),
        )
        next_piece = torch.where(
            local < count - 1, rows + 1, torch.where(next_segment >= 0, first_piece[next_segment.clamp(min=0)], -1)
        )
        interior_start, interior_end = local > 0, local < count - 1
    x_axis = torch.tensor([1.0, 0.0], dtype=dtype, device=device)
    chord = torch.stack([bx - ax, by - ay], dim=-1)
    chord_unit, chord_degenerate = _unit(chord, x_axis)
    # Tangents of the curve at each piece's two ends (t = local / n and (local + 1) / n).
    t_start = local.to(dtype) / count.to(dtype)
    t_end = (local + 1).to(dtype) / count.to(dtype)
    tangent_start, _ = _unit(_tangents(control[segment], t_start), chord_unit[rows])
    tangent_end, _ = _unit(_tangents(control[segment], t_end), chord_unit[rows])
    # The neighbour's tangent at the shared vertex, pointing along the path.
    neighbour_before = _neighbour_tangent(prev_piece, row, rows, piece_segment, control, pieces, "end", chord_unit, x_axis)
    neighbour_after = _neighbour_tangent(next_piece, row, rows, piece_segment, control, pieces, "start", chord_unit, x_axis)

    path = piece_path[rows]
    cap_kind = torch.tensor([_CAP_KIND[index] for index in range(len(LINECAPS))], device=device)[caps[path]]
    away = torch.stack([-tangent_start, tangent_end], dim=1)  # (R, 2, 2)
    # Direction in which the path continues past each end, along the neighbour.
    onward = torch.stack([-neighbour_before, neighbour_after], dim=1)
    cos_turn = (away * onward).sum(-1).clamp(-1.0, 1.0)
    cos_half = torch.sqrt(((1.0 + cos_turn) * 0.5).clamp(min=0.0) + 1e-12)
    gate = away + onward
    bevel_normal, _ = _unit(away - onward, away)
    with torch.no_grad():
        has_neighbour = torch.stack([prev_piece >= 0, next_piece >= 0], dim=1)
        interior = torch.stack([interior_start, interior_end], dim=1)
        degenerate_here = chord_degenerate[rows][:, None].expand(-1, 2)
        degenerate_there = (
            torch.stack([chord_degenerate[prev_piece.clamp(min=0)], chord_degenerate[next_piece.clamp(min=0)]], dim=1)
            & has_neighbour
        )
        smooth = cos_turn.detach() > math.cos(_SMOOTH_TURN)
        join_kind = torch.tensor([_JOIN_KIND[index] for index in range(len(LINEJOINS))], device=device)[joins[path]]
        join_kind = join_kind[:, None].expand(-1, 2)
        # miter length / stroke width = 1 / cos_half; past the limit a miter becomes a bevel
        over_limit = cos_half.detach() * miter_limits[path][:, None] < 1.0
        join_kind = torch.where((join_kind == END_MITER) & over_limit, END_BEVEL, join_kind)
        kind = torch.where(interior | smooth, END_CUT, join_kind)
        kind = torch.where(has_neighbour, kind, cap_kind[:, None].expand(-1, 2))
        # Next to a zero-length piece no direction is meaningful: draw that junction round.
        kind = torch.where(has_neighbour & (degenerate_here | degenerate_there), END_CLAMP, kind)
        reach = torch.ones_like(cos_half.detach())
        reach = torch.where(kind == END_SQUARE, math.sqrt(2.0), reach)
        reach = torch.where(kind == END_MITER, 1.0 / cos_half.detach().clamp(min=1e-6), reach)
        extent = reach.amax(1)
    return StrokeEnds(row, kind, away, gate, bevel_normal, cos_half, extent)


def _neighbour_tangent(neighbour, row, rows, piece_segment, control, pieces, which, chord_unit, x_axis) -> Tensor:
    """Unit tangent, along the path, of each neighbour piece at the vertex it shares with us."""
    with torch.no_grad():
        safe = neighbour.clamp(min=0)
        segment = piece_segment[safe]
        first_piece = torch.cumsum(pieces, 0) - pieces
        local = safe - first_piece[segment]
        t = ((local + 1) if which == "end" else local).to(control.dtype) / pieces[segment].to(control.dtype)
    tangent, _ = _unit(_tangents(control[segment], t), chord_unit[safe])
    return tangent


def stroke_distance(
    ends: StrokeEnds,
    pair_row: Tensor,
    pixel_x: Tensor,
    pixel_y: Tensor,
    ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor,
    half_width: Tensor,
    far: float,
) -> Tensor:  # fmt: skip
    """Stroke distance ``D`` of pixel centres to styled pieces (see the module docstring).

    Args:
        ends: from :func:`stroke_ends`.
        pair_row: row in ``ends`` of each tested piece. Shape (M,).
        pixel_x, pixel_y: pixel centres. Shape (M,).
        ax, ay, bx, by: the tested pieces' end points. Shape (M,).
        half_width: the pieces' stroke half-width. Shape (M,).
        far: the value for "not covered by this piece".

    Returns:
        D, differentiable w.r.t. the points, the ends' geometry and the half-width. Shape (M,).
    """
    kind = ends.kind[pair_row]
    clamps = (kind == END_CLAMP) | (kind == END_ROUND)  # the distance to the end point past it
    clamp_start, clamp_end = clamps.unbind(1)
    ex, ey = bx - ax, by - ay
    length = torch.sqrt(ex * ex + ey * ey + 1e-30)
    degenerate = length <= _DEGENERATE
    safe_length = length.clamp(min=_DEGENERATE)
    ux = torch.where(degenerate, torch.ones_like(ex), ex / safe_length)
    uy = torch.where(degenerate, torch.zeros_like(ey), ey / safe_length)
    rx, ry = pixel_x - ax, pixel_y - ay
    along = rx * ux + ry * uy
    perp = rx * uy - ry * ux
    low = torch.where(clamp_start, torch.zeros_like(along), torch.full_like(along, -math.inf))
    high = torch.where(clamp_end, length, torch.full_like(along, math.inf))
    beyond = along - torch.maximum(torch.minimum(along, high), low)
    distance = torch.sqrt(beyond * beyond + perp * perp + 1e-12)
    ends_xy = ((ax, ay), (bx, by))
    for side in (0, 1):
        end_x, end_y = ends_xy[side]
        away = ends.away[pair_row, side]
        offset_x, offset_y = pixel_x - end_x, pixel_y - end_y
        past = offset_x * away[:, 0] + offset_y * away[:, 1]
        kind_here = kind[:, side]
        distance = torch.where(kind_here == END_BUTT, torch.maximum(distance, half_width + past), distance)
        distance = torch.where(kind_here == END_SQUARE, torch.maximum(distance, past), distance)
        outside = past > 0
        distance = torch.where((kind_here == END_CUT) & outside, far, distance)
        gate = ends.gate[pair_row, side]
        other_side = offset_x * gate[:, 0] + offset_y * gate[:, 1] > 0
        is_join = (kind_here == END_MITER) | (kind_here == END_ROUND) | (kind_here == END_BEVEL)
        distance = torch.where(is_join & outside & other_side, far, distance)
        normal = ends.bevel_normal[pair_row, side]
        bevel_distance = half_width * (1.0 - ends.cos_half[pair_row, side]) + offset_x * normal[:, 0] + offset_y * normal[:, 1]
        bevelled = (kind_here == END_BEVEL) & outside & ~other_side
        distance = torch.where(bevelled, torch.maximum(distance, bevel_distance), distance)
    # A zero-length subpath with butt caps paints nothing.
    return torch.where(degenerate & (kind[:, 0] == END_BUTT), far, distance)
