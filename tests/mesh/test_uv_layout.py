"""UV layouts as artists make them (stylize.mesh.uv_layout): tiles, UDIM, overlapping and mirrored
UVs, new UV sets."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from stylize.errors import InputError
from stylize.mesh.bake_scene import bake_scene
from stylize.mesh.config import check_uv_choice
from stylize.mesh.gltf.glb import read_glb
from stylize.mesh.gltf.scene import read_scene
from stylize.mesh.io import load_mesh
from stylize.mesh.texture import sample_texture
from stylize.mesh.uv_layout import overlap_share, plan_layout, tile_grid
from tests.mesh.gltf_assets import write_primitives, write_scene

QUAD_CORNERS = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])


def _grid(columns: int, rows: int, uv_of) -> dict[str, np.ndarray]:
    """A flat strip of ``columns`` x ``rows`` quads (each its own 4 vertices) in the z = 0 plane;
    ``uv_of(column, row)`` gives the quad's 4 glTF UVs (corners (0,0), (1,0), (1,1), (0,1))."""
    positions, uvs, faces = [], [], []
    for row in range(rows):
        for column in range(columns):
            start = len(positions)
            positions += [[column, row, 0], [column + 1, row, 0], [column + 1, row + 1, 0], [column, row + 1, 0]]
            uvs += list(uv_of(column, row))
            faces += [[start, start + 1, start + 2], [start, start + 2, start + 3]]
    positions = np.asarray(positions, np.float32)
    return {"POSITION": positions, "NORMAL": np.tile(np.float32([0, 0, 1]), (len(positions), 1)),
            "TEXCOORD_0": np.asarray(uvs, np.float32), "faces": np.asarray(faces)}  # fmt: skip


def udim_strip() -> dict[str, np.ndarray]:
    """Three quads, each filling most of its own UDIM tile: 1001 (0, 0), 1002 (1, 0), 1011 (0, 1)."""
    tiles = [(0, 0), (1, 0), (0, 1)]
    corners = np.array([[0.1, 0.9], [0.9, 0.9], [0.9, 0.1], [0.1, 0.1]])
    return _grid(3, 1, lambda column, row: corners + np.array(tiles[column]))


def mirrored_strip() -> dict[str, np.ndarray]:
    """Two quads side by side whose UVs mirror each other (left's u runs 0.1 -> 0.9, right's
    0.9 -> 0.1): every texel one claims, the other claims too, as on a mirrored character."""
    left = np.array([[0.1, 0.9], [0.9, 0.9], [0.9, 0.1], [0.1, 0.1]])
    right = left[[1, 0, 3, 2]]
    return _grid(2, 1, lambda column, row: left if column == 0 else right)


def _bake(tmp_path, primitive, choice, colors_of=None, size=64):
    source = write_primitives(tmp_path / "in.glb", [primitive])
    mesh = load_mesh(source, normalize=False)
    colors = colors_of(mesh) if colors_of else np.random.default_rng(0).uniform(0, 1, (len(mesh.vertices), 3))
    out = tmp_path / f"{choice}.glb"
    bake_scene(mesh, mesh.file_vertices, colors, out, size=size, uv=choice)
    return mesh, colors, out


