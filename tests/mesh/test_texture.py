"""Texture sampling, UV-triangle rasterization and seam dilation (stylize/mesh/texture.py)."""

from __future__ import annotations

import numpy as np
import pytest

from stylize.mesh.texture import dilate, rasterize_uv_triangles, sample_texture


def test_sample_texture_hits_texel_centres_and_interpolates_between():
    image = np.array([[[0.0], [1.0]], [[2.0], [3.0]]])  # (2, 2, 1): row 0 is the top (glTF v = 0)
    uv = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.5, 0.5], [0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(sample_texture(image, uv)[:, 0], [0.0, 1.0, 2.0, 1.5, 0.0, 3.0])
    assert sample_texture(np.full((4, 4, 3), 255, np.uint8), np.array([[0.3, 0.6]])).tolist() == [[1.0, 1.0, 1.0]]
    with pytest.raises(ValueError, match=r"uv of shape \(N, 2\)"):
        sample_texture(image, np.zeros((3, 3)))


def test_rasterize_reproduces_a_linear_function_exactly_inside_the_triangle():
    size = 16
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    values = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 3.0]])  # channel 0 = u, channel 1 = 1 + 2 v
    image, covered = rasterize_uv_triangles(uv, np.array([[0, 1, 2]]), values, size, fill=-1.0)
    centres = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(centres, centres)  # v = row, u = column
    inside = u + v <= 1.0
    assert np.array_equal(covered, inside)
    np.testing.assert_allclose(image[..., 0][inside], u[inside], atol=1e-6)
    np.testing.assert_allclose(image[..., 1][inside], 1 + 2 * v[inside], atol=1e-6)
    assert (image[~inside] == -1.0).all()


def test_rasterize_two_triangles_cover_the_square_once_in_chunks(monkeypatch):
    import stylize.mesh.texture as texture

    monkeypatch.setattr(texture, "_PAIRS_PER_CHUNK", 10)  # many chunks, same result
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    values = np.array([[0.0], [1.0], [2.0], [1.0]])  # u + v: linear, so both triangles agree on the diagonal
    image, covered = rasterize_uv_triangles(uv, np.array([[0, 1, 2], [0, 2, 3]]), values, 8)
    assert covered.all()
    centres = (np.arange(8) + 0.5) / 8
    np.testing.assert_allclose(image[..., 0], centres[None, :] + centres[:, None], atol=1e-6)


def test_dilate_grows_one_ring_per_pass_with_neighbour_means():
    image = np.zeros((7, 7, 1), np.float32)
    covered = np.zeros((7, 7), bool)
    image[3, 3], covered[3, 3] = 0.8, True
    image[3, 4], covered[3, 4] = 0.4, True
    grown, mask = dilate(image, covered, 1)
    assert mask.sum() == 3 * 4 and mask[2:5, 2:6].all()
    assert grown[2, 2, 0] == pytest.approx(0.8) and grown[2, 5, 0] == pytest.approx(0.4)
    assert grown[2, 3, 0] == pytest.approx(0.6)  # sees both covered texels
    assert grown[3, 3, 0] == pytest.approx(0.8)  # covered texels never change
    assert dilate(image, covered, 10)[1].all()


@pytest.mark.parametrize("uv", [[[0.0, 0.0]] * 3, [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]], ids=["all zero", "collinear"])
def test_a_uv_layout_that_covers_nothing_is_warned_about(uv, caplog):
    from stylize.mesh.texture import rasterize_uv_triangles

    with caplog.at_level("WARNING", logger="stylize.mesh.texture"):
        _, covered = rasterize_uv_triangles(np.array(uv), np.array([[0, 1, 2]]), np.ones((3, 3)), 16)
    assert not covered.any()
    assert len(caplog.records) == 1 and "covers no texel" in caplog.records[0].getMessage()
