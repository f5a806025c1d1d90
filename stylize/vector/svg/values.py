"""Parsers for SVG attribute and CSS property values: numbers, lengths, colours, paints, transforms.

Every parser returns None for a value it cannot read, so that the caller can fall back to the
next declaration in the cascade (what CSS does with an invalid declaration) and say so.
Coordinates and lengths that overflow (``1e999``) are read as infinities on purpose: the importer
refuses the file with an error naming the element, instead of drawing part of it.

Affine transforms are 6-tuples ``(a, b, c, d, e, f)``, SVG's ``matrix(a b c d e f)``: a point
``(x, y)`` maps to ``(a x + c y + e, b x + d y + f)``.
"""

from __future__ import annotations

import colorsys
import functools
import math
import re
from dataclasses import dataclass

Affine = tuple[float, float, float, float, float, float]
RGBA = tuple[float, float, float, float]

IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(NUMBER)
_LENGTH_RE = re.compile(rf"\s*({NUMBER})([a-zA-Z]+|%)?\s*$")
# CSS absolute units and SVG user units, in px (CSS Values 3: 1in = 96px = 2.54cm = 25.4mm = 101.6Q).
ABSOLUTE_UNITS = {
    "": 1.0,
    "px": 1.0,
    "in": 96.0,
    "cm": 96.0 / 2.54,
    "mm": 96.0 / 25.4,
    "q": 96.0 / 101.6,
    "pt": 96.0 / 72.0,
    "pc": 16.0,
}
DEFAULT_FONT_SIZE = 16.0  # CSS "medium"
_FONT_KEYWORDS = {
    "xx-small": 9.0,
    "x-small": 10.0,
    "small": 13.0,
    "medium": 16.0,
    "large": 18.0,
    "x-large": 24.0,
    "xx-large": 32.0,
}