def _face_colors(path) -> tuple[np.ndarray, np.ndarray]:
    """``(colour of the baked texture at each face's centroid (F, 3), the face's texCoord set)``."""
    document, _ = read_glb(path.read_bytes())
    scene = read_scene(path)
    info = document["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]
    number = int(info.get("texCoord", 0))
    uv = scene.source.instances[0].attributes[f"TEXCOORD_{number}"]
    faces = scene.faces
    image = scene.materials[0].base_color_texture
    return sample_texture(image[..., :3], uv[faces].mean(axis=1)), number


def test_overlap_share_measures_texels_claimed_twice():
    assert overlap_share(QUAD_CORNERS * 0.5) == 0.0  # two triangles side by side
    assert overlap_share(np.concatenate([QUAD_CORNERS, QUAD_CORNERS])) == pytest.approx(1.0)  # stacked
    half = np.concatenate([QUAD_CORNERS * [0.5, 1.0], QUAD_CORNERS * [0.5, 1.0] + [0.25, 0.0]])
    assert overlap_share(half) == pytest.approx(1 / 3, abs=0.02)  # half of each overlaps: 1 of 3 covered parts
    assert overlap_share(np.zeros((0, 3, 2))) == 0.0


def test_tile_grid_lays_tiles_side_by_side():
    corners = np.concatenate([QUAD_CORNERS[:1] + [0, 0], QUAD_CORNERS[:1] + [1, 0], QUAD_CORNERS[:1] + [0, 1]])
    tiles = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    laid, cells = tile_grid(corners, tiles)
    assert cells == 2
    np.testing.assert_allclose(laid[0], QUAD_CORNERS[0] / 2)  # tile (0, 0) -> cell 0
    np.testing.assert_allclose(laid[1], QUAD_CORNERS[0] / 2 + [0.5, 0.0])  # tile (1, 0) -> cell 1
    np.testing.assert_allclose(laid[2], QUAD_CORNERS[0] / 2 + [0.0, 0.5])  # tile (0, 1) -> cell 2
    assert overlap_share(laid) == 0.0


def test_uv_choice_is_checked():
    assert check_uv_choice("new") == "new"
    with pytest.raises(InputError, match="expected one of auto, reuse, new"):
        check_uv_choice("udim")
    from stylize.cli.mesh import mesh_overrides
    from stylize.mesh.config import resolve_mesh_config

    with pytest.raises(InputError, match="output.uv"):
        resolve_mesh_config("a cat", preset="smoke", overrides={"output.uv": "udim"})
    assert resolve_mesh_config("a cat", preset="smoke", overrides={"output.uv": "new"}).output.uv == "new"
    import argparse

    from stylize.cli.mesh import mesh_args

    parser = argparse.ArgumentParser()
    mesh_args(parser)
    assert mesh_overrides(parser.parse_args(["in.glb", "a cat", "--uv", "reuse"]))["output.uv"] == "reuse"


def test_udim_tiles_get_their_own_texels_in_a_new_uv_set(tmp_path, caplog):
    from tests.gltf_validation import assert_valid

    def colors_of(mesh):  # one flat colour per tile: red, green, blue
        return np.repeat(np.eye(3), 4, axis=0)

    with caplog.at_level(logging.INFO, logger="stylize.mesh.bake_scene"):
        mesh, _, out = _bake(tmp_path, udim_strip(), "auto", colors_of)
    assert "TEXCOORD_1, 3 UV tiles laid side by side (2 x 2)" in caplog.text
    baked, number = _face_colors(out)
    assert number == 1
    np.testing.assert_allclose(baked, np.repeat(np.eye(3), 2, axis=0), atol=0.02)  # each tile its own colour
    written = read_scene(out).source.instances[0].attributes
    np.testing.assert_allclose(written["TEXCOORD_0"], udim_strip()["TEXCOORD_0"])  # the artist's UVs kept
    assert written["TEXCOORD_1"].min() >= 0.0 and written["TEXCOORD_1"].max() <= 1.0
    assert_valid(out)
    # reuse: every tile bakes into the one texture REPEAT shows on all of them (the last wins)
    _, _, reused = _bake(tmp_path, udim_strip(), "reuse", colors_of)
    baked, number = _face_colors(reused)
    assert number == 0 and "TEXCOORD_1" not in read_scene(reused).source.instances[0].attributes
    assert np.abs(baked - np.repeat(np.eye(3), 2, axis=0)).max() > 0.5  # tiles show another's colour
    assert_valid(reused)


def test_mirrored_uvs_are_detected_and_baked_to_a_new_uv_set(tmp_path, caplog):
    from tests.gltf_validation import assert_valid

    def colors_of(mesh):  # left quad red, right quad blue
        return np.repeat([[1.0, 0, 0], [0, 0, 1.0]], 4, axis=0)

    with caplog.at_level(logging.INFO, logger="stylize.mesh.bake_scene"):
        mesh, colors, out = _bake(tmp_path, mirrored_strip(), "auto", colors_of)
    assert "TEXCOORD_1, a new unwrap (100 % of its texels are claimed twice" in caplog.text
    plan = plan_layout(mesh, mesh.file_vertices, 64, "auto")
    assert plan.tex_coord == {0: 1}
    baked, number = _face_colors(out)
    assert number == 1
    expected = np.repeat([[1.0, 0, 0], [0, 0, 1.0]], 2, axis=0)
    np.testing.assert_allclose(baked, expected, atol=0.02)  # each side shows its own colour
    assert_valid(out)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stylize.mesh.bake_scene"):
        _, _, reused = _bake(tmp_path, mirrored_strip(), "reuse", colors_of)
    assert "reused TEXCOORD_0; 100 % of its texels are claimed twice" in caplog.text
    baked, _ = _face_colors(reused)
    assert np.abs(baked - expected).max() > 0.5  # one side shows the other's colour
    assert_valid(reused)


def test_a_folded_mirror_gets_a_clean_new_layout(tmp_path):
    """A mirrored half welded on its centre line: one connected island folded onto itself."""
    from tests.gltf_validation import assert_valid

    primitive = mirrored_strip()
    faces = primitive["faces"].copy()  # the right quad uses the left quad's vertices 1 and 2
    faces[faces == 4] = 1
    faces[faces == 7] = 2
    keep = np.setdiff1d(np.arange(8), [4, 7])
    remap = np.full(8, -1)
    remap[keep] = np.arange(len(keep))
    primitive = {name: values[keep] for name, values in primitive.items() if name != "faces"} | {"faces": remap[faces]}
    _, _, out = _bake(tmp_path, primitive, "auto")
    written = read_scene(out)
    assert overlap_share(read_scene(tmp_path / "in.glb").uv[read_scene(tmp_path / "in.glb").faces]) > 0.9
    assert overlap_share(written.source.instances[0].attributes["TEXCOORD_1"][written.faces]) == 0.0
    assert_valid(out)


def test_a_vertex_whose_faces_land_in_two_cells_is_split(tmp_path):
    """Two quads sharing an edge, one in UDIM tile 1001 and one in 1011 (above it): the tile grid
    puts the tiles side by side, so the shared edge's vertices need two new UVs each."""
    from tests.gltf_validation import assert_valid

    positions = np.float32([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0]])
    uv = np.float32([[0.2 + 0.6 * y, 0.2 + 0.8 * x] for x, y, _ in positions])  # v = 1 on the shared edge x = 1
    faces = np.array([[0, 1, 2], [0, 2, 3], [1, 4, 5], [1, 5, 2]])
    primitive = {"POSITION": positions, "NORMAL": np.tile(np.float32([0, 0, 1]), (6, 1)), "TEXCOORD_0": uv}
    mesh, _, out = _bake(tmp_path, primitive | {"faces": faces}, "auto")
    written = read_scene(out)
    assert len(written.vertices) > len(mesh.vertices)  # the shared vertices were split for the new UVs
    new_uv = written.source.instances[0].attributes["TEXCOORD_1"]
    assert overlap_share(new_uv[written.faces]) == 0.0
    np.testing.assert_allclose(written.vertices[written.faces], mesh.vertices[mesh.faces], atol=1e-6)  # same triangles
    assert_valid(out)


