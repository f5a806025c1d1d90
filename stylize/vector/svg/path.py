"""SVG geometry as cubic contours: path data (with SVG's error recovery), arcs and basic shapes.

A *contour* here is ``(points, closed)`` in user units, in :mod:`stylize.vector.scene`'s layout
(an open contour of n cubic segments has 3n + 1 points, a closed one 3n). Zero-length segments
are dropped; a subpath made only of them (``M 10 10 z``) stays as one zero-length open segment,
which strokes as a dot with round caps or a square with square caps, as SVG says.
"""

from __future__ import annotations

import math
import re

from stylize.vector.svg.values import NUMBER, LengthContext, numbers, parse_length

Point = tuple[float, float]
Contour = tuple[list[Point], bool]

_COMMAND_ARGUMENTS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
_TOKEN_SEPARATOR = re.compile(r"[\s,]*")
_NUMBER_RE = re.compile(NUMBER)
_FLAG_RE = re.compile(r"[01]")
_KAPPA = 4.0 * (math.sqrt(2.0) - 1.0) / 3.0


class PathBuilder:
    """Collects subpaths of cubic segments; what SVG commands and shapes are turned into."""

    def __init__(self) -> None:
        self.contours: list[Contour] = []
        self.current: list[Point] = []
        self.drew = False  # whether the current subpath had any drawing command

    @property
    def point(self) -> Point:
        return self.current[-1]

    def move(self, point: Point) -> None:
        self.finish(False)
        self.current = [point]

    def cubic(self, c1: Point, c2: Point, end: Point) -> None:
        self.drew = True
        start = self.current[-1]
        if start == c1 == c2 == end:
            return
        self.current.extend([c1, c2, end])

    def line(self, end: Point) -> None:
        start = self.current[-1]
        self.cubic(_lerp(start, end, 1.0 / 3.0), _lerp(start, end, 2.0 / 3.0), end)

    def quadratic(self, control: Point, end: Point) -> None:
        start = self.current[-1]
        self.cubic(_lerp(start, control, 2.0 / 3.0), _lerp(end, control, 2.0 / 3.0), end)

    def close(self) -> Point:
        """Close the subpath; returns its start, where a following subpath begins."""
        start = self.current[0]
        self.drew = True
        if len(self.current) > 1 and self.current[-1] != start:
            self.line(start)
        self.finish(True)
        self.current = [start]
        return start

    def finish(self, closed: bool) -> None:
        if len(self.current) >= 4:
            self.contours.append((self.current[:-1] if closed else self.current, closed))
        elif len(self.current) == 1 and self.drew:
            self.contours.append(([self.current[0]] * 4, False))  # a zero-length subpath
        self.current, self.drew = [], False


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.position = text, 0

    def skip(self) -> None:
        self.position = _TOKEN_SEPARATOR.match(self.text, self.position).end()

    def at_end(self) -> bool:
        self.skip()
        return self.position >= len(self.text)

    def command(self) -> str | None:
        self.skip()
        if self.position < len(self.text) and self.text[self.position].upper() in _COMMAND_ARGUMENTS:
            self.position += 1
            return self.text[self.position - 1]
        return None

    def next_is_number(self) -> bool:
        self.skip()
        return _NUMBER_RE.match(self.text, self.position) is not None

    def number(self, flag: bool = False) -> float | None:
        self.skip()
        match = (_FLAG_RE if flag else _NUMBER_RE).match(self.text, self.position)
        if match is None:
            return None
        self.position = match.end()
        return float(match.group())  # may be infinite: the importer refuses such files


