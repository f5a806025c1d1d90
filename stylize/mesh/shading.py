"""Spherical-harmonic lighting as kaolin computes it, and Text2Mesh's shaded render with it.

The nine real SH basis functions, in kaolin's order (``spherical_harmonic_lighting`` of kaolin
0.12 - 0.18)::

    0.2821
    0.4886 x,  0.4886 z,  0.4886 y
    1.0925 xy, 1.0925 yz, 0.9462 z^2 - 0.3154, 0.7725 xz, 0.3863 (x^2 - y^2)

The light intensity at a pixel is the dot product of these with the 9 light coefficients.
Text2Mesh uses :data:`TEXT2MESH_LIGHTS` and multiplies the rendered colour by the result, then
clamps to ``[0, 1]``; :func:`render_shaded` is that render over a flat background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import torch
from torch import nn

from stylize.mesh.camera import CameraViews
from stylize.mesh.renderer import MeshRenderer, composite_background

if TYPE_CHECKING:
    from stylize.mesh.material import Material

__all__ = [
    "TEXT2MESH_LIGHTS",
    "SphericalHarmonicLighting",
    "render_deferred",
    "render_shaded",
    "sample_texture_torch",
    "shade_normals",
    "spherical_harmonic_basis",
    "spherical_harmonic_lighting",
]

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


def render_shaded(
    renderer: MeshRenderer,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor,
    views: CameraViews,
    background: float = 1.0,
    lights: tuple[float, ...] = TEXT2MESH_LIGHTS,
    material: "Material | None" = None,
) -> torch.Tensor:
    """Text2Mesh's render: per-vertex features interpolated to each pixel and shaded by the
    material (diffuse: colour times SH lighting, clamped), over a flat background.

    Args:
        renderer: a mesh renderer (its size sets the image size).
        vertices: ``(V, 3)`` world space.
        faces: ``(F, 3)`` int64.
        colors: ``(V, C)`` the material's features (``(V, 3)`` colours in ``[0, 1]`` for diffuse).
        views: cameras.
        background: grey level of empty pixels (1 = white).
        lights: 9 SH coefficients.
        material: a :class:`~stylize.mesh.material.Material` (default: diffuse).

    Returns:
        Images ``(B, 3, H, W)`` in ``[0, 1]``, differentiable w.r.t. vertices and features.
    """
    material = _material(material)
    if colors.dim() != 2 or colors.shape[0] != vertices.shape[0] or colors.shape[1] != material.width:
        raise ValueError(f"expected colors of shape ({vertices.shape[0]}, {material.width}), got {tuple(colors.shape)}")
    width = colors.shape[1]
    features = torch.cat([colors, torch.ones_like(colors[:, :1])], dim=1)
    views = views.to(vertices.device)
    out = renderer(vertices, faces, features, views)
    pixel_features, alpha = out.features[..., :width], out.features[..., width:]
    rgb = material.shade(pixel_features, out.pixel_normals(), _view_dirs(out, views, material), lights)
    return composite_background(rgb, alpha, background)


def _material(material):
    from stylize.mesh.material import get_material

    return get_material("diffuse" if material is None else material)


def _view_dirs(out, views: CameraViews, material) -> torch.Tensor | None:
    """Per-pixel unit directions towards the camera ``(B, H, W, 3)``, for materials that use them."""
    if not getattr(material, "needs_view_dirs", False):
        return None
    return out.view_directions(views.projection)


def render_deferred(
    renderer: MeshRenderer,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    attributes: torch.Tensor,
    color_fn: Callable[[torch.Tensor], torch.Tensor],
    views: CameraViews,
    background: float = 1.0,
    lights: tuple[float, ...] = TEXT2MESH_LIGHTS,
    material: "Material | None" = None,
) -> torch.Tensor:
    """Deferred shading: interpolate per-vertex ``attributes`` to every covered pixel, colour those
    pixels with ``color_fn``, then light and composite as :func:`render_shaded` does.

    This is how surface mode colours a render: ``attributes`` hold each vertex's point in the
    field's frame (and base colour, mask weight, ...), and ``color_fn`` evaluates the field at
    the interpolated points, so colour varies inside a triangle. Only covered pixels are
    evaluated.

    Args:
        renderer: a mesh renderer.
        vertices: ``(V, 3)`` positions the cameras see (e.g. displaced).
        faces: ``(F, 3)`` int64.
        attributes: ``(V, D)`` interpolated with the rasterizer's barycentrics.
        color_fn: ``(P, D)`` interpolated attributes of the P covered pixels -> ``(P, C)`` the
            material's features (``(P, 3)`` colours for diffuse).
        views: cameras.
        background: grey level of empty pixels.
        lights: 9 SH coefficients.
        material: a :class:`~stylize.mesh.material.Material` that shades the features (default: diffuse).

    Returns:
        Images ``(B, 3, H, W)`` in ``[0, 1]``, differentiable w.r.t. what ``color_fn`` depends on
        and the vertices.
    """
    if attributes.dim() != 2 or attributes.shape[0] != vertices.shape[0]:
        raise ValueError(f"expected attributes of shape ({vertices.shape[0]}, D), got {tuple(attributes.shape)}")
    width = attributes.shape[1]
    features = torch.cat([attributes, torch.ones_like(attributes[:, :1])], dim=1)
    out = renderer(vertices, faces, features, views.to(vertices.device))
    batch, height, image_width = out.face_index.shape
    covered = (out.face_index.reshape(-1) >= 0).nonzero().squeeze(1)
    interpolated = out.features.reshape(-1, width + 1).index_select(0, covered)[:, :width]
    material = _material(material)
    colors = color_fn(interpolated)
    channels = colors.shape[1]
    pixels = colors.new_zeros(batch * height * image_width, channels).index_copy(0, covered, colors)
    pixels = pixels.reshape(batch, height, image_width, channels)
    alpha = out.features[..., width:]
    rgb = material.shade(pixels, out.pixel_normals(), _view_dirs(out, views.to(vertices.device), material), lights)
    return composite_background(rgb, alpha, background)


def sample_texture_torch(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples ``(P, C)`` of ``texture`` ``(H, W, C)`` at glTF UVs ``(P, 2)`` (v down,
    clamped at the borders), differentiable w.r.t. both; what per-pixel texture lookups use."""
    grid = (uv * 2.0 - 1.0).reshape(1, 1, -1, 2).to(texture.dtype)
    image = texture.permute(2, 0, 1).unsqueeze(0)
    sampled = torch.nn.functional.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled[0, :, 0].T


