"""Paint servers of SVG (gradients, patterns) as scene paints.

A linear or radial gradient becomes a :class:`~stylize.vector.paint.Gradient` in user space
(:func:`gradient_paint`): its ``href`` chain resolved, ``objectBoundingBox`` units and
``gradientTransform`` folded into its transform, stops, spread method and focal circle kept; the
importer then places it with the element's transform. A gradient with a single stop is that
stop's colour; one whose vector has no length (or whose radius is zero) paints its last stop,
as SVG says. :func:`gradient_average` gives a gradient's average over sample points of a shape
(for renderers without gradients). A pattern becomes the average colour of one tile, rendered
with the torch rasterizer (reported). Missing or unusable references fall back to the paint's
fallback colour, or to no paint, as SVG 2 says.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from stylize.vector.paint import Gradient
from stylize.vector.svg.values import (
    CURRENT_COLOR,
    IDENTITY,
    RGBA,
    Affine,
    LengthContext,
    Paint,
    multiply,
    parse_length,
    parse_number,
    parse_transform,
    parse_view_box,
    scale,
    translate,
    view_box_transform,
)

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_MAX_PATTERN_DEPTH = 4
_MAX_TILE_RENDERS = 256

_SAMPLES = 16  # per side of the grid over a shape's bounding box


def _invert(transform: Affine) -> Affine | None:
    a, b, c, d, e, f = transform
    determinant = a * d - b * c
    if abs(determinant) < 1e-12:
        return None
    ia, ib, ic, id_ = d / determinant, -b / determinant, -c / determinant, a / determinant
    return (ia, ib, ic, id_, -(ia * e + ic * f), -(ib * e + id_ * f))


def _offset(text: str | None) -> float:
    if text is None:
        return 0.0
    text = text.strip()
    value = parse_number(text[:-1]) / 100.0 if text.endswith("%") and parse_number(text[:-1]) is not None else parse_number(text)
    return min(max(value if value is not None else 0.0, 0.0), 1.0)


def gradient_stops(stop_elements, stop_style) -> list[tuple[float, RGBA]]:
    """``(offset, straight RGBA)`` of each ``<stop>``, offsets clamped and non-decreasing.

    Args:
        stop_elements: the ``<stop>`` children.
        stop_style: ``stop_style(stop) -> (rgba, opacity)`` from the cascade.
    """
    stops, previous = [], 0.0
    for stop in stop_elements:
        offset = max(_offset(stop.get("offset")), previous)
        previous = offset
        color, opacity = stop_style(stop)
        stops.append((offset, (color[0], color[1], color[2], color[3] * opacity)))
    return stops


def _colors_at(stops: list[tuple[float, RGBA]], t: np.ndarray) -> np.ndarray:
    """Straight RGBA at parameters ``t`` in [0, 1]: (N, 4)."""
    offsets = np.array([offset for offset, _ in stops])
    colors = np.array([color for _, color in stops])
    # np.interp wants increasing x: equal offsets make a hard step, which interp handles.
    return np.stack([np.interp(t, offsets, colors[:, channel]) for channel in range(4)], axis=1)


def _spread(t: np.ndarray, method: str) -> np.ndarray:
    if method == "reflect":
        t = np.abs(t) % 2.0
        return np.where(t > 1.0, 2.0 - t, t)
    if method == "repeat":
        return t % 1.0
    return np.clip(t, 0.0, 1.0)


def gradient_average(attributes: dict, stops, samples: np.ndarray, bbox, context: LengthContext) -> RGBA | None:
    """Average straight RGBA of a gradient at sample points (user space), or None for 'none'.

    Args:
        attributes: the gradient's attributes, resolved through its ``href`` chain, plus
            ``"tag"`` (``linearGradient`` or ``radialGradient``).
        stops: from :func:`gradient_stops`.
        samples: points where the paint shows, in the shape's user space. Shape (N, 2).
        bbox: the shape's bounding box ``(x0, y0, x1, y1)`` (for objectBoundingBox units).
    """
    if not stops:
        return None
    if len(stops) == 1 or samples.shape[0] == 0:
        return _average(_colors_at(stops, np.array([1.0 if len(stops) > 1 else 0.0])))
    units = attributes.get("gradientUnits", "objectBoundingBox")
    transform = parse_transform(attributes.get("gradientTransform")) or IDENTITY
    if units == "objectBoundingBox":
        width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
        if width <= 0 or height <= 0:
            return None  # SVG: a zero-size bounding box with bbox units paints nothing
        transform = multiply(multiply(translate(bbox[0], bbox[1]), scale(width, height)), transform)
        length_context = LengthContext(1.0, 1.0, context.font_size)
    else:
        length_context = context
    inverse = _invert(transform)
    if inverse is None:
        return _average(_colors_at(stops, np.array([1.0])))
    a, b, c, d, e, f = inverse
    gx = a * samples[:, 0] + c * samples[:, 1] + e
    gy = b * samples[:, 0] + d * samples[:, 1] + f

    def length(name: str, default: str, axis: str) -> float:
        value = parse_length(attributes.get(name, default), length_context, axis)
        return value if value is not None else parse_length(default, length_context, axis)

    if attributes["tag"] == "linearGradient":
        x1, y1 = length("x1", "0%", "x"), length("y1", "0%", "y")
        x2, y2 = length("x2", "100%", "x"), length("y2", "0%", "y")
        dx, dy = x2 - x1, y2 - y1
        norm = dx * dx + dy * dy
        if norm <= 1e-18:
            return _average(_colors_at(stops, np.array([1.0])))  # SVG: the last stop's colour
        t = ((gx - x1) * dx + (gy - y1) * dy) / norm
    else:
        cx, cy, r = length("cx", "50%", "x"), length("cy", "50%", "y"), length("r", "50%", "other")
        fx = length("fx", attributes.get("cx", "50%"), "x")
        fy = length("fy", attributes.get("cy", "50%"), "y")
        if r <= 0:
            return _average(_colors_at(stops, np.array([1.0])))
        if math.hypot(fx - cx, fy - cy) > r:  # a focal point outside the circle moves onto it
            angle = math.atan2(fy - cy, fx - cx)
            fx, fy = cx + r * 0.999 * math.cos(angle), cy + r * 0.999 * math.sin(angle)
        ox, oy = gx - fx, gy - fy
        distance = np.hypot(ox, oy)
        ux, uy = (
            np.where(distance > 0, ox / np.maximum(distance, 1e-12), 1.0),
            np.where(distance > 0, oy / np.maximum(distance, 1e-12), 0.0),
        )
        # Distance from the focal point to the circle along each sample's direction.
        px, py = fx - cx, fy - cy
        along = ux * px + uy * py
        reach = -along + np.sqrt(np.maximum(along * along - (px * px + py * py) + r * r, 0.0))
        t = distance / np.maximum(reach, 1e-12)
    return _average(_colors_at(stops, _spread(t, attributes.get("spreadMethod", "pad"))))


def gradient_paint(attributes: dict, stops, bbox, context: LengthContext) -> Gradient | RGBA | None:
    """The paint of an SVG gradient in the shape's user space: a Gradient, a colour, or None.

    Args:
        attributes: the gradient's attributes through its ``href`` chain, plus ``"tag"``.
        stops: from :func:`gradient_stops`.
        bbox: the shape's bounding box ``(x0, y0, x1, y1)`` (for objectBoundingBox units).
    """
    if not stops:
        return None
    last = stops[-1][1]
    if len(stops) == 1:
        return last
    transform = parse_transform(attributes.get("gradientTransform")) or IDENTITY
    if attributes.get("gradientUnits", "objectBoundingBox") == "userSpaceOnUse":
        length_context = context
    else:
        width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
        if width <= 0 or height <= 0:
            return None  # SVG: a zero-size bounding box with bbox units paints nothing
        transform = multiply(multiply(translate(bbox[0], bbox[1]), scale(width, height)), transform)
        length_context = LengthContext(1.0, 1.0, context.font_size)
    if _invert(transform) is None:
        return last

    def length(name: str, default: str, axis: str) -> float:
        value = parse_length(attributes.get(name, default), length_context, axis)
        return value if value is not None else parse_length(default, length_context, axis)

    spread = attributes.get("spreadMethod", "pad")
    spread = spread if spread in ("pad", "reflect", "repeat") else "pad"
    offsets = [offset for offset, _ in stops]
    colors = [color for _, color in stops]
    if attributes["tag"] == "linearGradient":
        x1, y1 = length("x1", "0%", "x"), length("y1", "0%", "y")
        x2, y2 = length("x2", "100%", "x"), length("y2", "0%", "y")
        if (x2 - x1) ** 2 + (y2 - y1) ** 2 <= 1e-18:
            return last
        return Gradient("linear", offsets, colors, (x1, y1), (x2, y2), 0.0, 0.0, spread, transform)
    cx, cy, r = length("cx", "50%", "x"), length("cy", "50%", "y"), length("r", "50%", "other")
    fx = length("fx", attributes.get("cx", "50%"), "x")
    fy = length("fy", attributes.get("cy", "50%"), "y")
    fr = max(length("fr", "0%", "other"), 0.0)
    if r <= 0:
        return last
    if math.hypot(fx - cx, fy - cy) > r:  # SVG 1.1 (and resvg): a focal point outside moves onto the circle
        angle = math.atan2(fy - cy, fx - cx)
        fx, fy = cx + r * 0.999 * math.cos(angle), cy + r * 0.999 * math.sin(angle)
    return Gradient("radial", offsets, colors, (fx, fy), (cx, cy), min(fr, r), r, spread, transform)


def _average(colors: np.ndarray) -> RGBA:
    """Average of straight RGBA samples, taken in premultiplied space."""
    alpha = colors[:, 3]
    total = alpha.sum()
    if total <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    rgb = (colors[:, :3] * alpha[:, None]).sum(0) / total
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), float(alpha.mean()))


def paint_samples(contours, for_fill: bool, evenodd: bool, bbox) -> np.ndarray:
    """Where a paint shows: grid points inside the fill, or points along the outline (user space).

    Shape:
        Returns (N, 2).
    """
    outline = [_flatten(points, closed) for points, closed in contours]
    outline = [polygon for polygon in outline if polygon.shape[0] >= 2]
    if not outline:
        return np.zeros((0, 2))
    if not for_fill:
        return np.concatenate(outline)
    x0, y0, x1, y1 = bbox
    xs = x0 + (np.arange(_SAMPLES) + 0.5) / _SAMPLES * (x1 - x0)
    ys = y0 + (np.arange(_SAMPLES) + 0.5) / _SAMPLES * (y1 - y0)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    winding = np.zeros(grid.shape[0], dtype=np.int64)
    edges = np.concatenate([np.concatenate([polygon, np.roll(polygon, -1, axis=0)], axis=1) for polygon in outline])
    px, py = grid[None, :, 0], grid[None, :, 1]
    for chunk in range(0, edges.shape[0], 2048):  # (edges, samples) at a time, a few MB each
        ax, ay, bx, by = (edges[chunk : chunk + 2048, k : k + 1] for k in range(4))
        cross = (bx - ax) * (py - ay) - (px - ax) * (by - ay)
        upward = (ay <= py) & (by > py) & (cross > 0)
        downward = (by <= py) & (ay > py) & (cross < 0)
        winding += upward.sum(0) - downward.sum(0)
    inside = winding % 2 == 1 if evenodd else winding != 0
    return grid[inside] if inside.any() else grid


def _flatten(points, closed: bool, steps: int = 8) -> np.ndarray:
    """A polyline through the cubic contour (``steps`` samples per segment). Shape: (M, 2)."""
    control = np.asarray(points, dtype=np.float64)
    if closed:
        control = np.concatenate([control, control[:1]])
    segments = (control.shape[0] - 1) // 3
    if segments < 1:
        return control[:1]
    index = 3 * np.arange(segments)[:, None] + np.arange(4)[None, :]
    t = np.linspace(0.0, 1.0, steps, endpoint=False)[:, None]
    s = 1.0 - t
    basis = np.concatenate([s**3, 3 * s * s * t, 3 * s * t * t, t**3], axis=1)  # (steps, 4)
    samples = np.einsum("sk,nkd->nsd", basis, control[index]).reshape(-1, 2)
    return np.concatenate([samples, control[-1:]])


def bounding_box(contours) -> tuple[float, float, float, float] | None:
    """Tight bounding box of cubic contours, from a fine flattening (user space)."""
    polylines = [_flatten(points, closed, steps=16) for points, closed in contours]
    if not polylines:
        return None
    allpoints = np.concatenate(polylines)
    return float(allpoints[:, 0].min()), float(allpoints[:, 1].min()), float(allpoints[:, 0].max()), float(allpoints[:, 1].max())


def pattern_average(scene, width: float, height: float) -> RGBA | None:
    """Average straight RGBA of one pattern tile whose content is ``scene`` (tile units: user space).

    The tile is rendered about 48 pixels on its long side (content outside the tile is
    clipped, as SVG does).
    """
    from stylize.vector.raster import render

    if width <= 0 or height <= 0:
        return None
    if scene.num_paths == 0:
        return (0.0, 0.0, 0.0, 0.0)
    resolution = 48.0 / max(width, height)
    pixels_x, pixels_y = max(int(math.ceil(width * resolution)), 1), max(int(math.ceil(height * resolution)), 1)
    image = render(scene.scaled(resolution).to(dtype=torch.float64), pixels_x, pixels_y, background=None, premultiplied=True)
    alpha = float(image[..., 3].mean())
    if alpha <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    rgb = image[..., :3].reshape(-1, 3).mean(0) / alpha
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), alpha)


class PaintServers:
    """Turns the fills and strokes of one document into colours, paint servers included.

    Args:
        ids: the document's elements by id.
        tag: local SVG name of an element (None for other namespaces).
        cascade: the document's :class:`~stylize.vector.svg.style.Cascade`.
        tree_style: computed style of an element through its ancestors in the document.
        report: ``report(feature, detail)`` for what is approximated.
        draw_tile: ``draw_tile(content, transform, viewport) -> [VectorPath]``: a pattern's content.
    """

    def __init__(self, ids, tag, cascade, tree_style, report, draw_tile) -> None:
        self.ids, self.tag, self.cascade, self.tree_style = ids, tag, cascade, tree_style
        self.report, self.draw_tile = report, draw_tile
        self._tiles: dict[tuple, RGBA | None] = {}
        self._depth = 0

    def color(self, paint: Paint, style, which: str, contours, bbox, evenodd: bool, context: LengthContext, where: str):
        """Straight RGBA or a user-space Gradient of a paint before the fill- or stroke-opacity,
        or None for no paint."""
        if paint.kind == "none":
            return None
        if paint.kind == "color":
            return paint.color
        if paint.kind == "current":
            return style["color"]
        target = self.ids.get(paint.reference)
        kind = self.tag(target) if target is not None else None
        if kind in ("linearGradient", "radialGradient"):
            attributes, stops = self._gradient(target)
            if stops:
                return gradient_paint(attributes, stops, bbox, context)
        elif kind == "pattern":
            self.report("pattern", f"{where} {which}=url(#{paint.reference})")
            if self._depth < _MAX_PATTERN_DEPTH:
                return self._pattern(target, bbox, context)
        if paint.fallback is not None:  # a missing or unusable paint server: the fallback
            return self.color(paint.fallback, style, which, contours, bbox, evenodd, context, where)
        return None

    def _chain(self, element, kinds: tuple[str, ...]) -> tuple[dict, list]:
        """Attributes along an ``href`` chain of paint servers (nearest first wins) and the chain."""
        chain = [element]
        while len(chain) < 16:
            link = chain[-1]  # SVG 2: href wins over xlink:href
            reference = (link.get("href") if link.get("href") is not None else link.get(XLINK_HREF)) or ""
            following = self.ids.get(reference[1:]) if reference.startswith("#") else None
            if following is None or following in chain or self.tag(following) not in kinds:
                break
            chain.append(following)
        attributes = {"tag": self.tag(element)}
        for link in chain:
            for key, value in link.attrib.items():
                attributes.setdefault(key, value)
        return attributes, chain

    def _gradient(self, element):
        attributes, chain = self._chain(element, ("linearGradient", "radialGradient"))
        stop_elements = next(
            ([c for c in link if self.tag(c) == "stop"] for link in chain if any(self.tag(c) == "stop" for c in link)), []
        )
        parent = self.tree_style(element)

        def stop_style(stop):
            style = self.cascade.computed(stop, parent, (1.0, 1.0))
            color = style["stop-color"]
            return (style["color"] if color == CURRENT_COLOR else color), style["stop-opacity"]

        return attributes, gradient_stops(stop_elements, stop_style)

    def _pattern(self, element, bbox, context: LengthContext):
        attributes, chain = self._chain(element, ("pattern",))
        content = next((link for link in chain if len(link)), element)
        bbox_width, bbox_height = bbox[2] - bbox[0], bbox[3] - bbox[1]
        if attributes.get("patternUnits", "objectBoundingBox") == "objectBoundingBox":
            unit = LengthContext(1.0, 1.0, context.font_size)
            width = (parse_length(attributes.get("width"), unit, "x") or 0.0) * bbox_width
            height = (parse_length(attributes.get("height"), unit, "y") or 0.0) * bbox_height
        else:
            width = parse_length(attributes.get("width"), context, "x") or 0.0
            height = parse_length(attributes.get("height"), context, "y") or 0.0
        if not (width > 0 and height > 0):
            return None
        view_box = parse_view_box(attributes.get("viewBox"))
        if view_box is not None:
            transform = view_box_transform(view_box, width, height, attributes.get("preserveAspectRatio"))
        elif attributes.get("patternContentUnits") == "objectBoundingBox":
            transform = scale(bbox_width, bbox_height)
        else:
            transform = IDENTITY
        key = (id(element), round(width, 3), round(height, 3), transform)
        if key not in self._tiles and len(self._tiles) >= _MAX_TILE_RENDERS:  # bound the renders: reuse a tile
            return next((value for cached, value in self._tiles.items() if cached[0] == id(element)), None)
        if key not in self._tiles:
            from stylize.vector.scene import Scene

            self._depth += 1
            try:
                paths = self.draw_tile(content, transform, (width, height))
            finally:
                self._depth -= 1
            self._tiles[key] = pattern_average(Scene.from_paths(paths, dtype=torch.float64), width, height)
        return self._tiles[key]


class LazyBox:
    """A shape's bounding box (x0, y0, x1, y1), computed on first use."""

    def __init__(self, contours) -> None:
        self.contours, self.box = contours, None

    def __getitem__(self, index: int) -> float:
        if self.box is None:
            self.box = bounding_box(self.contours)
        return self.box[index]


def path_extent(path) -> tuple[float, float, float, float]:
    """Bounding box of a VectorPath's control points, grown by its stroke (1.5 half-widths)."""
    points = torch.cat(path.contours)
    grow = float(path.stroke_width) * 1.5 if path.stroke_color is not None else 0.0
    low, high = points.min(0).values, points.max(0).values
    return float(low[0]) - grow, float(low[1]) - grow, float(high[0]) + grow, float(high[1]) + grow


def any_overlap(boxes: np.ndarray) -> bool:
    """Whether any two of the (N, 4) boxes ``(x0, y0, x1, y1)`` overlap."""
    overlap_x = (boxes[:, None, 0] < boxes[None, :, 2]) & (boxes[None, :, 0] < boxes[:, None, 2])
    overlap_y = (boxes[:, None, 1] < boxes[None, :, 3]) & (boxes[None, :, 1] < boxes[:, None, 3])
    both = overlap_x & overlap_y
    np.fill_diagonal(both, False)
    return bool(both.any())