def test_clean_layout_is_reused_and_new_is_honoured(tmp_path):
    clean = _grid(2, 1, lambda column, row: np.array([[0.1, 0.9], [0.4, 0.9], [0.4, 0.1], [0.1, 0.1]]) + [0.5 * column, 0])
    _, _, out = _bake(tmp_path, clean, "auto")
    assert _face_colors(out)[1] == 0
    _, _, out = _bake(tmp_path, clean, "new")
    assert _face_colors(out)[1] == 1


def test_instances_share_their_new_uvs_and_stay_instanced(tmp_path):
    from tests.gltf_validation import assert_valid

    source = write_scene(tmp_path / "in", "glb", twin=True)  # the Cap mesh on two nodes, its UVs stacked
    mesh = load_mesh(source, normalize=False)
    plan = plan_layout(mesh, mesh.file_vertices, 64, "auto")
    assert plan.tex_coord == {0: 1, 1: 1}  # both materials' layouts overlap (stacked quads, stacked faces)
    out = tmp_path / "baked.glb"
    bake_scene(mesh, mesh.file_vertices, np.full((len(mesh.vertices), 3), 0.5), out, size=64)
    document, _ = read_glb(out.read_bytes())
    nodes = {node["name"]: node for node in document["nodes"]}
    assert nodes["Child"]["mesh"] == nodes["Twin"]["mesh"]  # not displaced: still one mesh instanced twice
    assert_valid(out)