def shade_normals(
    renderer: MeshRenderer,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    normals: torch.Tensor,
    views: CameraViews,
    lights: tuple[float, ...] = TEXT2MESH_LIGHTS,
    tangents: torch.Tensor | None = None,
    uv: torch.Tensor | None = None,
    normal_texture: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth SH shading from per-pixel interpolated vertex normals, optionally normal-mapped.

    With ``tangents`` ``(V, 4)`` (glTF TANGENT), ``uv`` ``(V, 2)`` (glTF) and ``normal_texture``
    ``(H, W, 3)`` holding tangent-space normals in ``[-1, 1]``, each pixel's normal is
    ``x T + y B + z N`` with ``B = cross(N, T) w``, as a glTF viewer computes it. Lighting is in
    world space (the same for every view), so two renders of the same surface compare directly.

    Returns:
        ``(intensity (B, H, W), covered (B, H, W) bool)``.
    """
    parts = [normals]
    if normal_texture is not None:
        parts += [tangents, uv]
    features = torch.cat(parts, dim=1)
    out = renderer(vertices, faces, features, views.to(vertices.device))
    covered = out.face_index >= 0
    pixel = out.features[covered]
    normal = torch.nn.functional.normalize(pixel[:, :3], dim=-1)
    if normal_texture is not None:
        tangent = pixel[:, 3:6]
        tangent = torch.nn.functional.normalize(tangent - normal * (tangent * normal).sum(-1, keepdim=True), dim=-1)
        bitangent = torch.linalg.cross(normal, tangent) * torch.where(pixel[:, 6:7] < 0, -1.0, 1.0)
        local = sample_texture_torch(normal_texture, pixel[:, 7:9])
        normal = torch.nn.functional.normalize(local[:, :1] * tangent + local[:, 1:2] * bitangent + local[:, 2:3] * normal, dim=-1)
    intensity = torch.zeros(covered.shape, dtype=normal.dtype, device=normal.device)
    intensity[covered] = spherical_harmonic_lighting(normal.reshape(1, -1, 1, 3), lights).reshape(-1)
    return intensity, covered
