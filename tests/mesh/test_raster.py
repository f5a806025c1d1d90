"""The pure-PyTorch DIB-R rasterizer: exact pixels, depth and culling rules, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stylize.mesh.camera import index_vertices_by_faces, orbit_views
from stylize.mesh.raster import TorchMeshRenderer, dibr_rasterization, rasterize_face_index
from stylize.mesh.renderer import MeshRenderer, RenderResult, get_renderer


def pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """kaolin's pixel centres: x per column, y per row (row 0 at the top)."""
    j = np.arange(width)
    i = np.arange(height)
    return (2 * j + 1 - width) / width, (height - 2 * i - 1) / height


def brute_force_face_index(height, width, z, image, normals_z) -> np.ndarray:
    """Dense reference (fine for tests only): test every face at every pixel."""
    xs, ys = pixel_centres(height, width)
    px, py = np.meshgrid(xs, ys)
    result = np.full((z.shape[0], height, width), -1)
    for b in range(z.shape[0]):
        best = np.full((height, width), -np.inf)
        for f in range(z.shape[1]):
            if normals_z[b, f] < 0:
                continue
            (x0, y0), (x1, y1), (x2, y2) = image[b, f]
            area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            if area == 0:
                continue
            w0 = ((x1 - px) * (y2 - py) - (y1 - py) * (x2 - px)) / area
            w1 = ((x2 - px) * (y0 - py) - (y2 - py) * (x0 - px)) / area
            w2 = 1 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            depth = w0 * z[b, f, 0] + w1 * z[b, f, 1] + w2 * z[b, f, 2]
            better = inside & (depth > best)
            best[better] = depth[better]
            result[b][better] = f
    return result


