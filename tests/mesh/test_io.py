"""Mesh I/O: round trips keep vertex order and colours, repairs are counted, bad files fail cleanly."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from stylize.errors import InputError
from stylize.mesh.geometry import make_cube, make_icosphere, normalize_vertices, repair_mesh, subdivide_to_vertex_count
from stylize.mesh.io import LoadedMesh, load_mesh, save_mesh
from stylize.mesh.texture import linear_to_srgb, srgb_to_linear


@pytest.fixture
def shuffled_sphere():
    """An icosphere with shuffled vertex order (so order-keeping is really tested) and colours."""
    vertices, faces = make_icosphere(2)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(vertices))
    vertices = vertices[perm] * 2.5 + np.array([1.0, -2.0, 0.5])
    faces = np.argsort(perm)[faces]
    colors = rng.random((len(vertices), 3))
    colors[:5] = [[0, 0, 0], [1, 1, 1], [1 / 255, 2 / 255, 3 / 255], [0.04, 0.04045, 0.05], [0.5, 0.5, 0.5]]
    return vertices, faces, colors


def test_srgb_linear_inverse():
    values = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(values)), values, atol=1e-12)
    assert srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.21404, abs=1e-5)


@pytest.mark.parametrize("suffix", [".glb", ".ply", ".obj"])
def test_round_trip_keeps_order_positions_and_colours(tmp_path, shuffled_sphere, suffix):
    vertices, faces, colors = shuffled_sphere
    path = save_mesh(tmp_path / f"mesh{suffix}", vertices, faces, colors)
    loaded = load_mesh(path, normalize=False)
    np.testing.assert_allclose(loaded.vertices, vertices, atol=1e-5)
    np.testing.assert_array_equal(loaded.faces, faces)
    assert np.abs(loaded.colors - colors).max() <= 1 / 255
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"


def test_glb_stores_linear_colours_and_metadata(tmp_path):
    import trimesh

    vertices, faces = make_cube()
    colors = np.full((len(vertices), 3), 0.5)
    path = save_mesh(tmp_path / "cube.glb", vertices, faces, colors, metadata={"prompt": "a red cube"})
    scene = trimesh.load(path)  # a plain glTF reader sees the linear values
    mesh = next(iter(scene.geometry.values()))
    raw = np.asarray(mesh.visual.vertex_attributes["color"])
    np.testing.assert_allclose(raw[:, :3], 0.21404, atol=1e-4)
    assert b"a red cube" in path.read_bytes()


def test_glb_written_by_trimesh_is_read_as_srgb(tmp_path):
    import trimesh

    vertices, faces = make_cube()
    linear = np.full((len(vertices), 4), [55, 55, 55, 255], dtype=np.uint8)  # 8-bit linear, as trimesh writes
    trimesh.Trimesh(vertices, faces, vertex_colors=linear, process=False).export(tmp_path / "t.glb")
    loaded = load_mesh(tmp_path / "t.glb", normalize=False)
    np.testing.assert_allclose(loaded.colors, linear_to_srgb(55 / 255), atol=1e-6)


def test_scene_becomes_one_mesh(tmp_path):
    import trimesh

    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box())
    scene.add_geometry(trimesh.creation.box(), transform=trimesh.transformations.translation_matrix([3, 0, 0]))
    scene.export(tmp_path / "two.glb")
    loaded = load_mesh(tmp_path / "two.glb", normalize=False)
    assert loaded.faces.shape == (24, 3) and loaded.vertices[:, 0].max() == pytest.approx(3.5)


def test_off_and_stl_load(tmp_path):
    import trimesh

    vertices, faces = make_cube()
    trimesh.Trimesh(vertices, faces, process=False).export(tmp_path / "cube.off")
    trimesh.Trimesh(vertices, faces, process=False).export(tmp_path / "cube.stl")
    off = load_mesh(tmp_path / "cube.off", normalize=False)
    np.testing.assert_allclose(off.vertices, vertices, atol=1e-6)
    stl = load_mesh(tmp_path / "cube.stl", normalize=False)
    assert stl.vertices.shape == (8, 3) and stl.faces.shape == (12, 3)  # corners welded
    assert stl.colors is None


def test_normalisation_matches_text2mesh_and_inverts(tmp_path, shuffled_sphere):
    vertices, faces, colors = shuffled_sphere
    path = save_mesh(tmp_path / "mesh.obj", vertices, faces)
    loaded = load_mesh(path)
    np.testing.assert_allclose(loaded.vertices.mean(0), 0, atol=1e-6)
    assert np.linalg.norm(loaded.vertices, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(loaded.original_vertices(), vertices, atol=1e-5)
    back = loaded.normalization.invert(torch.as_tensor(loaded.vertices, dtype=torch.float64))
    np.testing.assert_allclose(back.numpy(), vertices, atol=1e-5)
    normalised, transform = normalize_vertices(vertices)
    np.testing.assert_allclose(transform.center, vertices.mean(0))
    assert transform.to_dict()["scale"] == pytest.approx(transform.scale)
    v, f, c = loaded.to_torch()
    assert v.dtype == torch.float32 and f.dtype == torch.int64 and c is None


def test_repair_counts_and_one_warning(caplog):
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [np.nan, 0, 0], [5, 5, 5], [2, 0, 0], [0, 0, 1]], dtype=float)
    faces = np.array(
        [
            [0, 1, 2],  # fine
            [0, 3, 1],  # touches the NaN vertex
            [0, 0, 2],  # repeated index
            [0, 1, 5],  # collinear: zero area
            [2, 0, 1],  # duplicate of face 0 in another order
            [0, 1, 6],  # fine
        ]
    )
    colors = np.arange(21, dtype=float).reshape(7, 3) / 21
    with caplog.at_level(logging.WARNING, logger="stylize.mesh.io"):
        new_v, new_f, new_c, kept, report = repair_mesh(vertices, faces, colors, name="bad.obj")
    assert (report.nonfinite_faces, report.degenerate_faces, report.duplicate_faces, report.unreferenced_vertices) == (1, 2, 1, 3)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bad.obj" in warnings[0].getMessage() and "2 degenerate" in warnings[0].getMessage()
    np.testing.assert_array_equal(kept, [0, 1, 2, 6])
    np.testing.assert_array_equal(new_f, [[0, 1, 2], [0, 1, 3]])
    np.testing.assert_array_equal(new_c, colors[[0, 1, 2, 6]])


def test_clean_mesh_logs_nothing(caplog):
    vertices, faces = make_cube()
    with caplog.at_level(logging.WARNING):
        *_, report = repair_mesh(vertices, faces)
    assert not report.changed and not caplog.records


def test_subdivision_reaches_target_and_keeps_originals():
    vertices, faces = make_cube()
    colors = np.zeros((8, 3))
    colors[0] = 1.0
    new_v, new_f, new_c, passes = subdivide_to_vertex_count(vertices, faces, colors, target_vertices=60)
    assert len(new_v) >= 60 and passes == 2 and len(new_f) == 12 * 16
    np.testing.assert_allclose(new_v[:8], vertices)
    assert set(np.unique(new_c[:, 0])) <= {0.0, 0.25, 0.5, 0.75, 1.0}  # midpoints of midpoints of 0 and 1


def test_load_with_target_vertices(tmp_path):
    vertices, faces = make_cube()
    path = save_mesh(tmp_path / "cube.ply", vertices, faces)
    loaded = load_mesh(path, target_vertices=100)
    assert len(loaded.vertices) >= 100 and (loaded.source_vertex_index[8:] == -1).all()


def test_export_checks(tmp_path):
    vertices, faces = make_cube()
    with pytest.raises(InputError, match="cannot write mesh format"):
        save_mesh(tmp_path / "cube.fbx", vertices, faces)
    with pytest.raises(ValueError, match="colors"):
        save_mesh(tmp_path / "cube.ply", vertices, faces, np.zeros((3, 3)))
    torch_path = save_mesh(tmp_path / "t.ply", torch.as_tensor(vertices), torch.as_tensor(faces), torch.rand(8, 3))
    assert isinstance(load_mesh(torch_path), LoadedMesh)


# --- each bad file gives one clear InputError naming the file ------------------------------------


def _good_bytes(tmp_path, suffix):
    vertices, faces = make_icosphere(1)
    return save_mesh(tmp_path / f"good{suffix}", vertices, faces, np.full((len(vertices), 3), 0.3)).read_bytes()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.obj", None, "not found"),
        ("empty.obj", b"", "is empty"),
        ("mesh.xyz", b"0 0 0\n", "unsupported mesh format"),
        ("noext", b"v 0 0 0\n", "unsupported mesh format"),
        ("garbage.ply", bytes(range(256)) * 2, "cannot read PLY"),
        ("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangle faces"),
        ("flat.obj", b"v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "no usable faces"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_mesh(path)
    text = str(info.value)
    assert str(path) in text and "\n" not in text


@pytest.mark.parametrize("suffix", [".glb", ".ply"])
def test_truncated_files(tmp_path, suffix):
    data = _good_bytes(tmp_path, suffix)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt") as info:
        load_mesh(path)
    assert str(path) in str(info.value)


def test_face_limit(tmp_path):
    vertices, faces = make_icosphere(2)
    path = save_mesh(tmp_path / "big.obj", vertices, faces)
    with pytest.raises(InputError, match="over the limit of 100") as info:
        load_mesh(path, max_faces=100)
    assert str(path) in str(info.value)
    assert len(load_mesh(path, max_faces=320).faces) == 320


def test_directory_is_not_a_mesh(tmp_path):
    (tmp_path / "dir.obj").mkdir()
    with pytest.raises(InputError, match="not a file"):
        load_mesh(tmp_path / "dir.obj")


def test_obj_texture_paths_with_windows_separators_load(tmp_path):
    """An MTL written on Windows names its texture `map_Kd .\\tex.png`: the texture loads."""
    from PIL import Image

    Image.fromarray(np.full((4, 4, 3), [200, 30, 30], np.uint8)).save(tmp_path / "tex.png")
    (tmp_path / "m.mtl").write_text("newmtl mat\nKd 1 1 1\nmap_Kd .\\tex.png\n")
    (tmp_path / "m.obj").write_text(
        "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl mat\nf 1/1 2/2 3/3\n"
    )
    mesh = load_mesh(tmp_path / "m.obj", normalize=False)
    assert mesh.materials[0].base_color_texture is not None
    np.testing.assert_allclose(mesh.colors, np.tile([200 / 255, 30 / 255, 30 / 255], (3, 1)), atol=1e-6)
