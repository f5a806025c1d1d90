"""SVG documents to scene paths: structure, geometry, paint, limits and warnings.

:func:`import_svg` walks the document as an SVG renderer would: ``g``, ``a``, ``switch``
(first child whose conditions hold), nested ``svg`` viewports, ``use`` of elements, ``symbol``
and ``svg`` (with their viewBox), the basic shapes and ``path``; ``display``, ``visibility``,
transforms, units and percentages, the CSS cascade (:mod:`stylize.vector.svg.style`), paint
servers (:mod:`stylize.vector.svg.paint`), caps, joins and miter limits.

Opacity: an element's ``opacity`` becomes its path's opacity, which the renderer applies to
fill and stroke together (exact). A group's opacity is folded into each child, which is exact
when the children do not overlap; overlaps are reported.

Gradients are imported as gradients (:class:`~stylize.vector.paint.Gradient`, placed by the
element's transform). Everything a scene cannot hold is said once per file in a warning (one per
kind of feature, with a count and the first element): patterns (drawn as an average colour),
dashes (drawn solid), markers, clipping, masks, filters, text, images, strokes under a
non-uniform scale, broken path data (drawn up to the error, as SVG says), and so on.

Limits (checked before the scene is allocated; :class:`~stylize.errors.InputError` naming the
limit and the value): :data:`MAX_XML_ELEMENTS`, :data:`MAX_NESTING`, :data:`MAX_VISITS`,
:data:`MAX_IMPORT_PATHS`, :data:`MAX_IMPORT_SEGMENTS`, :data:`MAX_CANVAS_PIXELS` and, for every
coordinate and stroke width after transforms, :data:`MAX_COORDINATE` (which also catches
infinite and NaN values).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from stylize.errors import InputError
from stylize.vector.paint import Gradient
from stylize.vector.scene import VectorPath
from stylize.vector.svg.clip import Clipper
from stylize.vector.svg.css import StyleSheet, Tree, parse_stylesheet
from stylize.vector.svg.dash import MAX_DASHES, count_dashes, dash_contours
from stylize.vector.svg.paint import LazyBox, PaintServers, any_overlap, path_extent
from stylize.vector.svg.path import shape_geometry
from stylize.vector.svg.report import Report
from stylize.vector.svg.shapes import assemble_paths, fill_only
from stylize.vector.svg.style import Cascade, Style, root_style
from stylize.vector.svg.values import (
    IDENTITY,
    Affine,
    LengthContext,
    Paint,
    apply,
    multiply,
    parse_css_transform,
    parse_length,
    parse_transform,
    parse_transform_origin,
    parse_view_box,
    scale_factors,
    translate,
    view_box_transform,
)

logger = logging.getLogger("stylize.vector.svg")

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MAX_XML_ELEMENTS = 200_000
MAX_IMPORT_PATHS = 10_000
MAX_IMPORT_SEGMENTS = 200_000
MAX_CANVAS_PIXELS = 1 << 26  # 8192 x 8192
MAX_COORDINATE = float(1 << 24)  # where float32 stops resolving whole pixels
MAX_NESTING = 128  # elements inside elements, in the file and through use
MAX_VISITS = MAX_XML_ELEMENTS  # elements visited, counting each use expansion (use bombs)

SHAPES = ("path", "rect", "circle", "ellipse", "line", "polyline", "polygon")
_UNSUPPORTED_ELEMENTS = ("text", "image", "foreignObject")


@dataclass(frozen=True)
class _Frame:
    transform: Affine
    viewport: tuple[float, float]  # user units that percentages refer to
    opacity: float = 1.0  # product of the enclosing groups' opacities
    groups: tuple[int, ...] = ()  # enclosing groups with opacity < 1
    uses: tuple = ()  # elements being expanded by use, for cycles
    depth: int = 0  # nesting, through use too
    context: tuple = ()  # (fill, stroke, style) of the context element (the use drawing this), if any


@dataclass
class _Emitted:
    path: VectorPath
    where: str
    groups: tuple[int, ...]


class _Importer:
    def __init__(self, root, name: str) -> None:
        self.root, self.name = root, name
        self.report = Report(name)
        self.svg_namespace = root.tag.startswith("{")
        self.tree = Tree(root, self.tag)
        self.ids: dict[str, object] = {}
        style_text = []
        for element in root.iter():
            element_id = element.get("id")
            if element_id and element_id not in self.ids:
                self.ids[element_id] = element
            if self.tag(element) == "style":
                kind = (element.get("type") or "text/css").split(";")[0].strip().lower() or "text/css"
                if kind == "text/css":
                    style_text.append("".join(element.itertext()))
                else:
                    logger.debug("SVG %s: ignoring a <style> of type %r", name, kind)
        rules, order = [], 0
        for text in style_text:
            rules.extend(parse_stylesheet(text, order, self.report))
            order += 100_000
        self.cascade = Cascade(self.tree, StyleSheet(rules))
        self.output: list[_Emitted] = []
        self.segments = 0
        self.group_serial = 0
        self.clips: list[list] = []  # [canvas corners, first output index, end index, element]
        self.clipper = Clipper(self)
        self.clip_mode = False  # walking a clipPath's children: shapes are clip geometry
        self._tree_styles: dict[int, Style] = {}
        self.servers = PaintServers(self.ids, self.tag, self.cascade, self.tree_style, self.report, self._draw_tile)
        self.visits = 0

    def tag(self, element) -> str | None:
        """Local name of an SVG element, or None for other namespaces (and comments)."""
        tag = element.tag
        if not isinstance(tag, str):
            return None
        if tag.startswith("{"):
            namespace, _, local = tag[1:].partition("}")
            return local if namespace == SVG_NAMESPACE else None
        return None if self.svg_namespace else tag

    def where(self, element) -> str:
        element_id = element.get("id")
        return f"<{self.tag(element)} id={element_id!r}>" if element_id else f"<{self.tag(element)}>"

    # ------------------------------------------------------------------ the walk
    def run(self) -> tuple[list[_Emitted], float, float]:
        root = self.root
        shapes = sum(1 for element in root.iter() if self.tag(element) in SHAPES)
        if shapes > MAX_IMPORT_PATHS:
            raise InputError(
                f"SVG file {self.name!r} has {shapes} shapes, more than the import limit of {MAX_IMPORT_PATHS} paths"
            )
        width, height, view_transform, viewport = self._canvas(root)
        style = self.cascade.computed(root, root_style(), viewport)
        transform = self._transform(root, viewport)
        frame = _Frame(multiply(transform or IDENTITY, view_transform), viewport)
        frame = self._group(style, frame)
        self._effects(root, style)
        for child in root:
            self._walk(child, style, frame)
        self._check_overlaps()
        self._check_clips()
        return self.output, width, height

    def _canvas(self, root):
        context = LengthContext(100.0, 100.0)
        view_box = parse_view_box(root.get("viewBox"))

        def size(attribute: str, axis: str) -> float | None:
            text = root.get(attribute)
            if text is None or text.strip().endswith("%") or text.strip() == "auto":
                return None
            value = parse_length(text, context, axis)
            if value is not None and not value > 0:  # SVG: zero or negative disables rendering
                raise InputError(f"SVG file {self.name!r} has no usable size ({attribute}={text!r})")
            return value

        width, height = size("width", "x"), size("height", "y")
        if view_box is not None:
            if width is None and height is None:
                width, height = view_box[2], view_box[3]
            elif width is None:
                width = height * view_box[2] / view_box[3]
            elif height is None:
                height = width * view_box[3] / view_box[2]
        width, height = width or 100.0, height or 100.0
        if not (math.isfinite(width) and math.isfinite(height)) or width * height > MAX_CANVAS_PIXELS:
            raise InputError(
                f"SVG file {self.name!r} has a canvas of {width:g} x {height:g} px, more than the import limit of "
                f"{MAX_CANVAS_PIXELS} pixels"
            )
        if view_box is None:
            return width, height, IDENTITY, (width, height)
        return (
            width,
            height,
            view_box_transform(view_box, width, height, root.get("preserveAspectRatio")),
            (view_box[2], view_box[3]),
        )

    def _walk(self, element, parent: Style, frame: _Frame) -> None:
        tag = self.tag(element)
        if tag is None:
            return
        self.visits += 1
        if self.visits > MAX_VISITS:
            raise InputError(
                f"SVG file {self.name!r} expands (through use) to more than {MAX_VISITS} elements (the import limit)"
            )
        frame = replace(frame, depth=frame.depth + 1)
        if frame.depth > MAX_NESTING:
            raise InputError(
                f"SVG file {self.name!r} nests elements (through use) more than {MAX_NESTING} deep (the import limit)"
            )
        if tag in _UNSUPPORTED_ELEMENTS:
            self.report(tag, self.where(element))
            return
        if tag not in SHAPES and tag not in ("g", "a", "switch", "svg", "use") or not self._conditions(element):
            return  # defs, symbol, gradients, metadata, ... are drawn only through references
        style = self.cascade.computed(element, parent, frame.viewport)
        if style["display"] == "none":
            return
        transform = self._transform(element, frame.viewport)
        if transform is not None:
            frame = replace(frame, transform=multiply(frame.transform, transform))
        first = len(self.output)
        self._draw(element, tag, style, frame)
        if style["clip-path"]:
            if self.clip_mode:
                self.report("clip-nested", f"{self.where(element)} clip-path={style['clip-path']}")
            else:
                self.clipper.apply(element, style, frame, first)

    def _draw(self, element, tag: str, style: Style, frame: _Frame) -> None:
        if tag in SHAPES:
            self._shape(element, tag, style, frame)
            return
        frame = self._group(style, frame)
        self._effects(element, style)
        if tag == "use":
            self._use(element, style, frame)
            return
        clip = None
        if tag == "svg":
            context = self._context(frame, style)
            x = parse_length(element.get("x"), context, "x") or 0.0
            y = parse_length(element.get("y"), context, "y") or 0.0
            inner = self._viewport(element, element.get("width"), element.get("height"), x, y, frame, style)
            if inner is None:
                return
            frame, clip = inner
        children = list(element)
        if tag == "switch":
            drawable = SHAPES + ("g", "a", "switch", "svg", "use") + _UNSUPPORTED_ELEMENTS
            children = [child for child in children if self.tag(child) in drawable and self._conditions(child)][:1]
        for child in children:
            self._walk(child, style, frame)
        self._close_clip(clip)

    def _transform(self, element, viewport: tuple[float, float]):
        """The element's transform: the CSS ``transform`` property over the attribute, about its
        ``transform-origin``; None (reported) when the attribute is invalid."""
        declared = self.cascade.declared(element)
        css = next((value for value in map(parse_css_transform, declared.get("transform", ())) if value), None)
        transform = css or parse_transform(element.get("transform"))
        if transform is None:
            self.report("transform", self.where(element))
            return None
        origins = declared.get("transform-origin", []) + [element.get("transform-origin")]
        context = LengthContext(*viewport)
        origin = next((point for point in (parse_transform_origin(text, context) for text in origins) if point), None)
        if origin is not None and transform != IDENTITY:
            transform = multiply(multiply(translate(*origin), transform), translate(-origin[0], -origin[1]))
        return transform

    def _conditions(self, element) -> bool:
        if element.get("requiredExtensions") is not None:
            return False  # no extensions are supported
        languages = element.get("systemLanguage")
        if languages is not None:
            return any(code.strip().lower().split("-")[0] == "en" for code in languages.split(","))
        return True

    def _context(self, frame: _Frame, style: Style) -> LengthContext:
        return LengthContext(frame.viewport[0], frame.viewport[1], style["font-size"])

    def _group(self, style: Style, frame: _Frame) -> _Frame:
        if style["opacity"] >= 1.0:
            return frame
        self.group_serial += 1
        return replace(frame, opacity=frame.opacity * style["opacity"], groups=frame.groups + (self.group_serial,))

    def _effects(self, element, style: Style) -> None:
        for feature in ("mask", "filter"):
            if style[feature]:
                self.report(feature, f"{self.where(element)} {feature}={style[feature]}")

    def _viewport(self, element, width_text, height_text, x: float, y: float, frame: _Frame, style: Style):
        """The frame inside a nested viewport (svg, or symbol / svg drawn by use) and its clip's index.

        Returns None when the viewport has no area (nothing is drawn).
        """
        context = self._context(frame, style)
        width = parse_length(width_text if width_text not in (None, "auto") else "100%", context, "x")
        height = parse_length(height_text if height_text not in (None, "auto") else "100%", context, "y")
        if width is None or height is None or width <= 0 or height <= 0:
            return None
        view_box = parse_view_box(element.get("viewBox"))
        inner = translate(x, y)
        if view_box is not None:
            inner = multiply(inner, view_box_transform(view_box, width, height, element.get("preserveAspectRatio")))
        # The UA style sheet hides the overflow of nested viewports unless the file says otherwise.
        overflow = style["overflow"] if "overflow" in self.cascade.declared(element) else "hidden"
        if overflow in ("visible", "auto"):
            clip = None
        else:
            corners = [
                apply(frame.transform, px, py) for px, py in ((x, y), (x + width, y), (x + width, y + height), (x, y + height))
            ]
            clip = corners
        viewport = (view_box[2], view_box[3]) if view_box is not None else (width, height)
        clip_index = None
        if clip is not None:  # checked against what is drawn inside once the viewport is done
            self.clips.append([clip, len(self.output), len(self.output), self.where(element)])
            clip_index = len(self.clips) - 1
        return replace(frame, transform=multiply(frame.transform, inner), viewport=viewport), clip_index

    def _close_clip(self, index: int | None) -> None:
        if index is not None:
            self.clips[index][2] = len(self.output)

    def _use(self, element, style: Style, frame: _Frame) -> None:
        reference = (element.get("href") if element.get("href") is not None else element.get(XLINK_HREF)) or ""
        target = self.ids.get(reference[1:]) if reference.startswith("#") else None
        if target is None:
            return  # SVG: a use without a valid reference draws nothing
        ancestor = element
        while ancestor is not None:
            if ancestor is target:
                self.report("use-cycle", self.where(element))
                return
            ancestor = self.tree.parent.get(ancestor)
        if target in frame.uses:
            self.report("use-cycle", self.where(element))
            return
        context = self._context(frame, style)
        x = parse_length(element.get("x"), context, "x") or 0.0
        y = parse_length(element.get("y"), context, "y") or 0.0
        frame = replace(frame, transform=multiply(frame.transform, translate(x, y)), uses=frame.uses + (target,),
                        context=(style["fill"], style["stroke"], style))  # fmt: skip
        target_tag = self.tag(target)
        if target_tag not in ("symbol", "svg"):
            self._walk(target, style, frame)
            return
        target_style = self.cascade.computed(target, style, frame.viewport)
        if target_style["display"] == "none":
            return
        if target_tag == "svg" and self._conditions(target):
            target_x = parse_length(target.get("x"), context, "x") or 0.0
            target_y = parse_length(target.get("y"), context, "y") or 0.0
        else:
            target_x = target_y = 0.0
        width = element.get("width") or target.get("width")
        height = element.get("height") or target.get("height")
        frame = self._group(target_style, frame)
        inner = self._viewport(target, width, height, target_x, target_y, frame, target_style)
        if inner is None:
            return
        for child in target:
            self._walk(child, target_style, inner[0])
        self._close_clip(inner[1])

    # ------------------------------------------------------------------ shapes
    def _shape(self, element, tag: str, style: Style, frame: _Frame) -> None:
        if style["visibility"] != "visible":
            return
        context = self._context(frame, style)
        contours = shape_geometry(element, tag, context, self.report, self.where(element))
        if not contours:
            return
        where = self.where(element)
        if not all(math.isfinite(value) for points, _ in contours for point in points for value in point):
            raise InputError(f"SVG file {self.name!r}: {where} has a coordinate that is not a finite number")
        self.segments += sum((len(points) if closed else len(points) - 1) // 3 for points, closed in contours)
        if self.segments > MAX_IMPORT_SEGMENTS:
            raise InputError(f"SVG file {self.name!r} has more than {MAX_IMPORT_SEGMENTS} curve segments (the import limit)")
        if self.clip_mode:  # a clipPath child: its geometry, filled by its clip-rule, whatever its paint
            self._clip_shape(contours, style, frame, where)
            return
        self._effects(element, style)
        if any(style[name] for name in ("marker-start", "marker-mid", "marker-end")) and tag in (
            "path",
            "line",
            "polyline",
            "polygon",
        ):
            self.report("markers", where)
        solid = [contour for contour in contours if len(set(contour[0])) > 1]
        bbox = LazyBox(solid or contours)  # needed by paint servers only
        evenodd = style["fill-rule"] == "evenodd"
        fill = (
            None
            if tag == "line" or not solid
            else self._paint(style["fill"], style, "fill", solid, bbox, evenodd, context, where, frame)
        )
        width = style["stroke-width"]
        stroke = (
            self._paint(style["stroke"], style, "stroke", contours, bbox, evenodd, context, where, frame) if width > 0 else None
        )
        stroke_contours = contours
        if stroke is not None:
            if style["stroke-dasharray"]:
                stroke_contours = self._dashes(contours, style, where)
            largest, smallest = scale_factors(frame.transform)
            if style["vector-effect"] != "non-scaling-stroke":
                if largest > smallest * 1.01:
                    self.report("non-uniform", where)
                width *= math.sqrt(largest * smallest)
            if style["stroke-linejoin"] in ("miter-clip", "arcs"):
                self.report("linejoin", f"{where} stroke-linejoin={style['stroke-linejoin']}")
        if fill is None and stroke is None:
            return
        transform = frame.transform
        fill, stroke = (paint.transformed(transform) if isinstance(paint, Gradient) else paint for paint in (fill, stroke))
        placed = [
            (torch.tensor([apply(transform, x, y) for x, y in points], dtype=torch.float64), closed)
            for points, closed in contours
        ]
        _check_finite([float(torch.cat([points for points, _ in placed]).abs().max()), width], where, self.name)
        placed_strokes = None
        if stroke_contours is not contours:
            placed_strokes = [
                (torch.tensor([apply(transform, x, y) for x, y in points.tolist()], dtype=torch.float64), closed)
                for points, closed in stroke_contours
            ]
        dots = [len(set(points)) <= 1 for points, _ in contours]
        opacity = style["opacity"] * frame.opacity
        paths = assemble_paths(placed, placed_strokes, dots, style, width, fill, stroke)
        groups = frame.groups
        if len(paths) > 1 and opacity < 1:
            self.group_serial += 1
            groups = groups + (self.group_serial,)
        for path in paths:
            path.opacity = opacity
            self.output.append(_Emitted(path, where, groups))
        if len(self.output) > MAX_IMPORT_PATHS:
            raise InputError(f"SVG file {self.name!r} has more than {MAX_IMPORT_PATHS} paths (the import limit)")

    def _clip_shape(self, contours, style: Style, frame: _Frame, where: str) -> None:
        placed = [
            (torch.tensor([apply(frame.transform, x, y) for x, y in points], dtype=torch.float64), closed)
            for points, closed in contours
            if len(set(points)) > 1
        ]
        if placed:
            _check_finite([float(torch.cat([points for points, _ in placed]).abs().max())], where, self.name)
            self.emit_member(fill_only(placed, (0.0, 0.0, 0.0, 1.0), style["clip-rule"]), where)

    def emit_member(self, path: VectorPath, where: str) -> None:
        """Add a path to the output outside any opacity group (clip geometry)."""
        self.output.append(_Emitted(path, where, ()))
        if len(self.output) > MAX_IMPORT_PATHS:
            raise InputError(f"SVG file {self.name!r} has more than {MAX_IMPORT_PATHS} paths (the import limit)")

    def walk_clip_content(self, clip_path, transform: Affine, viewport: tuple[float, float]) -> list[VectorPath]:
        """The clip geometry of a ``<clipPath>``'s children (shapes and use) under ``transform``."""
        if self.clip_mode:
            self.report("clip-nested", self.where(clip_path))
            return []
        style = self.tree_style(clip_path)
        if style["clip-path"]:
            self.report("clip-nested", self.where(clip_path))
        saved, self.output, self.clip_mode = self.output, [], True
        try:
            for child in clip_path:
                child_tag = self.tag(child)
                if child_tag == "text":
                    self.report("clip-text", self.where(child))
                elif child_tag in SHAPES or child_tag == "use":
                    self._walk(child, style, _Frame(transform, viewport))
            return [emitted.path for emitted in self.output]
        finally:
            self.output, self.clip_mode = saved, False

    def _dashes(self, contours, style: Style, where: str):
        """The dashes of a stroke's contours, or the contours (drawn solid, reported) when too many."""
        dasharray = style["stroke-dasharray"]
        if count_dashes(contours, dasharray) > MAX_DASHES:
            self.report("dashes-too-fine", where)
            return contours
        dashes = dash_contours(contours, dasharray, style["stroke-dashoffset"])
        self.segments += sum((len(points) - 1) // 3 for points, _ in dashes)
        if self.segments > MAX_IMPORT_SEGMENTS:
            raise InputError(f"SVG file {self.name!r} has more than {MAX_IMPORT_SEGMENTS} curve segments (the import limit)")
        return dashes

    # ------------------------------------------------------------------ paint
    def _paint(self, paint: Paint, style: Style, which: str, contours, bbox, evenodd: bool, context, where: str, frame):
        """Straight RGBA or Gradient (user space) of a fill or stroke, with its opacity, or None."""
        if paint.kind in ("context-fill", "context-stroke"):  # the use element's paint; none outside use
            if not frame.context:
                return None
            paint_style = frame.context[2]
            paint = frame.context[0 if paint.kind == "context-fill" else 1]
            if paint.kind.startswith("context"):
                return None
            style = {**style, "color": paint_style["color"]}
        color = self.servers.color(paint, style, which, contours, bbox, evenodd, context, where)
        if color is None:
            return None
        if isinstance(color, Gradient):
            return color.scaled_alpha(style[f"{which}-opacity"])
        return (color[0], color[1], color[2], color[3] * style[f"{which}-opacity"])

    def _draw_tile(self, content, transform: Affine, viewport: tuple[float, float]) -> list[VectorPath]:
        """The paths of a pattern tile's content (drawn apart from the document's output)."""
        saved, self.output = self.output, []
        try:
            style = self.tree_style(content)
            for child in content:
                self._walk(child, style, _Frame(transform, viewport))
            return [emitted.path for emitted in self.output]
        finally:
            self.output = saved

    def tree_style(self, element) -> Style:
        """Computed style of an element through its ancestors in the document (not through use)."""
        key = id(element)
        if key not in self._tree_styles:
            parent = self.tree.parent.get(element)
            parent_style = self.tree_style(parent) if parent is not None else root_style()
            self._tree_styles[key] = self.cascade.computed(element, parent_style, (100.0, 100.0))
        return self._tree_styles[key]

    # ------------------------------------------------------------------ checks after the walk
    def _check_overlaps(self) -> None:
        members: dict[int, list[int]] = {}
        for index, emitted in enumerate(self.output):
            for group in emitted.groups:
                members.setdefault(group, []).append(index)
        for indices in members.values():
            if len(indices) < 2:
                continue
            boxes = np.array([path_extent(self.output[i].path) for i in indices])
            if len(indices) > 2000 or any_overlap(boxes):
                self.report("group-opacity", f"{self.output[indices[0]].where} and {len(indices) - 1} more")

    def _check_clips(self) -> None:
        """Clip the content of nested viewports by their rectangle where it overflows."""
        for corners, first, last, where in self.clips:
            box = [min(c[0] for c in corners), min(c[1] for c in corners), max(c[0] for c in corners), max(c[1] for c in corners)]
            for emitted in self.output[first:last]:
                x0, y0, x1, y1 = path_extent(emitted.path)
                if x0 < box[0] - 0.5 or y0 < box[1] - 0.5 or x1 > box[2] + 0.5 or y1 > box[3] + 0.5:
                    self.clipper.viewport(corners, self.output[first:last], where)
                    break


def _check_finite(values: list[float], where: str, name: str) -> None:
    """Refuse non-finite or huge coordinates and widths (in user units, then after transforms)."""
    for value in values:
        if not abs(value) <= MAX_COORDINATE:  # also false for NaN
            raise InputError(
                f"SVG file {name!r}: {where} has a coordinate or stroke width of {value:g}; the import limit is +-{MAX_COORDINATE:g}"
            )


def import_svg(root, name: str) -> tuple[list[VectorPath], float, float]:
    """The paths of an SVG document in z-order, and its canvas width and height in pixels.

    Args:
        root: the document's root element, from :func:`stylize.vector.svg.parse_document`.
        name: the file name, for messages.

    Raises:
        InputError: a limit is exceeded or a coordinate is not finite.
    """
    importer = _Importer(root, name)
    emitted, width, height = importer.run()
    importer.report.flush()
    return [item.path for item in emitted], width, height
