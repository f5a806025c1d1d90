"""A drawing imported as Blender curves with its colours, stroke widths and fills.

Each ``<path>`` of the SVG (read by :mod:`drawing`) becomes up to two curve objects under one
empty at the 3D cursor: its stroke, a 3D curve whose bevel is half the stroke width (a tube as
wide as the line), and its fill, a flat 2D curve filled on both sides. Each gets a material of its
colour and opacity (Principled Base Color and Alpha, and the viewport display colour, so Solid
view shows the colours too); a colour used twice shares its material. Later paths sit a little
above earlier ones (+Z), as SVG paints them over. An SVG the reader does not handle goes through
Blender's own importer (colours of fills only).
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from .drawing import DrawnPath, UnsupportedSvg, read_canvas, read_drawing
from .jobs import JobError
from .materials import find_shader, new_material
from .mesh_data import srgb_to_linear

PAINT_RECORD = "stylize_paint"  # on materials the import made: the paint they show
LAYER_STEP = 0.002  # the height between paths, as a share of the drawing's size


def import_drawing(context: bpy.types.Context, path: Path, size: float = 2.0, name: str = "Stylize Drawing",
                   on_canvas: bool = False):  # fmt: skip
    """Import an SVG as coloured curves parented to an empty at the 3D cursor, scaled so its larger
    side spans ``size`` (``on_canvas``: the canvas's larger side, centred on the canvas, so the
    strokes keep their place in the picture).

    Returns:
        ``(empty, curve objects)``.

    Raises:
        JobError: nothing drawable in it.
    """
    try:
        paths = read_drawing(path)
    except UnsupportedSvg:
        return import_with_blender(context, path, size, name)
    except Exception as exc:  # a damaged file: one line
        raise JobError(f"cannot read the drawing {path}: {exc}") from exc
    paths, centre, extent = _painted(path, paths, on_canvas)
    collection = context.collection or context.scene.collection
    empty = bpy.data.objects.new(name, None)
    empty.empty_display_type = "PLAIN_AXES"
    collection.objects.link(empty)
    empty.location = context.scene.cursor.location
    empty.scale = (size / extent,) * 3
    objects = []
    for index, drawn in enumerate(paths):
        height = index * LAYER_STEP * extent
        if drawn.fill is not None:
            objects.append(_curve_object(f"{name} Fill", drawn, centre, height, fill=True))
        if drawn.stroke is not None and drawn.stroke_width > 0:
            objects.append(_curve_object(f"{name} Stroke", drawn, centre, height, fill=False))
    for obj in objects:
        collection.objects.link(obj)
        obj.parent = empty
    return empty, objects


def _painted(path: Path, paths: list[DrawnPath], on_canvas: bool) -> tuple[list[DrawnPath], np.ndarray, float]:
    """The painted paths, the drawing's centre and its larger side (the canvas's when ``on_canvas``
    and the SVG has one, else the paths' bounds).

    Raises:
        JobError: nothing painted.
    """
    paths = [p for p in paths if p.contours and (p.fill is not None or (p.stroke is not None and p.stroke_width > 0))]
    if not paths:
        raise JobError(f"the drawing {path} has no painted paths")
    canvas = read_canvas(path) if on_canvas else None
    if canvas is not None:
        x, y, width, height = canvas
        return paths, np.array([x + width / 2.0, y + height / 2.0]), float(max(width, height))
    points = np.array([point for p in paths for contour in p.contours for point in contour.points], dtype=np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    return paths, (low + high) / 2.0, float(max(high[0] - low[0], high[1] - low[1], 1e-9))


def _curve_object(name: str, drawn: DrawnPath, centre: np.ndarray, height: float, fill: bool) -> bpy.types.Object:
    curve = bpy.data.curves.new(name, "CURVE")
    if fill:
        curve.dimensions, curve.fill_mode = "2D", "BOTH"
    else:
        curve.dimensions = "3D"
        curve.bevel_depth = drawn.stroke_width / 2.0  # SVG's stroke-width is the whole width
        curve.bevel_resolution = 2
        curve.use_fill_caps = True
    for contour in drawn.contours:
        spline = curve.splines.new("BEZIER")
        spline.bezier_points.add(len(contour.points) - 1)
        for point, co, left, right in zip(spline.bezier_points, contour.points, contour.left, contour.right, strict=True):
            point.handle_left_type = point.handle_right_type = "FREE"
            point.co = _to_blender(co, centre)
            point.handle_left = _to_blender(left, centre)
            point.handle_right = _to_blender(right, centre)
        spline.use_cyclic_u = contour.closed or fill  # a fill closes every subpath, as SVG does
    curve.materials.append(paint_material(drawn.fill if fill else drawn.stroke))
    obj = bpy.data.objects.new(name, curve)
    obj.location = (0.0, 0.0, height)
    return obj


def _to_blender(point: tuple[float, float], centre: np.ndarray) -> Vector:
    """SVG (y down) -> the curve's plane (y up), centred on the drawing."""
    return Vector((point[0] - centre[0], centre[1] - point[1], 0.0))