def parse_path_data(text: str) -> tuple[list[Contour], int, str | None]:
    """Contours of a ``d`` attribute, its cubic segment count and the first error (or None).

    Like SVG, drawing stops at the first error and keeps everything before it; data that does
    not start with a moveto is in error from the start and draws nothing.
    """
    scanner, builder = _Scanner(text), PathBuilder()
    error: str | None = None
    command: str | None = None
    last_control: Point | None = None  # for S/s and T/t
    last_kind = ""
    start: Point = (0.0, 0.0)
    while not scanner.at_end():
        explicit = scanner.command()
        if explicit is None:
            if command is None or command.upper() == "Z" or not scanner.next_is_number():
                error = f"unexpected {text[scanner.position : scanner.position + 10]!r} at character {scanner.position}"
                break
        else:
            command = explicit
            if not builder.current and command.upper() != "M" and not builder.contours:
                error = f"path data must start with a moveto, got {command!r}"
                break
        upper, relative = command.upper(), command.islower()
        count = _COMMAND_ARGUMENTS[upper]
        args = []
        for index in range(count):
            value = scanner.number(flag=upper == "A" and index in (3, 4))
            if value is None:
                break
            args.append(value)
        if len(args) < count:
            error = f"{command!r} needs {count} numbers at character {scanner.position}"
            break
        if not builder.current and upper != "M":
            builder.current = [start]  # a command after Z starts where the closed subpath began
        origin = builder.point if builder.current else (0.0, 0.0)
        ox, oy = origin if relative else (0.0, 0.0)
        at = _absolute(args, ox, oy)

        control: Point | None = None
        if upper == "M":
            start = at(0)
            builder.move(start)
            command = "l" if relative else "L"  # further pairs are linetos
        elif upper == "Z":
            start = builder.close()
        elif upper == "L":
            builder.line(at(0))
        elif upper == "H":
            builder.line((args[0] + ox, origin[1]))
        elif upper == "V":
            builder.line((origin[0], args[0] + oy))
        elif upper in ("C", "S"):
            if upper == "C":
                c1, c2, end = at(0), at(2), at(4)
            else:
                c1 = _reflect(last_control, origin) if last_kind == "C" else origin
                c2, end = at(0), at(2)
            builder.cubic(c1, c2, end)
            control = c2
        elif upper in ("Q", "T"):
            if upper == "Q":
                control, end = at(0), at(2)
            else:
                control = _reflect(last_control, origin) if last_kind == "Q" else origin
                end = at(0)
            builder.quadratic(control, end)
        else:
            arc_to(builder, args[0], args[1], args[2], bool(args[3]), bool(args[4]), at(5))
        last_control = control
        last_kind = {"C": "C", "S": "C", "Q": "Q", "T": "Q"}.get(upper, "")
    builder.finish(False)
    segments = sum((len(points) if closed else len(points) - 1) // 3 for points, closed in builder.contours)
    return builder.contours, segments, error


def _absolute(args: list[float], ox: float, oy: float):
    """``at(i)``: the point of arguments i and i + 1, moved by the origin of relative commands."""

    def at(index: int) -> Point:
        return (args[index] + ox, args[index + 1] + oy)

    return at


def _reflect(point: Point | None, about: Point) -> Point:
    if point is None:
        return about
    return (2 * about[0] - point[0], 2 * about[1] - point[1])


def arc_to(builder: PathBuilder, rx: float, ry: float, rotation: float, large: bool, sweep: bool, end: Point) -> None:
    """An elliptical arc as cubics of at most 90 degrees (SVG 1.1 appendix F.6)."""
    start = builder.point
    if start == end:
        return
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0 or not all(math.isfinite(v) for v in (rx, ry, rotation, *start, *end)):
        builder.line(end)
        return
    phi = math.radians(rotation % 360.0)
    cos_phi, sin_phi = math.cos(phi), math.sin(phi)
    dx, dy = (start[0] - end[0]) / 2.0, (start[1] - end[1]) / 2.0
    x1p, y1p = cos_phi * dx + sin_phi * dy, -sin_phi * dx + cos_phi * dy
    radii_check = (x1p * x1p) / (rx * rx) + (y1p * y1p) / (ry * ry)
    if radii_check > 1:  # radii too small: scale them up until the arc just fits
        rx, ry = rx * math.sqrt(radii_check), ry * math.sqrt(radii_check)
    numerator = rx * rx * ry * ry - rx * rx * y1p * y1p - ry * ry * x1p * x1p
    denominator = rx * rx * y1p * y1p + ry * ry * x1p * x1p
    factor = math.sqrt(max(numerator / denominator, 0.0)) if denominator > 0 else 0.0
    if large == sweep:
        factor = -factor
    cxp, cyp = factor * rx * y1p / ry, -factor * ry * x1p / rx
    cx = cos_phi * cxp - sin_phi * cyp + (start[0] + end[0]) / 2.0
    cy = sin_phi * cxp + cos_phi * cyp + (start[1] + end[1]) / 2.0
    theta1 = math.atan2((y1p - cyp) / ry, (x1p - cxp) / rx)
    delta = math.atan2((-y1p - cyp) / ry, (-x1p - cxp) / rx) - theta1
    if sweep and delta < 0:
        delta += 2 * math.pi
    elif not sweep and delta > 0:
        delta -= 2 * math.pi
    pieces = max(1, math.ceil(abs(delta) / (math.pi / 2) - 1e-9))
    step = delta / pieces
    k = 4.0 / 3.0 * math.tan(step / 4.0)

    def point(angle: float, along: float = 0.0) -> Point:
        # A point of the ellipse at ``angle``, moved ``along`` times its tangent.
        ex, ey = rx * (math.cos(angle) - along * math.sin(angle)), ry * (math.sin(angle) + along * math.cos(angle))
        return (cx + cos_phi * ex - sin_phi * ey, cy + sin_phi * ex + cos_phi * ey)

    angle = theta1
    for index in range(pieces):
        following = angle + step
        target = end if index == pieces - 1 else point(following)
        builder.cubic(point(angle, k), point(following, -k), target)
        angle = following


def ellipse(cx: float, cy: float, rx: float, ry: float) -> list[Contour]:
    """SVG 2's path for circle and ellipse: from (cx + rx, cy), clockwise on screen."""
    builder = PathBuilder()
    k = _KAPPA
    builder.move((cx + rx, cy))
    quarter = [((1, k), (k, 1), (0, 1)), ((-k, 1), (-1, k), (-1, 0)), ((-1, -k), (-k, -1), (0, -1)), ((k, -1), (1, -k), (1, 0))]
    for c1, c2, end in quarter:
        builder.cubic(
            (cx + c1[0] * rx, cy + c1[1] * ry), (cx + c2[0] * rx, cy + c2[1] * ry), (cx + end[0] * rx, cy + end[1] * ry)
        )
    builder.close()
    return builder.contours


def rect(x: float, y: float, width: float, height: float, rx: float, ry: float) -> list[Contour]:
    """SVG's path for a rect (rx, ry already resolved and clamped to half the size)."""
    builder = PathBuilder()
    if rx <= 0 or ry <= 0:
        builder.move((x, y))
        for corner in ((x + width, y), (x + width, y + height), (x, y + height)):
            builder.line(corner)
        builder.close()
        return builder.contours
    kx, ky = rx * _KAPPA, ry * _KAPPA
    right, bottom = x + width, y + height
    builder.move((x + rx, y))
    builder.line((right - rx, y))
    builder.cubic((right - rx + kx, y), (right, y + ry - ky), (right, y + ry))
    builder.line((right, bottom - ry))
    builder.cubic((right, bottom - ry + ky), (right - rx + kx, bottom), (right - rx, bottom))
    builder.line((x + rx, bottom))
    builder.cubic((x + rx - kx, bottom), (x, bottom - ry + ky), (x, bottom - ry))
    builder.line((x, y + ry))
    builder.cubic((x, y + ry - ky), (x + rx - kx, y), (x + rx, y))
    builder.close()
    return builder.contours


def polyline(points: list[float], closed: bool) -> list[Contour]:
    """``points`` of polyline / polygon (an odd trailing coordinate is already dropped)."""
    if len(points) < 4:
        return []
    builder = PathBuilder()
    builder.move((points[0], points[1]))
    for index in range(2, len(points) - 1, 2):
        builder.line((points[index], points[index + 1]))
    if closed:
        builder.close()
    builder.finish(False)
    return builder.contours


def shape_geometry(element, tag: str, context: LengthContext, report, where: str) -> list:
    """The contours of a basic shape or path element (user space), as SVG 2 reads its attributes.

    Args:
        report: ``report(feature, detail)`` for broken path data and points (drawn up to the error).
        where: the element, for messages.
    """

    def length(name: str, axis: str, default: float | None = 0.0) -> float | None:
        value = parse_length(element.get(name), context, axis)
        return default if value is None else value

    if tag == "path":
        contours, _, error = parse_path_data(element.get("d") or "")
        if error:
            report("path-data", f"{where}: {error}")
        return contours
    if tag == "rect":
        width, height = length("width", "x", None), length("height", "y", None)
        if width is None or height is None or width <= 0 or height <= 0:
            return []
        rx, ry = length("rx", "x", None), length("ry", "y", None)
        rx = None if rx is not None and rx < 0 else rx  # SVG 2: negative is invalid, so auto
        ry = None if ry is not None and ry < 0 else ry
        rx, ry = (rx if rx is not None else ry or 0.0), (ry if ry is not None else rx or 0.0)
        return rect(length("x", "x"), length("y", "y"), width, height, min(rx, width / 2), min(ry, height / 2))
    if tag in ("circle", "ellipse"):
        if tag == "circle":
            rx = ry = length("r", "other", None)
        else:  # SVG 2: a missing or negative (invalid) radius is auto, the other one
            rx, ry = length("rx", "x", None), length("ry", "y", None)
            rx, ry = (None if rx is not None and rx < 0 else rx), (None if ry is not None and ry < 0 else ry)
            rx, ry = (rx if rx is not None else ry), (ry if ry is not None else rx)
        if rx is None or ry is None or rx <= 0 or ry <= 0:
            return []
        return ellipse(length("cx", "x"), length("cy", "y"), rx, ry)
    if tag == "line":
        return polyline([length("x1", "x"), length("y1", "y"), length("x2", "x"), length("y2", "y")], closed=False)
    values, complete = numbers(element.get("points") or "")
    if not complete:
        report("points", where)
    return polyline(values[: len(values) // 2 * 2], closed=tag == "polygon")
