"""Cameras with kaolin's conventions, plus Text2Mesh's view sampler and deterministic orbits.

Conventions (kaolin 0.12-0.18: ``prepare_vertices``, ``generate_perspective_projection`` and
``generate_transformation_matrix``):

- A camera transform is a ``(B, 4, 3)`` matrix ``T``: rows 0-2 hold the rotation whose *columns*
  are the camera's x, y, z axes in world space, row 3 the translation. Camera-space points are
  ``[v, 1] @ T``. The camera looks down its own ``-z`` axis, so visible points have ``z < 0``.
- A projection is a ``(3, 1)`` vector ``[1 / (ratio * tan(fovy / 2)), 1 / tan(fovy / 2), -1]``;
  image coordinates are ``(p * proj)[:2] / (p * proj)[2]``, in ``[-1, 1]`` across the field of view
  with ``+y`` up.

Angles follow Text2Mesh: a camera at azimuth ``a`` and elevation ``e`` on a sphere of radius ``r``
sits at ``(r cos e cos a, r sin e, r cos e sin a)`` and looks at the origin with ``+y`` up, so
azimuth ``pi / 2`` and elevation 0 look at the mesh's ``+z`` side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stylize.mesh.config import TEXT2MESH_CENTER_AZIMUTH, TEXT2MESH_CENTER_ELEVATION

__all__ = [
    "CameraViews",
    "camera_position_from_angles",
    "generate_perspective_projection",
    "generate_transformation_matrix",
    "grid_views",
    "index_vertices_by_faces",
    "orbit_views",
    "prepare_vertices",
    "sample_text2mesh_views",
    "turntable_views",
]


def _check_last_dim(name: str, tensor: torch.Tensor, dims: int, size: int) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected {name} to be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != dims or tensor.shape[-1] != size:
        expected = ", ".join(["*"] * (dims - 1) + [str(size)])
        raise ValueError(f"expected {name} of shape ({expected}), got {tuple(tensor.shape)}")


def generate_perspective_projection(fovy: float, ratio: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Kaolin's perspective projection vector for a vertical field of view.

    Args:
        fovy: vertical field of view in radians, in ``(0, pi)``.
        ratio: width / height of the image.
        dtype: dtype of the result.

    Returns:
        ``[1 / (ratio * tan(fovy / 2)), 1 / tan(fovy / 2), -1]``.

    Shape:
        - Output: ``(3, 1)``.
    """
    fovy = float(fovy)
    if not 0.0 < fovy < math.pi:
        raise ValueError(f"expected fovy in (0, pi) radians, got {fovy}")
    if ratio <= 0:
        raise ValueError(f"expected a positive aspect ratio, got {ratio}")
    focal = 1.0 / math.tan(fovy / 2.0)
    return torch.tensor([[focal / ratio], [focal], [-1.0]], dtype=dtype)


