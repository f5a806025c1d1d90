"""SVG export and import for :class:`~stylize.vector.scene.Scene`.

Export writes plain cubic paths that any SVG renderer draws the way :func:`stylize.vector.raster.render`
does: ``stroke-width`` is twice the half-width, each path's cap, join and miter limit, colours
as ``#rrggbb`` with separate opacities (and the path's ``opacity`` where it is below 1), and the
run's prompt and seed go into ``<metadata>`` as JSON.

Import parses with svgelements (paths, lines, polylines, polygons, rects, circles, ellipses,
groups with transforms, solid colours and opacities). Group ``opacity`` is folded into each child's
colours, which is exact for children that do not overlap. What a scene cannot represent
(gradients, patterns, text, images, clip paths, masks, filters) is logged as a warning naming it.

XML safety: documents whose DOCTYPE declares an external entity are refused before parsing, and
the stdlib expat parser used underneath never fetches external resources.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import torch
from torch import Tensor

from stylize.errors import InputError
from stylize.utils import atomic_write
from stylize.vector.scene import DEFAULT_MITER_LIMIT, Scene, VectorPath, line_to_cubic, quadratic_to_cubic

logger = logging.getLogger(__name__)

METADATA_NAMESPACE = "urn:stylize:metadata"
_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+(?:%\s*)?[^\s>]+\s+(?:SYSTEM|PUBLIC)\b", re.IGNORECASE)
_UNSUPPORTED_ATTRIBUTES = ("clip-path", "mask", "filter", "marker-start", "marker-mid", "marker-end")


# ---------------------------------------------------------------------------------------- export
def _number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _hex(rgb: Tensor) -> str:
    channels = [int(round(float(c) * 255)) for c in rgb.clamp(0, 1)]
    return "#{:02x}{:02x}{:02x}".format(*channels)


def _path_data(path: VectorPath) -> str:
    parts = []
    for contour, closed in zip(path.contours, path.closed_flags()):
        points = contour.tolist()
        commands = [f"M{_number(points[0][0])} {_number(points[0][1])}"]
        count = len(points)
        num_segments = count // 3 if closed else (count - 1) // 3
        for segment in range(num_segments):
            controls = [points[(3 * segment + k) % count] for k in (1, 2, 3)]
            commands.append("C" + " ".join(f"{_number(x)} {_number(y)}" for x, y in controls))
        if closed:
            commands.append("Z")
        parts.append(" ".join(commands))
    return " ".join(parts)


def svg_string(scene: Scene, width: int, height: int, metadata: dict[str, Any] | None = None) -> str:
    """The SVG document for ``scene`` on a ``width`` x ``height`` canvas, as text."""
    if not isinstance(scene, Scene):
        raise TypeError(f"expected a Scene, got {type(scene).__name__}")
    if not (width > 0 and height > 0):
        raise ValueError(f"expected a positive canvas size, got {width} x {height}")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_number(width)}" height="{_number(height)}" '
        f'viewBox="0 0 {_number(width)} {_number(height)}">',
    ]
    if metadata:
        payload = escape(json.dumps(metadata, sort_keys=True, default=str))
        lines.append(f'<metadata><stylize xmlns="{METADATA_NAMESPACE}">{payload}</stylize></metadata>')
    for path in scene.paths():
        attributes = {"d": _path_data(path)}
        if path.fill_color is not None:
            attributes.update(
                {"fill": _hex(path.fill_color[:3]), "fill-opacity": _number(float(path.fill_color[3])), "fill-rule": path.fill_rule}
            )
        else:
            attributes["fill"] = "none"
        if path.stroke_color is not None:
            attributes.update(
                {
                    "stroke": _hex(path.stroke_color[:3]),
                    "stroke-opacity": _number(float(path.stroke_color[3])),
                    "stroke-width": _number(2.0 * float(path.stroke_width)),
                    "stroke-linecap": path.linecap,
                    "stroke-linejoin": path.linejoin,
                }
            )
            if path.linejoin == "miter" and abs(path.miter_limit - DEFAULT_MITER_LIMIT) > 1e-9:
                attributes["stroke-miterlimit"] = _number(path.miter_limit)
        else:
            attributes["stroke"] = "none"
        if path.opacity < 1:
            attributes["opacity"] = _number(path.opacity)
        lines.append("<path " + " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items()) + "/>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def save_svg(
    scene: Scene, path: str | os.PathLike, width: int, height: int, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``scene`` as an SVG file, atomically.

    Args:
        scene: the drawing (its tensors are read, not modified).
        path: output file.
        width, height: canvas size in pixels (also the viewBox).
        metadata: JSON-serialisable run facts, e.g. ``{"prompt": ..., "seed": ...}``, stored in
            ``<metadata>``; read back with :func:`read_svg`.

    Returns:
        The path written.
    """
    text = svg_string(scene, width, height, metadata)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)