def square(x0, x1, y0, y1, z=-2.0, dtype=torch.float32):
    """Two counter-clockwise triangles covering an axis-aligned rectangle in image space."""
    corners = torch.tensor([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=dtype)
    image = corners[torch.tensor([[0, 1, 2], [0, 2, 3]])].unsqueeze(0)
    depth = torch.full((1, 2, 3), z, dtype=dtype)
    return depth, image, torch.ones(1, 2, dtype=dtype)


def test_square_covers_the_analytic_pixels():
    height, width = 6, 10
    x0, x1, y0, y1 = -0.35, 0.65, -0.9, 0.2
    depth, image, normals_z = square(x0, x1, y0, y1)
    features = torch.ones(1, 2, 3, 1)
    out, mask, face_index = dibr_rasterization(height, width, depth, image, features, normals_z)
    xs, ys = pixel_centres(height, width)
    expected = (ys[:, None] >= y0) & (ys[:, None] <= y1) & (xs[None] >= x0) & (xs[None] <= x1)
    assert expected.sum() == 20  # columns 3..7 (x = -0.3 .. 0.5), rows 2..5 (y = 1/6 .. -5/6)
    np.testing.assert_array_equal(mask[0].numpy(), expected.astype(np.float32))
    np.testing.assert_allclose(out[0, ..., 0].numpy(), expected.astype(np.float32), atol=1e-6)
    assert set(face_index[0][mask[0] > 0].tolist()) == {0, 1}
    assert (face_index[0][mask[0] == 0] == -1).all()
    assert out.shape == (1, height, width, 1) and mask.shape == (1, height, width)
    assert face_index.dtype == torch.int64


def test_row_zero_is_top_and_y_points_up():
    height, width = 8, 8
    depth, image, normals_z = square(0.1, 0.9, 0.1, 0.9)  # upper-right quadrant
    _, mask, _ = dibr_rasterization(height, width, depth, image, torch.ones(1, 2, 3, 1), normals_z)
    assert mask[0, : height // 2, width // 2 :].sum() == 16 - 0  # pixels centred in (0.1, 0.9)
    assert mask[0, height // 2 :].sum() == 0 and mask[0, :, : width // 2].sum() == 0


def test_nearer_triangle_wins_whatever_the_order():
    triangle = torch.tensor([[-0.8, -0.8], [0.8, -0.8], [0.0, 0.8]])
    image = torch.stack([triangle, triangle * 0.9]).unsqueeze(0)
    for near_first in (True, False):
        z = torch.tensor([[-1.0] * 3, [-3.0] * 3]) if near_first else torch.tensor([[-3.0] * 3, [-1.0] * 3])
        features = torch.tensor([[1.0], [2.0]]).expand(2, 3).reshape(1, 2, 3, 1)
        out, mask, face_index = dibr_rasterization(16, 16, z.unsqueeze(0), image, features, torch.ones(1, 2))
        near = 0 if near_first else 1
        covered = mask[0] > 0
        assert (face_index[0][covered] == near).all()
        torch.testing.assert_close(out[0, ..., 0][covered], torch.full((int(covered.sum()),), near + 1.0))


def test_depth_is_interpolated_per_pixel():
    # Two intersecting quads tilted opposite ways: each wins on the side where it is nearer.
    depth, image, normals_z = square(-1.0, 1.0, -1.0, 1.0)
    left_near = torch.tensor([[-1.0, -3.0, -3.0], [-1.0, -3.0, -1.0]])  # z at corners (x0,y0),(x1,..),...
    right_near = torch.tensor([[-3.0, -1.0, -1.0], [-3.0, -1.0, -3.0]])
    z = torch.cat([left_near, right_near]).unsqueeze(0)
    image = torch.cat([image, image], dim=1)
    _, _, face_index = dibr_rasterization(4, 4, z, image, torch.zeros(1, 4, 3, 1), torch.ones(1, 4))
    assert (face_index[0, :, :2] < 2).all() and (face_index[0, :, 2:] >= 2).all()


def test_back_faces_are_culled():
    depth, image, _ = square(-0.5, 0.5, -0.5, 0.5)
    _, mask, face_index = dibr_rasterization(8, 8, depth, image, torch.ones(1, 2, 3, 1), torch.tensor([[1.0, -1e-3]]))
    assert mask.sum() > 0 and set(face_index[face_index >= 0].tolist()) == {0}
    # Through the cameras: a triangle wound clockwise as seen from the camera is not drawn.
    views = orbit_views([math.pi / 2], [0.0])
    vertices = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]]])
    renderer = TorchMeshRenderer(16)
    front = renderer(vertices, torch.tensor([[0, 1, 2]]), torch.ones(1, 3, 1), views)
    back = renderer(vertices, torch.tensor([[0, 2, 1]]), torch.ones(1, 3, 1), views)
    assert front.mask.sum() > 10 and back.mask.sum() == 0


def test_linear_function_is_reproduced_exactly():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 6, 3, 2, generator=generator, dtype=torch.float64) * 2 - 1
    a, b, c = 0.7, -1.3, 0.25
    features = (a * image[..., 0] + b * image[..., 1] + c).unsqueeze(-1)
    z = torch.rand(1, 6, 3, generator=generator, dtype=torch.float64) - 3
    # Cull nothing: give every face a front-facing normal.
    out, mask, _ = dibr_rasterization(32, 24, z, image, features, torch.ones(1, 6, dtype=torch.float64))
    xs, ys = pixel_centres(32, 24)
    expected = a * torch.tensor(xs)[None, :] + b * torch.tensor(ys)[:, None] + c
    covered = mask[0] > 0
    assert covered.sum() > 50
    torch.testing.assert_close(out[0, ..., 0][covered], expected[covered], atol=1e-12, rtol=0)
    assert (out[0, ..., 0][~covered] == 0).all()


