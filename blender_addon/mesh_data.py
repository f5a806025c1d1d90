"""Blender data in and out: the mesh as arrays, vertex-group weights, applying a result (drawings: :mod:`curves`).

Everything that touches ``bpy`` data lives here as plain functions (no operators), so tests call
them directly. Everything that can fail (reading and checking the result) happens before the
scene is touched; while applying, what this call created is removed again on an error. Live
previews are temporary layers (:func:`show_preview`, :func:`hide_preview`); :func:`revert`
removes all the add-on added.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from . import exchange, materials
from .exchange import MeshResult
from .jobs import JobError
from .textures import SurfaceResult

COLOR_ATTRIBUTE = "Stylize Color"
SHAPE_KEY = "Stylize Displacement"
UV_MAP = "Stylize UV"
PREVIEW_ATTRIBUTE = "Stylize Preview"
PREVIEW_KEY = "Stylize Preview"
PREVIEW_MATERIAL = "Stylize Preview"
# On the mesh: what the add-on added that was not there before (JSON), for Revert.
ADDED_RECORD = "stylize_added"


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
    :func:`exchange.worker_orientation`)."""
    return exchange.worker_orientation(np.array(obj.matrix_world.to_3x3(), dtype=np.float64))


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


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear values in ``[0, 1]`` to sRGB encoding, the inverse of :func:`srgb_to_linear`."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def _read_colors(attribute) -> np.ndarray:
    values = np.empty(len(attribute.data) * 4, dtype=np.float32)
    attribute.data.foreach_get("color", values)
    return values.reshape(-1, 4)


def _added(mesh: bpy.types.Mesh) -> dict:
    record = {"basis": False, "materials": [], "slots": [], "slots_added": 0, "images": [], "active_color": None}
    if ADDED_RECORD in mesh.keys():
        record.update(json.loads(mesh[ADDED_RECORD]))
    return record


def _color_names(mesh: bpy.types.Mesh) -> tuple[str | None, str | None]:
    """Names of the active and the render colour attribute (None: none)."""
    attributes = mesh.color_attributes
    render = attributes[attributes.render_color_index].name if 0 <= attributes.render_color_index < len(attributes) else None
    return attributes.active_color_name or None, render


def _set_color_names(mesh: bpy.types.Mesh, active: str | None, render: str | None) -> None:
    attributes = mesh.color_attributes
    if active is not None and active in attributes:
        attributes.active_color = attributes[active]
    if render is not None and render in attributes:
        names = [attribute.name for attribute in attributes]
        attributes.render_color_index = names.index(render)


def apply_mesh_result(obj: bpy.types.Object, result: MeshResult, displace: bool, surface: SurfaceResult | None = None) -> None:
    """Write a worker result onto ``obj``, all or nothing, and show it through its materials.

    - ``Stylize Color``: a point-domain float colour attribute (linear, as Blender stores them),
      made the active and render colour, and ``Stylize Mask`` (1 everywhere: the materials'
      mix factor, see :mod:`materials`);
    - ``Stylize Displacement`` (when ``displace``): a shape key at value 1 holding the displaced
      positions (a ``Basis`` key is added first if the mesh has none); a colour-only run removes
      an earlier run's key so the mesh shows what this run made;
    - with ``surface`` (textures): the UV map ``Stylize UV`` and the packed images
      ``Stylize <object> Base Color`` / ``Normal`` / ``Metallic Roughness`` (a ``pbr`` run's);
    - every material of the object gets the result hooked in (:func:`materials.hook_material`:
      nodes added, the user's kept); an object without any gets a new ``Stylize <object>``.

    Any preview layers are removed first. Vertices the result does not change
    (``result.changed`` False: outside the region) keep the colour and displacement an earlier
    run gave them, bit for bit. :func:`revert` removes all of it.

    Raises:
        JobError: the mesh no longer has the vertex count the job was started with.
    """
    mesh = obj.data
    count = len(mesh.vertices)
    if result.colors.shape != (count, 3):
        raise JobError(f"{obj.name!r} has {count} vertices now, the result has {len(result.colors)}: was it edited?")
    if surface is not None and surface.corner_uv.shape[0] != len(mesh.loop_triangles):
        raise JobError(f"{obj.name!r} has {len(mesh.loop_triangles)} triangles now, the result has {surface.corner_uv.shape[0]}")
    remove_preview_layers(obj)
    keep = ~result.changed
    record = _added(mesh)
    if ADDED_RECORD not in mesh.keys():
        record["active_color"] = _color_names(mesh)[0]
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
                record["basis"] = True
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

        images = _apply_surface(obj, surface, undo) if surface is not None else (None, None, None)
        undo.clear()
        # From here on nothing can fail for a reason of the result's: swap in what was built.
        if old is not None:
            mesh.color_attributes.remove(mesh.color_attributes[COLOR_ATTRIBUTE])
        attribute = mesh.color_attributes[temporary_name]
        attribute.name = COLOR_ATTRIBUTE
        mesh.color_attributes.active_color = attribute
        mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
        mask = mesh.attributes.get(materials.MASK_ATTRIBUTE) or mesh.attributes.new(materials.MASK_ATTRIBUTE, "FLOAT", "POINT")
        mask.data.foreach_set("value", np.ones(count, dtype=np.float32))
        _hook_materials(obj, record, *images)
        mesh[ADDED_RECORD] = json.dumps(record)
        mesh.update()
    except Exception:
        for step in reversed(undo):
            step()
        raise


