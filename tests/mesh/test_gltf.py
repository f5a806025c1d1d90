"""glTF scenes in and out with their structure (stylize/mesh/gltf/: scene.py, asset.py, write.py)."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from gltf_validation import assert_valid

from stylize.errors import InputError
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.gltf.asset import GltfAsset, GltfLimits
from stylize.mesh.gltf.glb import read_glb
from stylize.mesh.gltf.scene import read_scene
from stylize.mesh.gltf.write import write_scene_glb
from stylize.mesh.io import load_mesh, save_mesh
from stylize.mesh.texture import linear_to_srgb

from .gltf_assets import (
    CHILD_MATRIX,
    METAL,
    PAINTED,
    QUAD,
    QUAD_FACES,
    QUAD_UV,
    ROOT_TRS,
    TETRA,
    TETRA_UV,
    TWIN_TRS,
    _Buffer,
    apply,
    glb_bytes,
    png_bytes,
    scene_document,
    world_matrices,
    write_scene,
)  # fmt: skip


def _document(path) -> dict:
    return read_glb(path.read_bytes())[0]


def _expected_world(twin: bool = False) -> np.ndarray:
    worlds = world_matrices(twin)
    blocks = [apply(worlds["Root"], QUAD), apply(worlds["Root"], QUAD + [0, 0, 1]), apply(worlds["Child"], TETRA)]
    if twin:
        blocks.append(apply(worlds["Twin"], TETRA))
    return np.concatenate(blocks)


def _stylized_inputs(mesh, seed: int = 0):
    """Displaced world positions and new textures (RGB for Painted, RGBA for Metal)."""
    rng = np.random.default_rng(seed)
    vertices = mesh.file_vertices + rng.normal(0.0, 0.05, mesh.file_vertices.shape)
    textures = {0: rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), 1: rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)}
    return vertices, textures


# --- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["glb", "gltf", "gltf-embedded"])
def test_scene_loads_in_world_frame_with_parts_and_materials(tmp_path, kind):
    mesh = load_mesh(write_scene(tmp_path, kind), normalize=False)
    np.testing.assert_allclose(mesh.file_vertices, _expected_world(), atol=1e-6)
    assert [(p.name, p.node_name, p.node, p.mesh, p.primitive, p.material) for p in mesh.parts] == [
        ("Body", "Root", 0, 0, 0, 0), ("Body", "Root", 0, 0, 1, 0), ("Cap", "Child", 1, 1, 0, 1)]  # fmt: skip
    assert [(p.vertex_range, p.face_range) for p in mesh.parts] == [((0, 4), (0, 2)), ((4, 8), (2, 4)), ((8, 20), (4, 8))]
    np.testing.assert_array_equal(mesh.faces[:4], np.concatenate([QUAD_FACES, QUAD_FACES + 4]))
    np.testing.assert_array_equal(mesh.faces[4:], np.arange(8, 20).reshape(4, 3))  # the non-indexed tetrahedron
    gltf_uv = np.concatenate([QUAD_UV, QUAD_UV, TETRA_UV])
    np.testing.assert_allclose(mesh.uv, np.column_stack([gltf_uv[:, 0], 1 - gltf_uv[:, 1]]))  # trimesh's v-up convention
    assert [m.name for m in mesh.materials] == ["Painted", "Metal"]
    np.testing.assert_array_equal(mesh.materials[0].base_color_texture, PAINTED)
    np.testing.assert_array_equal(mesh.materials[1].base_color_texture, METAL)
    assert mesh.materials[1].properties["pbrMetallicRoughness"]["metallicFactor"] == 0.7
    # Colours are the texture at the UVs. Quad corner (u, v) = (0, 1) clamps to texel (col 0, row 7);
    # (0.5, 1) lies halfway between columns 3 and 4 of row 7.
    np.testing.assert_allclose(mesh.colors[0], np.array([0, 224, 200]) / 255, atol=1e-6)
    np.testing.assert_allclose(mesh.colors[1], np.array([112, 224, 200]) / 255, atol=1e-6)
    np.testing.assert_allclose(mesh.colors[4:8], mesh.colors[0:4])  # shared UVs, same colours
    assert mesh.source_vertex_count == 20 and (mesh.source_vertex_index == np.arange(20)).all()


def test_single_primitive_glb_loads_as_trimesh_reads_it(tmp_path):
    import trimesh

    box = trimesh.creation.box()
    uv = np.random.default_rng(1).random((len(box.vertices), 2))
    from PIL import Image

    image = Image.fromarray(PAINTED)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, image=image)
    box.apply_translation([0.5, -1.0, 2.0])
    box.export(tmp_path / "box.glb")
    reference = trimesh.load(tmp_path / "box.glb", process=False, force="mesh")
    mesh = load_mesh(tmp_path / "box.glb", normalize=False)
    np.testing.assert_array_equal(mesh.file_vertices, np.asarray(reference.vertices, dtype=np.float64))
    np.testing.assert_array_equal(mesh.faces, reference.faces)
    np.testing.assert_allclose(mesh.uv, reference.visual.uv, atol=1e-7)
    assert len(mesh.parts) == 1 and mesh.parts[0].vertex_range == (0, len(reference.vertices))


def test_mirrored_node_keeps_triangles_outward_and_writes_them_back(tmp_path):
    document, binary, _ = scene_document()
    document["nodes"][0] = {"name": "Root", "scale": [-1.0, 1.0, 1.0], "mesh": 0}  # a mirror: determinant -1
    document["nodes"].pop()
    path = tmp_path / "mirror.glb"
    path.write_bytes(glb_bytes(document, binary))
    mesh = load_mesh(path, normalize=False)
    corners = mesh.file_vertices[mesh.faces[:2]]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert (normal[:, 2] > 0).all()  # the quad faces +z in the file; the mirror about x keeps it facing +z
    out = write_scene_glb(mesh, tmp_path / "out.glb", mesh.file_vertices)
    again = read_scene(out)
    np.testing.assert_array_equal(again.faces[:4], mesh.faces[:4])
    assert_valid(out)


def test_vertex_colours_win_and_other_primitives_get_their_factor(tmp_path):
    document, binary, _ = scene_document()
    buf = _Buffer()
    buf.data = bytearray(binary)
    buf.views, buf.accessors = document["bufferViews"], document["accessors"]
    linear = np.array([[0.5, 0.25, 0.0, 1.0]] * 12, dtype=np.float32)
    document["meshes"][1]["primitives"][0]["attributes"]["COLOR_0"] = buf.accessor(linear, "VEC4", 5126)
    for primitive in document["meshes"][0]["primitives"]:
        del primitive["attributes"]["TEXCOORD_0"]  # no UVs: the quads have no colours of their own
    document["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"] = [0.2, 0.4, 0.6, 1.0]
    document["buffers"][0]["byteLength"] = len(buf.data)
    path = tmp_path / "colours.glb"
    path.write_bytes(glb_bytes(document, bytes(buf.data)))
    mesh = load_mesh(path, normalize=False)
    np.testing.assert_allclose(mesh.colors[8:], np.broadcast_to(linear_to_srgb(linear[0, :3]), (12, 3)), atol=1e-7)
    np.testing.assert_allclose(mesh.colors[:8], np.broadcast_to([0.2, 0.4, 0.6], (8, 3)), atol=1e-7)
    assert np.isnan(mesh.uv[:8]).all() and np.isfinite(mesh.uv[8:]).all()


def test_a_scene_without_nodes_shows_each_mesh_once_and_points_are_skipped(tmp_path, caplog):
    document, binary, _ = scene_document()
    for key in ("nodes", "scenes", "scene"):
        document.pop(key)
    document["meshes"][1]["primitives"].append({"attributes": {"POSITION": 0}, "mode": 0})  # points
    path = tmp_path / "nodeless.glb"
    path.write_bytes(glb_bytes(document, binary))
    mesh = load_mesh(path, normalize=False)
    assert [(p.node, p.mesh, p.primitive) for p in mesh.parts] == [(None, 0, 0), (None, 0, 1), (None, 1, 0)]
    np.testing.assert_allclose(mesh.file_vertices[8:], TETRA)  # untransformed
    assert any("skipped 1 point/line primitive" in r.getMessage() for r in caplog.records)
    out = write_scene_glb(mesh, tmp_path / "out.glb", mesh.file_vertices)
    assert [(n["name"], n["mesh"]) for n in _document(out)["nodes"]] == [("Body", 0), ("Cap", 1)]
    assert_valid(out)


def test_accessor_layouts_sparse_normalized_strided_and_strips(tmp_path):
    buf = _Buffer()
    # Interleaved POSITION + TEXCOORD_0 (normalized uint16) with a byte stride of 16.
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    uv16 = np.array([[0, 0], [65535, 0], [0, 65535], [65535, 32768]], dtype=np.uint16)
    record = np.zeros(4, dtype=[("p", "<f4", 3), ("t", "<u2", 2)])
    record["p"], record["t"] = positions, uv16
    view = buf.view(record.tobytes(), 34962)
    buf.views[view]["byteStride"] = 16
    buf.accessors += [
        {"bufferView": view, "byteOffset": 0, "componentType": 5126, "count": 4, "type": "VEC3",
         "min": [0, 0, 0], "max": [1, 1, 0]},
        {"bufferView": view, "byteOffset": 12, "componentType": 5123, "normalized": True, "count": 4, "type": "VEC2"},
    ]  # fmt: skip
    # A sparse accessor without a buffer view: zeros with vertex 3 replaced (a COLOR_0 of normalized bytes).
    sparse_indices = buf.view(np.array([3], dtype=np.uint8).tobytes())
    sparse_values = buf.view(np.array([[255, 0, 0]], dtype=np.uint8).tobytes())
    buf.accessors.append({"componentType": 5121, "normalized": True, "count": 4, "type": "VEC3", "sparse": {
        "count": 1, "indices": {"bufferView": sparse_indices, "componentType": 5121}, "values": {"bufferView": sparse_values}}})  # fmt: skip
    document = {
        "asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1, "COLOR_0": 2}, "mode": 5}]}],
        "accessors": buf.accessors, "bufferViews": buf.views, "buffers": [{"byteLength": len(buf.data)}],
    }  # fmt: skip
    path = tmp_path / "layouts.glb"
    path.write_bytes(glb_bytes(document, bytes(buf.data)))
    scene = read_scene(path)
    np.testing.assert_array_equal(scene.vertices, positions)
    np.testing.assert_array_equal(scene.faces, [[0, 1, 2], [1, 3, 2]])  # the spec's strip order keeps the winding
    np.testing.assert_allclose(scene.uv[3], [1.0, 1.0 - 32768 / 65535])
    np.testing.assert_allclose(scene.colors, [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]])
    assert_valid(path)


# --- writing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["glb", "gltf"])
def test_round_trip_keeps_structure_and_places_the_new_textures(tmp_path, kind):
    source = write_scene(tmp_path / "in", kind)
    mesh = load_mesh(source, normalize=False)
    vertices, textures = _stylized_inputs(mesh)
    out = write_scene_glb(mesh, tmp_path / "out.glb", vertices, base_color_textures=textures,
                          metadata={"prompt": "a red circle", "seed": 3})  # fmt: skip
    document = _document(out)
    assert [n["name"] for n in document["nodes"]] == ["Root", "Child"] and document["scenes"] == [{"nodes": [0]}]
    root, child = document["nodes"]
    assert root["translation"] == ROOT_TRS["translation"] and root["rotation"] == ROOT_TRS["rotation"]
    assert root["children"] == [1] and child["matrix"] == CHILD_MATRIX and child["extras"] == {"tag": "child"}
    assert [(m["name"], len(m["primitives"])) for m in document["meshes"]] == [("Body", 2), ("Cap", 1)]
    assert [p["material"] for m in document["meshes"] for p in m["primitives"]] == [0, 0, 1]
    painted, metal = document["materials"]
    assert painted["name"] == "Painted" and painted["doubleSided"] and painted["extras"] == {"studio": "kept"}
    assert metal["pbrMetallicRoughness"]["metallicFactor"] == 0.7
    assert "emissiveFactor" not in metal  # output.keep_maps = auto: an old glow must not tint the new colour
    assert (metal["alphaMode"], metal["alphaCutoff"]) == ("MASK", 0.4)
    assert document["asset"]["extras"] == {"prompt": "a red circle", "seed": 3}
    assert document["asset"]["copyright"] == "test studio"
    assert len(document["images"]) == 2 and document["samplers"] == [{"magFilter": 9728, "minFilter": 9728}]
    again = load_mesh(out, normalize=False)
    for index, pixels in textures.items():  # the stylized textures are in place, pixel for pixel
        np.testing.assert_array_equal(again.materials[index].base_color_texture, pixels)
    np.testing.assert_allclose(again.file_vertices, vertices, rtol=0, atol=2e-6 * np.abs(vertices).max())
    np.testing.assert_allclose(again.uv, mesh.uv, atol=1e-7)
    assert [(p.node, p.mesh, p.primitive, p.material) for p in again.parts] == [
        (p.node, p.mesh, p.primitive, p.material) for p in mesh.parts]  # fmt: skip
    assert_valid(out)
    assert source.read_bytes() == (tmp_path / "in" / source.name).read_bytes()  # the input is untouched


def test_gltf_input_with_external_files_validates(tmp_path):
    assert_valid(write_scene(tmp_path, "gltf"))  # the hand-built input itself is a valid asset


def test_instanced_mesh_stays_instanced_and_its_instances_data_is_averaged(tmp_path, caplog):
    mesh = load_mesh(write_scene(tmp_path / "in", "glb", twin=True), normalize=False)
    np.testing.assert_allclose(mesh.file_vertices, _expected_world(twin=True), atol=1e-6)
    assert [p.node_name for p in mesh.parts] == ["Root", "Root", "Child", "Twin"]
    same = _document(write_scene_glb(mesh, tmp_path / "same.glb", mesh.file_vertices))
    assert [m["name"] for m in same["meshes"]] == ["Body", "Cap"]
    assert [n.get("mesh") for n in same["nodes"]] == [0, 1, 1]  # still instanced
    assert same["nodes"][2]["translation"] == TWIN_TRS["translation"]
    vertices, _ = _stylized_inputs(mesh, seed=2)
    with caplog.at_level("INFO", logger="stylize.mesh.gltf.write"):
        moved_path = write_scene_glb(mesh, tmp_path / "moved.glb", vertices)
    assert "instanced meshes Cap stay instanced" in caplog.text
    moved = _document(moved_path)
    assert [m["name"] for m in moved["meshes"]] == ["Body", "Cap"]  # one mesh for both instances
    assert [n.get("mesh") for n in moved["nodes"]] == [0, 1, 1]
    again = load_mesh(moved_path, normalize=False)
    body = slice(*mesh.parts[1].vertex_range)  # not instanced: written exactly
    np.testing.assert_allclose(
        again.file_vertices[: body.stop], vertices[: body.stop], rtol=0, atol=2e-6 * np.abs(vertices).max()
    )
    # The two instances of Cap get the mean of their displaced positions in Cap's own frame.
    child, twin = mesh.parts[2], mesh.parts[3]
    worlds = {**world_matrices(twin=True)}
    local_child = apply(np.linalg.inv(worlds["Child"]), vertices[slice(*child.vertex_range)])
    local_twin = apply(np.linalg.inv(worlds["Twin"]), vertices[slice(*twin.vertex_range)])
    mean = (local_child + local_twin) / 2
    np.testing.assert_allclose(again.file_vertices[slice(*twin.vertex_range)], apply(worlds["Twin"], mean), atol=1e-5)
    np.testing.assert_allclose(again.file_vertices[slice(*child.vertex_range)], apply(worlds["Child"], mean), atol=1e-5)
    assert_valid(moved_path)


def test_normal_map_and_tangents_are_written_in_each_nodes_frame(tmp_path):
    mesh = load_mesh(write_scene(tmp_path / "in", "glb"), normalize=False)
    worlds = world_matrices()
    count = len(mesh.vertices)
    # World tangents of local +x and world normals of local +z, per part's node.
    node_world = np.concatenate([np.repeat(worlds["Root"][None], 8, 0), np.repeat(worlds["Child"][None], 12, 0)])
    tangents = np.column_stack([np.einsum("vij,j->vi", node_world[:, :3, :3], [1.0, 0, 0]), -np.ones(count)])
    normals = np.einsum("vij,j->vi", node_world[:, :3, :3], [0, 0, 1.0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    normal_map = np.full((8, 8, 3), [128, 128, 255], np.uint8)
    out = write_scene_glb(mesh, tmp_path / "out.glb", mesh.file_vertices, normals=normals, tangents=tangents,
                          normal_textures={0: normal_map, 1: normal_map})  # fmt: skip
    asset = GltfAsset(out)
    document = asset.document
    for material in document["materials"]:
        assert material["normalTexture"]["index"] >= 0
    for mesh_json in document["meshes"]:
        for primitive in mesh_json["primitives"]:
            tangent = asset.accessor(primitive["attributes"]["TANGENT"])
            np.testing.assert_allclose(tangent, np.broadcast_to([1.0, 0, 0, -1.0], tangent.shape), atol=1e-6)
            normal = asset.accessor(primitive["attributes"]["NORMAL"])
            np.testing.assert_allclose(normal, np.broadcast_to([0, 0, 1.0], normal.shape), atol=1e-6)
    np.testing.assert_array_equal(read_scene(out).materials[1].normal_texture, normal_map)
    assert_valid(out)


def test_other_formats_are_one_part_and_write_as_one_node(tmp_path):
    vertices, faces = make_icosphere(1)
    path = save_mesh(tmp_path / "ball.obj", vertices * 2.0, faces)
    mesh = load_mesh(path, normalize=False)
    assert len(mesh.parts) == 1 and mesh.parts[0].face_range == (0, len(faces)) and mesh.source_scene is None
    out = write_scene_glb(mesh, tmp_path / "ball.glb", mesh.file_vertices * 1.1)
    document = _document(out)
    assert [n["name"] for n in document["nodes"]] == ["ball"] and len(document["meshes"]) == 1
    np.testing.assert_allclose(load_mesh(out, normalize=False).file_vertices, mesh.file_vertices * 1.1, atol=1e-6)
    assert_valid(out)


def test_subdivided_scene_keeps_its_parts(tmp_path):
    mesh = load_mesh(write_scene(tmp_path / "in", "glb"), normalize=False, target_vertices=30)  # 20 -> 42 vertices: one pass
    assert [p.face_range for p in mesh.parts] == [(0, 8), (8, 16), (16, 32)]  # each face split in four
    midpoint = mesh.faces[0]  # the first child triangle of quad 0: corner 0, then the midpoints of its edges
    np.testing.assert_allclose(mesh.uv[midpoint[1]], (mesh.uv[0] + mesh.uv[1]) / 2)  # UVs ride along, exactly
    out = write_scene_glb(mesh, tmp_path / "out.glb", mesh.file_vertices)
    again = load_mesh(out, normalize=False)
    assert [p.face_range for p in again.parts] == [(0, 8), (8, 16), (16, 32)] and len(again.vertices) == len(mesh.vertices)
    assert_valid(out)


def test_writer_checks_its_inputs(tmp_path):
    source = write_scene(tmp_path, "glb")
    mesh = load_mesh(source, normalize=False)
    v = mesh.file_vertices
    with pytest.raises(ValueError, match=r"vertices_world of shape \(20, 3\)"):
        write_scene_glb(mesh, tmp_path / "o.glb", v[:5])
    with pytest.raises(ValueError, match="material index 7 does not exist"):
        write_scene_glb(mesh, tmp_path / "o.glb", v, base_color_textures={7: PAINTED})
    with pytest.raises(ValueError, match=r"\(H, W, 3\|4\) uint8"):
        write_scene_glb(mesh, tmp_path / "o.glb", v, base_color_textures={0: PAINTED.astype(np.float32)})
    with pytest.raises(ValueError, match="need tangents"):
        write_scene_glb(mesh, tmp_path / "o.glb", v, normal_textures={0: PAINTED})
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        write_scene_glb(mesh, source, v)
    with pytest.raises(InputError, match="expected a .glb output path"):
        write_scene_glb(mesh, tmp_path / "o.gltf", v)
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".*tmp*"))


# --- bad files: one line naming the file -----------------------------------------------------------


def _png_header_claiming(width: int, height: int) -> bytes:
    raw = bytearray(png_bytes(PAINTED))
    raw[16:24] = struct.pack(">II", width, height)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))  # a consistent IHDR checksum
    return bytes(raw)


def _bad_glb(tmp_path, change) -> object:
    document, binary, _ = scene_document()
    binary = change(document, binary) or binary
    path = tmp_path / "bad.glb"
    path.write_bytes(glb_bytes(document, binary))
    return path


def _bad_cases():
    def truncated(tmp_path):
        path = write_scene(tmp_path, "glb")
        path.write_bytes(path.read_bytes()[:300])
        return path

    def wrong_magic(tmp_path):
        path = write_scene(tmp_path, "glb")
        path.write_bytes(b"gLTF" + path.read_bytes()[4:])
        return path

    def missing_image(tmp_path):
        path = write_scene(tmp_path, "gltf")
        (tmp_path / "metal texture.png").unlink()
        return path

    def missing_bin(tmp_path):
        path = write_scene(tmp_path, "gltf")
        (tmp_path / "scene.bin").unlink()
        return path

    def oversize_image(tmp_path):
        path = write_scene(tmp_path, "gltf")
        (tmp_path / "painted.png").write_bytes(_png_header_claiming(100_000, 100_000))
        return path

    def basisu(tmp_path):
        def change(document, binary):
            document["extensionsUsed"] = document["extensionsRequired"] = ["KHR_texture_basisu"]

        return _bad_glb(tmp_path, change)

    def webp(tmp_path):
        def change(document, binary):
            document["extensionsUsed"] = document["extensionsRequired"] = ["EXT_texture_webp"]

        return _bad_glb(tmp_path, change)

    def huge_accessor(tmp_path):
        def change(document, binary):
            accessor = document["accessors"][document["meshes"][1]["primitives"][0]["attributes"]["TEXCOORD_0"]]
            accessor.pop("bufferView")
            accessor["count"] = 10**12  # would be 12 TB of zeros

        return _bad_glb(tmp_path, change)

    def bad_index(tmp_path):
        def change(document, binary):
            data = bytearray(binary)
            view = document["bufferViews"][document["accessors"][document["meshes"][0]["primitives"][0]["indices"]]["bufferView"]]
            data[view["byteOffset"] : view["byteOffset"] + 2] = struct.pack("<H", 999)
            return bytes(data)

        return _bad_glb(tmp_path, change)

    def cycle(tmp_path):
        def change(document, binary):
            document["nodes"][1]["children"] = [0]

        return _bad_glb(tmp_path, change)

    return [
        (truncated, "truncated or corrupt"), (wrong_magic, "no 'glTF' magic"), (missing_image, "'metal%20texture.png', which is not found"),
        (missing_bin, "'scene.bin', which is not found"), (oversize_image, "100000x100000 pixels, over the limit"),
        (basisu, "KHR_texture_basisu"), (webp, "EXT_texture_webp"),
        (huge_accessor, "1000000000000 elements, over the limit"), (bad_index, "index 999 is out of range"),
        (cycle, "not a tree"),
    ]  # fmt: skip


@pytest.mark.parametrize("make, message", _bad_cases(), ids=lambda case: getattr(case, "__name__", ""))
def test_bad_files_give_one_line_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        load_mesh(path)
    text = str(info.value)
    assert str(path) in text and "\n" not in text


def test_limits_are_checked_before_decoding(tmp_path):
    path = write_scene(tmp_path, "glb")
    with pytest.raises(InputError, match="images\\[0\\] is 8x8 pixels, over the limit of 32 pixels"):
        read_scene(path, limits=GltfLimits(max_image_pixels=32))
    with pytest.raises(InputError, match=r"accessors\[0\] has 4 elements, over the limit of 3"):
        GltfAsset(path, GltfLimits(max_accessor_count=3)).accessor(0)
    with pytest.raises(InputError, match="has 20 vertices over all mesh instances, over the limit of 19"):
        read_scene(path, limits=GltfLimits(max_accessor_count=19))  # every accessor alone is within it
    with pytest.raises(InputError, match="has 8 faces, over the limit of 7"):
        load_mesh(path, max_faces=7)
    assert json.loads(json.dumps(read_scene(path).source.document))  # the kept document stays plain JSON


def test_textured_parts_without_uvs_are_refused_not_written_invalid(tmp_path):
    mesh = load_mesh(write_scene(tmp_path / "in", "glb"), normalize=False)
    mesh.uv = None
    mesh.source_vertex_index = np.full(len(mesh.vertices), -1)  # nothing known about the file's UVs
    with pytest.raises(ValueError, match="has no TEXCOORD_0 for its material's textures; pass uv"):
        write_scene_glb(mesh, tmp_path / "out.glb", mesh.file_vertices)
    assert not (tmp_path / "out.glb").exists()


# --- URIs: one resolver, nothing outside the asset's folder ---------------------------------------


def _external_scene(folder, buffer_uri: str):
    """The .gltf test scene whose buffer URI is ``buffer_uri`` (its bytes are wherever the test puts them)."""
    path = write_scene(folder, "gltf")
    document = json.loads(path.read_text())
    document["buffers"][0]["uri"] = buffer_uri
    path.write_text(json.dumps(document))
    return path


def test_buffer_uris_that_climb_out_of_the_folder_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    asset = _external_scene(tmp_path / "asset", "scene.bin")
    (outside / "secret.bin").write_bytes((tmp_path / "asset" / "scene.bin").read_bytes())  # a readable target
    for uri in (
        "../outside/secret.bin",
        "%2e%2e/outside/secret.bin",
        "%2E%2E%2Foutside%2Fsecret.bin",
        "sub/../../outside/secret.bin",
    ):
        _external_scene(tmp_path / "asset", uri)
        with pytest.raises(InputError, match="climbs out of the asset's folder") as info:
            load_mesh(asset)
        assert str(asset) in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "asset" / "link.bin").symlink_to(outside / "secret.bin")  # a link inside, its target outside
    _external_scene(tmp_path / "asset", "link.bin")
    with pytest.raises(InputError, match="climbs out of the asset's folder"):
        load_mesh(asset)
    for uri in (
        str(outside / "secret.bin"),
        f"file://{outside / 'secret.bin'}",
        "file:secret.bin",
        "http://example.com/a.bin",
        "//server/share/a.bin",
        "C:/secret.bin",
    ):
        _external_scene(tmp_path / "asset", uri)
        with pytest.raises(InputError, match="only relative file names|not a relative file name"):
            load_mesh(asset)
    (tmp_path / "asset" / "sub").mkdir()
    (tmp_path / "asset" / "inner.bin").symlink_to(tmp_path / "asset" / "scene.bin")  # links that stay inside are fine
    for uri in ("inner.bin", "sub/../scene.bin", "./scene%2Ebin"):
        _external_scene(tmp_path / "asset", uri)
        assert len(load_mesh(asset).faces) == 8


def test_data_uris_decode_bytes_not_text(tmp_path):
    from urllib.parse import quote_from_bytes

    from stylize.mesh.gltf.asset import resolve_uri

    assert resolve_uri("data:,a%FFb%00", tmp_path) == b"a\xffb\x00"
    assert resolve_uri("data:application/octet-stream;BASE64,AP8%3D", tmp_path) == b"\x00\xff"
    reference = load_mesh(write_scene(tmp_path / "glb", "glb"))
    asset = write_scene(tmp_path / "asset", "gltf")
    binary = (tmp_path / "asset" / "scene.bin").read_bytes()
    assert any(b >= 0x80 for b in binary)  # float32 data: bytes that UTF-8 would have mangled
    _external_scene(tmp_path / "asset", "data:application/octet-stream," + quote_from_bytes(binary))
    np.testing.assert_array_equal(load_mesh(asset).vertices, reference.vertices)
    _external_scene(tmp_path / "asset", "data:application/octet-stream;base64,AP8*")
    with pytest.raises(InputError, match=r"buffers\[0\] has a malformed data: URI"):
        load_mesh(asset)


def test_images_must_be_png_or_jpeg_by_their_bytes_even_when_only_re_embedded(tmp_path):
    asset = write_scene(tmp_path, "gltf")
    (tmp_path / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    document = json.loads(asset.read_text())
    document["images"].append({"uri": "notes.txt", "mimeType": "image/png"})
    document["textures"].append({"source": 2})
    document["materials"][1]["emissiveTexture"] = {"index": 2}  # never decoded, only carried to the output
    asset.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"images\[2\] is not a PNG or JPEG image by its bytes \(it declares image/png\)"):
        read_scene(asset)
    document["images"][2] = {"uri": "painted.png", "mimeType": "image/jpeg"}  # mislabelled: read as what it is
    asset.write_text(json.dumps(document))
    assert read_scene(asset).source.images[2][1] == "image/png"


_CUBE_DOCUMENT = {
    "asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
    "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
    "accessors": [{"componentType": 5126, "count": 3, "type": "VEC3"}],
}  # fmt: skip


@pytest.mark.parametrize(
    "text, words",
    [(json.dumps({**_CUBE_DOCUMENT, "extensionsRequired": 5}), "extensionsRequired"),
     (json.dumps({**_CUBE_DOCUMENT, "asset": []}), "'asset' is not a JSON object"),
     (json.dumps({**_CUBE_DOCUMENT, "meshes": {"0": {}}}), "'meshes' is not a JSON array"),
     (json.dumps(_CUBE_DOCUMENT).replace('"count": 3', '"count": 1e400'), "out of range"),
     (json.dumps(_CUBE_DOCUMENT).replace('"count": 3', '"count": NaN'), "not a JSON number"),
     (json.dumps(_CUBE_DOCUMENT).replace('"count": 3', '"count": 3.5'), "no valid count"),
     ('{"asset": {"version": "2.0"}, "x": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply")],
    ids=["extensionsRequired 5", "asset []", "meshes {}", "count 1e400", "count NaN", "count 3.5", "200000 nested arrays"],
)  # fmt: skip
def test_malformed_gltf_json_is_one_line(tmp_path, text, words):
    (tmp_path / "bad.gltf").write_text(text)
    with pytest.raises(InputError, match=words) as info:
        read_scene(tmp_path / "bad.gltf")
    assert "\n" not in str(info.value)


def _shared_accessor_document(attributes: int, count: int, distinct: bool) -> dict:
    """A triangle list whose TEXCOORD_0..N name one accessor (or N distinct ones), all zeros."""
    accessors = [{"componentType": 5126, "count": count, "type": "VEC3"}]
    uv_count = attributes if distinct else 1
    accessors += [{"componentType": 5126, "count": count, "type": "VEC2"} for _ in range(uv_count)]
    names = {f"TEXCOORD_{n}": 1 + (n if distinct else 0) for n in range(attributes)}
    return {"asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "scene": 0, "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0, **names}}]}], "accessors": accessors}  # fmt: skip


def test_an_accessor_named_by_many_attributes_is_budgeted_and_decoded_once(tmp_path):
    count = 3 * 1024
    limits = GltfLimits(max_total_components=count * (3 + 2) + 1)  # one position and one UV accessor
    (tmp_path / "shared.gltf").write_text(json.dumps(_shared_accessor_document(40, count, distinct=False)))
    scene = read_scene(tmp_path / "shared.gltf", limits=limits)
    assert scene is not None
    asset = GltfAsset(tmp_path / "shared.gltf", limits)
    assert asset.float_accessor(1) is asset.float_accessor(1)
    (tmp_path / "distinct.gltf").write_text(json.dumps(_shared_accessor_document(40, count, distinct=True)))
    with pytest.raises(InputError, match="over the limit of") as info:
        read_scene(tmp_path / "distinct.gltf", limits=limits)  # refused from the JSON, before decoding
    assert "\n" not in str(info.value)


def _png_bytes(size: int, colour=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _images_document(images: int, distinct: bool) -> dict:
    import base64

    pngs = [_png_bytes(64, (10 * n, 0, 0)) for n in range(images if distinct else 1)]
    blob = b"".join(p + b"\0" * (-len(p) % 4) for p in pngs)
    views, offset = [], 0
    for png in pngs:
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(png)})
        offset += len(png) + (-len(png) % 4)
    document = _shared_accessor_document(1, 3, distinct=False)
    document.update(
        buffers=[{"byteLength": len(blob), "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}],
        bufferViews=views,
        images=[{"bufferView": n if distinct else 0, "mimeType": "image/png"} for n in range(images)],
        textures=[{"source": n} for n in range(images)],
        materials=[{"pbrMetallicRoughness": {"baseColorTexture": {"index": n}}} for n in range(images)],
    )  # fmt: skip
    document["meshes"][0]["primitives"][0]["material"] = 0
    return document


def test_images_on_one_source_are_decoded_once_and_all_pixels_are_budgeted(tmp_path):
    limits = GltfLimits(max_total_image_pixels=2 * 64 * 64)
    (tmp_path / "shared.gltf").write_text(json.dumps(_images_document(24, distinct=False)))
    scene = read_scene(tmp_path / "shared.gltf", limits=limits)  # 24 images, one decode
    assert scene is not None
    (tmp_path / "distinct.gltf").write_text(json.dumps(_images_document(3, distinct=True)))
    with pytest.raises(InputError, match="pixels in all") as info:
        read_scene(tmp_path / "distinct.gltf", limits=limits)
    assert "\n" not in str(info.value)


def test_texture_coordinates_that_are_not_numbers_are_one_line(tmp_path):
    from stylize.mesh.io import load_mesh

    (tmp_path / "nan.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt nan nan\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n")
    with pytest.raises(InputError, match="nan.obj.*texture coordinates are not numbers") as info:
        load_mesh(tmp_path / "nan.obj")
    assert "\n" not in str(info.value)
    document = _shared_accessor_document(1, 3, distinct=False)
    document["accessors"][1]["sparse"] = {"count": 1, "indices": {"bufferView": 0, "componentType": 5121},
                                          "values": {"bufferView": 1}}  # fmt: skip
    import base64

    blob = b"\0\0\0\0" + struct.pack("<2f", float("nan"), 0.0)
    document.update(buffers=[{"byteLength": len(blob), "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}],
                    bufferViews=[{"buffer": 0, "byteOffset": 0, "byteLength": 1}, {"buffer": 0, "byteOffset": 4, "byteLength": 8}])  # fmt: skip
    (tmp_path / "nan.gltf").write_text(json.dumps(document))
    with pytest.raises(InputError, match="TEXCOORD_0 holds values that are not numbers"):
        read_scene(tmp_path / "nan.gltf")