# ---------------------------------------------------------------------------------------- import
@dataclass
class SvgDocument:
    """What :func:`read_svg` found: the scene, the canvas size in pixels and stylize metadata."""

    scene: Scene
    width: float
    height: float
    metadata: dict[str, Any] = field(default_factory=dict)


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read SVG file {str(path)!r}: {exc.strerror or exc}") from exc
    if _EXTERNAL_ENTITY.search(data):
        raise InputError(f"SVG file {str(path)!r} declares an external XML entity; refusing to parse it")
    return data


def _metadata(data: bytes) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return {}
    node = root.find(f".//{{{METADATA_NAMESPACE}}}stylize")
    if node is None or not node.text:
        return {}
    try:
        value = json.loads(node.text)
    except json.JSONDecodeError:
        logger.warning("ignoring unreadable stylize metadata in SVG")
        return {}
    return value if isinstance(value, dict) else {}


def _describe(element) -> str:
    tag = type(element).__name__.lower()
    element_id = getattr(element, "id", None)
    return f"<{tag} id={element_id!r}>" if element_id else f"<{tag}>"


def _float(value, default: float = 1.0) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def _paint(element, kind: str, where: str) -> tuple[float, float, float, float] | None:
    """Straight RGBA of the element's fill or stroke, or None when it is not painted."""
    import svgelements

    raw = element.values.get(kind)
    if isinstance(raw, str) and raw.strip().lower().startswith("url("):
        logger.warning("SVG %s: %s paint %s (a gradient or pattern) is not supported; it is left out", where, kind, raw.strip())
        return None
    color = getattr(element, kind, None)
    if color is None or getattr(color, "value", None) is None:
        return None
    # Opacities are read as floats (svgelements folds them into an 8-bit alpha).
    intrinsic = 1.0
    if isinstance(raw, str):
        try:
            intrinsic = svgelements.Color(raw).alpha / 255.0
        except Exception:  # named or odd colour strings: keep full alpha
            intrinsic = 1.0
    alpha = intrinsic * _float(element.values.get(f"{kind}-opacity")) * _float(element.values.get("opacity"))
    return (color.red / 255.0, color.green / 255.0, color.blue / 255.0, min(max(alpha, 0.0), 1.0))


def _contours(element) -> list[tuple[list[list[float]], bool]]:
    """Cubic control points and closed flag of every subpath of a shape (transforms applied)."""
    import svgelements

    contours: list[tuple[list[list[float]], bool]] = []
    current: list[list[float]] = []

    def finish(closed: bool) -> None:
        nonlocal current
        if len(current) >= 4:
            if closed:
                start, end = current[0], current[-1]
                if math.dist(start, end) > 1e-9:
                    current.extend(_line(end, start))
                contours.append((current[:-1], True))
            else:
                contours.append((current, False))
        current = []

    for segment in svgelements.Path(element).segments():
        if isinstance(segment, svgelements.Move):
            finish(False)
            current = [[segment.end.x, segment.end.y]]
        elif isinstance(segment, svgelements.Close):
            start = current[:1]
            finish(True)
            current = start  # a subpath that goes on after Z starts where the closed one began
        elif not current:
            continue
        elif isinstance(segment, svgelements.Line):
            current.extend(_line(current[-1], [segment.end.x, segment.end.y]))
        elif isinstance(segment, svgelements.QuadraticBezier):
            inner = quadratic_to_cubic(torch.tensor(current[-1]), torch.tensor([segment.control.x, segment.control.y]), torch.tensor([segment.end.x, segment.end.y]))
            current.extend(inner.tolist() + [[segment.end.x, segment.end.y]])
        elif isinstance(segment, svgelements.CubicBezier):
            current.extend([[segment.control1.x, segment.control1.y], [segment.control2.x, segment.control2.y], [segment.end.x, segment.end.y]])
        elif isinstance(segment, svgelements.Arc):
            for cubic in segment.as_cubic_curves():
                current.extend([[cubic.control1.x, cubic.control1.y], [cubic.control2.x, cubic.control2.y], [cubic.end.x, cubic.end.y]])
        else:
            logger.warning("SVG: segment type %s is not supported; it is left out", type(segment).__name__)
    finish(False)
    return contours


