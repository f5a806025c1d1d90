"""Cameras: kaolin's matrices against hand-computed values, Text2Mesh's sampler, orbits."""

from __future__ import annotations

import math

import pytest
import torch

from stylize.mesh.camera import (
    camera_position_from_angles,
    generate_perspective_projection,
    generate_transformation_matrix,
    grid_views,
    index_vertices_by_faces,
    orbit_views,
    prepare_vertices,
    sample_text2mesh_views,
    turntable_views,
)


def camera_centres(transform: torch.Tensor) -> torch.Tensor:
    """World position of each camera: the point that maps to the camera-space origin."""
    rotation, translation = transform[:, :3], transform[:, 3:]
    return -(translation @ rotation.transpose(1, 2)).squeeze(1)


def test_perspective_projection_values():
    proj = generate_perspective_projection(math.pi / 2)
    assert proj.shape == (3, 1)
    torch.testing.assert_close(proj.squeeze(1), torch.tensor([1.0, 1.0, -1.0]))
    wide = generate_perspective_projection(math.pi / 3, ratio=2.0).squeeze(1)
    focal = 1 / math.tan(math.pi / 6)
    torch.testing.assert_close(wide, torch.tensor([focal / 2, focal, -1.0]))


@pytest.mark.parametrize("fovy", [0.0, math.pi, -1.0])
def test_perspective_projection_rejects_bad_fov(fovy):
    with pytest.raises(ValueError, match="fovy"):
        generate_perspective_projection(fovy)


def test_look_at_from_front_is_identity_rotation():
    transform = generate_transformation_matrix(
        torch.tensor([[0.0, 0.0, 2.0]]), torch.zeros(1, 3), torch.tensor([[0.0, 1.0, 0.0]])
    )
    expected = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, -2]]])
    torch.testing.assert_close(transform, expected)