def _apply_surface(obj: bpy.types.Object, surface: SurfaceResult, undo: list) -> tuple:
    """The UV map and the packed images of a texture result (``undo`` gets what removes them)."""
    mesh = obj.data
    active_uv = mesh.uv_layers.active.name if mesh.uv_layers.active is not None else None
    uv_layer = mesh.uv_layers.get(UV_MAP)
    if uv_layer is None:
        uv_layer = mesh.uv_layers.new(name=UV_MAP, do_init=False)
        undo.append(lambda: mesh.uv_layers.remove(mesh.uv_layers[UV_MAP]))
    if active_uv is not None:  # the user's UV map stays the active one
        mesh.uv_layers.active = mesh.uv_layers[active_uv]
    loops = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("loops", loops)
    loops = loops.reshape(-1, 3)
    uv = np.zeros((len(mesh.loops), 2), dtype=np.float32)
    covered = surface.covered
    uv[loops[covered].ravel()] = surface.corner_uv[covered].reshape(-1, 2)
    uv_layer.data.foreach_set("uv", uv.ravel())
    loaded = []
    maps = ((surface.base_color, "Base Color", "sRGB"), (surface.normal, "Normal", "Non-Color"),
            (surface.metallic_roughness, "Metallic Roughness", "Non-Color"))  # fmt: skip
    for path, label, colorspace in maps:
        if path is None:
            loaded.append(None)
            continue
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = f"Stylize {obj.name} {label}"
        image.colorspace_settings.name = colorspace
        image.pack()  # the run folder goes once the result is applied
        undo.append(lambda image=image: bpy.data.images.remove(image))
        loaded.append(image)
    return tuple(loaded)


def _hook_materials(obj: bpy.types.Object, record: dict, base_image=None, normal_image=None, packed_image=None) -> None:
    mesh = obj.data
    if not any(slot.material is not None for slot in obj.material_slots):
        material = bpy.data.materials.get(f"Stylize {obj.name}") if f"Stylize {obj.name}" in record["materials"] else None
        if material is None:
            material = materials.new_material(f"Stylize {obj.name}")
            record["materials"].append(material.name)
        if len(obj.material_slots) == 0:
            mesh.materials.append(material)
            record["slots_added"] += 1
        else:
            for index, slot in enumerate(obj.material_slots):
                slot.material = material
                record["slots"].append(index)
    uv_map = UV_MAP if base_image is not None or normal_image is not None else ""
    for material in {slot.material for slot in obj.material_slots if slot.material is not None}:
        materials.hook_material(material, COLOR_ATTRIBUTE, base_image, normal_image, uv_map, packed_image)
    # An earlier run's images go once no node shows them any more.
    images = [image.name for image in (base_image, normal_image, packed_image) if image is not None]
    stale = [name for name in record["images"] if name not in images]
    record["images"] = images
    for name in stale:
        image = bpy.data.images.get(name)
        if image is not None and image.users == 0:
            bpy.data.images.remove(image)


# --- preview layers ---------------------------------------------------------------------------


