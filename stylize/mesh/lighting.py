"""Spherical-harmonic lighting as kaolin computes it (the light of Text2Mesh's renders).

The nine real SH basis functions, in kaolin's order (``spherical_harmonic_lighting`` of kaolin
0.12 - 0.18)::

    0.2821
    0.4886 x,  0.4886 z,  0.4886 y
    1.0925 xy, 1.0925 yz, 0.9462 z^2 - 0.3154, 0.7725 xz, 0.3863 (x^2 - y^2)

The light intensity at a pixel is the dot product of these with the 9 light coefficients.
Text2Mesh uses :data:`TEXT2MESH_LIGHTS` and multiplies the rendered colour by the result, then
clamps to ``[0, 1]`` (:class:`stylize.mesh.material.DiffuseMaterial`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["TEXT2MESH_LIGHTS", "SphericalHarmonicLighting", "spherical_harmonic_basis", "spherical_harmonic_lighting"]

# A tuple, not a tensor, so nobody can modify the default in place.
TEXT2MESH_LIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def spherical_harmonic_basis(normals: torch.Tensor) -> torch.Tensor:
    """The nine SH basis values of each normal, in kaolin's order.

    Args:
        normals: unit normals (not re-normalised: kaolin does not either).

    Returns:
        Basis values.

    Shape:
        - normals: ``(..., 3)``.
        - Output: ``(..., 9)``.
    """
    if not isinstance(normals, torch.Tensor):
        raise TypeError(f"expected normals to be a torch.Tensor, got {type(normals).__name__}")
    if normals.dim() < 1 or normals.shape[-1] != 3:
        raise ValueError(f"expected normals of shape (..., 3), got {tuple(normals.shape)}")
    x, y, z = normals.unbind(-1)
    return torch.stack(
        [
            torch.full_like(x, 0.2821),
            0.4886 * x,
            0.4886 * z,
            0.4886 * y,
            1.0925 * x * y,
            1.0925 * y * z,
            0.9462 * z * z - 0.3154,
            0.7725 * x * z,
            0.3863 * (x * x - y * y),
        ],
        dim=-1,
    )


def _lights_tensor(lights: torch.Tensor | Sequence[float], like: torch.Tensor) -> torch.Tensor:
    lights = torch.as_tensor(lights, dtype=like.dtype, device=like.device)
    if lights.dim() == 1:
        lights = lights.unsqueeze(0)
    if lights.dim() != 2 or lights.shape[-1] != 9:
        raise ValueError(f"expected lights of shape (9,) or (B, 9), got {tuple(lights.shape)}")
    return lights


def spherical_harmonic_lighting(normals: torch.Tensor, lights: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Light intensity at each pixel from its normal (kaolin's ``spherical_harmonic_lighting``).

    Args:
        normals: per-pixel unit normals, e.g. :meth:`RenderResult.pixel_normals`.
        lights: 9 SH coefficients, shared or one row per batch item.

    Returns:
        Intensity per pixel (not clamped).

    Shape:
        - normals: ``(B, H, W, 3)``.
        - lights: ``(9,)`` or ``(B, 9)``.
        - Output: ``(B, H, W)``.

    Example:
        >>> shade = spherical_harmonic_lighting(result.pixel_normals(), TEXT2MESH_LIGHTS)
        >>> image = (rgb * shade.unsqueeze(-1)).clamp(0, 1)
    """
    if not isinstance(normals, torch.Tensor) or normals.dim() != 4 or normals.shape[-1] != 3:
        shape = tuple(normals.shape) if isinstance(normals, torch.Tensor) else type(normals).__name__
        raise ValueError(f"expected normals of shape (B, H, W, 3), got {shape}")
    lights = _lights_tensor(lights, normals)
    if lights.shape[0] not in (1, normals.shape[0]):
        raise ValueError(f"expected 1 or {normals.shape[0]} rows of lights, got {lights.shape[0]}")
    # The 9-term sum is a quadratic form in the normal, c + b.n + n^T A n; evaluating it that way
    # avoids materialising 9 basis images (3x faster on CPU, same value).
    constant, linear, quadratic = _sh_quadratic_form(lights)
    batch = normals.shape[0]
    flat = normals.reshape(batch, -1, 3)
    if quadratic.shape[0] != batch:
        quadratic, linear, constant = (t.expand(batch, *t.shape[1:]) for t in (quadratic, linear, constant))
    per_pixel = torch.baddbmm(linear.unsqueeze(1), flat, quadratic)  # n^T A + b
    return ((per_pixel * flat).sum(-1) + constant.unsqueeze(1)).reshape(normals.shape[:-1])


def _sh_quadratic_form(lights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c (B,), b (B, 3), A (B, 3, 3))`` with ``sum_k L_k Y_k(n) = c + b.n + n^T A n`` for unit n."""
    (l0, l1, l2, l3, l4, l5, l6, l7, l8) = lights.unbind(-1)
    zero = torch.zeros_like(l0)
    constant = 0.2821 * l0 - 0.3154 * l6
    linear = 0.4886 * torch.stack([l1, l3, l2], -1)  # x, y, z
    half_xy, half_yz, half_xz = 1.0925 / 2 * l4, 1.0925 / 2 * l5, 0.7725 / 2 * l7
    quadratic = torch.stack(
        [
            torch.stack([0.3863 * l8, half_xy, half_xz], -1),
            torch.stack([half_xy, -0.3863 * l8, half_yz], -1),
            torch.stack([half_xz, half_yz, 0.9462 * l6 + zero], -1),
        ],
        -2,
    )
    return constant, linear, quadratic


class SphericalHarmonicLighting(nn.Module):
    """:func:`spherical_harmonic_lighting` with the coefficients held as a buffer or a parameter.

    Args:
        lights: the 9 coefficients; Text2Mesh's defaults when None.
        learnable: make the coefficients an ``nn.Parameter``.

    Shape:
        - Input: ``(B, H, W, 3)`` normals.
        - Output: ``(B, H, W)`` intensity.
    """

    def __init__(self, lights: Sequence[float] | torch.Tensor | None = None, learnable: bool = False):
        super().__init__()
        values = torch.as_tensor(TEXT2MESH_LIGHTS if lights is None else lights, dtype=torch.float32).clone()
        if values.shape != (9,):
            raise ValueError(f"expected 9 light coefficients, got shape {tuple(values.shape)}")
        if learnable:
            self.lights = nn.Parameter(values)
        else:
            self.register_buffer("lights", values)

    def forward(self, normals: torch.Tensor) -> torch.Tensor:
        return spherical_harmonic_lighting(normals, self.lights.to(normals.dtype))
