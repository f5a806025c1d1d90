"""Seams stay closed (stylize.mesh.seams): copies of a position move together, hard edges keep
split normals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylize.mesh.apply import apply_field
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.geometry import vertex_normals
from stylize.mesh.gltf.scene import read_scene
from stylize.mesh.io import load_mesh
from stylize.mesh.seams import (
    group_mean,
    mesh_smoothing_groups,
    position_groups,
    seam_gap,
    smoothing_groups,
    welded_normals,
)
from tests.mesh.gltf_assets import bottle, seamed_sphere, split_cube, write_primitives

PROP_NODE = {"rotation": [0.0, 0.3826834, 0.0, 0.9238795], "scale": [2.0, 2.0, 2.0], "translation": [1.0, 0.0, 0.0]}
FIXTURES = {"cube": lambda: [split_cube()], "sphere": lambda: [seamed_sphere()], "bottle": bottle}
SMALL = {"render_size": 32, "output.preview_views": 2, "output.preview_size": 32, "output.turntable_frames": 2,
         "output.turntable_size": 32, "output.score_size": 32, "output.bake_size": 32, "output.bake": True}  # fmt: skip


def test_position_groups_find_copies_within_the_tolerance():
    cube = split_cube()["POSITION"].astype(np.float64)
    groups = position_groups(cube)
    assert groups.max() + 1 == 8 and np.bincount(groups).tolist() == [3] * 8
    nudged = cube.copy()
    nudged[0] += 1e-9  # float noise between copies: still one position
    assert np.array_equal(position_groups(nudged), groups)
    apart = cube.copy()
    apart[0] += 1e-3  # a thousandth of the size: a different position
    assert position_groups(apart).max() + 1 == 9


def test_welded_normals_are_the_normal_of_every_face_around_a_position():
    cube = split_cube()
    vertices = torch.as_tensor(cube["POSITION"], dtype=torch.float64)
    faces = torch.as_tensor(cube["faces"], dtype=torch.int64)
    unwelded = vertex_normals(vertices, faces)
    assert torch.allclose(unwelded, torch.as_tensor(cube["NORMAL"], dtype=torch.float64))  # one face per copy
    welded = welded_normals(vertices, faces, position_groups(cube["POSITION"]))
    # by hand: the sum of the (doubled-area) normals of every triangle touching the position
    points = cube["POSITION"].astype(np.float64)
    for index, point in enumerate(points):
        total = np.zeros(3)
        for face in cube["faces"]:
            if any(np.array_equal(points[corner], point) for corner in face):
                a, b, c = points[face]
                total += np.cross(b - a, c - a)
        assert np.allclose(welded[index].numpy(), total / np.linalg.norm(total), atol=1e-12)
        assert (welded[index].numpy() * np.sign(point)).min() > 0.3  # outward, between the three faces


def test_group_mean_and_seam_gap():
    values = torch.tensor([[1.0], [3.0], [5.0]], requires_grad=True)
    mean = group_mean(values, np.array([0, 0, 1]))
    assert mean.detach().reshape(-1).tolist() == [2.0, 2.0, 5.0]
    mean.sum().backward()
    assert values.grad.reshape(-1).tolist() == [1.0, 1.0, 1.0]
    points = np.array([[0.0, 0, 0], [0.0, 0, 0.5], [1.0, 0, 0]])
    assert seam_gap(points, np.array([0, 0, 1])) == 0.5
    assert seam_gap(points, np.array([0, 1, 2])) == 0.0


def test_smoothing_groups_split_hard_edges_and_join_seams():
    positions = np.array([0, 0, 0, 1, 1])
    normals = np.array([[0, 0, 1.0], [0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0], [0, 0.99, 0.141]])
    groups = smoothing_groups(positions, normals / np.linalg.norm(normals, axis=1, keepdims=True), 10.0)
    assert groups[0] == groups[1] != groups[2]  # 90 degrees: a hard edge
    assert groups[3] == groups[4] and groups[3] not in groups[:3]  # 8 degrees: smooth


def _displacing_field(mesh, seed: int = 0) -> NeuralStyleField:
    """A vertex-mode field whose displacement varies over the surface (a trained one does; a new
    one's heads start at zero)."""
    generator = torch.Generator().manual_seed(seed)
    field = NeuralStyleField(normalization=mesh.normalization, generator=generator)
    with torch.no_grad():
        last = field.displacement_head[-1]
        last.weight.copy_(torch.randn(last.weight.shape, generator=generator) * 2.0)
        last.bias.fill_(0.5)
    return field


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_vertex_displacement_keeps_seams_and_hard_edges_closed(tmp_path, name):
    from tests.gltf_validation import assert_valid

    source = write_primitives(tmp_path / f"{name}.glb", FIXTURES[name](), PROP_NODE)
    mesh = load_mesh(source)
    groups = position_groups(mesh.file_vertices)
    assert groups.max() + 1 < len(groups)  # the fixture has copies
    field_path = _displacing_field(mesh).save(tmp_path / "field.pt")
    result = apply_field(field_path, source, out=tmp_path / "out", overrides=SMALL)
    moved = np.linalg.norm(result.vertices - mesh.file_vertices, axis=1)
    diagonal = float(np.linalg.norm(np.ptp(mesh.file_vertices, axis=0)))
    assert moved.min() > 0.005 * diagonal  # every copy moved: a gap would show
    assert seam_gap(result.vertices, groups) <= 1e-9 * diagonal
    # the written scene: same vertices per primitive, in the node's frame -> world
    written = read_scene(tmp_path / "out" / "mesh_textured.glb")
    assert seam_gap(written.vertices, groups) <= 1e-6 * diagonal  # float32 in the file
    normals = np.concatenate([instance.attributes["NORMAL"] for instance in written.source.instances])
    world = written.source.instances[0].world[:3, :3]
    normals = normals @ np.linalg.inv(world)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    smooth = mesh_smoothing_groups(mesh)
    for group in np.unique(groups):
        copies = np.flatnonzero(groups == group)
        for a in copies:
            for b in copies:
                cosine = float(normals[a] @ normals[b])
                if smooth[a] == smooth[b]:
                    assert cosine > 0.9999, (name, a, b)  # a UV seam: one normal, no shading seam
                else:
                    assert cosine < 0.9, (name, a, b)  # a hard edge stays sharp
    if name == "cube":
        assert smooth.max() + 1 == 24  # every copy its own smoothing group
    else:
        assert smooth.max() + 1 < len(smooth)  # the UV seam's copies were joined
    assert_valid(tmp_path / "out" / "mesh_textured.glb")


def test_a_run_displaces_the_copies_of_a_position_together(tmp_path, tiny_clip_spec):
    from stylize import api

    source = write_primitives(tmp_path / "cube.glb", [split_cube()], PROP_NODE)
    result = api.stylize_mesh(source, "a red square", preset="smoke",
                              overrides={"clip": [tiny_clip_spec], "iters": 2, "render_size": 32, "views.n_views": 2,
                                         "loss.n_local_augs": 1, "output.score_size": 32})  # fmt: skip
    mesh = load_mesh(source)
    assert np.abs(result.vertices - mesh.file_vertices).max() > 0  # two steps moved the vertices a little
    assert seam_gap(result.vertices, position_groups(mesh.file_vertices)) == 0.0  # and every copy exactly alike
