"""The SVG style cascade: which declaration of each property wins, and its computed value.

Sources, weakest first (CSS Cascade 4): presentation attributes, style sheet rules (by
specificity, then order), the ``style`` attribute, style sheet ``!important``, ``style``
``!important``. A declaration whose value does not parse is skipped, as CSS does, so the next
one applies. ``inherit``, ``initial`` and ``unset`` work for every property; inherited properties
take the parent's computed value when nothing is declared. ``currentColor`` stays a keyword
until a paint is resolved, so it uses the ``color`` of the element that paints (CSS Color 4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from stylize.vector.svg.css import StyleSheet, Tree, parse_declarations
from stylize.vector.svg.values import (
    CURRENT_COLOR,
    DEFAULT_FONT_SIZE,
    NO_PAINT,
    LengthContext,
    Paint,
    parse_color,
    parse_font_size,
    parse_length,
    parse_number,
    parse_opacity,
    parse_paint,
)

logger = logging.getLogger("stylize.vector.svg")

Style = dict[str, Any]

INITIAL: Style = {
    "font-size": DEFAULT_FONT_SIZE, "color": (0.0, 0.0, 0.0, 1.0),
    "fill": Paint("color", color=(0.0, 0.0, 0.0, 1.0)), "fill-opacity": 1.0, "fill-rule": "nonzero",
    "stroke": NO_PAINT, "stroke-width": 1.0, "stroke-opacity": 1.0, "stroke-linecap": "butt",
    "stroke-linejoin": "miter", "stroke-miterlimit": 4.0, "stroke-dasharray": (), "stroke-dashoffset": 0.0, "clip-rule": "nonzero", "visibility": "visible",
    "paint-order": "fill", "marker-start": "", "marker-mid": "", "marker-end": "",
    "opacity": 1.0, "display": "inline", "vector-effect": "none", "clip-path": "", "mask": "", "filter": "",
    "stop-color": (0.0, 0.0, 0.0, 1.0), "stop-opacity": 1.0, "overflow": "visible",
}  # fmt: skip
INHERITED = {
    "font-size", "color", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
    "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "visibility",
    "clip-rule",
    "paint-order",
    "marker-start", "marker-mid", "marker-end",
}  # fmt: skip
# font-size first (em lengths need it), then color (currentColor in stop-color needs it).
ORDER = ("font-size", "color") + tuple(name for name in INITIAL if name not in ("font-size", "color"))
PRESENTATION = set(INITIAL) | {"marker"}


def _keyword(*choices: str) -> Callable[[str], str | None]:
    def parse(text: str) -> str | None:
        value = text.strip()
        return value if value in choices else None

    return parse


def _reference(text: str) -> str | None:
    value = text.strip()
    return "" if value == "none" else value if value.startswith("url(") else None


def _dasharray(text: str, context: LengthContext) -> tuple[float, ...] | None:
    if text.strip() == "none":
        return ()
    parts = [part for part in text.replace(",", " ").split() if part]
    values = [parse_length(part, context, "other") for part in parts]
    if not values or any(value is None or value < 0 for value in values):
        return None
    return () if sum(values) == 0 else tuple(values)


def _paint_order(text: str) -> str | None:
    words = text.split()
    if words == ["normal"]:
        return "fill"
    if not words or any(word not in ("fill", "stroke", "markers") for word in words):
        return None
    order = words + [word for word in ("fill", "stroke", "markers") if word not in words]
    return "stroke" if order.index("stroke") < order.index("fill") else "fill"


def _color(text: str) -> tuple | None:
    value = parse_color(text)
    return None if value == CURRENT_COLOR else value  # color: currentColor means inherit


def _stop_color(text: str):
    return parse_color(text)  # a colour or CURRENT_COLOR


def _miter_limit(text: str) -> float | None:
    value = parse_number(text)
    return value if value is not None and value >= 1 else None


_SIMPLE: dict[str, Callable[[str], Any]] = {
    "fill": parse_paint, "stroke": parse_paint, "color": _color, "stop-color": _stop_color,
    "fill-opacity": parse_opacity, "stroke-opacity": parse_opacity, "opacity": parse_opacity, "stop-opacity": parse_opacity,
    "fill-rule": _keyword("nonzero", "evenodd"), "clip-rule": _keyword("nonzero", "evenodd"), "stroke-linecap": _keyword("butt", "round", "square"),
    "stroke-linejoin": _keyword("miter", "round", "bevel", "miter-clip", "arcs"), "stroke-miterlimit": _miter_limit,
    "visibility": _keyword("visible", "hidden", "collapse"), "paint-order": _paint_order,
    "marker-start": _reference, "marker-mid": _reference, "marker-end": _reference,
    "display": lambda text: text.strip() or None, "vector-effect": _keyword("none", "non-scaling-stroke"),
    "clip-path": _reference, "mask": _reference, "filter": lambda text: "" if text.strip() == "none" else text.strip(),
    "overflow": _keyword("visible", "hidden", "scroll", "auto", "clip"),
}  # fmt: skip


class Cascade:
    """Computes styles for the elements of one document.

    Args:
        tree: parent and sibling lookups of the document.
        sheet: the document's CSS rules.
    """

    def __init__(self, tree: Tree, sheet: StyleSheet) -> None:
        self.tree, self.sheet = tree, sheet
        self._declared: dict[int, dict[str, list[str]]] = {}
        self._undeclared: dict[tuple[int, tuple[float, float]], tuple[Style, Style]] = {}

    def declared(self, element) -> dict[str, list[str]]:
        """Each property's declared values, strongest first."""
        key = id(element)
        if key not in self._declared:
            entries: list[tuple[tuple, str, str]] = []
            for name, value in element.attrib.items():
                if name in PRESENTATION:
                    entries.append(((0, 0, 0, 0, 0), name, value))
            for rule in self.sheet.matching(element, self.tree):
                for index, (name, value, important) in enumerate(rule.declarations):
                    entries.append(((3 if important else 1, *rule.selector.specificity, rule.order * 1000 + index), name, value))
            for index, (name, value, important) in enumerate(parse_declarations(element.get("style") or "")):
                entries.append(((4 if important else 2, 0, 0, 0, index), name, value))
            entries.sort(key=lambda entry: entry[0], reverse=True)
            declared: dict[str, list[str]] = {}
            for _, name, value in entries:
                if name == "marker":  # the shorthand sets all three
                    for part in ("marker-start", "marker-mid", "marker-end"):
                        declared.setdefault(part, []).append(value)
                else:
                    declared.setdefault(name, []).append(value)
            self._declared[key] = declared
        return self._declared[key]

    def computed(self, element, parent: Style, viewport: tuple[float, float]) -> Style:
        """The computed style of ``element`` under ``parent`` in a viewport of that size."""
        declared = self.declared(element)
        if not declared:  # common for groups and use: inherit, reset the rest (shared, read-only)
            key = (id(parent), viewport)
            cached = self._undeclared.get(key)
            if cached is None or cached[0] is not parent:
                cached = (parent, {name: parent[name] if name in INHERITED else INITIAL[name] for name in ORDER})
                self._undeclared[key] = cached
            return cached[1]
        style: Style = {}
        for name in ORDER:
            value = None
            for raw in declared.get(name, ()):
                keyword = raw.strip().lower()
                if keyword == "inherit":
                    value = parent[name]
                elif keyword == "initial":
                    value = INITIAL[name]
                elif keyword == "unset":
                    value = parent[name] if name in INHERITED else INITIAL[name]
                else:
                    value = self._parse(name, raw, style, parent, viewport)
                if value is not None:
                    break
                logger.debug("ignoring invalid %s=%r", name, raw)
            if value is None:
                value = parent[name] if name in INHERITED else INITIAL[name]
            style[name] = value
        return style

    @staticmethod
    def _parse(name: str, raw: str, style: Style, parent: Style, viewport: tuple[float, float]):
        if name == "font-size":
            return parse_font_size(raw, parent["font-size"])
        if name in ("stroke-width",):
            value = parse_length(raw, LengthContext(viewport[0], viewport[1], style["font-size"]), "other")
            return value if value is not None and value >= 0 else None
        if name == "stroke-dasharray":
            return _dasharray(raw, LengthContext(viewport[0], viewport[1], style["font-size"]))
        if name == "stroke-dashoffset":
            return parse_length(raw, LengthContext(viewport[0], viewport[1], style["font-size"]), "other")
        return _SIMPLE[name](raw)


def root_style() -> Style:
    """The style an outermost element inherits from: every property's initial value."""
    return dict(INITIAL)
