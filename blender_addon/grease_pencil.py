"""A drawing imported as one Grease Pencil object (Blender 4.3+'s Grease Pencil, "v3").

Each SVG path's contours become Bezier strokes of one layer, in paint order (later strokes drawn
over earlier ones), with the SVG's control points as the points and their handles, a radius of
half the stroke width (SVG units, like the curves' bevel) and round caps; each colour is a Grease
Pencil material (stroke colour, or fill colour for a filled path), shared by the strokes that use
it. Blender 4.2's Grease Pencil (the older data model) is not supported: :func:`available` says so.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from .curves import _painted
from .drawing import read_drawing
from .jobs import JobError
from .mesh_data import srgb_to_linear

PAINT_RECORD = "stylize_ink"  # on the Grease Pencil materials the import made: the paint they show


def available() -> bool:
    """Whether this Blender has the Grease Pencil data model this module writes (4.3+)."""
    return bpy.app.version >= (4, 3, 0) and hasattr(bpy.types, "GreasePencilDrawing")


def import_grease_pencil(context: bpy.types.Context, path: Path, size: float = 2.0, name: str = "Stylize Drawing",
                         on_canvas: bool = False) -> bpy.types.Object:  # fmt: skip
    """Import an SVG as a Grease Pencil object at the 3D cursor (sized and centred as
    :func:`curves.import_drawing` does) on the scene's current frame.

    Raises:
        JobError: this Blender's Grease Pencil is too old, or the SVG cannot be read or has nothing painted.
    """
    if not available():
        raise JobError("Grease Pencil output needs Blender 4.3 or newer: choose Curves")
    try:
        paths = read_drawing(path)
    except Exception as exc:  # UnsupportedSvg included: Blender's importer makes no Grease Pencil
        raise JobError(f"cannot read the drawing {path} for Grease Pencil: {exc}") from exc
    paths, centre, extent = _painted(path, paths, on_canvas)
    # One stroke per contour and paint: (contour, paint, radius, cyclic, fill).
    strokes = []
    for drawn in paths:
        for contour in drawn.contours:
            if drawn.fill is not None:
                strokes.append((contour, drawn.fill, 0.0, True, True))
            if drawn.stroke is not None and drawn.stroke_width > 0:
                strokes.append((contour, drawn.stroke, drawn.stroke_width / 2.0, contour.closed, False))
    data = bpy.data.grease_pencils.new(name)
    drawing = data.layers.new("Strokes").frames.new(context.scene.frame_current).drawing
    drawing.add_strokes(sizes=[len(s[0].points) for s in strokes])
    drawing.set_types(type="BEZIER")

    def flat(name: str) -> np.ndarray:
        values = np.array([p for s in strokes for p in getattr(s[0], name)], dtype=np.float64)
        values = np.column_stack([values[:, 0] - centre[0], centre[1] - values[:, 1], np.zeros(len(values))])
        return values.astype(np.float32).ravel()  # SVG (y down) -> the object's plane (y up)

    attributes = drawing.attributes
    for attribute, source in (("position", "points"), ("handle_left", "left"), ("handle_right", "right")):
        if attribute not in attributes:
            attributes.new(attribute, "FLOAT_VECTOR", "POINT")
        attributes[attribute].data.foreach_set("vector", flat(source))
    if "radius" not in attributes:
        attributes.new("radius", "FLOAT", "POINT")
    radii = np.concatenate([np.full(len(s[0].points), s[2], dtype=np.float32) for s in strokes])
    attributes["radius"].data.foreach_set("value", radii)
    drawing.tag_positions_changed()
    for stroke, (_, paint, _, closed, fill) in zip(drawing.strokes, strokes, strict=True):
        material = ink_material(paint, fill)
        if material.name not in data.materials:
            data.materials.append(material)
        stroke.material_index = list(data.materials).index(material)
        stroke.cyclic = closed
    obj = bpy.data.objects.new(name, data)
    (context.collection or context.scene.collection).objects.link(obj)
    obj.location = context.scene.cursor.location
    obj.scale = (size / extent,) * 3
    return obj


def ink_material(rgba: tuple[float, float, float, float], fill: bool = False) -> bpy.types.Material:
    """The Grease Pencil material of one paint (sRGB colour and alpha; a stroke's or a fill's), made once and shared."""
    key = ("fill " if fill else "") + "#{:02x}{:02x}{:02x}".format(*(int(round(c * 255)) for c in rgba[:3]))
    key += f" {rgba[3]:.2f}"
    name = f"Stylize Ink {key}"
    material = bpy.data.materials.get(name)
    if material is not None and material.get(PAINT_RECORD) == key and material.is_grease_pencil:
        return material
    material = bpy.data.materials.new(name)
    bpy.data.materials.create_gpencil_data(material)
    style = material.grease_pencil
    colour = (*(float(c) for c in srgb_to_linear(np.asarray(rgba[:3]))), float(rgba[3]))
    style.show_stroke, style.show_fill = not fill, fill
    if fill:
        style.fill_color = colour
    else:
        style.color = colour
    material[PAINT_RECORD] = key
    return material
