"""Shaded renders of a mesh: per-vertex (Text2Mesh) and deferred (per pixel) shading by a material.

:func:`render_shaded` interpolates per-vertex material features to every pixel and
:func:`render_deferred` evaluates them per covered pixel; both hand them to the material
(:mod:`stylize.mesh.material`; Text2Mesh's diffuse SH light by default, :mod:`stylize.mesh.lighting`)
and composite over a flat background. :func:`shade_normals` is the smooth, optionally
normal-mapped light a glTF viewer would show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from stylize.mesh.camera import CameraViews
from stylize.mesh.lighting import TEXT2MESH_LIGHTS, spherical_harmonic_lighting
from stylize.mesh.material import Material, get_material
from stylize.mesh.renderer import MeshRenderer, composite_background

__all__ = ["render_deferred", "render_shaded", "sample_texture_torch", "shade_normals"]


def render_shaded(
    renderer: MeshRenderer,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor,
    views: CameraViews,
    background: float = 1.0,
    lights: Any = None,
    material: Material | None = None,
    frame: torch.Tensor | None = None,
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
        lights: the material's lights (diffuse: 9 SH coefficients; pbr: a world-space
            :class:`~stylize.mesh.pbr.Environment`); None: the material's fixed light.
        material: a :class:`~stylize.mesh.material.Material` (default: diffuse).
        frame: ``(V, 6)`` world-space smooth normals and tilt tangents, for a material that
            :attr:`~stylize.mesh.material.Material.needs_frame`.

    Returns:
        Images ``(B, 3, H, W)`` in ``[0, 1]``, differentiable w.r.t. vertices and features.
    """
    material = _material(material)
    if colors.dim() != 2 or colors.shape[0] != vertices.shape[0] or colors.shape[1] != material.width:
        raise ValueError(f"expected colors of shape ({vertices.shape[0]}, {material.width}), got {tuple(colors.shape)}")
    width = colors.shape[1]
    parts = [colors, torch.ones_like(colors[:, :1])] + _frame_parts(material, frame, vertices)
    views = views.to(vertices.device)
    out = renderer(vertices, faces, torch.cat(parts, dim=1), views)
    pixel_features, alpha = out.features[..., :width], out.features[..., width : width + 1]
    return composite_background(_shade(material, pixel_features, out, views, lights, width + 1), alpha, background)


def _material(material: Material | None) -> Material:
    return get_material("diffuse" if material is None else material)


def _frame_parts(material: Material, frame: torch.Tensor | None, vertices: torch.Tensor) -> list[torch.Tensor]:
    """The per-vertex frame columns to interpolate with the features (none unless the material needs them)."""
    if not material.needs_frame:
        return []
    if frame is None or frame.shape != (vertices.shape[0], 6):
        found = None if frame is None else tuple(frame.shape)
        raise ValueError(f"the {material.name} material needs frame of shape ({vertices.shape[0]}, 6), got {found}")
    return [frame.to(vertices)]


def _shade(material: Material, features: torch.Tensor, out, views: CameraViews, lights: Any, frame_at: int) -> torch.Tensor:
    """The material's colours ``(B, H, W, 3)`` of a render's per-pixel ``features``: normals (flat
    face normals, or the interpolated smooth ones of the frame at columns ``frame_at:``), view
    directions and lights in each camera's space."""
    view_dirs = out.view_directions(views.projection) if material.needs_view_dirs else None
    lights = material.view_lights(lights, views.world_to_camera.to(features))
    if not material.needs_frame:
        return material.shade(features, out.pixel_normals(), view_dirs, lights)
    rotation = views.world_to_camera.to(features)
    covered = (out.face_index >= 0).unsqueeze(-1).to(features.dtype)
    world = out.features[..., frame_at : frame_at + 6]
    normals = torch.einsum("bij,bhwj->bhwi", rotation, world[..., :3])
    normals = torch.nn.functional.normalize(normals, dim=-1, eps=1e-8) * covered
    tangents = torch.einsum("bij,bhwj->bhwi", rotation, world[..., 3:]) * covered
    return material.shade(features, normals, view_dirs, lights, tangents=tangents)


def render_deferred(
    renderer: MeshRenderer,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    attributes: torch.Tensor,
    color_fn: Callable[[torch.Tensor], torch.Tensor],
    views: CameraViews,
    background: float = 1.0,
    lights: Any = None,
    material: Material | None = None,
    frame: torch.Tensor | None = None,
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
        lights: the material's lights, as :func:`render_shaded`.
        material: a :class:`~stylize.mesh.material.Material` that shades the features (default: diffuse).
        frame: ``(V, 6)`` world-space normals and tilt tangents, as :func:`render_shaded`.

    Returns:
        Images ``(B, 3, H, W)`` in ``[0, 1]``, differentiable w.r.t. what ``color_fn`` depends on
        and the vertices.
    """
    if attributes.dim() != 2 or attributes.shape[0] != vertices.shape[0]:
        raise ValueError(f"expected attributes of shape ({vertices.shape[0]}, D), got {tuple(attributes.shape)}")
    width = attributes.shape[1]
    material = _material(material)
    parts = [attributes, torch.ones_like(attributes[:, :1])] + _frame_parts(material, frame, vertices)
    views = views.to(vertices.device)
    out = renderer(vertices, faces, torch.cat(parts, dim=1), views)
    batch, height, image_width = out.face_index.shape
    covered = (out.face_index.reshape(-1) >= 0).nonzero().squeeze(1)
    interpolated = out.features.reshape(batch * height * image_width, -1).index_select(0, covered)[:, :width]
    colors = color_fn(interpolated)
    channels = colors.shape[1]
    pixels = colors.new_zeros(batch * height * image_width, channels).index_copy(0, covered, colors)
    pixels = pixels.reshape(batch, height, image_width, channels)
    alpha = out.features[..., width : width + 1]
    return composite_background(_shade(material, pixels, out, views, lights, width + 1), alpha, background)


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
        normal = torch.nn.functional.normalize(
            local[:, :1] * tangent + local[:, 1:2] * bitangent + local[:, 2:3] * normal, dim=-1
        )
    intensity = torch.zeros(covered.shape, dtype=normal.dtype, device=normal.device)
    intensity[covered] = spherical_harmonic_lighting(normal.reshape(1, -1, 1, 3), lights).reshape(-1)
    return intensity, covered
