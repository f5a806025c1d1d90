"""The mesh's trip to the worker and back (``blender_addon/exchange.py``): no bpy needed.

OBJ files written here are read with the toolkit's own loader, so vertex order, positions and
looks are checked end to end without Blender.
"""

from __future__ import annotations

import numpy as np
import pytest

from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import load_mesh

from .helpers import addon_jobs, addon_module

jobs = addon_jobs()
mesh_exchange = addon_module("exchange")


def _mesh_with_loose_vertex():
    vertices, faces = make_icosphere(1)
    vertices = np.concatenate([vertices[:5], [[9.0, 9.0, 9.0]], vertices[5:]]).astype(np.float32)
    faces = np.where(faces >= 5, faces + 1, faces)
    return vertices, faces


def test_obj_round_trip_keeps_order_and_exact_float32_positions(tmp_path):
    vertices, faces = _mesh_with_loose_vertex()
    vertices = vertices * np.float32(1.2345678)  # digits that need all 9 significant places
    exchange = mesh_exchange.write_obj(tmp_path / "mesh.obj", vertices, faces)
    assert exchange.vertex_count == len(vertices) and 5 not in exchange.used
    loaded = load_mesh(tmp_path / "mesh.obj", normalize=False)
    assert loaded.source_vertex_index.tolist() == list(range(len(exchange.used)))
    assert np.array_equal(loaded.vertices, vertices[exchange.used])  # float32, bit for bit
    assert np.array_equal(exchange.used[loaded.faces], faces)


def test_read_mesh_result_maps_back_and_keeps_what_it_must(tmp_path):
    vertices, faces = _mesh_with_loose_vertex()
    exchange = mesh_exchange.write_obj(tmp_path / "mesh.obj", vertices, faces)
    run = tmp_path / "run"
    run.mkdir()
    # The worker returned every vertex of the file but file vertex 2 (dropped by its repair step).
    source = np.array([i for i in range(len(exchange.used)) if i != 2])
    colors = np.random.default_rng(0).random((len(source), 3)).astype(np.float32)
    moved = vertices[exchange.used[source]].astype(np.float64) + 0.01
    np.savez(run / "vertex_data.npz", vertices=moved, colors=colors, source_index=source)
    keep = np.zeros(len(vertices), dtype=bool)
    keep[7] = True
    result = mesh_exchange.read_mesh_result(run, exchange, vertices, keep=keep)
    targets = exchange.used[source]
    assert np.array_equal(result.colors[targets], colors)
    expected_changed = np.zeros(len(vertices), dtype=bool)
    expected_changed[targets] = True
    expected_changed[7] = False
    assert np.array_equal(result.changed, expected_changed)  # not the loose one, not 2, not 7
    for index in (5, int(exchange.used[2]), 7):
        assert np.array_equal(result.positions[index], vertices[index].astype(np.float64))
    assert np.allclose(result.positions[expected_changed], vertices[expected_changed] + 0.01)


def _tallest_axis(path):
    loaded = load_mesh(path, normalize=False)
    return int(np.argmax(loaded.vertices.max(0) - loaded.vertices.min(0))), loaded


def test_worker_sees_blender_z_up_as_y_up_and_results_come_back_in_mesh_coordinates(tmp_path):
    vertices, faces = make_icosphere(1)
    vertices = (vertices * np.array([1.0, 1.0, 2.0])).astype(np.float32)  # tall along Blender's Z
    rotate_x = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90 degrees about X

    # an object modelled in Blender (Z-up data, no rotation) stands upright for the worker (Y-up)
    exchange = mesh_exchange.write_obj(tmp_path / "modelled.obj", vertices, faces, mesh_exchange.worker_orientation(np.eye(3)))
    axis, loaded = _tallest_axis(tmp_path / "modelled.obj")
    assert axis == 1
    # ... and the worker's positions come back in the mesh's own coordinates
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "vertex_data.npz", vertices=loaded.vertices.astype(np.float64) * 1.1,
             colors=np.zeros((len(loaded.vertices), 3), np.float32), source_index=np.arange(len(loaded.vertices)))  # fmt: skip
    result = mesh_exchange.read_mesh_result(run, exchange, vertices)
    np.testing.assert_allclose(result.positions, vertices.astype(np.float64) * 1.1, atol=1e-5)

    # an imported OBJ (Y-up data on an object rotated +90 degrees about X) stands upright too
    y_up = np.ascontiguousarray(vertices[:, [0, 2, 1]])
    mesh_exchange.write_obj(tmp_path / "imported.obj", y_up, faces, mesh_exchange.worker_orientation(rotate_x))
    assert _tallest_axis(tmp_path / "imported.obj")[0] == 1

    # Blender's float32 rotation of an imported OBJ (cos 90 deg = 7.5e-8) cancels exactly
    noisy = np.array([[1.0, 0.0, 0.0], [0.0, 7.54979e-08, -1.0], [0.0, 1.0, 7.54979e-08]])
    assert np.array_equal(mesh_exchange.worker_orientation(noisy), np.eye(3))
    with pytest.raises(jobs.JobError, match="scaled to zero"):
        mesh_exchange.worker_orientation(np.diag([1.0, 0.0, 1.0]))


