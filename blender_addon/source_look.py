"""What an object looks like now, read for a restyle ("Restyle From" in the panel).

A restyle (``stylize mesh --source TEXT``) starts from the object's own look instead of grey, so
the add-on sends it with the mesh (:class:`exchange.SourceLook`, written by :func:`exchange.write_obj`).
The look is, first found:

1. an earlier Stylize result the object shows (its texture on ``Stylize UV``, or the
   ``Stylize Color`` attribute): restyling a result goes on from it;
2. the base-colour texture of its materials: the Image Texture that feeds the shader's Base
   Color (directly or through other nodes), on the UV map its node reads (else the render UV
   map); one texture per object (faces of a material without it read it too);
3. the active colour attribute (point or corner domain, averaged per vertex);
4. the materials' Base Color values, per face, averaged per vertex.

Nothing here changes the scene.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import materials
from .exchange import MAX_SOURCE_TEXTURE, SourceLook
from .jobs import JobError
from .mesh_data import COLOR_ATTRIBUTE as _RESULT_COLOR
from .mesh_data import UV_MAP as _RESULT_UV
from .mesh_data import linear_to_srgb

_RESULT_IMAGE_NODE = materials.NODE_PREFIX + "Base Color"  # the node hook_material adds for a texture


def object_look(obj: bpy.types.Object) -> SourceLook:
    """The look of ``obj`` to restyle (see the module docstring).

    Raises:
        JobError: its materials show more than one base-colour texture, the texture has no
            pixels (a missing file), or the mesh has no UV map for it.
    """
    mesh = obj.data
    mesh.calc_loop_triangles()
    used = [slot.material for slot in obj.material_slots if slot.material is not None]
    unique = list(dict.fromkeys(used))
    has_result = _RESULT_COLOR in mesh.color_attributes and materials.MASK_ATTRIBUTE in mesh.attributes
    hooked = [m for m in unique if materials.is_hooked(m)]
    if has_result and hooked:
        node = hooked[0].node_tree.nodes.get(_RESULT_IMAGE_NODE)
        if node is not None and node.image is not None and _RESULT_UV in mesh.uv_layers:
            return _texture_look(mesh, node.image, _RESULT_UV, f"the earlier result's texture {node.image.name!r}")
        return _attribute_look(mesh, _RESULT_COLOR, "the earlier result's colours")
    found: dict[str, tuple] = {}
    for material in unique:
        shader = materials.find_shader(material)
        node = _upstream_image(shader.inputs["Base Color"]) if shader is not None else None
        if node is not None:
            found.setdefault(node.image.name, (node.image, _node_uv_map(node)))
    if len(found) > 1:
        raise JobError(f"{obj.name!r} shows {len(found)} base-colour textures ({', '.join(sorted(found))}): a restyle "
                       f"sends one; bake them into one texture, or clear Restyle From")  # fmt: skip
    if found:
        image, uv_name = next(iter(found.values()))
        return _texture_look(mesh, image, uv_name, f"texture {image.name!r}")
    active = mesh.color_attributes.active_color_name
    if active:
        return _attribute_look(mesh, active, f"colour attribute {active!r}")
    return _material_look(obj)


def _upstream_image(socket, depth: int = 8):
    """The first Image Texture node with an image that feeds ``socket``, or None."""
    seen, frontier = set(), [socket]
    for _ in range(depth):
        following = []
        for current in frontier:
            for link in current.links:
                node = link.from_node
                if node.name in seen:
                    continue
                seen.add(node.name)
                if node.type == "TEX_IMAGE" and node.image is not None:
                    return node
                following += [s for s in node.inputs if s.is_linked]
        frontier = following
    return None


def _node_uv_map(node) -> str:
    """The UV map an Image Texture node reads ("" for the render UV map)."""
    vector = node.inputs.get("Vector")
    if vector is not None and vector.is_linked and vector.links[0].from_node.type == "UVMAP":
        return vector.links[0].from_node.uv_map
    return ""


def _texture_look(mesh: bpy.types.Mesh, image: bpy.types.Image, uv_name: str, origin: str) -> SourceLook:
    layers = mesh.uv_layers
    layer = layers.get(uv_name) if uv_name else next((uv for uv in layers if uv.active_render), None)
    if layer is None:
        raise JobError(f"{mesh.name!r} has {origin} but no UV map {uv_name or '(render)'} for it")
    width, height = image.size
    if width == 0 or height == 0:
        raise JobError(f"{origin} has no pixels (is its file missing?)")
    pixels = np.empty(width * height * image.channels, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    pixels = pixels.reshape(height, width, image.channels)[::-1]  # Blender keeps the bottom row first
    if image.channels < 3:
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    rgb = pixels[..., :3]
    if image.is_float:  # float buffers are scene-linear; byte buffers keep their (sRGB) encoding
        rgb = linear_to_srgb(rgb)
    step = -(-max(width, height) // MAX_SOURCE_TEXTURE)
    if step > 1:  # box-filter down to the size limit
        h, w = (height // step) * step, (width // step) * step
        rgb = rgb[:h, :w].reshape(h // step, step, w // step, step, 3).mean((1, 3))
    texture = np.full(rgb.shape[:2] + (4,), 255, dtype=np.uint8)
    texture[..., :3] = np.round(np.clip(rgb, 0.0, 1.0) * 255.0)
    uv = np.empty(len(mesh.loops) * 2, dtype=np.float32)
    layer.data.foreach_get("uv", uv)
    loops = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("loops", loops)
    corner_uv = uv.reshape(-1, 2)[loops].reshape(-1, 3, 2)
    return SourceLook(origin=origin, corner_uv=corner_uv, texture=texture)


def _attribute_look(mesh: bpy.types.Mesh, name: str, origin: str) -> SourceLook:
    attribute = mesh.color_attributes[name]
    values = np.empty(len(attribute.data) * 4, dtype=np.float32)
    attribute.data.foreach_get("color_srgb", values)
    values = values.reshape(-1, 4)[:, :3]
    if attribute.domain == "POINT":
        return SourceLook(origin=origin, colors=values.astype(np.float32))
    vertex_of_loop = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", vertex_of_loop)
    return SourceLook(origin=origin, colors=_per_vertex(len(mesh.vertices), vertex_of_loop, values))


def _material_look(obj: bpy.types.Object) -> SourceLook:
    mesh = obj.data
    colours = {}
    for index, slot in enumerate(obj.material_slots):
        shader = materials.find_shader(slot.material) if slot.material is not None else None
        if shader is not None:
            colours[index] = linear_to_srgb(np.asarray(shader.inputs["Base Color"].default_value[:3]))
    if not colours:
        return SourceLook()
    face_material = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("material_index", face_material)
    grey = np.full(3, 0.5)
    face_colour = np.array([colours.get(int(i), grey) for i in face_material]).reshape(-1, 3)
    loop_total = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("loop_total", loop_total)
    loop_face = np.repeat(np.arange(len(mesh.polygons)), loop_total)
    vertex_of_loop = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", vertex_of_loop)
    names = ", ".join(sorted({obj.material_slots[i].material.name for i in colours}))
    return SourceLook(
        origin=f"the Base Color of {names}", colors=_per_vertex(len(mesh.vertices), vertex_of_loop, face_colour[loop_face])
    )


def _per_vertex(count: int, vertex_of_loop: np.ndarray, loop_values: np.ndarray) -> np.ndarray:
    total = np.zeros((count, 3), dtype=np.float64)
    hits = np.zeros(count, dtype=np.float64)
    np.add.at(total, vertex_of_loop, loop_values)
    np.add.at(hits, vertex_of_loop, 1.0)
    return (total / np.maximum(hits, 1.0)[:, None]).astype(np.float32)