def show_preview(obj: bpy.types.Object, result: MeshResult, shape: bool, state: dict | None = None) -> dict:
    """Show a preview snapshot on ``obj`` as temporary layers: the colour attribute
    ``Stylize Preview`` (made the active colour, which Solid viewports' Attribute colour shows),
    the material ``Stylize Preview`` that shows it in Material Preview and Rendered viewports (on
    the object's own slots, linked to the object, so the mesh's materials stay as they are) and,
    with ``shape``, the shape key ``Stylize Preview`` at value 1.

    Args:
        state: what the first call returned (None on the first call): what to put back.

    Returns:
        The state for the next call and for :func:`hide_preview`.

    Raises:
        JobError: the mesh no longer has the snapshot's vertex count.
    """
    mesh = obj.data
    count = len(mesh.vertices)
    if result.colors.shape != (count, 3):
        raise JobError(f"{obj.name!r} has {count} vertices now, the preview has {len(result.colors)}")
    if state is None:
        active, render = _color_names(mesh)
        state = {"active_color": active, "render_color": render, "active_attribute": mesh.attributes.active_index,
                 "active_key": obj.active_shape_key_index, "basis": False, "show_only": obj.show_only_shape_key,
                 "slots": _override_slots(obj, materials.preview_material(PREVIEW_MATERIAL, PREVIEW_ATTRIBUTE))}  # fmt: skip
    rgba = np.ones((count, 4), dtype=np.float32)
    rgba[:, :3] = srgb_to_linear(result.colors)
    attribute = mesh.color_attributes.get(PREVIEW_ATTRIBUTE)
    if attribute is None:
        attribute = mesh.color_attributes.new(PREVIEW_ATTRIBUTE, "FLOAT_COLOR", "POINT")
    attribute.data.foreach_set("color", rgba.ravel())
    mesh.color_attributes.active_color = mesh.color_attributes[PREVIEW_ATTRIBUTE]
    if shape:
        if mesh.shape_keys is None:
            obj.shape_key_add(name="Basis", from_mix=False)
            state["basis"] = True
        key = mesh.shape_keys.key_blocks.get(PREVIEW_KEY)
        if key is None:
            key = obj.shape_key_add(name=PREVIEW_KEY, from_mix=False)
            # Relative to an earlier result's displacement, so the two do not add up.
            key.relative_key = mesh.shape_keys.key_blocks.get(SHAPE_KEY) or mesh.shape_keys.reference_key
        positions = result.positions.astype(np.float32)
        if not result.changed.all():  # outside the region: where the earlier result has it
            base = key.relative_key
            current = np.empty(count * 3, dtype=np.float32)
            base.data.foreach_get("co", current)
            positions[~result.changed] = current.reshape(-1, 3)[~result.changed]
        key.data.foreach_set("co", positions.ravel())
        key.value = 1.0
    mesh.update()
    return state


def hide_preview(obj: bpy.types.Object, state: dict | None) -> None:
    """Remove the preview layers and put back what :func:`show_preview` changed, so the mesh is
    as it was before the first preview (``state`` None: nothing was shown)."""
    if state is None:
        return
    _restore_slots(obj, state["slots"])
    remove_preview_layers(obj)
    mesh = obj.data
    if state["basis"] and mesh.shape_keys is not None and len(mesh.shape_keys.key_blocks) == 1:
        obj.shape_key_clear()
    _set_color_names(mesh, state["active_color"], state["render_color"])
    mesh.attributes.active_index = state["active_attribute"]
    obj.active_shape_key_index = state["active_key"]
    obj.show_only_shape_key = state["show_only"]
    mesh.update()


def _override_slots(obj: bpy.types.Object, material: bpy.types.Material) -> dict:
    """Show ``material`` on every slot of ``obj`` through object-linked slots (a slot is added to a
    mesh without any); returns what :func:`_restore_slots` needs."""
    added = 0
    if len(obj.material_slots) == 0:
        obj.data.materials.append(None)
        added = 1
    saved = []
    for slot in obj.material_slots:
        link = slot.link
        slot.link = "OBJECT"
        saved.append((link, slot.material.name if slot.material is not None else None))
        slot.material = material
    return {"saved": saved, "added": added}


def _restore_slots(obj: bpy.types.Object, record: dict) -> None:
    for slot, (link, name) in zip(obj.material_slots, record["saved"], strict=False):
        slot.link = "OBJECT"
        slot.material = bpy.data.materials.get(name) if name is not None else None
        slot.link = link
    if record["added"] and all(material is None for material in obj.data.materials):
        obj.data.materials.clear()  # (pop() leaves the objects' slot counts behind; clear() updates them)


