"""Scene bakes (stylize.mesh.bake_scene): UV layouts as artists make them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylize import api
from stylize.mesh.io import load_mesh
from stylize.mesh.uv_layout import face_tiles
from tests.mesh.gltf_assets import write_scene

SMALL = {"iters": 2, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
         "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.score_size": 32,
         "output.bake_size": 32}  # fmt: skip


def test_face_tiles():
    assert face_tiles(np.array([[[0.0, 1.0], [0.5, 0.0], [1.0, 0.5]]])).tolist() == [[0.0, 0.0]]
    assert face_tiles(np.array([[[0.1, 1.0005], [0.9, 1.9987], [0.5, 1.5]]])).tolist() == [[0.0, 1.0]]
    assert face_tiles(np.array([[[1.0, 0.0], [2.0, 0.0], [2.0, 1.0]]])).tolist() == [[1.0, 0.0]]  # UDIM 1002
    assert face_tiles(np.array([[[-0.5, 0.5], [-0.2, 0.5], [-0.4, 0.7]]])).tolist() == [[-1.0, 0.0]]


@pytest.mark.parametrize("mode", ["vertex", "surface"])
def test_uvs_one_tile_up_are_baked_into_their_tile(tmp_path, tiny_clip_spec, mode):
    """The best-known glTF sample asset keeps all its UVs one tile up (v in [1, 2]): legal with
    REPEAT, and it crashed both modes' bakes (a None texture reached the image writer)."""
    from tests.gltf_validation import assert_valid

    source = write_scene(tmp_path / "in", "glb", uv_tile=(0, 1))
    original = load_mesh(source, normalize=False)
    assert np.nanmin(1.0 - original.uv[:, 1]) >= 1.0  # glTF v all in [1, 2]
    result = api.stylize_mesh(source, "a red square", out=tmp_path / mode, preset="smoke",
                              overrides={"clip": [tiny_clip_spec], **SMALL, "field.mode": mode, "output.bake": True,
                                         "output.uv": "reuse"})  # fmt: skip
    assert result.status == "finished"
    assert json.loads((tmp_path / mode / "run.json").read_text())["status"] == "finished"
    baked = load_mesh(tmp_path / mode / "mesh_textured.glb", normalize=False)
    for index, material in enumerate(baked.materials):  # every material got its new texture
        assert material.base_color_texture.shape[:2] == (32, 32)
        assert not np.array_equal(material.base_color_texture[..., :3], original.materials[index].base_color_texture[..., :3])
    v = 1.0 - baked.uv[:, 1]
    assert np.nanmin(v) >= 0.0 and np.nanmax(v) <= 1.0  # written in tile (0, 0)
    np.testing.assert_allclose(baked.uv[:, 0], original.uv[:, 0], atol=1e-6)  # u untouched
    np.testing.assert_allclose(v, 1.0 - original.uv[:, 1] - 1.0, atol=1e-6)
    assert (tmp_path / mode / "textures" / "base_color.png").is_file()
    assert_valid(tmp_path / mode / "mesh_textured.glb")


def test_texture_sizes_follow_the_inputs_texel_density(tmp_path):
    from stylize.mesh.bake_scene import bake_scene, material_sizes
    from stylize.mesh.gltf.scene import MeshMaterial
    from tests.gltf_validation import assert_valid

    source = write_scene(tmp_path / "in", "glb")  # textures of 8 and 4 px
    mesh = load_mesh(source, normalize=False)
    faces = {0: mesh.faces[:4], 1: mesh.faces[4:]}
    assert material_sizes(mesh, mesh.file_vertices, faces, 1024) == {0: 256, 1: 256}  # the floor, not 1024
    assert material_sizes(mesh, mesh.file_vertices, faces, 32) == {0: 32, 1: 32}  # the bake size caps
    big = [MeshMaterial("a", base_color_texture=np.zeros((300, 200, 3), np.uint8)), MeshMaterial("b")]
    bare = type(mesh)(mesh.vertices, mesh.faces, materials=big)
    sizes = material_sizes(bare, mesh.file_vertices, faces, 1024)
    assert sizes[0] == 512  # the power of two above 300
    areas = [np.linalg.norm(np.cross(*(mesh.file_vertices[f[:, k]] - mesh.file_vertices[f[:, 0]] for k in (1, 2))), axis=1).sum()
             for f in faces.values()]  # fmt: skip
    share = areas[1] / sum(areas)  # material 1 without a texture: by its share of the surface
    assert sizes[1] == max(256, 1 << int(np.ceil(np.log2(1024 * np.sqrt(share)))))
    out = tmp_path / "out.glb"
    bake_scene(mesh, mesh.file_vertices, np.full((len(mesh.vertices), 3), 0.5), out, size=1024)
    baked = load_mesh(out, normalize=False)
    assert [m.base_color_texture.shape[0] for m in baked.materials] == [256, 256]
    assert out.stat().st_size < 20 * source.stat().st_size  # was 1024 px per material
    assert_valid(out)