def parse_number(text: str | None) -> float | None:
    """A finite number, or None."""
    if text is None:
        return None
    text = text.strip()
    if not re.fullmatch(NUMBER, text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def numbers(text: str) -> tuple[list[float], bool]:
    """The numbers of a comma/whitespace separated list, and whether all of the text was read.

    Reading stops at the first thing that is not a number (SVG keeps what came before an error).
    """
    values, position = [], 0
    separator = re.compile(r"[\s,]*")
    while True:
        position = separator.match(text, position).end()
        if position >= len(text):
            return values, True
        match = _NUMBER_RE.match(text, position)
        if match is None:
            return values, False
        values.append(float(match.group()))
        position = match.end()


@dataclass(frozen=True)
class LengthContext:
    """What relative lengths resolve against: the viewport (user units) and the font size (px)."""

    viewport_width: float
    viewport_height: float
    font_size: float = DEFAULT_FONT_SIZE

    def percent_base(self, axis: str) -> float:
        if axis == "x":
            return self.viewport_width
        if axis == "y":
            return self.viewport_height
        # Other lengths (radii, stroke widths): the normalised diagonal of SVG 1.1, 7.10.
        return math.sqrt((self.viewport_width**2 + self.viewport_height**2) / 2.0)


def parse_length(text: str | None, context: LengthContext, axis: str = "other") -> float | None:
    """A length in user units (px), or None when it is missing, invalid or uses an unknown unit.

    Args:
        text: e.g. ``"12"``, ``"3.5mm"``, ``"2em"``, ``"50%"``.
        axis: ``"x"``, ``"y"`` or ``"other"``: what a percentage is of.
    """
    if text is None:
        return None
    match = _LENGTH_RE.match(text)
    if match is None:
        return None
    value, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit in ABSOLUTE_UNITS:
        result = value * ABSOLUTE_UNITS[unit]
    elif unit == "%":
        result = value / 100.0 * context.percent_base(axis)
    elif unit == "em":
        result = value * context.font_size
    elif unit == "ex":
        result = value * context.font_size / 2.0  # no font metrics: the usual half-em
    else:
        return None
    return result


def parse_font_size(text: str, parent_size: float) -> float | None:
    """A computed font size in px: absolute, relative to the parent's (em, ex, %) or a keyword."""
    keyword = text.strip().lower()
    if keyword in _FONT_KEYWORDS:
        return _FONT_KEYWORDS[keyword]
    if keyword == "larger":
        return parent_size * 1.2
    if keyword == "smaller":
        return parent_size / 1.2
    value = parse_length(text, LengthContext(parent_size, parent_size, parent_size), "x")
    return value if value is not None and value >= 0 else None


def parse_opacity(text: str | None) -> float | None:
    """An opacity as a number or a percentage, clamped to [0, 1] (CSS Color 4)."""
    if text is None:
        return None
    text = text.strip()
    percent = text.endswith("%")
    value = parse_number(text[:-1] if percent else text)
    if value is None:
        return None
    return min(max(value / 100.0 if percent else value, 0.0), 1.0)


# ---------------------------------------------------------------------------------------- colours
@functools.lru_cache(maxsize=1)
def _named_colors() -> dict[str, RGBA]:
    from PIL import ImageColor  # the 148 CSS Color 4 names

    # getrgb, not the colormap's values: PIL caches its conversions in that dict (hex or tuple)
    table = {}
    for name in list(ImageColor.colormap):
        red, green, blue = ImageColor.getrgb(name)[:3]
        table[name] = (red / 255.0, green / 255.0, blue / 255.0, 1.0)
    table["transparent"] = (0.0, 0.0, 0.0, 0.0)
    return table


def _hex(digits: str) -> RGBA | None:
    if not re.fullmatch(r"[0-9a-fA-F]+", digits) or len(digits) not in (3, 4, 6, 8):
        return None
    if len(digits) in (3, 4):
        digits = "".join(ch * 2 for ch in digits)
    channels = [int(digits[i : i + 2], 16) / 255.0 for i in range(0, len(digits), 2)]
    return (channels[0], channels[1], channels[2], channels[3] if len(channels) == 4 else 1.0)


_FUNCTION_RE = re.compile(r"(rgba?|hsla?)\(\s*(.*?)\s*\)$", re.IGNORECASE | re.DOTALL)


def _channel(text: str, scale: float) -> float | None:
    text = text.strip()
    if text.endswith("%"):
        value = parse_number(text[:-1])
        return None if value is None else min(max(value / 100.0, 0.0), 1.0)
    value = parse_number(text)
    return None if value is None else min(max(value / scale, 0.0), 1.0)


def _function_color(name: str, body: str) -> RGBA | None:
    if "/" in body:  # CSS Color 4: "r g b / a"
        main, _, alpha_text = body.partition("/")
        parts = main.split()
        if len(parts) != 3:
            return None
    else:
        parts = [part for part in re.split(r"\s*,\s*|\s+", body) if part]
        alpha_text = parts.pop() if len(parts) == 4 else None
        if len(parts) != 3:
            return None
    alpha = 1.0 if alpha_text is None else parse_opacity(alpha_text)
    if alpha is None:
        return None
    if name.startswith("rgb"):
        if "," in body and len({part.strip().endswith("%") for part in parts}) > 1:
            return None  # the comma (legacy) syntax takes all numbers or all percentages
        channels = [_channel(part, 255.0) for part in parts]
        if any(channel is None for channel in channels):
            return None
        return (channels[0], channels[1], channels[2], alpha)
    hue = parse_number(parts[0].removesuffix("deg"))
    saturation, lightness = _channel(parts[1], 100.0), _channel(parts[2], 100.0)
    if hue is None or saturation is None or lightness is None or not (parts[1].endswith("%") and parts[2].endswith("%")):
        return None
    red, green, blue = colorsys.hls_to_rgb((hue / 360.0) % 1.0, lightness, saturation)
    return (red, green, blue, alpha)


CURRENT_COLOR = "currentColor"


def parse_color(text: str | None) -> RGBA | str | None:
    """Straight RGBA in [0, 1], :data:`CURRENT_COLOR`, or None for something that is not a colour.

    Reads ``#rgb``, ``#rgba``, ``#rrggbb``, ``#rrggbbaa``, ``rgb()``/``rgba()`` with numbers or
    percentages (comma or CSS Color 4 space syntax with ``/ alpha``), ``hsl()``/``hsla()``, the
    148 CSS names and ``transparent``, all case-insensitively.
    """
    if text is None:
        return None
    text = text.strip()
    lowered = text.lower()
    if lowered == "currentcolor":
        return CURRENT_COLOR
    if text.startswith("#"):
        return _hex(text[1:])
    match = _FUNCTION_RE.match(text)
    if match:
        return _function_color(match.group(1).lower(), match.group(2))
    return _named_colors().get(lowered)


@dataclass(frozen=True)
class Paint:
    """A parsed ``fill`` or ``stroke``: nothing, a colour, currentColor, or a paint server."""

    kind: str  # "none", "color", "current", "url", "context-fill", "context-stroke"
    color: RGBA | None = None
    reference: str | None = None  # the id of a paint server
    fallback: Paint | None = None


NO_PAINT = Paint("none")
_URL_RE = re.compile(r"url\(\s*(['\"]?)\s*#([^'\")]*?)\s*\1\s*\)\s*(.*)$", re.DOTALL)


def parse_paint(text: str | None) -> Paint | None:
    """A ``fill`` / ``stroke`` value: ``none``, a colour, ``currentColor`` or ``url(#id) [fallback]``."""
    if text is None:
        return None
    text = text.strip()
    if text.lower() == "none":
        return NO_PAINT
    if text.lower() in ("context-fill", "context-stroke"):  # SVG 2: the paint of the context element
        return Paint(text.lower())
    if text.lower().startswith("url("):
        match = _URL_RE.match(text)
        if match is None:
            return None  # a url() to another document, or broken: invalid here
        fallback = parse_paint(match.group(3)) if match.group(3).strip() else None
        if fallback is not None and fallback.kind == "url":
            return None
        return Paint("url", reference=match.group(2), fallback=fallback)
    color = parse_color(text)
    if color is None:
        return None
    return Paint("current") if color == CURRENT_COLOR else Paint("color", color=color)


# ---------------------------------------------------------------------------------------- transforms
_TRANSFORM_RE = re.compile(r"\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)\s*,?", re.DOTALL)
_ARGUMENT_COUNTS = {"matrix": (6,), "translate": (1, 2), "scale": (1, 2), "rotate": (1, 3), "skewX": (1,), "skewY": (1,)}


def multiply(first: Affine, second: Affine) -> Affine:
    """The transform that applies ``second`` and then ``first`` (``first @ second``)."""
    a1, b1, c1, d1, e1, f1 = first
    a2, b2, c2, d2, e2, f2 = second
    return (
        a1 * a2 + c1 * b2, b1 * a2 + d1 * b2,
        a1 * c2 + c1 * d2, b1 * c2 + d1 * d2,
        a1 * e2 + c1 * f2 + e1, b1 * e2 + d1 * f2 + f1,
    )  # fmt: skip


def translate(x: float, y: float) -> Affine:
    return (1.0, 0.0, 0.0, 1.0, x, y)


def scale(x: float, y: float) -> Affine:
    return (x, 0.0, 0.0, y, 0.0, 0.0)


def _function(name: str, args: list[float]) -> Affine:
    if name == "matrix":
        return tuple(args)  # type: ignore[return-value]
    if name == "translate":
        return translate(args[0], args[1] if len(args) > 1 else 0.0)
    if name == "scale":
        return scale(args[0], args[1] if len(args) > 1 else args[0])
    if name == "rotate":
        angle = math.radians(args[0])
        rotation = (math.cos(angle), math.sin(angle), -math.sin(angle), math.cos(angle), 0.0, 0.0)
        if len(args) == 3:
            return multiply(translate(args[1], args[2]), multiply(rotation, translate(-args[1], -args[2])))
        return rotation
    if name == "skewX":
        return (1.0, 0.0, math.tan(math.radians(args[0])), 1.0, 0.0, 0.0)
    return (1.0, math.tan(math.radians(args[0])), 0.0, 1.0, 0.0, 0.0)


def parse_transform(text: str | None) -> Affine | None:
    """A ``transform`` attribute as one affine, or None when any part of it is invalid."""
    if text is None:
        return IDENTITY
    position, result = 0, IDENTITY
    while position < len(text):
        match = _TRANSFORM_RE.match(text, position)
        if match is None:
            return IDENTITY if not text[position:].strip() else None
        args, complete = numbers(match.group(2))
        if not complete or len(args) not in _ARGUMENT_COUNTS[match.group(1)]:
            return None
        result = multiply(result, _function(match.group(1), args))
        position = match.end()
    return result


_CSS_ANGLE = {"deg": 1.0, "rad": 180.0 / math.pi, "grad": 0.9, "turn": 360.0}
_CSS_FUNCTIONS = {"translatex": "translate({} 0)", "translatey": "translate(0 {})", "scalex": "scale({} 1)",
                  "scaley": "scale(1 {})", "skewx": "skewX({})", "skewy": "skewY({})", "rotate": "rotate({})",
                  "translate": "translate({})", "scale": "scale({})", "matrix": "matrix({})"}  # fmt: skip
_CSS_FUNCTION_RE = re.compile(r"\s*([a-zA-Z]+)\(([^)]*)\)\s*")


def parse_css_transform(text: str | None) -> Affine | None:
    """A CSS ``transform`` property (``rotate(30deg) translate(4px, 2px)``, ``none``) as one affine,
    or None when it is not one (CSS: an invalid declaration is ignored)."""
    if text is None:
        return None
    if text.strip() == "none":
        return IDENTITY
    parts, position = [], 0
    while position < len(text):
        match = _CSS_FUNCTION_RE.match(text, position)
        if match is None:
            return None if text[position:].strip() else parse_transform(" ".join(parts))
        name, arguments = match.group(1).lower(), []
        for argument in match.group(2).split(","):
            argument = argument.strip()
            unit = next((u for u in _CSS_ANGLE if argument.endswith(u)), None)
            if unit is not None and name.startswith(("rotate", "skew")):
                value = parse_number(argument[: -len(unit)])
                argument = None if value is None else repr(value * _CSS_ANGLE[unit])
            elif argument.endswith("px"):
                argument = argument[:-2]
            elif name.startswith(("rotate", "skew")) and argument not in ("0",):
                return None  # CSS angles need a unit
            if argument is None or parse_number(argument) is None:
                return None
            arguments.append(argument)
        if name not in _CSS_FUNCTIONS:
            return None
        parts.append(_CSS_FUNCTIONS[name].format(" ".join(arguments)))
        position = match.end()
    return parse_transform(" ".join(parts))


def parse_transform_origin(text: str | None, context: LengthContext) -> tuple[float, float] | None:
    """``transform-origin`` (lengths, percentages of the viewport, or keywords) as a point."""
    if text is None:
        return None
    keywords = {"left": ("x", "0%"), "right": ("x", "100%"), "top": ("y", "0%"), "bottom": ("y", "100%"),
                "center": (None, "50%")}  # fmt: skip
    words = text.split()[:2]
    if not words:
        return None
    values: dict[str, float] = {}
    pending = []
    for index, word in enumerate(words):
        axis, value_text = keywords.get(word, (("x", "y")[index], word))
        if axis is None:
            pending.append(value_text)
            continue
        value = parse_length(value_text, context, axis)
        if value is None or axis in values:
            return None
        values[axis] = value
    for value_text in pending:
        axis = "x" if "x" not in values else "y"
        values[axis] = parse_length(value_text, context, axis)
    return values.get("x", parse_length("50%", context, "x")), values.get("y", parse_length("50%", context, "y"))


def apply(transform: Affine, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = transform
    return a * x + c * y + e, b * x + d * y + f


def scale_factors(transform: Affine) -> tuple[float, float]:
    """The singular values (largest, smallest) of the transform's linear part."""
    a, b, c, d, _, _ = transform
    # Singular values of [[a, c], [b, d]] from the invariants of M^T M.
    sum_squares = a * a + b * b + c * c + d * d
    determinant = abs(a * d - b * c)
    root = math.sqrt(max(sum_squares * sum_squares / 4.0 - determinant * determinant, 0.0))
    largest = math.sqrt(max(sum_squares / 2.0 + root, 0.0))
    smallest = math.sqrt(max(sum_squares / 2.0 - root, 0.0))
    return largest, smallest


# ---------------------------------------------------------------------------------------- viewports
def parse_view_box(text: str | None) -> tuple[float, float, float, float] | None:
    """``viewBox`` as (min_x, min_y, width, height), or None when absent or unusable."""
    if text is None:
        return None
    values, complete = numbers(text)
    if not complete or len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        return None
    return values[0], values[1], values[2], values[3]


def view_box_transform(view_box, width: float, height: float, aspect: str | None) -> Affine:
    """The transform from a viewBox to a ``width`` x ``height`` viewport (``preserveAspectRatio``)."""
    min_x, min_y, box_width, box_height = view_box
    parts = (aspect or "xMidYMid meet").split()
    if parts and parts[0] == "defer":
        parts = parts[1:]
    align = parts[0] if parts else "xMidYMid"
    slice_mode = len(parts) > 1 and parts[1] == "slice"
    scale_x, scale_y = width / box_width, height / box_height
    if align == "none":
        return multiply(scale(scale_x, scale_y), translate(-min_x, -min_y))
    uniform = max(scale_x, scale_y) if slice_mode else min(scale_x, scale_y)
    x_align = {"xMin": 0.0, "xMid": 0.5, "xMax": 1.0}.get(align[:4], 0.5)
    y_align = {"YMin": 0.0, "YMid": 0.5, "YMax": 1.0}.get(align[4:], 0.5)
    offset_x = (width - box_width * uniform) * x_align
    offset_y = (height - box_height * uniform) * y_align
    return multiply(translate(offset_x, offset_y), multiply(scale(uniform, uniform), translate(-min_x, -min_y)))
