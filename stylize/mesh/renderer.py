"""The mesh renderer contract: request checks, the camera split, compositing and the registry.

A mesh renderer is a module called as
``renderer(vertices, faces, features, cameras, projection=None) -> RenderResult``:

- vertices: ``(V, 3)`` or ``(B, V, 3)`` world space (one mesh is shared by all cameras);
- faces: ``(F, 3)`` int64;
- features: per vertex ``(V, D)`` / ``(B, V, D)``, or per face corner ``(B, F, 3, D)``;
- cameras: :class:`~stylize.mesh.camera.CameraViews`, or kaolin camera transforms ``(B, 4, 3)``
  (then ``projection`` ``(3, 1)``, default: the renderer's field of view);
- returns per-pixel features ``(B, H, W, D)`` (0 where empty), a hard 0/1 mask and the visible
  face per pixel (-1 where empty), differentiable w.r.t. features and, through the barycentric
  weights, vertex positions, as kaolin's ``dibr_rasterization``.

Backends subclass :class:`MeshRendererBase` (size, field of view and the request checks in one
place) and are registered in :data:`MESH_RENDERERS`: ``"torch"`` (:mod:`stylize.mesh.raster`, pure
PyTorch, the default) and ``"kaolin"`` (:mod:`stylize.mesh.kaolin_backend`, CUDA, only where
kaolin imports). Pick one with :func:`get_renderer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from stylize.mesh.camera import CameraViews, generate_perspective_projection
from stylize.registry import Registry

__all__ = [
    "MESH_RENDERERS", "MeshRenderer", "MeshRendererBase", "RenderResult", "as_batched", "composite_background",
    "get_renderer", "split_cameras",
]  # fmt: skip


@dataclass
class RenderResult:
    """What a mesh renderer returns.

    Attributes:
        features: interpolated per-pixel features, 0 where empty, ``(B, H, W, D)``.
        mask: hard 0/1 coverage, ``(B, H, W)`` (kaolin's backend: its soft mask).
        face_index: visible face per pixel, -1 where empty, ``(B, H, W)`` int64.
        face_normals: unit camera-space face normals, ``(B, F, 3)`` (differentiable w.r.t. vertices).
    """

    features: torch.Tensor
    mask: torch.Tensor
    face_index: torch.Tensor
    face_normals: torch.Tensor

    def pixel_normals(self) -> torch.Tensor:
        """Camera-space normal of the visible face at each pixel, 0 where empty, ``(B, H, W, 3)``.

        This is what Text2Mesh feeds to spherical-harmonic lighting (flat shading).
        """
        batch = self.face_normals.shape[0]
        safe_index = self.face_index.clamp(min=0).reshape(batch, -1)
        gathered = torch.gather(self.face_normals, 1, safe_index.unsqueeze(-1).expand(-1, -1, 3))
        gathered = gathered.reshape(*self.face_index.shape, 3)
        return gathered * (self.face_index >= 0).unsqueeze(-1).to(gathered.dtype)

    def view_directions(self, projection: torch.Tensor) -> torch.Tensor:
        """Unit camera-space directions from each pixel's surface point towards the camera,
        ``(B, H, W, 3)``, for a perspective ``projection`` ``(3, 1)`` (kaolin's): the camera sits
        at the origin looking down ``-z``, and pixel centres follow the rasterizer's NDC convention
        (x right, y up), so the direction depends only on the pixel, not on the depth."""
        batch, height, width = self.face_index.shape
        proj = projection.reshape(-1).to(self.face_normals)
        cols = torch.arange(width, device=proj.device, dtype=proj.dtype)
        rows = torch.arange(height, device=proj.device, dtype=proj.dtype)
        x = ((2 * cols + 1 - width) / width / proj[0]).expand(height, width)
        y = ((height - 2 * rows - 1) / height / proj[1])[:, None].expand(height, width)
        directions = torch.stack([-x, -y, torch.ones_like(x)], dim=-1)
        directions = directions / directions.norm(dim=-1, keepdim=True)
        return directions.expand(batch, height, width, 3)


@runtime_checkable
class MeshRenderer(Protocol):
    """Renders meshes from cameras; see the module docstring for the call contract."""

    height: int
    width: int

    def __call__(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        features: torch.Tensor,
        cameras: CameraViews | torch.Tensor,
        projection: torch.Tensor | None = None,
    ) -> RenderResult: ...


def as_batched(name: str, tensor: torch.Tensor, last: int | None) -> torch.Tensor:
    """``(N, D)`` -> ``(1, N, D)``; checks the rank and, when given, the last dimension."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected {name} to be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 3 or (last is not None and tensor.shape[-1] != last):
        want = f"(V, {last}) or (B, V, {last})" if last else "(V, D) or (B, V, D)"
        raise ValueError(f"expected {name} of shape {want}, got {tuple(tensor.shape)}")
    return tensor


def split_cameras(
    cameras: CameraViews | torch.Tensor, projection: torch.Tensor | None, default_fov: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera transforms ``(B, 4, 3)`` and projection ``(3, 1)`` from either calling style."""
    if isinstance(cameras, CameraViews):
        return cameras.transform, cameras.projection if projection is None else projection
    if not isinstance(cameras, torch.Tensor):
        raise TypeError(f"expected cameras as CameraViews or a (B, 4, 3) tensor, got {type(cameras).__name__}")
    transform = cameras.unsqueeze(0) if cameras.dim() == 2 else cameras
    if transform.dim() != 3 or transform.shape[1:] != (4, 3):
        raise ValueError(f"expected camera transforms of shape (B, 4, 3), got {tuple(cameras.shape)}")
    return transform, generate_perspective_projection(default_fov) if projection is None else projection


def composite_background(rgb: torch.Tensor, alpha: torch.Tensor, background: float = 1.0) -> torch.Tensor:
    """``rgb * alpha + background * (1 - alpha)`` as images ``(B, 3, H, W)``.

    Shape:
        - rgb: ``(B, H, W, 3)``; alpha: ``(B, H, W, 1)``.
    """
    image = rgb * alpha + background * (1.0 - alpha)
    return image.permute(0, 3, 1, 2).contiguous()


class MeshRendererBase(nn.Module):
    """What every backend shares: image size, field of view, and the checked request.

    Args:
        height: image height in pixels.
        width: image width in pixels (defaults to ``height``).
        fov: vertical field of view used when cameras come as bare transforms (radians).
    """

    name = "base"

    def __init__(self, height: int = 224, width: int | None = None, fov: float = torch.pi / 3) -> None:
        super().__init__()
        self.height = int(height)
        self.width = int(width if width is not None else height)
        if self.height < 1 or self.width < 1:
            raise ValueError(f"expected a positive image size, got {self.height} x {self.width}")
        self.fov = float(fov)

    def request(
        self, vertices: torch.Tensor, cameras: CameraViews | torch.Tensor, projection: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Checked ``(vertices (B|1, V, 3), transforms (B, 4, 3), projection (3, 1))`` on the vertices'
        device and dtype."""
        vertices = as_batched("vertices", vertices, 3)
        transform, projection = split_cameras(cameras, projection, self.fov)
        transform = transform.to(device=vertices.device, dtype=vertices.dtype)
        projection = projection.to(device=vertices.device, dtype=vertices.dtype)
        return vertices, transform, projection


# name -> "module:Class"; backends load on first lookup, so optional ones never import early.
MESH_RENDERERS: Registry[type[MeshRendererBase]] = Registry(
    "mesh renderer",
    {"torch": "stylize.mesh.raster:TorchMeshRenderer", "kaolin": "stylize.mesh.kaolin_backend:KaolinMeshRenderer"},
)


def get_renderer(name: str = "torch", **options) -> MeshRenderer:
    """Build the mesh renderer registered as ``name`` (``"torch"`` or ``"kaolin"``) with ``options``
    (``height``, ``width``, ``fov``, and the backend's own)."""
    return MESH_RENDERERS.lookup(name)(**options)
