"""Blender data in and out: the mesh as arrays, vertex-group weights, applying a result, SVG import.

Everything that touches ``bpy`` data lives here as plain functions (no operators), so tests call
them directly. Everything that can fail (reading and checking the result) happens before the
scene is touched; while applying, what this call created is removed again on an error.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from . import jobs
from .jobs import JobError, MeshResult

COLOR_ATTRIBUTE = "Stylize Color"
SHAPE_KEY = "Stylize Displacement"
MATERIAL = "Stylize"


def mesh_arrays(mesh: bpy.types.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(V, 3)`` float32 in the object's local frame and triangles ``(T, 3)`` int64.

    Triangles come from Blender's own triangulation of each polygon (``loop_triangles``), so the
    mesh is not changed and vertex indices are Blender's.
    """
    mesh.calc_loop_triangles()
    positions = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", positions)
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", triangles)
    return positions.reshape(-1, 3), triangles.reshape(-1, 3).astype(np.int64)


def worker_orientation(obj: bpy.types.Object) -> np.ndarray:
    """How ``obj``'s mesh coordinates map into the worker's Y-up frame (see
    :func:`jobs.worker_orientation`)."""
    return jobs.worker_orientation(np.array(obj.matrix_world.to_3x3(), dtype=np.float64))


def group_weights(obj: bpy.types.Object, group_name: str) -> np.ndarray:
    """Per-vertex weights ``(V,)`` of a vertex group (0 for vertices outside it).

    Raises:
        JobError: the object has no group of that name.
    """
    group = obj.vertex_groups.get(group_name)
    if group is None:
        raise JobError(f"vertex group {group_name!r} not found on {obj.name!r}")
    weights = np.zeros(len(obj.data.vertices), dtype=np.float32)
    index = group.index
    for vertex in obj.data.vertices:
        for element in vertex.groups:
            if element.group == index:
                weights[vertex.index] = element.weight
                break
    return weights


def srgb_to_linear(colors: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in ``[0, 1]`` to linear (IEC 61966-2-1); colour attributes are linear."""
    colors = np.clip(np.asarray(colors, dtype=np.float64), 0.0, 1.0)
    return np.where(colors <= 0.04045, colors / 12.92, ((colors + 0.055) / 1.055) ** 2.4)


def stylize_material() -> bpy.types.Material:
    """The material that shows the colour attribute (created once, then shared)."""
    material = bpy.data.materials.get(MATERIAL)
    if material is not None:
        return material
    material = bpy.data.materials.new(MATERIAL)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True  # always on (and deprecated) from Blender 5.0
    nodes, links = material.node_tree.nodes, material.node_tree.links
    shader = next((node for node in nodes if node.type == "BSDF_PRINCIPLED"), None)
    if shader is None:
        shader = nodes.new("ShaderNodeBsdfPrincipled")
    attribute = nodes.new("ShaderNodeAttribute")
    attribute.attribute_type = "GEOMETRY"
    attribute.attribute_name = COLOR_ATTRIBUTE
    attribute.location = (shader.location.x - 300, shader.location.y)
    links.new(attribute.outputs["Color"], shader.inputs["Base Color"])
    return material


def _read_colors(attribute) -> np.ndarray:
    values = np.empty(len(attribute.data) * 4, dtype=np.float32)
    attribute.data.foreach_get("color", values)
    return values.reshape(-1, 4)


def apply_mesh_result(obj: bpy.types.Object, result: MeshResult, displace: bool) -> None:
    """Write a worker result onto ``obj``: colour attribute, shape key and material, all or nothing.

    - ``Stylize Color``: a point-domain float colour attribute (linear, as Blender stores them),
      made the active and render colour;
    - ``Stylize Displacement`` (when ``displace``): a shape key at value 1 holding the displaced
      positions (a ``Basis`` key is added first if the mesh has none); a colour-only run removes
      an earlier run's key so the mesh shows what this run made;
    - the ``Stylize`` material in every material slot (one slot is added if there is none).

    Vertices the result does not change (``result.changed`` False: outside the region) keep the
    colour and displacement an earlier run gave them, bit for bit.

    Raises:
        JobError: the mesh no longer has the vertex count the job was started with.
    """
    mesh = obj.data
    count = len(mesh.vertices)
    if result.colors.shape != (count, 3):
        raise JobError(f"{obj.name!r} has {count} vertices now, the result has {len(result.colors)}: was it edited?")
    keep = ~result.changed
    undo: list = []
    try:
        rgba = np.ones((count, 4), dtype=np.float32)
        rgba[:, :3] = srgb_to_linear(result.colors)
        old = mesh.color_attributes.get(COLOR_ATTRIBUTE)
        if old is not None and old.domain == "POINT" and keep.any():
            rgba[keep] = _read_colors(old)[keep]
        # Filled under a temporary name; the earlier run's attribute goes only once all succeeded.
        attribute = mesh.color_attributes.new(COLOR_ATTRIBUTE + " (new)", "FLOAT_COLOR", "POINT")
        temporary_name = attribute.name
        undo.append(lambda: mesh.color_attributes.remove(mesh.color_attributes[temporary_name]))
        attribute.data.foreach_set("color", rgba.ravel())

        if displace:
            if mesh.shape_keys is None:
                obj.shape_key_add(name="Basis", from_mix=False)
                undo.append(lambda: obj.shape_key_clear())
            positions = result.positions.astype(np.float32)
            key = mesh.shape_keys.key_blocks.get(SHAPE_KEY)
            if key is None:
                key = obj.shape_key_add(name=SHAPE_KEY, from_mix=False)
                undo.append(lambda: obj.shape_key_remove(mesh.shape_keys.key_blocks[SHAPE_KEY]))
            elif keep.any():
                previous = np.empty(count * 3, dtype=np.float32)
                key.data.foreach_get("co", previous)
                positions[keep] = previous.reshape(-1, 3)[keep]
            key.data.foreach_set("co", positions.ravel())
            key.value = 1.0
        elif mesh.shape_keys is not None and SHAPE_KEY in mesh.shape_keys.key_blocks:
            obj.shape_key_remove(mesh.shape_keys.key_blocks[SHAPE_KEY])

        material = stylize_material()
        if len(obj.material_slots) == 0:
            mesh.materials.append(material)
        for slot in obj.material_slots:
            slot.material = material

        undo.clear()
        if old is not None:
            mesh.color_attributes.remove(mesh.color_attributes[COLOR_ATTRIBUTE])
        attribute = mesh.color_attributes[temporary_name]
        attribute.name = COLOR_ATTRIBUTE
        mesh.color_attributes.active_color = attribute
        mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
        mesh.update()
    except Exception:
        for step in reversed(undo):
            step()
        raise


def import_svg_curves(
    context: bpy.types.Context, path: Path, size: float = 2.0, name: str = "Stylize Drawing"
) -> tuple[bpy.types.Object, list[bpy.types.Object]]:
    """Import an SVG with Blender's importer as curves, parented to an empty at the 3D cursor.

    The drawing is scaled so its larger side spans ``size`` Blender units and centred on the cursor.

    Returns:
        ``(empty, curves)``.

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