def test_read_mesh_result_refuses_a_result_for_another_mesh(tmp_path):
    vertices, faces = make_icosphere(1)
    exchange = mesh_exchange.write_obj(tmp_path / "mesh.obj", vertices, faces)
    with pytest.raises(jobs.JobError, match="vertex_data.npz"):
        mesh_exchange.read_mesh_result(tmp_path, exchange, vertices)
    np.savez(tmp_path / "vertex_data.npz", vertices=np.zeros((2, 3)), colors=np.zeros((2, 3), np.float32),
             source_index=np.array([0, len(vertices) + 5]))  # fmt: skip
    with pytest.raises(jobs.JobError, match="does not fit"):
        mesh_exchange.read_mesh_result(tmp_path, exchange, vertices)


def test_mask_is_written_in_the_order_of_the_obj(tmp_path):
    vertices, faces = _mesh_with_loose_vertex()
    exchange = mesh_exchange.write_obj(tmp_path / "mesh.obj", vertices, faces)
    weights = np.linspace(-0.5, 1.5, len(vertices))
    mask = np.load(mesh_exchange.write_mask(tmp_path / "mask.npy", weights, exchange))
    assert mask.dtype == np.float32 and mask.shape == (len(exchange.used),)
    assert np.allclose(mask, np.clip(weights, 0, 1)[exchange.used])
    with pytest.raises(ValueError, match="weights of shape"):
        mesh_exchange.write_mask(tmp_path / "bad.npy", weights[:-1], exchange)


def test_write_obj_refuses_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="vertices of shape"):
        mesh_exchange.write_obj(tmp_path / "x.obj", np.zeros((4, 2)), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="triangle"):
        mesh_exchange.write_obj(tmp_path / "x.obj", np.zeros((4, 3)), np.zeros((0, 3), int))
    assert not (tmp_path / "x.obj").exists()


def _seam_uvs(faces: np.ndarray) -> np.ndarray:
    """Corner UVs with seams: a vertex gets a different UV in every other face."""
    rng = np.random.default_rng(3)
    per_vertex = rng.random((faces.max() + 1, 2))
    corner = per_vertex[faces].copy()
    corner[::2] = (corner[::2] + 0.5) % 1.0  # the even faces sit elsewhere in the texture
    return corner


def test_textured_look_travels_as_an_obj_the_toolkit_reads_in_order(tmp_path):
    vertices, faces = _mesh_with_loose_vertex()
    corner_uv = _seam_uvs(faces)
    texture = np.zeros((8, 16, 4), np.uint8)
    texture[..., 3] = 255
    texture[:4, :, 0] = 255  # top half red
    texture[4:, :, 2] = 255  # bottom half blue
    look = mesh_exchange.SourceLook("texture 'crate'", corner_uv=corner_uv, texture=texture)
    exchange = mesh_exchange.write_obj(tmp_path / "input.obj", vertices, faces, None, look)
    assert (tmp_path / "input.png").is_file() and (tmp_path / "input.mtl").is_file()
    assert 5 not in exchange.used and np.all(np.diff(exchange.used) >= 0)
    assert len(exchange.used) > len(np.unique(faces))  # seam vertices are written once per UV

    loaded = load_mesh(tmp_path / "input.obj", normalize=False)
    assert loaded.source_vertex_index.tolist() == list(range(len(exchange.used)))
    assert np.array_equal(exchange.used[loaded.faces], faces)  # every face names its Blender vertices
    assert np.array_equal(loaded.vertices, vertices[exchange.used])
    np.testing.assert_allclose(loaded.uv[loaded.faces], corner_uv, atol=1e-7)  # each corner keeps its UV
    assert np.array_equal(loaded.materials[0].base_color_texture[..., :3], texture[..., :3])
    # the toolkit's colour per vertex samples the texture through those UVs (v up: top is red)
    red = loaded.uv[:, 1] > 0.55
    blue = loaded.uv[:, 1] < 0.45
    assert (loaded.colors[red, 0] > 0.9).all() and (loaded.colors[blue, 2] > 0.9).all()


def test_colour_look_travels_as_obj_vertex_colours(tmp_path):
    vertices, faces = _mesh_with_loose_vertex()
    colors = np.random.default_rng(1).random((len(vertices), 3))
    exchange = mesh_exchange.write_obj(
        tmp_path / "input.obj", vertices, faces, None, mesh_exchange.SourceLook("attribute", colors=colors)
    )
    loaded = load_mesh(tmp_path / "input.obj", normalize=False)
    assert np.array_equal(loaded.vertices, vertices[exchange.used])
    np.testing.assert_allclose(loaded.colors, colors[exchange.used], atol=2e-3)  # 8-bit on the way
    with pytest.raises(ValueError, match="colours of shape"):
        mesh_exchange.write_obj(tmp_path / "bad.obj", vertices, faces, None, mesh_exchange.SourceLook("x", colors=colors[:-1]))
    with pytest.raises(ValueError, match="corner UVs of shape"):
        mesh_exchange.write_obj(tmp_path / "bad.obj", vertices, faces, None,
                       mesh_exchange.SourceLook("x", corner_uv=np.zeros((1, 3, 2)), texture=np.zeros((2, 2, 4), np.uint8)))  # fmt: skip
    assert not (tmp_path / "bad.obj").exists()


def test_png_bytes_decode_to_the_same_pixels(tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(2).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    (tmp_path / "a.png").write_bytes(mesh_exchange.png_bytes(pixels))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), pixels)
    (tmp_path / "b.png").write_bytes(mesh_exchange.png_bytes(pixels[..., :3]))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), pixels[..., :3])
    with pytest.raises(ValueError, match="pixels of shape"):
        mesh_exchange.png_bytes(np.zeros((0, 3, 4), np.uint8))
