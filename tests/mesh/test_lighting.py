"""Spherical-harmonic lighting in kaolin's basis order."""

from __future__ import annotations

import pytest
import torch

from stylize.mesh.lighting import (
    TEXT2MESH_LIGHTS,
    SphericalHarmonicLighting,
    spherical_harmonic_basis,
    spherical_harmonic_lighting,
)


def test_basis_order_on_axis_normals():
    normals = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    basis = spherical_harmonic_basis(normals)
    expected = torch.tensor(
        [
            [0.2821, 0.4886, 0, 0, 0, 0, -0.3154, 0, 0.3863],
            [0.2821, 0, 0, 0.4886, 0, 0, -0.3154, 0, -0.3863],
            [0.2821, 0, 0.4886, 0, 0, 0, 0.9462 - 0.3154, 0, 0],
        ]
    )
    torch.testing.assert_close(basis, expected)


def test_mixed_terms_match_hand_computation():
    x, y, z = 0.48, 0.6, 0.64
    basis = spherical_harmonic_basis(torch.tensor([x, y, z]))
    expected = torch.tensor(
        [
            0.2821,
            0.4886 * x,
            0.4886 * z,
            0.4886 * y,
            1.0925 * x * y,
            1.0925 * y * z,
            0.9462 * z * z - 0.3154,
            0.7725 * x * z,
            0.3863 * (x * x - y * y),
        ]
    )
    torch.testing.assert_close(basis, expected)


def test_text2mesh_lights_on_a_normal_image():
    normals = torch.zeros(2, 3, 4, 3)
    normals[..., 2] = 1.0  # facing the camera
    shade = spherical_harmonic_lighting(normals, TEXT2MESH_LIGHTS)
    assert shade.shape == (2, 3, 4)
    torch.testing.assert_close(shade, torch.full((2, 3, 4), 0.2821 + 0.4886))
    module = SphericalHarmonicLighting()
    torch.testing.assert_close(module(normals), shade)


def test_per_batch_lights_and_gradients():
    normals = torch.nn.functional.normalize(torch.randn(2, 2, 2, 3, dtype=torch.float64), dim=-1)
    lights = torch.randn(2, 9, dtype=torch.float64)
    shade = spherical_harmonic_lighting(normals, lights)
    torch.testing.assert_close(shade[1], spherical_harmonic_lighting(normals[1:], lights[1])[0])
    module = SphericalHarmonicLighting(learnable=True)
    module(normals.float()).sum().backward()
    assert module.lights.grad is not None
    assert torch.autograd.gradcheck(spherical_harmonic_lighting, (normals.requires_grad_(), lights.requires_grad_()))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        spherical_harmonic_lighting(torch.zeros(2, 3, 3), TEXT2MESH_LIGHTS)
    with pytest.raises(ValueError, match="lights"):
        spherical_harmonic_lighting(torch.zeros(1, 2, 2, 3), [1.0, 2.0])
    with pytest.raises(ValueError, match="9 light"):
        SphericalHarmonicLighting([1.0] * 4)


def test_fast_lighting_equals_basis_dot_lights():
    generator = torch.Generator().manual_seed(1)
    normals = torch.nn.functional.normalize(torch.randn(3, 4, 5, 3, generator=generator, dtype=torch.float64), dim=-1)
    lights = torch.randn(3, 9, generator=generator, dtype=torch.float64)
    reference = (spherical_harmonic_basis(normals) * lights[:, None, None, :]).sum(-1)
    torch.testing.assert_close(spherical_harmonic_lighting(normals, lights), reference)
    torch.testing.assert_close(
        spherical_harmonic_lighting(normals, lights[0]), (spherical_harmonic_basis(normals) * lights[0]).sum(-1)
    )