def paint_material(rgba: tuple[float, float, float, float]) -> bpy.types.Material:
    """The material of one paint (sRGB colour and alpha), made once and shared."""
    key = "#{:02x}{:02x}{:02x}".format(*(int(round(c * 255)) for c in rgba[:3])) + f" {rgba[3]:.2f}"
    name = f"Stylize Paint {key}"
    material = bpy.data.materials.get(name)
    if material is not None and material.get(PAINT_RECORD) == key:
        return material
    material = new_material(name)
    linear = [float(c) for c in srgb_to_linear(np.asarray(rgba[:3]))]
    material.diffuse_color = (*linear, rgba[3])
    shader = find_shader(material)
    shader.inputs["Base Color"].default_value = (*linear, 1.0)
    shader.inputs["Alpha"].default_value = rgba[3]
    if rgba[3] < 1.0:
        if hasattr(material, "surface_render_method"):  # EEVEE Next (4.2+)
            material.surface_render_method = "BLENDED"
        else:
            material.blend_method = "BLEND"
    material[PAINT_RECORD] = key
    return material


def import_with_blender(context: bpy.types.Context, path: Path, size: float, name: str):
    """Blender's own SVG importer (fills' colours only), parented and scaled the same way.

    Raises:
        JobError: the importer made no curve objects.
    """
    before = set(bpy.data.objects)
    result = bpy.ops.import_curve.svg(filepath=str(path))
    curves = [obj for obj in bpy.data.objects if obj not in before and obj.type == "CURVE"]
    if "FINISHED" not in result or not curves:
        for obj in curves:
            bpy.data.objects.remove(obj)
        raise JobError(f"Blender's SVG importer made no curves from {path}")
    # Fresh objects have no parent, so matrix_basis is their world transform (matrix_world is
    # only refreshed by a depsgraph update).
    points = [obj.matrix_basis @ point.co for obj in curves for spline in obj.data.splines for point in spline.bezier_points]
    points += [(obj.matrix_basis @ point.co).to_3d() for obj in curves for spline in obj.data.splines for point in spline.points]
    if points:
        low = np.min([tuple(p)[:3] for p in points], axis=0)
        high = np.max([tuple(p)[:3] for p in points], axis=0)
    else:
        low, high = np.zeros(3), np.ones(3)
    extent = float(max(high[0] - low[0], high[1] - low[1], 1e-9))
    centre = Vector(tuple(float(v) for v in (low + high) / 2.0))
    collection = curves[0].users_collection[0] if curves[0].users_collection else context.scene.collection
    empty = bpy.data.objects.new(name, None)
    empty.empty_display_type = "PLAIN_AXES"
    collection.objects.link(empty)
    empty.location = context.scene.cursor.location
    empty.scale = (size / extent,) * 3
    for obj in curves:
        obj.location = obj.location - centre
        obj.parent = empty
    return empty, curves