def remove_preview_layers(obj: bpy.types.Object) -> None:
    """Remove ``Stylize Preview`` (attribute, shape key, and the preview material on object-linked
    slots) if there (e.g. left by an undo step that a user action pushed mid-run)."""
    for slot in obj.material_slots:
        if slot.link == "OBJECT" and slot.material is not None and slot.material.name == PREVIEW_MATERIAL:
            slot.material = None
            slot.link = "DATA"
    preview = bpy.data.materials.get(PREVIEW_MATERIAL)
    if preview is not None and preview.users == 0:
        bpy.data.materials.remove(preview)
    mesh = obj.data
    if PREVIEW_ATTRIBUTE in mesh.color_attributes:
        mesh.color_attributes.remove(mesh.color_attributes[PREVIEW_ATTRIBUTE])
    if mesh.shape_keys is not None and PREVIEW_KEY in mesh.shape_keys.key_blocks:
        obj.shape_key_remove(mesh.shape_keys.key_blocks[PREVIEW_KEY])


# --- revert ------------------------------------------------------------------------------------


def revert(obj: bpy.types.Object) -> bool:
    """Remove everything the add-on added to ``obj``: its attributes, shape keys, UV map, the
    nodes in its materials (the user's links put back), and the materials, slots and images it
    created. False when there was nothing to remove."""
    mesh = obj.data
    had = ADDED_RECORD in mesh.keys() or any(
        name in mesh.attributes for name in (COLOR_ATTRIBUTE, PREVIEW_ATTRIBUTE, materials.MASK_ATTRIBUTE)
    )
    record = _added(mesh)
    remove_preview_layers(obj)
    for name in (COLOR_ATTRIBUTE, materials.MASK_ATTRIBUTE):
        if name in mesh.attributes:
            mesh.attributes.remove(mesh.attributes[name])
    if mesh.shape_keys is not None:
        if SHAPE_KEY in mesh.shape_keys.key_blocks:
            obj.shape_key_remove(mesh.shape_keys.key_blocks[SHAPE_KEY])
        if record["basis"] and len(mesh.shape_keys.key_blocks) == 1:
            obj.shape_key_clear()
    if UV_MAP in mesh.uv_layers:
        mesh.uv_layers.remove(mesh.uv_layers[UV_MAP])
    _set_color_names(mesh, record["active_color"], None)
    for material in {slot.material for slot in obj.material_slots if slot.material is not None}:
        if materials.is_hooked(material) and not _used_by_another_result(material, mesh):
            materials.unhook_material(material)
    for index in record["slots"]:
        if index < len(obj.material_slots) and obj.material_slots[index].material is not None \
                and obj.material_slots[index].material.name in record["materials"]:  # fmt: skip
            obj.material_slots[index].material = None
    for _ in range(record["slots_added"]):
        if mesh.materials and mesh.materials[-1] is not None and mesh.materials[-1].name in record["materials"]:
            mesh.materials.pop()
    if record["slots_added"] and len(mesh.materials) == 0:
        mesh.materials.clear()  # pop() leaves the objects' slot counts behind; clear() updates them
    for name in record["materials"]:
        material = bpy.data.materials.get(name)
        if material is not None and material.users == 0:
            bpy.data.materials.remove(material)
    for name in record["images"]:
        image = bpy.data.images.get(name)
        if image is not None and image.users == 0:
            bpy.data.images.remove(image)
    if ADDED_RECORD in mesh.keys():
        del mesh[ADDED_RECORD]
    mesh.update()
    return had


def _used_by_another_result(material: bpy.types.Material, mesh: bpy.types.Mesh) -> bool:
    """Whether another mesh with a stylize result shows it through ``material``."""
    return any(other is not mesh and ADDED_RECORD in other.keys() and material.name in [m.name for m in other.materials if m]
               for other in bpy.data.meshes)  # fmt: skip


def push_undo(message: str) -> None:
    """One undo step now (a selection's objects get one each); nothing where there is no undo
    stack (headless Blender)."""
    try:
        bpy.ops.ed.undo_push(message=message)
    except RuntimeError:
        pass