def _line(start: list[float], end: list[float]) -> list[list[float]]:
    inner = line_to_cubic(torch.tensor(start, dtype=torch.float64), torch.tensor(end, dtype=torch.float64))
    return inner.tolist() + [list(end)]


def _element_paths(element, where: str) -> list[VectorPath]:
    import svgelements

    contours = _contours(element)
    if not contours:
        return []
    stroke = _paint(element, "stroke", where)
    fill = None if isinstance(element, svgelements.SimpleLine) else _paint(element, "fill", where)
    half_width = 0.5 * _float(getattr(element, "implicit_stroke_width", None) or getattr(element, "stroke_width", None), 1.0)
    if stroke is not None and half_width <= 0:
        stroke = None
    if stroke is None and fill is None:
        return []
    rule = str(element.values.get("fill-rule", "nonzero")).strip().lower()
    rule = rule if rule in ("nonzero", "evenodd") else "nonzero"
    points = [torch.tensor(c, dtype=torch.float64) for c, _ in contours]
    closed = [flag for _, flag in contours]
    if fill is None or all(closed):
        return [VectorPath(points, closed, half_width, stroke, fill, rule)]
    # SVG fills open subpaths as if closed, but strokes them open: a closed fill-only path under
    # an open stroke-only path paints the same thing.
    closed_points = []
    for contour, flag in zip(points, closed):
        if flag:
            closed_points.append(contour)
        elif math.dist(contour[0].tolist(), contour[-1].tolist()) > 1e-9:
            closed_points.append(torch.cat([contour, torch.tensor(_line(contour[-1].tolist(), contour[0].tolist())[:-1], dtype=torch.float64)]))
        else:
            closed_points.append(contour[:-1])
    paths = [VectorPath(closed_points, True, half_width, None, fill, rule)]
    if stroke is not None:
        paths.append(VectorPath(points, closed, half_width, stroke, None, rule))
    return paths


def read_svg(path: str | os.PathLike) -> SvgDocument:
    """Parse an SVG file into a scene, its canvas size and any stylize metadata.

    Raises:
        InputError: unreadable or malformed files, or ones declaring external entities.
    """
    import svgelements

    data = _read_bytes(path)
    try:
        document = svgelements.SVG.parse(io.BytesIO(data), reify=True)
    except Exception as exc:  # ParseError, or whatever svgelements raises on broken values
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"malformed SVG file {str(path)!r}: {message}") from exc
    width = _float(getattr(document, "width", None), 0.0)
    height = _float(getattr(document, "height", None), 0.0)
    paths: list[VectorPath] = []
    for element in document.elements():
        where = f"{Path(path).name} {_describe(element)}"
        if isinstance(element, (svgelements.Text, svgelements.Image)):
            logger.warning("SVG %s: %s elements are not supported; left out", where, type(element).__name__.lower())
            continue
        if not isinstance(element, svgelements.Shape):
            continue
        for attribute in _UNSUPPORTED_ATTRIBUTES:
            if element.values.get(attribute) not in (None, "none"):
                logger.warning("SVG %s: %s is not supported; ignored", where, attribute)
        try:
            paths.extend(_element_paths(element, where))
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            raise InputError(f"malformed SVG file {str(path)!r}: cannot convert {_describe(element)}: {exc}") from exc
    if width <= 0 or height <= 0:
        raise InputError(f"SVG file {str(path)!r} has no usable width/height or viewBox")
    return SvgDocument(Scene.from_paths(paths), width, height, _metadata(data))


def load_svg(path: str | os.PathLike) -> Scene:
    """Parse an SVG file into a :class:`Scene` (see :func:`read_svg` for size and metadata)."""
    return read_svg(path).scene