def test_matches_brute_force_on_random_triangle_soup():
    generator = torch.Generator().manual_seed(1)
    n_faces = 60
    centres = torch.rand(2, n_faces, 1, 2, generator=generator) * 2.4 - 1.2
    image = centres + (torch.rand(2, n_faces, 3, 2, generator=generator) - 0.5) * 1.2
    image[0, :3] *= 3.0  # a few huge faces to exercise the exact pixel-by-pixel path
    z = -1 - 3 * torch.rand(2, n_faces, 3, generator=generator)
    normals_z = torch.randn(2, n_faces, generator=generator)
    expected = brute_force_face_index(40, 48, z.double().numpy(), image.double().numpy(), normals_z.numpy())
    got = rasterize_face_index(40, 48, z, image, normals_z)
    assert (got >= 0).sum() > 1000
    mismatch = (got.numpy() != expected).mean()
    assert mismatch < 0.002  # only float32 round-off on exact edges may differ
    tiny_chunks = rasterize_face_index(40, 48, z, image, normals_z, max_pairs=5)
    torch.testing.assert_close(tiny_chunks, got)


def test_list_of_features_returns_a_tuple_and_empty_pixels_are_zero():
    depth, image, normals_z = square(-0.5, 0.5, -0.5, 0.5)
    colours = torch.full((1, 2, 3, 3), 0.5)
    ones = torch.ones(1, 2, 3, 1)
    (rgb, alpha), mask, _ = dibr_rasterization(8, 8, depth, image, [colours, ones], normals_z)
    assert rgb.shape == (1, 8, 8, 3) and alpha.shape == (1, 8, 8, 1)
    torch.testing.assert_close(alpha[..., 0], mask)
    assert (rgb[mask == 0] == 0).all()
    torch.testing.assert_close(rgb[mask > 0], torch.full_like(rgb[mask > 0], 0.5))


def test_bad_inputs_are_rejected():
    depth, image, normals_z = square(-0.5, 0.5, -0.5, 0.5)
    features = torch.ones(1, 2, 3, 1)
    with pytest.raises(ValueError, match="face_vertices_image"):
        dibr_rasterization(8, 8, depth, image[..., :1], features, normals_z)
    with pytest.raises(ValueError, match="face_vertices_z"):
        dibr_rasterization(8, 8, depth[..., :2], image, features, normals_z)
    with pytest.raises(ValueError, match="face_features"):
        dibr_rasterization(8, 8, depth, image, torch.ones(1, 3, 3, 1), normals_z)
    with pytest.raises(ValueError, match="height and width"):
        dibr_rasterization(0, 8, depth, image, features, normals_z)
    with pytest.raises(TypeError, match="face_features"):
        dibr_rasterization(8, 8, depth, image, [np.ones((1, 2, 3, 1))], normals_z)


def _gradcheck_inputs():
    # Corners chosen so no pixel centre lies within 1e-3 of an edge: visibility is locally constant.
    image = torch.tensor(
        [[[[-0.83, -0.71], [0.77, -0.62], [-0.11, 0.81]], [[0.05, -0.95], [0.93, 0.02], [0.21, 0.9]]]],
        dtype=torch.float64,
    )
    z = torch.tensor([[[-2.0, -2.1, -2.2], [-1.5, -3.0, -2.5]]], dtype=torch.float64)
    features = torch.rand(1, 2, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return z, image, features, torch.ones(1, 2, dtype=torch.float64)


def test_gradcheck_features_and_positions():
    z, image, features, normals_z = _gradcheck_inputs()
    image.requires_grad_(True)
    features.requires_grad_(True)

    def render(image, features):
        return dibr_rasterization(6, 6, z, image, features, normals_z)[0]

    assert torch.autograd.gradcheck(render, (image, features), eps=1e-6, atol=1e-6)
    # Positions really receive gradient (through the barycentric weights).
    render(image, features).sum().backward()
    assert image.grad.abs().sum() > 0 and features.grad.abs().sum() > 0


def test_renderer_vertex_path_matches_face_path_and_gradients_reach_vertices():
    views = orbit_views([0.3, 2.0], [0.2, -0.4], radius=2.5)
    generator = torch.Generator().manual_seed(0)
    vertices = torch.randn(1, 40, 3, generator=generator) * 0.6
    faces = torch.randint(0, 40, (60, 3), generator=generator)
    colours = torch.rand(1, 40, 3, generator=generator)
    renderer = get_renderer("torch", height=32, width=40)
    assert isinstance(renderer, MeshRenderer)
    by_vertex = renderer(vertices, faces, colours, views)
    by_face = renderer(vertices, faces, index_vertices_by_faces(colours, faces), views)
    assert isinstance(by_vertex, RenderResult) and by_vertex.features.shape == (2, 32, 40, 3)
    torch.testing.assert_close(by_vertex.features, by_face.features)
    torch.testing.assert_close(by_vertex.face_index, by_face.face_index)

    vertices.requires_grad_(True)
    colours.requires_grad_(True)
    result = renderer(vertices, faces, colours, views.transform, views.projection)
    (result.features.square().sum() + result.pixel_normals().sum()).backward()
    assert vertices.grad.abs().sum() > 0 and colours.grad.abs().sum() > 0


def test_renderer_gradcheck_through_cameras():
    views = orbit_views([math.pi / 2], [0.0])
    vertices = torch.tensor([[[-0.61, -0.47, 0.1], [0.55, -0.52, -0.05], [0.07, 0.66, 0.0]]], dtype=torch.float64)
    colours = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]], dtype=torch.float64)
    renderer = TorchMeshRenderer(5)
    transform, projection = views.transform.double(), views.projection.double()

    def render(vertices, colours):
        return renderer(vertices, torch.tensor([[0, 1, 2]]), colours, transform, projection).features

    assert torch.autograd.gradcheck(render, (vertices.requires_grad_(), colours.requires_grad_()), eps=1e-6, atol=1e-6)