def test_a_material_without_uvs_gets_new_ones_and_the_run_finishes(tmp_path, tiny_clip_spec):
    """A factor-only primitive without UVs gets a new unwrap as its TEXCOORD_0 (stylize.mesh.scene_unwrap)
    and its own new texture beside the textured one's, which keeps its UVs; nothing None reaches
    a writer and the run finishes with its preview."""
    from tests.gltf_validation import assert_valid
    from tests.mesh.gltf_assets import bottle, write_primitives

    side, cap = bottle()
    cap = {name: values for name, values in cap.items() if name != "TEXCOORD_0"}  # a factor-only cap without UVs
    source = write_primitives(tmp_path / "bottle.glb", [side, cap])
    original = load_mesh(source, normalize=False)
    result = api.stylize_mesh(source, "a red square", out=tmp_path / "run", preset="smoke",
                              overrides={"clip": [tiny_clip_spec], **SMALL, "output.bake": True})  # fmt: skip
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished" == result.status
    baked = load_mesh(tmp_path / "run" / "mesh_textured.glb", normalize=False)
    assert [m.base_color_texture.shape[:2] for m in baked.materials] == [(32, 32), (32, 32)]
    assert np.isfinite(baked.uv).all()  # the cap has UVs now
    side_part = baked.parts[0]
    np.testing.assert_allclose(baked.uv[side_part.vertex_slice], original.uv[original.parts[0].vertex_slice], atol=1e-6)
    cap_uv = baked.uv[baked.parts[1].vertex_slice]
    assert cap_uv.min() >= 0.0 and cap_uv.max() <= 1.0
    assert (tmp_path / "run" / "mesh_textured_preview.png").is_file()
    assert_valid(tmp_path / "run" / "mesh_textured.glb")


