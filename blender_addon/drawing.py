"""A drawing's SVG read for Blender's curves: paths with their stroke colours, widths and fills (no bpy).

Blender's own SVG importer keeps the fills' colours but drops every stroke's colour and width, so
a line drawing (CLIPDraw's strokes are unfilled open paths) arrives as zero-width hairlines that
render as nothing. The toolkit writes plain SVG (``stylize.vector.svg.write``): ``<path>``
elements with absolute ``M``/``C``/``Z`` data and ``fill``, ``fill-opacity``, ``stroke``,
``stroke-opacity``, ``stroke-width`` and ``opacity`` attributes. :func:`read_drawing` reads
that, and a little more (``L`` and relative commands, ``style`` attributes, ``<g>`` inheritance,
``#rgb`` colours); anything else (transforms, arcs, other elements that paint) raises
:class:`UnsupportedSvg`, and the add-on falls back to Blender's importer.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

_SVG = "{http://www.w3.org/2000/svg}"
_TOKEN = re.compile(r"[MmLlCcZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|([A-Za-z])")
_PAINTED = {"rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "image", "use"}
_INHERITED = ("fill", "fill-opacity", "stroke", "stroke-opacity", "stroke-width")
_DEFAULTS = {"fill": "#000000", "fill-opacity": "1", "stroke": "none", "stroke-opacity": "1", "stroke-width": "1"}


class UnsupportedSvg(ValueError):
    """The SVG uses something :func:`read_drawing` does not read."""


@dataclass
class Contour:
    """One subpath as Blender's Bezier points: each anchor with its left and right handle."""

    points: list[tuple[float, float]] = field(default_factory=list)
    left: list[tuple[float, float]] = field(default_factory=list)
    right: list[tuple[float, float]] = field(default_factory=list)
    closed: bool = False


@dataclass
class DrawnPath:
    """One ``<path>``: its contours and paint (RGBA: sRGB colour, alpha with every opacity)."""

    contours: list[Contour]
    fill: tuple[float, float, float, float] | None
    stroke: tuple[float, float, float, float] | None
    stroke_width: float


def read_drawing(path: str | Path) -> list[DrawnPath]:
    """The painted paths of an SVG file, in paint order.

    Raises:
        UnsupportedSvg: it uses what this reader does not read (the caller falls back).
        OSError, ElementTree.ParseError: it cannot be read.
    """
    root = ElementTree.parse(path).getroot()
    paths: list[DrawnPath] = []
    _walk(root, dict(_DEFAULTS), paths)
    return paths


def read_canvas(path: str | Path) -> tuple[float, float, float, float] | None:
    """The SVG's canvas ``(x, y, width, height)``: its ``viewBox``, else ``0 0 width height``;
    None when it has neither (or they do not parse)."""
    root = ElementTree.parse(path).getroot()
    try:
        if root.get("viewBox"):
            x, y, width, height = (float(v) for v in root.get("viewBox").replace(",", " ").split())
        else:
            x, y, width, height = 0.0, 0.0, _number(root.get("width", ""), "width"), _number(root.get("height", ""), "height")
    except (ValueError, UnsupportedSvg):
        return None
    return (x, y, width, height) if width > 0 and height > 0 else None


def _local(tag: str) -> str:
    return tag[len(_SVG) :] if tag.startswith(_SVG) else tag


def _walk(element, inherited: dict, paths: list[DrawnPath]) -> None:
    for child in element:
        tag = _local(child.tag) if isinstance(child.tag, str) else ""
        if tag in ("metadata", "title", "desc", "defs"):
            continue
        if tag in _PAINTED:
            raise UnsupportedSvg(f"<{tag}> elements")
        if "transform" in child.attrib:
            raise UnsupportedSvg("transforms")
        style = _style(child, inherited)
        if tag == "path":
            paths.append(_path(child.get("d", ""), style))
        elif tag in ("g", "svg"):
            _walk(child, {key: style[key] for key in _INHERITED}, paths)


def _style(element, inherited: dict) -> dict:
    style = dict(inherited)
    style.update({key: value for key, value in element.attrib.items() if key in _INHERITED or key == "opacity"})
    for item in element.get("style", "").split(";"):
        if ":" in item:
            key, value = (part.strip() for part in item.split(":", 1))
            style[key] = value
    return style


