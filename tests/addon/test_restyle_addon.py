"""Restyle from the add-on ("Restyle From"): the object's own look is read and sent with the mesh,
and the run starts from it (inside PyPI ``bpy``; skipped where bpy is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import addon_jobs
from .test_addon import SEED, _colors, _installed

jobs = addon_jobs()


def _image(bpy, name: str, pixels: np.ndarray):
    """A byte image of ``pixels`` ``(H, W, 4)`` in [0, 1], top row first."""
    height, width = pixels.shape[:2]
    image = bpy.data.images.new(name, width=width, height=height, alpha=True)
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1], dtype=np.float32).ravel())
    return image


def _textured_material(blender, name: str, image):
    """A new material whose Principled BSDF's Base Color comes from ``image`` (through a Gamma node,
    as node trees often have something in between)."""
    material = _installed(blender, "materials").new_material(name)
    tree = material.node_tree
    shader = _installed(blender, "materials").find_shader(material)
    texture = tree.nodes.new("ShaderNodeTexImage")
    texture.image = image
    gamma = tree.nodes.new("ShaderNodeGamma")
    tree.links.new(texture.outputs["Color"], gamma.inputs["Color"])
    tree.links.new(gamma.outputs["Color"], shader.inputs["Base Color"])
    return material


def _checker(size: int = 16) -> np.ndarray:
    pixels = np.ones((size, size, 4))
    rows, cols = np.indices((size, size))
    red = (rows // 4 + cols // 4) % 2 == 0
    pixels[..., :3] = np.where(red[..., None], [0.9, 0.1, 0.1], [0.1, 0.2, 0.9])
    return pixels


def _corner_uv(mesh, name: str) -> np.ndarray:
    uv = np.empty(len(mesh.loops) * 2, np.float32)
    mesh.uv_layers[name].data.foreach_get("uv", uv)
    loops = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("loops", loops)
    return uv.reshape(-1, 2)[loops].reshape(-1, 3, 2)


def test_look_is_the_base_colour_texture_on_its_uv_map(blender, scene):
    bpy, look = blender.bpy, _installed(blender, "source_look")
    pixels = _checker()
    scene.data.materials.append(_textured_material(blender, "Crate", _image(bpy, "crate", pixels)))
    scene.data.color_attributes.new("Col", "BYTE_COLOR", "POINT")  # a texture wins over a colour attribute
    found = look.object_look(scene)
    assert found.origin == "texture 'crate'" and found.colors is None
    assert found.texture.shape == (16, 16, 4) and found.texture.dtype == np.uint8
    assert np.abs(found.texture[..., :3].astype(int) - np.round(pixels[..., :3] * 255)).max() <= 1  # top row first
    np.testing.assert_array_equal(found.corner_uv, _corner_uv(scene.data, "UVMap"))
    assert np.ptp(found.corner_uv) > 0.5


def test_look_falls_back_to_the_colour_attribute_then_the_material_colour(blender, scene):
    look = _installed(blender, "source_look")
    mesh = scene.data
    assert look.object_look(scene).colors is None and look.object_look(scene).texture is None  # nothing: grey
    rng = np.random.default_rng(0)
    wanted = rng.random((len(mesh.vertices), 3))
    vertex_of_loop = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", vertex_of_loop)
    attribute = mesh.color_attributes.new("Paint", "BYTE_COLOR", "CORNER")
    corner = np.ones((len(mesh.loops), 4))
    corner[:, :3] = wanted[vertex_of_loop]
    attribute.data.foreach_set("color_srgb", corner.astype(np.float32).ravel())
    mesh.color_attributes.active_color = attribute
    found = look.object_look(scene)
    assert found.origin == "colour attribute 'Paint'"
    np.testing.assert_allclose(found.colors, wanted, atol=1 / 255 + 1e-6)

    mesh.color_attributes.remove(mesh.color_attributes["Paint"])
    material = _installed(blender, "materials").new_material("Paint")
    _installed(blender, "materials").find_shader(material).inputs["Base Color"].default_value = (0.2, 0.05, 0.6, 1.0)
    mesh.materials.append(material)
    found = look.object_look(scene)
    assert "Base Color of Paint" in found.origin
    np.testing.assert_allclose(
        found.colors,
        np.tile(_installed(blender, "mesh_data").linear_to_srgb(np.array([0.2, 0.05, 0.6])), (len(mesh.vertices), 1)),
        atol=1e-6,
    )


def test_two_textures_are_refused_with_a_clear_error(blender, scene):
    bpy = blender.bpy
    mesh = scene.data
    mesh.materials.append(_textured_material(blender, "A", _image(bpy, "a", _checker())))
    mesh.materials.append(_textured_material(blender, "B", _image(bpy, "b", _checker())))
    with pytest.raises(_installed(blender, "jobs").JobError, match="2 base-colour textures"):
        _installed(blender, "source_look").object_look(scene)


def test_restyling_a_result_goes_on_from_it(blender, scene):
    mesh_data, look = _installed(blender, "mesh_data"), _installed(blender, "source_look")
    count = len(scene.data.vertices)
    colors = np.random.default_rng(4).random((count, 3)).astype(np.float32)
    result = _installed(blender, "exchange").MeshResult(
        colors=colors, positions=np.zeros((count, 3)), changed=np.ones(count, bool)
    )
    mesh_data.apply_mesh_result(scene, result, displace=False)
    found = look.object_look(scene)
    assert found.origin == "the earlier result's colours"
    np.testing.assert_allclose(found.colors, colors, atol=5e-4)  # Blender's sRGB transfer is an approximation


@pytest.mark.slow
def test_restyle_of_a_texture_end_to_end(blender, scene):
    """A red and blue checkered sphere, restyled in surface mode for one step: the worker got the
    texture (the result starts from it, not from grey) and baked onto the object's own UVs."""
    bpy = blender.bpy
    mesh = scene.data
    mesh.materials.append(_textured_material(blender, "Crate", _image(bpy, "crate", _checker(32))))
    settings = bpy.context.scene.stylize
    settings.texture, settings.texture_size, settings.mode = "SURFACE", "256", "COLOR"
    try:
        result = bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt="a yellow circle", restyle_source="a red circle",
                                              preset="smoke", iterations=1, seed=SEED)  # fmt: skip
    finally:
        settings.texture, settings.mode = "VERTEX", "COLOR_DISPLACEMENT"
    assert result == {"FINISHED"}
    status = bpy.context.window_manager.stylize_job
    assert not status.failed and "restyled from texture 'crate'" in status.message
    mesh.calc_loop_triangles()
    # the result's texture lies on the object's own UV layout
    np.testing.assert_allclose(_corner_uv(mesh, "Stylize UV"), _corner_uv(mesh, "UVMap"), atol=1e-5)
    base = scene.material_slots[0].material.node_tree.nodes["Stylize Base Color"].image
    width, height = base.size
    pixels = np.empty(width * height * 4, np.float32)
    base.pixels.foreach_get(pixels)
    result = pixels.reshape(height, width, 4)[..., :3]  # bottom row first, as Blender's UV v
    source = _checker(32)[::-1, :, :3]
    # after one step the texture is still the checker where each triangle lies in it (grey, what
    # a run without the source starts from, would be neither red nor blue)
    centre = _corner_uv(mesh, "UVMap").mean(1)
    at_result = result[(centre[:, 1] * height).astype(int), (centre[:, 0] * width).astype(int)]
    at_source = source[(centre[:, 1] * 32).astype(int), (centre[:, 0] * 32).astype(int)]
    redder = at_result[:, 0] - at_result[:, 2]
    assert np.mean(np.sign(redder) == np.sign(at_source[:, 0] - at_source[:, 2])) > 0.9
    assert np.mean(np.abs(redder) > 0.2) > 0.9  # the checker is 0.8 apart; one step and filtering soften it
    vertex = _colors(mesh.color_attributes["Stylize Color"], "color_srgb")[:, :3]
    assert np.ptp(vertex[:, 0]) > 0.4  # the vertex colours sample the checker too