def test_look_at_from_side_matches_hand_computation():
    # z = (1,0,0); x = up x z = (0,0,-1); y = z x x = (0,1,0); t = -pos @ R = (0,0,-2).
    transform = generate_transformation_matrix(torch.tensor([2.0, 0.0, 0.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    expected = torch.tensor([[[0.0, 0, 1], [0, 1, 0], [-1, 0, 0], [0, 0, -2]]])
    torch.testing.assert_close(transform, expected)
    # The origin lands 2 units in front of the camera, on its -z axis.
    origin_camera = torch.tensor([[0.0, 0, 0, 1]]) @ transform[0]
    torch.testing.assert_close(origin_camera, torch.tensor([[0.0, 0, -2]]))


def test_look_at_straight_down_has_no_nan():
    transform = generate_transformation_matrix(
        torch.tensor([[0.0, 2.0, 0.0]]), torch.zeros(1, 3), torch.tensor([[0.0, 1.0, 0.0]])
    )
    assert torch.isfinite(transform).all()
    rotation = transform[0, :3]
    torch.testing.assert_close(rotation.T @ rotation, torch.eye(3), atol=1e-6, rtol=0)


def test_look_at_rejects_bad_shapes():
    with pytest.raises(ValueError, match="camera_position"):
        generate_transformation_matrix(torch.zeros(1, 4), torch.zeros(1, 3), torch.zeros(1, 3))


def test_index_vertices_by_faces_gathers_corners():
    features = torch.arange(12.0).reshape(1, 4, 3)
    faces = torch.tensor([[0, 1, 2], [3, 2, 1]])
    out = index_vertices_by_faces(features, faces)
    assert out.shape == (1, 2, 3, 3)
    torch.testing.assert_close(out[0, 1], features[0, [3, 2, 1]])
    with pytest.raises(TypeError, match="integer"):
        index_vertices_by_faces(features, faces.float())
    with pytest.raises(ValueError, match=r"\(B, V, D\)"):
        index_vertices_by_faces(features[0], faces)


def test_prepare_vertices_projects_by_hand():
    vertices = torch.tensor([[[0.5, 0.25, 0.0], [-0.5, 0.25, 0.0], [0.0, -0.5, 0.0]]])
    faces = torch.tensor([[0, 1, 2]])  # counter-clockwise seen from +z
    camera = generate_transformation_matrix(torch.tensor([[0.0, 0, 2]]), torch.zeros(1, 3), torch.tensor([[0.0, 1, 0]]))
    proj = generate_perspective_projection(math.pi / 2)
    face_cam, face_img, normals = prepare_vertices(vertices, faces, proj, camera_transform=camera)
    assert face_cam.shape == (1, 1, 3, 3) and face_img.shape == (1, 1, 3, 2) and normals.shape == (1, 1, 3)
    torch.testing.assert_close(face_cam[0, 0, 0], torch.tensor([0.5, 0.25, -2.0]))
    torch.testing.assert_close(face_img[0, 0, 0], torch.tensor([0.25, 0.125]))
    torch.testing.assert_close(normals[0, 0], torch.tensor([0.0, 0.0, 1.0]))
    # kaolin's older (rotation, translation) interface gives the same camera points.
    old_cam, old_img, _ = prepare_vertices(
        vertices, faces, proj, camera_rot=torch.eye(3)[None], camera_trans=torch.tensor([[0.0, 0, 2]])
    )
    torch.testing.assert_close(old_cam, face_cam)
    torch.testing.assert_close(old_img, face_img)


def test_prepare_vertices_broadcasts_one_mesh_over_cameras():
    views = orbit_views([0.0, 1.0, 2.0], [0.1, 0.2, 0.3])
    vertices = torch.randn(1, 5, 3)
    faces = torch.tensor([[0, 1, 2], [2, 3, 4]])
    face_cam, face_img, normals = prepare_vertices(vertices, faces, views.projection, camera_transform=views.transform)
    assert face_cam.shape == (3, 2, 3, 3) and face_img.shape == (3, 2, 3, 2)
    torch.testing.assert_close(normals.norm(dim=-1), torch.ones(3, 2))


def test_text2mesh_sampler_front_view_and_seed():
    first = sample_text2mesh_views(5, generator=torch.Generator().manual_seed(3))
    again = sample_text2mesh_views(5, generator=torch.Generator().manual_seed(3))
    other = sample_text2mesh_views(5, generator=torch.Generator().manual_seed(4))
    assert len(first) == 5 and first.transform.shape == (5, 4, 3)
    assert first.elevation[0].item() == pytest.approx(0.6283)
    assert first.azimuth[0].item() == pytest.approx(1.96349)
    torch.testing.assert_close(first.transform, again.transform)
    assert not torch.allclose(first.transform[1:], other.transform[1:])
    torch.testing.assert_close(camera_centres(first.transform).norm(dim=1), torch.full((5,), 2.0))
    torch.testing.assert_close(first.projection.squeeze(1)[1], torch.tensor(1 / math.tan(math.pi / 6)))


def test_text2mesh_sampler_spread_follows_std():
    generator = torch.Generator().manual_seed(0)
    wide = sample_text2mesh_views(2000, center_azimuth=0.0, center_elevation=0.0, std=4.0, generator=generator)
    narrow = sample_text2mesh_views(2000, center_azimuth=0.0, center_elevation=0.0, std=40.0, generator=generator)
    assert wide.elevation[1:].std().item() == pytest.approx(math.pi / 4, rel=0.1)
    assert wide.azimuth[1:].std().item() == pytest.approx(2 * math.pi / 4, rel=0.1)
    assert narrow.azimuth[1:].std().item() == pytest.approx(2 * math.pi / 40, rel=0.1)


def test_front_view_looks_at_positive_z():
    position = camera_position_from_angles(torch.tensor([0.0]), torch.tensor([math.pi / 2]), 2.0)
    torch.testing.assert_close(position, torch.tensor([[0.0, 0.0, 2.0]]), atol=1e-6, rtol=0)


def test_grid_views_are_the_24_view_protocol():
    views = grid_views()
    assert len(views) == 24
    torch.testing.assert_close(camera_centres(views.transform).norm(dim=1), torch.full((24,), 2.5))
    heights = camera_centres(views.transform)[:, 1]
    expected = 2.5 * torch.sin(torch.tensor([-30.0, 0.0, 30.0]).deg2rad()).repeat_interleave(8)
    torch.testing.assert_close(heights, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(views.projection.squeeze(1)[1], torch.tensor(1 / math.tan(math.radians(22.5))))
    # Every camera has the origin straight ahead.
    origin = torch.tensor([0.0, 0, 0, 1]) @ views.transform
    torch.testing.assert_close(origin[:, :2], torch.zeros(24, 2), atol=1e-5, rtol=0)


def test_orbit_and_turntable_are_deterministic_and_checked():
    torch.testing.assert_close(turntable_views(12).transform, turntable_views(12).transform)
    assert len(turntable_views(12)) == 12
    with pytest.raises(ValueError, match="azimuths"):
        orbit_views([0.0, 1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="radius"):
        orbit_views([0.0], [0.0], radius=0)


def test_framing_distance_fits_a_sphere_in_the_view():
    import math

    from stylize.mesh.camera import framing_distance

    # Text2Mesh's views (distance 2, 60 degrees) just fit the unit sphere its normalisation makes.
    assert framing_distance(1.0, math.pi / 3) == pytest.approx(2.0)
    assert framing_distance(1.3, math.pi / 3) == pytest.approx(2.6)  # a result grown by displacement
    assert framing_distance(1.0, math.pi / 3, margin=1.1) == pytest.approx(2.2)
    with pytest.raises(ValueError, match="fov"):
        framing_distance(1.0, 0.0)
