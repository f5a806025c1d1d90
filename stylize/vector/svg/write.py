"""SVG export of a :class:`~stylize.vector.scene.Scene`: plain cubic paths, drawn everywhere alike.

Export writes plain cubic paths that any SVG renderer draws the way :func:`stylize.vector.raster.render`
does: ``stroke-width`` is twice the half-width, each path's cap, join and miter limit, colours
as ``#rrggbb`` with separate opacities (and the path's ``opacity`` where it is below 1), and the
run's prompt and seed go into ``<metadata>`` as JSON (read back by
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
                {
                    "fill": _hex(path.fill_color[:3]),
                    "fill-opacity": _number(float(path.fill_color[3])),
                    "fill-rule": path.fill_rule,
                }
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
