"""SVG clipping: ``clip-path`` references and nested viewports, as clip groups of the scene.

A clip group is the union of the fills of its member paths (:class:`~stylize.vector.scene.VectorPath`
with ``clip_of`` set), which the renderer multiplies into the coverage of every path it clips
(``clipped_by``). :class:`Clipper` makes them while the importer walks the document:

- ``clip-path: url(#id)`` on a shape, group or ``use``: the ``<clipPath>``'s children (shapes and
  ``use``; their own transforms, ``clip-rule`` and visibility) drawn as geometry in the clipped
  element's user space, after the clip path's ``transform`` and, for
  ``clipPathUnits="objectBoundingBox"``, the element's bounding box. A reference to anything
  but a ``<clipPath>`` is ignored (CSS Masking); an empty clip path hides the element.
- nested ``svg`` / ``symbol`` viewports whose content overflows: their viewport rectangle.

A path already clipped by an inner clip keeps that one only: clips are not intersected
(reported); so is a ``clip-path`` on a ``<clipPath>`` or on its children, and ``<text>`` in it.
"""

from __future__ import annotations

import re

import torch

from stylize.vector.scene import VectorPath, polyline_contour
from stylize.vector.svg.paint import bounding_box
from stylize.vector.svg.values import IDENTITY, apply, multiply, parse_transform, scale, translate

_URL = re.compile(r"url\(\s*['\"]?#([^'\")]+)['\"]?\s*\)")


def _invert(transform):
    a, b, c, d, e, f = transform
    determinant = a * d - b * c
    if abs(determinant) < 1e-12:
        return None
    ia, ib, ic, id_ = d / determinant, -b / determinant, -c / determinant, a / determinant
    return (ia, ib, ic, id_, -(ia * e + ic * f), -(ib * e + id_ * f))


class Clipper:
    """The clip groups of one import (see the module docstring).

    Args:
        importer: the document walker: its ``output``, ``ids``, ``tag``, ``report``,
            ``tree_style``, ``walk_clip_content(children, style, transform, viewport)`` and ``where``.
    """

    def __init__(self, importer) -> None:
        self.importer = importer
        self.groups = 0

    def apply(self, element, style, frame, first: int) -> None:
        """Clip what ``element`` drew (``output[first:]``) by its ``clip-path``, if any."""
        match = _URL.match(style["clip-path"] or "")
        importer = self.importer
        target = importer.ids.get(match.group(1)) if match else None
        if target is None or importer.tag(target) != "clipPath":
            return  # CSS Masking: as if clip-path were not specified
        drawn = [emitted for emitted in importer.output[first:] if emitted.path.clip_of < 0]
        if not drawn:
            return
        transform = parse_transform(target.get("transform"))
        if transform is None:
            importer.report("transform", importer.where(target))
            transform = IDENTITY
        if target.get("clipPathUnits") == "objectBoundingBox":  # the clip path's transform is in box units
            box = self._user_box(drawn, frame.transform)
            if box is None:
                return
            transform = multiply(multiply(translate(box[0], box[1]), scale(box[2] - box[0], box[3] - box[1])), transform)
        transform = multiply(frame.transform, transform)
        members = importer.walk_clip_content(target, transform, frame.viewport)
        if not members:  # an empty clip path: nothing of the element shows
            del importer.output[first:]
            return
        self._group(members, drawn, importer.where(element))

    def viewport(self, corners, emitted: list, where: str) -> None:
        """Clip ``emitted`` paths by a viewport rectangle (its four corners on the canvas)."""
        contour = polyline_contour(torch.tensor(corners, dtype=torch.float64), closed=True)
        member = VectorPath([contour], True, stroke_color=None, fill_color=(0.0, 0.0, 0.0, 1.0))
        self._group([member], [item for item in emitted if item.path.clip_of < 0], where)

    def _group(self, members: list[VectorPath], drawn: list, where: str) -> None:
        group = self.groups
        self.groups += 1
        for member in members:
            member.clip_of, member.clipped_by = group, -1
            member.stroke_color = member.stroke_gradient = None
            self.importer.emit_member(member, where)
        for emitted in drawn:
            if emitted.path.clipped_by >= 0:
                self.importer.report("clip-nested", where)
                continue
            emitted.path.clipped_by = group

    @staticmethod
    def _user_box(drawn: list, transform):
        """The bounding box of what was drawn, in the element's user space (SVG's geometry box)."""
        inverse = _invert(transform)
        if inverse is None:
            return None
        contours = [
            ([apply(inverse, x, y) for x, y in points.tolist()], closed)
            for item in drawn
            for points, closed in zip(item.path.contours, item.path.closed_flags(), strict=True)
        ]
        box = bounding_box(contours)
        return box if box is not None and box[2] > box[0] and box[3] > box[1] else None