def _number(text: str, what: str) -> float:
    try:
        return float(str(text).strip().removesuffix("px"))
    except ValueError:
        raise UnsupportedSvg(f"{what} {text!r}") from None


def _colour(text: str) -> tuple[float, float, float] | None:
    text = str(text).strip().lower()
    if text in ("none", "transparent", ""):
        return None
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return tuple(int(text[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        return tuple(int(c * 2, 16) / 255.0 for c in text[1:])
    if text == "black":
        return (0.0, 0.0, 0.0)
    if text == "white":
        return (1.0, 1.0, 1.0)
    raise UnsupportedSvg(f"the colour {text!r}")


def _paint(style: dict, kind: str) -> tuple[float, float, float, float] | None:
    rgb = _colour(style[kind])
    if rgb is None:
        return None
    alpha = _number(style[f"{kind}-opacity"], f"{kind}-opacity") * _number(style.get("opacity", "1"), "opacity")
    return (*rgb, min(max(alpha, 0.0), 1.0))


def _path(data: str, style: dict) -> DrawnPath:
    return DrawnPath(contours=parse_path_data(data), fill=_paint(style, "fill"), stroke=_paint(style, "stroke"),
                     stroke_width=max(_number(style["stroke-width"], "stroke-width"), 0.0))  # fmt: skip


def parse_path_data(data: str) -> list[Contour]:
    """SVG path data (``M``, ``L``, ``C``, ``Z``, absolute or relative) as contours.

    Raises:
        UnsupportedSvg: another command (``H``, ``V``, ``S``, ``Q``, ``T``, ``A``) or bad numbers.
    """
    tokens = []
    for match in _TOKEN.finditer(data):
        if match.group(1):
            raise UnsupportedSvg(f"the path command {match.group(1)!r}")
        tokens.append(match.group(0))
    contours: list[Contour] = []
    current: Contour | None = None
    position = start = (0.0, 0.0)
    command, index = None, 0

    def take(count: int) -> list[float]:
        nonlocal index
        values = tokens[index : index + count]
        if len(values) < count or any(v.isalpha() for v in values):
            raise UnsupportedSvg(f"path data {data[:40]!r}")
        index += count
        return [float(v) for v in values]

    while index < len(tokens):
        if tokens[index].isalpha():
            command = tokens[index]
            index += 1
        elif command is None:
            raise UnsupportedSvg(f"path data {data[:40]!r}")
        relative = command.islower()
        base = position if relative else (0.0, 0.0)
        kind = command.upper()
        if kind == "Z":
            if current is not None:
                _close(current)
                position = start
            current, command = None, None
            continue
        if kind == "M":
            x, y = take(2)
            position = start = (base[0] + x, base[1] + y)
            current = Contour(points=[position], left=[position], right=[position])
            contours.append(current)
            command = "l" if relative else "L"  # further pairs are lines
            continue
        if current is None:  # a drawing command after Z starts at the last point
            current = Contour(points=[position], left=[position], right=[position])
            contours.append(current)
        if kind == "L":
            x, y = take(2)
            end = (base[0] + x, base[1] + y)
            current.points.append(end)
            current.left.append(end)
            current.right.append(end)
        elif kind == "C":
            values = take(6)
            c1, c2, end = [(base[0] + values[i], base[1] + values[i + 1]) for i in (0, 2, 4)]
            current.right[-1] = c1
            current.points.append(end)
            current.left.append(c2)
            current.right.append(end)
        position = current.points[-1]
    return [contour for contour in contours if len(contour.points) > 1 or contour.closed]


def _close(contour: Contour) -> None:
    """A closed contour whose last point is its first (a closing curve) drops the copy: the first
    anchor takes its left handle."""
    contour.closed = True
    if len(contour.points) > 1 and _same(contour.points[-1], contour.points[0]):
        contour.left[0] = contour.left[-1]
        del contour.points[-1], contour.left[-1], contour.right[-1]


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < 1e-9 and abs(a[1] - b[1]) < 1e-9