def test_pixel_normals_follow_face_index():
    views = orbit_views([math.pi / 2], [0.0])
    vertices = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]]])
    result = TorchMeshRenderer(8)(vertices, torch.tensor([[0, 1, 2]]), torch.ones(1, 3, 1), views)
    normals = result.pixel_normals()
    assert normals.shape == (1, 8, 8, 3)
    torch.testing.assert_close(normals[result.mask > 0], torch.tensor([0.0, 0.0, 1.0]).expand(int(result.mask.sum()), 3))
    assert (normals[result.mask == 0] == 0).all()


def test_unknown_renderer_name():
    with pytest.raises(ValueError, match="renderer name"):
        get_renderer("opengl")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    views = orbit_views([0.3, 2.0], [0.2, -0.4])
    generator = torch.Generator().manual_seed(0)
    vertices = torch.randn(1, 200, 3, generator=generator) * 0.6
    faces = torch.randint(0, 200, (400, 3), generator=generator)
    colours = torch.rand(1, 200, 3, generator=generator)
    renderer = TorchMeshRenderer(64)
    cpu = renderer(vertices, faces, colours, views)
    gpu = renderer(vertices.cuda(), faces.cuda(), colours.cuda(), views.to("cuda"))
    assert (gpu.face_index.cpu() != cpu.face_index).float().mean() < 1e-3


def test_exact_depth_ties_go_to_the_lowest_face_index():
    triangle = torch.tensor([[-0.8, -0.8], [0.8, -0.8], [0.0, 0.8]])
    image = torch.stack([triangle, triangle, triangle]).unsqueeze(0)
    z = torch.tensor([[[-3.0] * 3, [-2.0] * 3, [-2.0] * 3]])
    _, mask, face_index = dibr_rasterization(12, 12, z, image, torch.zeros(1, 3, 3, 1), torch.ones(1, 3))
    assert mask.sum() > 20 and (face_index[mask > 0] == 1).all()


def test_faces_behind_the_image_edges_are_clipped_not_wrapped():
    # A triangle mostly outside the image: only in-image pixels are drawn, none wrap to other rows.
    image = torch.tensor([[[[0.5, -3.0], [5.0, -3.0], [0.5, 3.0]]]])
    _, mask, _ = dibr_rasterization(10, 10, torch.full((1, 1, 3), -2.0), image, torch.ones(1, 1, 3, 1), torch.ones(1, 1))
    xs, _ = pixel_centres(10, 10)
    expected_columns = torch.tensor(xs >= 0.5)
    assert (mask[0] == expected_columns.float().expand(10, 10)).all()
