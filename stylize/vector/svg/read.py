"""SVG export and import for :class:`~stylize.vector.scene.Scene`.

Export writes plain cubic paths that any SVG renderer draws the way :func:`stylize.vector.raster.render`
does: ``stroke-width`` is twice the half-width, each path's cap, join and miter limit, colours
as ``#rrggbb`` with separate opacities (and the path's ``opacity`` where it is below 1), and the
run's prompt and seed go into ``<metadata>`` as JSON.

Import (:func:`read_svg`) reads real-world files the way an SVG renderer draws them: see
:mod:`stylize.vector.svg.importer` for structure and paint, :mod:`stylize.vector.svg.style` and
:mod:`stylize.vector.svg.css` for the cascade, :mod:`stylize.vector.svg.path` for geometry. What a
scene cannot hold is said once per file in a warning (logging), never silently.

Safety: documents whose DOCTYPE declares an external entity are refused before parsing, the stdlib
expat parser never fetches external resources and refuses entity expansion bombs, and sizes are
bounded before anything large is allocated: :data:`MAX_SVG_BYTES` of (decompressed) file, then
the element, path, segment, canvas and coordinate limits of :mod:`stylize.vector.svg.importer`.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from torch import Tensor

from stylize.errors import InputError
from stylize.utils import atomic_write
from stylize.vector.scene import DEFAULT_MITER_LIMIT, Scene, VectorPath
from stylize.vector.svg.importer import (  # noqa: F401  (the limits are part of this module's interface)
    MAX_CANVAS_PIXELS,
    MAX_COORDINATE,
    MAX_IMPORT_PATHS,
    MAX_IMPORT_SEGMENTS,
    MAX_NESTING,
    MAX_VISITS,
    MAX_XML_ELEMENTS,
    import_svg,
)

logger = logging.getLogger(__name__)

METADATA_NAMESPACE = "urn:stylize:metadata"
_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+(?:%\s*)?[^\s>]+\s+(?:SYSTEM|PUBLIC)\b", re.IGNORECASE)
MAX_SVG_BYTES = 32 << 20  # 32 MiB of SVG text (after gunzip for .svgz)


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
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SVG_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read SVG file {name!r}: {exc.strerror or exc}") from exc
    too_large = InputError(f"SVG file {name!r} is larger than the import limit of {MAX_SVG_BYTES} bytes")
    if len(data) > MAX_SVG_BYTES:
        raise too_large
    if data[:2] == b"\x1f\x8b":  # .svgz: decompress, never past the limit
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = unzipped.read(MAX_SVG_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise InputError(f"malformed SVG file {name!r}: broken gzip data ({exc})") from exc
        if len(data) > MAX_SVG_BYTES:
            raise too_large
    if _EXTERNAL_ENTITY.search(data):
        raise InputError(f"SVG file {name!r} declares an external XML entity; refusing to parse it")
    return data


def parse_document(data: bytes, name: str):
    """The XML root of an SVG document, refusing more than :data:`MAX_XML_ELEMENTS` elements.

    The stdlib expat parser never fetches external entities or DTDs, and refuses entity
    expansion bombs (billion laughs) with a parse error.
    """
    count = depth = 0
    try:
        events = ET.iterparse(io.BytesIO(data), events=("start", "end"))
        for event, _ in events:
            if event == "end":
                depth -= 1
                continue
            count, depth = count + 1, depth + 1
            if count > MAX_XML_ELEMENTS:
                raise InputError(f"SVG file {name!r} has more than {MAX_XML_ELEMENTS} XML elements (the import limit)")
            if depth > MAX_NESTING:
                raise InputError(f"SVG file {name!r} nests elements more than {MAX_NESTING} deep (the import limit)")
        root = events.root
    except ET.ParseError as exc:
        raise InputError(f"malformed SVG file {name!r}: {exc}") from exc
    if root is None or not isinstance(root.tag, str) or root.tag.rsplit("}", 1)[-1] != "svg":
        raise InputError(f"{name!r} is not an SVG document (its root element is not <svg>)")
    return root


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _metadata(root) -> dict[str, Any]:
    node = root.find(f".//{{{METADATA_NAMESPACE}}}stylize")
    if node is None or not node.text:
        return {}
    try:
        value = json.loads(node.text)
    except json.JSONDecodeError:
        logger.warning("ignoring unreadable stylize metadata in SVG")
        return {}
    return value if isinstance(value, dict) else {}


def read_svg(path: str | os.PathLike) -> SvgDocument:
    """Parse an SVG file into a scene, its canvas size and any stylize metadata.

    Unsupported features are logged as warnings (``stylize.vector.svg``), once per kind per file.

    Raises:
        InputError: unreadable or malformed files, ones declaring external entities, and files
            over a size limit (:data:`MAX_SVG_BYTES`, :data:`MAX_XML_ELEMENTS`,
            :data:`MAX_IMPORT_PATHS`, :data:`MAX_IMPORT_SEGMENTS`, :data:`MAX_CANVAS_PIXELS`) or with
            coordinates that are not finite or beyond :data:`MAX_COORDINATE` after transforms.
    """
    name = str(path)
    root = parse_document(_read_bytes(path), name)
    paths, width, height = import_svg(root, name)
    return SvgDocument(Scene.from_paths(paths), width, height, _metadata(root))


def load_svg(path: str | os.PathLike) -> Scene:
    """Parse an SVG file into a :class:`Scene` (see :func:`read_svg` for size and metadata)."""
    return read_svg(path).scene