def generate_transformation_matrix(camera_position: torch.Tensor, look_at: torch.Tensor, camera_up: torch.Tensor) -> torch.Tensor:
    """Kaolin's look-at camera transform.

    ``z = normalise(position - look_at)``, ``x = normalise(up x z)``, ``y = z x x``; the rotation
    has columns ``[x, y, z]`` and the translation row is ``-position @ rotation``.

    Where ``up`` is parallel to the viewing direction (a camera straight above or below) kaolin
    returns NaNs; here the world ``+z`` (or ``+x``) axis stands in for ``up`` so the view is usable.

    Args:
        camera_position: camera centres in world space.
        look_at: points the cameras look at.
        camera_up: up directions (need not be unit length).

    Returns:
        The camera transforms.

    Shape:
        - camera_position, look_at, camera_up: ``(B, 3)`` (``(3,)`` or ``(1, 3)`` broadcast).
        - Output: ``(B, 4, 3)``.
    """
    tensors = []
    for name, value in (("camera_position", camera_position), ("look_at", look_at), ("camera_up", camera_up)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"expected {name} to be a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 1:
            value = value.unsqueeze(0)
        _check_last_dim(name, value, 2, 3)
        tensors.append(value)
    position, target, up = torch.broadcast_tensors(*tensors)
    z_axis = torch.nn.functional.normalize(position - target, dim=1)
    x_raw = torch.linalg.cross(up, z_axis, dim=1)
    degenerate = x_raw.norm(dim=1, keepdim=True) < 1e-8
    if bool(degenerate.any()):
        fallback = torch.zeros_like(up)
        # +z is a sensible "up" for a camera looking straight down the y axis; +x otherwise.
        use_x = z_axis[:, 2:3].abs() > 0.9
        fallback[:, 2:3] = (~use_x).to(up.dtype)
        fallback[:, 0:1] = use_x.to(up.dtype)
        x_raw = torch.where(degenerate, torch.linalg.cross(fallback, z_axis, dim=1), x_raw)
    x_axis = torch.nn.functional.normalize(x_raw, dim=1)
    y_axis = torch.linalg.cross(z_axis, x_axis, dim=1)
    rotation = torch.stack([x_axis, y_axis, z_axis], dim=2)
    translation = -position.unsqueeze(1) @ rotation
    return torch.cat([rotation, translation], dim=1)


def index_vertices_by_faces(vertices_features: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Gather per-vertex features into per-face-corner features (differentiable).

    Args:
        vertices_features: features of each vertex.
        faces: vertex indices of each triangle.

    Returns:
        Features of the three corners of each face.

    Shape:
        - vertices_features: ``(B, V, D)``.
        - faces: ``(F, 3)`` integer.
        - Output: ``(B, F, 3, D)``.
    """
    _check_last_dim("faces", faces, 2, 3)
    if not isinstance(vertices_features, torch.Tensor) or vertices_features.dim() != 3:
        shape = tuple(vertices_features.shape) if isinstance(vertices_features, torch.Tensor) else type(vertices_features)
        raise ValueError(f"expected vertices_features of shape (B, V, D), got {shape}")
    if faces.dtype.is_floating_point:
        raise TypeError(f"expected integer faces, got {faces.dtype}")
    flat = faces.reshape(-1).to(device=vertices_features.device, dtype=torch.long)
    gathered = vertices_features.index_select(1, flat)
    return gathered.reshape(vertices_features.shape[0], faces.shape[0], 3, vertices_features.shape[-1])


def face_normals(face_vertices: torch.Tensor, unit: bool = True) -> torch.Tensor:
    """Normals ``(v1 - v0) x (v2 - v0)`` of triangles given by their corners.

    Shape:
        - face_vertices: ``(B, F, 3, 3)``.
        - Output: ``(B, F, 3)``.
    """
    if face_vertices.dim() != 4 or face_vertices.shape[-2:] != (3, 3):
        raise ValueError(f"expected face_vertices of shape (B, F, 3, 3), got {tuple(face_vertices.shape)}")
    edge_a = face_vertices[:, :, 1] - face_vertices[:, :, 0]
    edge_b = face_vertices[:, :, 2] - face_vertices[:, :, 0]
    normals = torch.linalg.cross(edge_a, edge_b, dim=-1)
    return torch.nn.functional.normalize(normals, dim=-1) if unit else normals


def prepare_vertices(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera_proj: torch.Tensor,
    camera_rot: torch.Tensor | None = None,
    camera_trans: torch.Tensor | None = None,
    camera_transform: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move vertices into camera space, project them and gather them per face, as kaolin does.

    Either ``camera_transform`` (kaolin's ``(B, 4, 3)``) or ``camera_rot`` and ``camera_trans``
    (``(B, 3, 3)`` and ``(B, 1, 3)`` or ``(B, 3)``, camera point ``= (v - trans) @ rot^T``, as kaolin)
    must be given.

    Args:
        vertices: world-space vertices; a batch of one is broadcast over the cameras.
        faces: triangle vertex indices.
        camera_proj: kaolin projection from :func:`generate_perspective_projection`.
        camera_rot: optional rotations (kaolin's older interface).
        camera_trans: optional camera positions (kaolin's older interface).
        camera_transform: camera transforms from :func:`generate_transformation_matrix`.

    Returns:
        ``(face_vertices_camera, face_vertices_image, face_normals)``; the normals are unit length
        and computed in camera space, so ``face_normals[..., 2] >= 0`` means front facing.

    Shape:
        - vertices: ``(B, V, 3)`` or ``(1, V, 3)``.
        - faces: ``(F, 3)``.
        - camera_proj: ``(3, 1)``.
        - camera_transform: ``(B, 4, 3)``.
        - Output: ``(B, F, 3, 3)``, ``(B, F, 3, 2)``, ``(B, F, 3)``.
    """
    _check_last_dim("vertices", vertices, 3, 3)
    if camera_proj.numel() != 3:
        raise ValueError(f"expected camera_proj of shape (3, 1), got {tuple(camera_proj.shape)}")
    if camera_transform is not None:
        if camera_transform.dim() == 2:
            camera_transform = camera_transform.unsqueeze(0)
        if camera_transform.dim() != 3 or camera_transform.shape[1:] != (4, 3):
            raise ValueError(f"expected camera_transform of shape (B, 4, 3), got {tuple(camera_transform.shape)}")
        homogeneous = torch.nn.functional.pad(vertices, (0, 1), value=1.0)
        vertices_camera = homogeneous @ camera_transform.to(vertices.dtype)
    elif camera_rot is not None and camera_trans is not None:
        translation = camera_trans.reshape(camera_trans.shape[0], 1, 3).to(vertices.dtype)
        vertices_camera = (vertices - translation) @ camera_rot.to(vertices.dtype).transpose(1, 2)
    else:
        raise ValueError("expected camera_transform, or both camera_rot and camera_trans, got neither")
    projected = vertices_camera * camera_proj.reshape(1, 1, 3).to(vertices_camera)
    vertices_image = projected[..., :2] / projected[..., 2:3]
    face_vertices_camera = index_vertices_by_faces(vertices_camera, faces)
    face_vertices_image = index_vertices_by_faces(vertices_image, faces)
    return face_vertices_camera, face_vertices_image, face_normals(face_vertices_camera, unit=True)


def camera_position_from_angles(
    elevation: torch.Tensor, azimuth: torch.Tensor, radius: float | torch.Tensor = 2.0
) -> torch.Tensor:
    """Camera centres on a sphere around the origin, with Text2Mesh's angle convention.

    Shape:
        - elevation, azimuth: ``(N,)`` radians.
        - Output: ``(N, 3)``.
    """
    elevation = torch.as_tensor(elevation, dtype=torch.float32).reshape(-1)
    azimuth = torch.as_tensor(azimuth, dtype=elevation.dtype).reshape(-1)
    if elevation.shape != azimuth.shape:
        raise ValueError(f"expected as many elevations as azimuths, got {elevation.numel()} and {azimuth.numel()}")
    x = torch.cos(elevation) * torch.cos(azimuth)
    y = torch.sin(elevation)
    z = torch.cos(elevation) * torch.sin(azimuth)
    return torch.stack([x, y, z], dim=1) * radius


@dataclass(frozen=True)
class CameraViews:
    """A set of cameras ready for :func:`prepare_vertices` or a mesh renderer.

    Attributes:
        transform: kaolin camera transforms, ``(N, 4, 3)``.
        projection: kaolin projection, ``(3, 1)``.
        elevation: elevation of each camera in radians, ``(N,)``.
        azimuth: azimuth of each camera in radians, ``(N,)``.
        radius: distance of the cameras from the origin.
    """

    transform: torch.Tensor
    projection: torch.Tensor
    elevation: torch.Tensor
    azimuth: torch.Tensor
    radius: float

    def __len__(self) -> int:
        return int(self.transform.shape[0])

    @property
    def world_to_camera(self) -> torch.Tensor:
        """Rotations ``(N, 3, 3)`` taking world directions into each camera's frame,
        ``x_cam = R x_world`` (the transposed rotation block of :attr:`transform`, whose columns
        are the camera axes in world space)."""
        return self.transform[:, :3, :].transpose(1, 2)

    def to(self, device: torch.device | str) -> CameraViews:
        """The same cameras on another device."""
        return CameraViews(self.transform.to(device), self.projection.to(device), self.elevation, self.azimuth, self.radius)


def framing_distance(extent: float, fov: float, margin: float = 1.0) -> float:
    """The camera distance at which a sphere of radius ``extent`` around the look-at point just
    fits a view of field of view ``fov`` (radians), times ``margin``: previews move back to it
    when a result grew past the configured distance (displacement can push a mesh out of its
    unit sphere)."""
    if not (extent >= 0 and 0 < fov < math.pi):
        raise ValueError(f"expected extent >= 0 and fov in (0, pi), got {extent} and {fov}")
    return margin * extent / math.sin(fov / 2)


def orbit_views(
    azimuths: Sequence[float] | torch.Tensor,
    elevations: Sequence[float] | torch.Tensor,
    radius: float = 2.0,
    fov: float = math.pi / 3,
    look_at: Sequence[float] = (0.0, 0.0, 0.0),
) -> CameraViews:
    """Cameras at paired ``(azimuth, elevation)`` angles (radians) looking at ``look_at``, ``+y`` up.

    Deterministic: the same angles always give the same matrices.

    Shape:
        - azimuths, elevations: ``(N,)`` (a single elevation is broadcast).
    """
    azimuth = torch.as_tensor(azimuths, dtype=torch.float32).reshape(-1)
    elevation = torch.as_tensor(elevations, dtype=torch.float32).reshape(-1)
    if elevation.numel() == 1 and azimuth.numel() > 1:
        elevation = elevation.expand_as(azimuth).clone()
    if azimuth.numel() == 0 or azimuth.shape != elevation.shape:
        raise ValueError(f"expected as many azimuths as elevations (at least one), got {azimuth.numel()} and {elevation.numel()}")
    if radius <= 0:
        raise ValueError(f"expected a positive camera radius, got {radius}")
    target = torch.tensor(look_at, dtype=torch.float32).reshape(1, 3)
    position = camera_position_from_angles(elevation, azimuth, radius) + target
    up = torch.tensor([[0.0, 1.0, 0.0]])
    transform = generate_transformation_matrix(position, target, up)
    return CameraViews(transform, generate_perspective_projection(fov), elevation, azimuth, float(radius))


def grid_views(
    n_azimuths: int = 8,
    elevations_deg: Sequence[float] = (-30.0, 0.0, 30.0),
    radius: float = 2.5,
    fov: float = math.radians(45.0),
) -> CameraViews:
    """Every combination of ``n_azimuths`` evenly spaced azimuths and the given elevations.

    The defaults are the 24-view evaluation protocol (8 azimuths x -30/0/30 degrees, radius 2.5,
    field of view 45 degrees). Views are ordered elevation-major.
    """
    if n_azimuths < 1:
        raise ValueError(f"expected at least one azimuth, got {n_azimuths}")
    azimuth = torch.arange(n_azimuths, dtype=torch.float32) * (2 * math.pi / n_azimuths)
    elevation = torch.tensor([math.radians(e) for e in elevations_deg], dtype=torch.float32)
    grid_elevation, grid_azimuth = torch.meshgrid(elevation, azimuth, indexing="ij")
    return orbit_views(grid_azimuth.reshape(-1), grid_elevation.reshape(-1), radius=radius, fov=fov)


def turntable_views(
    n_frames: int, elevation_deg: float = 15.0, radius: float = 2.0, fov: float = math.pi / 3, start_azimuth: float = math.pi / 2
) -> CameraViews:
    """``n_frames`` cameras going once around the vertical axis, starting at ``start_azimuth``."""
    if n_frames < 1:
        raise ValueError(f"expected at least one frame, got {n_frames}")
    azimuth = start_azimuth + torch.arange(n_frames, dtype=torch.float32) * (2 * math.pi / n_frames)
    return orbit_views(azimuth, [math.radians(elevation_deg)], radius=radius, fov=fov)


def sample_text2mesh_views(
    n_views: int = 5,
    center_azimuth: float = TEXT2MESH_CENTER_AZIMUTH,
    center_elevation: float = TEXT2MESH_CENTER_ELEVATION,
    std: float = 4.0,
    radius: float = 2.0,
    fov: float = math.pi / 3,
    generator: torch.Generator | None = None,
) -> CameraViews:
    """Text2Mesh's view sampler: the exact front view, then views scattered around it.

    View 0 sits at the centre angles; the others draw ``elevation ~ N(centre, pi / std)`` and then
    ``azimuth ~ N(centre, 2 pi / std)`` from ``generator`` (so a seeded generator repeats the
    sequence).

    Args:
        n_views: number of cameras, at least 1.
        center_azimuth: azimuth of the front view (radians).
        center_elevation: elevation of the front view (radians).
        std: spread divisor; larger means views closer to the front.
        radius: camera distance from the origin.
        fov: vertical field of view (radians).
        generator: CPU random generator; the global one when None.
    """
    if n_views < 1:
        raise ValueError(f"expected at least one view, got {n_views}")
    if std <= 0:
        raise ValueError(f"expected a positive std divisor, got {std}")
    others = n_views - 1
    elevation_noise = torch.randn(others, generator=generator) * (math.pi / std)
    azimuth_noise = torch.randn(others, generator=generator) * (2 * math.pi / std)
    elevation = torch.cat([torch.zeros(1), elevation_noise]) + center_elevation
    azimuth = torch.cat([torch.zeros(1), azimuth_noise]) + center_azimuth
    return orbit_views(azimuth, elevation, radius=radius, fov=fov)