def test_a_primitive_without_material_or_uvs_gets_both_whatever_the_layout_choice(tmp_path, caplog):
    """scene_unwrap then uv_layout: the bare cap gets the new "stylized" material and a new
    TEXCOORD_0 (not a second new set), while output.uv = new puts the textured side's maps in
    TEXCOORD_1."""
    import logging

    from stylize.mesh.bake_scene import bake_scene
    from stylize.mesh.gltf.glb import read_glb
    from tests.gltf_validation import assert_valid
    from tests.mesh.gltf_assets import bottle, glb_bytes, primitives_document

    side, cap = bottle()
    cap = {name: values for name, values in cap.items() if name != "TEXCOORD_0"}
    document, binary = primitives_document([side, cap])
    del document["meshes"][0]["primitives"][1]["material"]
    document["materials"] = document["materials"][:1]
    source = tmp_path / "bare_cap.glb"
    source.write_bytes(glb_bytes(document, binary))
    mesh = load_mesh(source, normalize=False)
    out = tmp_path / "out.glb"
    with caplog.at_level(logging.INFO, logger="stylize.mesh.bake_scene"):
        bake_scene(mesh, mesh.file_vertices, np.full((len(mesh.vertices), 3), 0.5), out, size=64, uv="new")
    written = read_glb(out.read_bytes())[0]
    side_out, cap_out = written["meshes"][0]["primitives"]
    assert [m["name"] for m in written["materials"]] == ["part0", "stylized"] and cap_out["material"] == 1
    assert set(cap_out["attributes"]) >= {"TEXCOORD_0"} and "TEXCOORD_1" not in cap_out["attributes"]
    assert "texCoord" not in written["materials"][1]["pbrMetallicRoughness"]["baseColorTexture"]
    assert "TEXCOORD_1" in side_out["attributes"]
    assert written["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]["texCoord"] == 1
    assert "stylized: TEXCOORD_0, a new unwrap (its primitives had no UVs)" in caplog.text
    assert_valid(out)


# -- shared atlases --------------------------------------------------------------------------------


def _two_quads(right_half: bool) -> list[dict[str, np.ndarray]]:
    """Two quads side by side in space, each its own primitive and material: the first's UVs in
    the left half of the square, the second's in the right half (``right_half``) or on top of the
    first's (an overlap)."""
    from tests.mesh.gltf_assets import QUAD, QUAD_FACES, QUAD_UV

    normal = np.tile(np.float32([0, 0, 1]), (4, 1))
    second_uv = QUAD_UV + np.float32([0.5, 0.0]) if right_half else QUAD_UV
    return [
        {"POSITION": QUAD, "NORMAL": normal, "TEXCOORD_0": QUAD_UV, "faces": QUAD_FACES},
        {"POSITION": QUAD + np.float32([1.5, 0, 0]), "NORMAL": normal, "TEXCOORD_0": second_uv, "faces": QUAD_FACES},
    ]


def test_shared_atlases_groups_disjoint_footprints_in_one_uv_set():
    from stylize.mesh.uv_layout import shared_atlases

    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.2, 0.2], [0.8, 0.2], [0.5, 0.8]])
    halves = {0: np.array([[0, 1, 2]]), 1: np.array([[0, 2, 3]])}  # one chart split along its diagonal
    assert shared_atlases(uv, halves, {}) == [[0, 1]]  # the shared edge is no overlap
    assert shared_atlases(uv, halves, {1: 1}) == [[0], [1]]  # another UV set: its own texture
    stacked = {**halves, 2: np.array([[4, 5, 6]])}  # inside both halves
    assert shared_atlases(uv, stacked, {}) == [[0, 1], [2]]
    tiny = {0: np.array([[0, 1, 2]]), 1: np.array([[4, 4, 5]])}  # no texel centre: its corners count
    assert shared_atlases(uv, tiny, {}) == [[0], [1]]


@pytest.mark.parametrize("right_half", [True, False])
def test_materials_sharing_one_uv_layout_share_one_texture(tmp_path, caplog, right_half):
    """Two materials laid out side by side in TEXCOORD_0 get one image per map, each material's
    region in its own colour; materials whose UVs overlap keep one image each."""
    import logging

    from stylize.mesh.bake_scene import bake_scene
    from stylize.mesh.gltf.glb import read_glb
    from stylize.mesh.texture import sample_texture
    from tests.gltf_validation import assert_valid
    from tests.mesh.gltf_assets import write_primitives

    source = write_primitives(tmp_path / "quads.glb", _two_quads(right_half))
    mesh = load_mesh(source, normalize=False)
    red, blue = [0.9, 0.1, 0.1], [0.1, 0.2, 0.9]
    colors = np.array([red if part.material == 0 else blue for part in mesh.parts for _ in range(4)])
    assert [p.vertex_slice for p in mesh.parts] == [slice(0, 4), slice(4, 8)]
    out = tmp_path / "out.glb"
    with caplog.at_level(logging.INFO, logger="stylize.mesh.bake_scene"):
        bake_scene(mesh, mesh.file_vertices, colors, out, size=64, uv="reuse")
    document = read_glb(out.read_bytes())[0]
    infos = [m["pbrMetallicRoughness"]["baseColorTexture"] for m in document["materials"]]
    assert len(document["images"]) == (1 if right_half else 2)
    assert (infos[0]["index"] == infos[1]["index"]) == right_half
    assert ("share one texture per map: part0, part1" in caplog.text) == right_half
    sidecar = json.loads(out.with_suffix(".json").read_text())["bake"]
    assert sidecar["shared_atlases"] == ([["part0", "part1"]] if right_half else [])
    baked = load_mesh(out, normalize=False)
    for part, expected in zip(baked.parts, (red, blue), strict=True):
        image = baked.materials[part.material].base_color_texture
        assert image.shape[:2] == (64, 64)
        u, v = baked.uv[part.vertex_slice].mean(axis=0)  # LoadedMesh.uv is v up, sample_texture takes glTF's v down
        np.testing.assert_allclose(sample_texture(image[..., :3], np.array([[u, 1.0 - v]]))[0], expected, atol=0.02)
    assert_valid(out)