def _transformed_quad(tmp_path):
    """One quad over the whole texture whose base colour reads through ``KHR_texture_transform``
    (the right half of the picture, turned a quarter)."""
    from tests.mesh.gltf_assets import PAINTED, glb_bytes, primitives_document

    quad = _grid(1, 1, lambda column, row: np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    document, binary = primitives_document([quad])
    transform = {"offset": [0.5, 0.0], "scale": [0.5, 1.0], "rotation": 0.3}
    document["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]["extensions"] = {"KHR_texture_transform": transform}
    document["extensionsUsed"] = ["KHR_texture_transform"]
    path = tmp_path / "transformed.glb"
    path.write_bytes(glb_bytes(document, binary))
    cos, sin = np.cos(0.3), np.sin(0.3)
    matrix = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1]]) @ np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])
    matrix = matrix @ np.diag([0.5, 1.0, 1.0])
    return path, quad, PAINTED, matrix


def test_texture_transform_is_honoured_when_sampling_the_input(tmp_path):
    import torch

    from stylize.mesh.surface import TextureSet
    from stylize.mesh.texture import wrap_uv

    path, quad, painted, matrix = _transformed_quad(tmp_path)
    mesh = load_mesh(path, normalize=False)
    uv = quad["TEXCOORD_0"].astype(np.float64)
    moved = uv @ matrix[:2, :2].T + matrix[:2, 2]
    expected = sample_texture(painted, wrap_uv(moved))
    assert np.abs(sample_texture(painted, uv) - expected).max() > 0.1  # the transform matters here
    np.testing.assert_allclose(mesh.colors, expected, atol=1e-6)  # vertex colours (--input-colours, vertex mode)
    textures = TextureSet.from_mesh(mesh)  # per pixel / texel (surface and texture modes)
    inside = torch.tensor([[0.25, 0.75, 0.0], [0.6, 0.3, 0.0]])
    points = inside[:, :2].double().numpy() @ matrix[:2, :2].T + matrix[:2, 2]
    np.testing.assert_allclose(textures.sample(inside).numpy(), sample_texture(painted, wrap_uv(points)), atol=1e-5)


def test_new_maps_are_written_without_the_inputs_texture_transform(tmp_path):
    from tests.gltf_validation import assert_valid

    path, _, _, _ = _transformed_quad(tmp_path)
    mesh = load_mesh(path, normalize=False)
    out = tmp_path / "baked.glb"
    bake_scene(mesh, mesh.file_vertices, mesh.colors, out, size=32)
    document, _ = read_glb(out.read_bytes())
    info = document["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]
    assert "extensions" not in info and "KHR_texture_transform" not in document.get("extensionsUsed", [])
    # the baked texture holds, at each vertex's own UV, the colour the input showed there
    baked = read_scene(out)
    corners = baked.source.instances[0].attributes["TEXCOORD_0"][[0, 2]]  # two opposite corners, pulled inwards
    inner = corners * 0.9 + 0.05
    np.testing.assert_allclose(sample_texture(baked.materials[0].base_color_texture[..., :3], inner),
                               mesh.colors[[0, 2]], atol=0.12)  # fmt: skip
    assert_valid(out)
