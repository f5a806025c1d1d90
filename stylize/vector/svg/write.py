"""SVG export of a :class:`~stylize.vector.scene.Scene`: plain cubic paths, drawn everywhere alike.

Export writes plain cubic paths that any SVG renderer draws the way :func:`stylize.vector.raster.render`
does: ``stroke-width`` is twice the half-width, each path's cap, join and miter limit, colours
as ``#rrggbb`` with separate opacities (and the path's ``opacity`` where it is below 1), gradients
as ``<linearGradient>`` / ``<radialGradient>`` in ``userSpaceOnUse`` units with their transform
(read back exactly by the importer), clip groups as ``<clipPath>`` elements referenced by the
paths they clip, and the run's prompt and seed go into ``<metadata>`` as JSON (read back by
:func:`stylize.vector.svg.read.read_svg`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from torch import Tensor

from stylize.utils import atomic_write
from stylize.vector.paint import Gradient
from stylize.vector.scene import DEFAULT_MITER_LIMIT, Scene, VectorPath

METADATA_NAMESPACE = "urn:stylize:metadata"


def _number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _hex(rgb: Tensor) -> str:
    channels = [int(round(float(c) * 255)) for c in rgb.clamp(0, 1)]
    return "#{:02x}{:02x}{:02x}".format(*channels)


def _path_data(path: VectorPath) -> str:
    parts = []
    for contour, closed in zip(path.contours, path.closed_flags(), strict=False):
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


def _gradient_element(gradient: Gradient, gradient_id: str) -> str:
    """A ``<linearGradient>`` or ``<radialGradient>`` drawing exactly ``gradient``."""
    sx, sy, ex, ey, start_radius, end_radius = gradient.geometry()
    attributes = {"id": gradient_id, "gradientUnits": "userSpaceOnUse", "spreadMethod": gradient.spread}
    if tuple(float(v) for v in gradient.transform) != (1.0, 0.0, 0.0, 1.0, 0.0, 0.0):
        attributes["gradientTransform"] = "matrix(" + " ".join(_precise(v) for v in gradient.transform) + ")"
    if gradient.kind == "linear":
        tag = "linearGradient"
        attributes.update({"x1": _precise(sx), "y1": _precise(sy), "x2": _precise(ex), "y2": _precise(ey)})
    else:
        tag = "radialGradient"
        attributes.update({"cx": _precise(ex), "cy": _precise(ey), "r": _precise(end_radius), "fx": _precise(sx),
                           "fy": _precise(sy), "fr": _precise(start_radius)})  # fmt: skip
    offsets, colors = gradient.stop_tensors()
    stops = "".join(
        f'<stop offset="{_precise(float(offset))}" stop-color="{_hex(color[:3])}" stop-opacity="{_number(float(color[3]))}"/>'
        for offset, color in zip(offsets, colors, strict=True)
    )
    head = " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items())
    return f"<{tag} {head}>{stops}</{tag}>"


def _precise(value: float) -> str:
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


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
    definitions: list[str] = []
    body: list[str] = []
    paths = scene.paths()
    clips: dict[int, list[str]] = {}
    for path in paths:
        if path.clip_of >= 0:
            clips.setdefault(path.clip_of, []).append(f'<path d="{_path_data(path)}" clip-rule="{path.fill_rule}"/>')
    definitions.extend(f'<clipPath id="clip{group}">{"".join(members)}</clipPath>' for group, members in sorted(clips.items()))
    for path in paths:
        if path.clip_of >= 0:
            continue
        attributes = {"d": _path_data(path)}
        if path.clipped_by >= 0:
            attributes["clip-path"] = f"url(#clip{path.clipped_by})"
        if path.fill_gradient is not None:
            definitions.append(_gradient_element(path.fill_gradient, f"paint{len(definitions)}"))
            attributes.update({"fill": f"url(#paint{len(definitions) - 1})", "fill-rule": path.fill_rule})
        elif path.fill_color is not None:
            attributes.update(
                {
                    "fill": _hex(path.fill_color[:3]),
                    "fill-opacity": _number(float(path.fill_color[3])),
                    "fill-rule": path.fill_rule,
                }
            )
        else:
            attributes["fill"] = "none"
        if path.stroke_color is not None:
            if path.stroke_gradient is not None:
                definitions.append(_gradient_element(path.stroke_gradient, f"paint{len(definitions)}"))
                paint = {"stroke": f"url(#paint{len(definitions) - 1})"}
            else:
                paint = {"stroke": _hex(path.stroke_color[:3]), "stroke-opacity": _number(float(path.stroke_color[3]))}
            attributes.update(
                {
                    **paint,
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
        body.append("<path " + " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items()) + "/>")
    if definitions:
        lines.append("<defs>" + "".join(definitions) + "</defs>")
    lines.extend(body)
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def save_svg(scene: Scene, path: str | os.PathLike, width: int, height: int, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``scene`` as an SVG file, atomically.

    Args:
        scene: the drawing (its tensors are read, not modified).
        path: output file.
        width, height: canvas size in pixels (also the viewBox).
        metadata: JSON-serialisable run facts, e.g. ``{"prompt": ..., "seed": ...}``, stored in
            ``<metadata>``; read back with :func:`~stylize.vector.svg.read.read_svg`.

    Returns:
        The path written.
    """
    text = svg_string(scene, width, height, metadata)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)
