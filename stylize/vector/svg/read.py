"""SVG import into a :class:`~stylize.vector.scene.Scene`, within size limits.

:func:`read_svg` reads real-world files the way an SVG renderer draws them: see
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
from typing import Any

from stylize.errors import InputError
from stylize.vector.scene import Scene
from stylize.vector.svg.importer import MAX_NESTING, MAX_XML_ELEMENTS, import_svg
from stylize.vector.svg.write import METADATA_NAMESPACE

logger = logging.getLogger(__name__)

_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+(?:%\s*)?[^\s>]+\s+(?:SYSTEM|PUBLIC)\b", re.IGNORECASE)
MAX_SVG_BYTES = 32 << 20  # 32 MiB of SVG text (after gunzip for .svgz)


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
