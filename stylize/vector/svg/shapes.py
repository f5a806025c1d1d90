"""Scene paths of one SVG shape: fill and stroke as SVG paints them, in one path or two."""

from __future__ import annotations

import torch

from stylize.vector.paint import Gradient
from stylize.vector.scene import VectorPath


def fill_only(contours, fill, rule: str) -> VectorPath:
    closed_points = []
    for points, closed in contours:
        if not closed:
            start, end = points[0], points[-1]
            if bool((start != end).any()):
                closing = torch.stack([end + (start - end) / 3.0, end + (start - end) * (2.0 / 3.0)])
                points = torch.cat([points, closing])
            else:
                points = points[:-1]
        closed_points.append(points)
    return VectorPath(closed_points, True, 0.5, fill_rule=rule, stroke_color=None, **paint_fields("fill", fill))


def has_length(points: torch.Tensor) -> bool:
    return bool((points != points[0]).any())


def paint_fields(which: str, paint) -> dict:
    """``{which}_color`` / ``{which}_gradient`` keyword arguments of a VectorPath for a paint."""
    if isinstance(paint, Gradient):
        return {f"{which}_color": None, f"{which}_gradient": paint}
    return {f"{which}_color": paint}


def assemble_paths(placed, placed_strokes, dots, style, width: float, fill, stroke) -> list[VectorPath]:
    """The scene paths of a shape: one filled and stroked path where SVG allows, else fill and
    stroke apart in paint order.

    Args:
        placed: the contours on the canvas, ``[(points, closed)]``.
        placed_strokes: the dashes to stroke instead, or None.
        dots: per contour, whether it is a single point.
        fill, stroke: RGBA, Gradient (canvas space) or None.
    """
    join = "miter" if style["stroke-linejoin"] in ("miter-clip", "arcs") else style["stroke-linejoin"]
    stroke_style = {"linecap": style["stroke-linecap"], "linejoin": join, "miter_limit": style["stroke-miterlimit"]}
    rule = style["fill-rule"]
    stroked = [contour for contour, dot in zip(placed, dots, strict=False) if not dot or style["stroke-linecap"] != "butt"]
    if placed_strokes is not None:  # dashes: open contours, each with the path's caps
        stroked = placed_strokes if style["stroke-linecap"] != "butt" else [c for c in placed_strokes if has_length(c[0])]
    filled = [contour for contour, dot in zip(placed, dots, strict=False) if not dot]
    if (
        fill is not None
        and stroke is not None
        and placed_strokes is None
        and all(closed for _, closed in stroked)
        and len(stroked) == len(filled)
        and style["paint-order"] == "fill"
    ):
        return [
            VectorPath(
                [p for p, _ in filled],
                [c for _, c in filled],
                width / 2,
                fill_rule=rule,
                **stroke_style,
                **paint_fields("stroke", stroke),
                **paint_fields("fill", fill),
            )  # fmt: skip
        ]
    # SVG fills open subpaths as if closed but strokes them open: a closed fill-only path
    # and an open stroke-only path paint the same (exactly so at opacity 1).
    fill_path = fill_only(filled, fill, rule) if fill is not None and filled else None
    stroke_path = (
        VectorPath(
            [p for p, _ in stroked],
            [c for _, c in stroked],
            width / 2,
            fill_color=None,
            fill_rule=rule,
            **stroke_style,
            **paint_fields("stroke", stroke),
        )  # fmt: skip
        if stroke is not None and stroked
        else None
    )
    ordered = [stroke_path, fill_path] if style["paint-order"] == "stroke" else [fill_path, stroke_path]
    return [path for path in ordered if path is not None]
