"""Mesh geometry on arrays: repair, normalisation, subdivision, vertex normals, primitives.

- :func:`repair_mesh` drops faces touching non-finite vertices, degenerate and duplicate faces, and
  unreferenced vertices, logging one warning with the counts.
- :func:`normalize_vertices` centres on the vertex mean and scales by the largest vertex norm, as
  Text2Mesh does, and returns the :class:`Normalization` that undoes it.
- :func:`subdivide_to_vertex_count` midpoint-subdivides, keeping the original vertices' indices.
- :func:`vertex_normals`: area-weighted unit vertex normals (torch, differentiable).
- :func:`make_icosphere`, :func:`make_cube`: test and example primitives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stylize.errors import InputError

__all__ = [
    "DEFAULT_MAX_FACES", "Normalization", "RepairReport", "make_cube", "make_icosphere", "normalize_vertices",
    "repair_mesh", "subdivide_to_vertex_count", "vertex_normals", "vertex_tangents",
]  # fmt: skip

logger = logging.getLogger(__name__)

DEFAULT_MAX_FACES = 2_000_000


@dataclass(frozen=True)
class Normalization:
    """``normalised = (original - center) / scale``; :meth:`invert` goes back to the file's frame."""

    center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Original frame -> normalised frame. Shape ``(N, 3)``."""
        return (np.asarray(points, dtype=np.float64) - self.center) / self.scale

    def invert(self, points: Any) -> Any:
        """Normalised frame -> original frame, for numpy arrays or torch tensors. Shape ``(N, 3)``."""
        if hasattr(points, "new_tensor"):
            return points * self.scale + points.new_tensor(self.center)
        return np.asarray(points, dtype=np.float64) * self.scale + self.center

    def to_dict(self) -> dict[str, Any]:
        return {"center": [float(c) for c in self.center], "scale": float(self.scale)}


@dataclass(frozen=True)
class RepairReport:
    """How many elements :func:`repair_mesh` removed, by reason."""

    nonfinite_faces: int = 0
    degenerate_faces: int = 0
    duplicate_faces: int = 0
    unreferenced_vertices: int = 0
    # For each kept face, its index in the input (faces keep their order).
    kept_face_index: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def changed(self) -> bool:
        return any((self.nonfinite_faces, self.degenerate_faces, self.duplicate_faces, self.unreferenced_vertices))

    def describe(self) -> str:
        parts = [
            f"{self.nonfinite_faces} face(s) with non-finite vertices",
            f"{self.degenerate_faces} degenerate face(s)",
            f"{self.duplicate_faces} duplicate face(s)",
            f"{self.unreferenced_vertices} unreferenced vertex(es)",
        ]
        return "removed " + ", ".join(parts)


def repair_mesh(
    vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None, name: str = "mesh"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, RepairReport]:
    """Drop unusable faces and vertices, keeping the order of what remains.

    Removes, in this order: faces touching a NaN/inf vertex; degenerate faces (a repeated index or
    zero area); duplicate faces (the same three vertices in any order, first one kept); vertices
    no face uses. Logs one warning with the counts when anything was removed.

    Args:
        vertices: vertex positions.
        faces: triangle indices.
        colors: optional per-vertex colours, kept in step with the vertices.
        name: what to call the mesh in the warning (usually the file name).

    Returns:
        ``(vertices, faces, colors, kept_vertex_index, report)``; ``kept_vertex_index[i]`` is the
        input index of output vertex ``i``.

    Shape:
        - vertices: ``(V, 3)``; faces: ``(F, 3)``; colors: ``(V, C)``.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise ValueError(f"expected integer faces of shape (F, 3), got {faces.shape} {faces.dtype}")
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise InputError(f"{name}: face indices out of range for {len(vertices)} vertices")

    finite_vertex = np.isfinite(vertices).all(axis=1)
    finite_face = finite_vertex[faces].all(axis=1)
    faces_finite = faces[finite_face]

    corners = vertices[faces_finite]
    with np.errstate(over="ignore", invalid="ignore"):  # huge coordinates are refused when normalised
        doubled_area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
        extent = np.ptp(vertices[finite_vertex], axis=0).max() if finite_vertex.any() else 0.0
    repeated = (
        (faces_finite[:, 0] == faces_finite[:, 1])
        | (faces_finite[:, 1] == faces_finite[:, 2])
        | (faces_finite[:, 0] == faces_finite[:, 2])
    )
    # Relative to the mesh size, so the rule means the same for millimetres and kilometres.
    with np.errstate(over="ignore"):
        degenerate = repeated | (doubled_area <= 1e-14 * max(extent, 1e-30) ** 2)
    faces_good = faces_finite[~degenerate]

    _, first = np.unique(np.sort(faces_good, axis=1), axis=0, return_index=True)
    unique_faces = faces_good[np.sort(first)]
    kept_face_index = np.flatnonzero(finite_face)[~degenerate][np.sort(first)]

    used = np.zeros(len(vertices), dtype=bool)
    used[unique_faces.reshape(-1)] = True
    kept_vertex_index = np.flatnonzero(used)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[kept_vertex_index] = np.arange(len(kept_vertex_index))

    report = RepairReport(
        nonfinite_faces=int((~finite_face).sum()),
        degenerate_faces=int(degenerate.sum()),
        duplicate_faces=int(len(faces_good) - len(unique_faces)),
        unreferenced_vertices=int(len(vertices) - len(kept_vertex_index)),
        kept_face_index=kept_face_index,
    )
    if report.changed:
        logger.warning("%s: %s", name, report.describe())
    new_colors = None if colors is None else np.asarray(colors)[kept_vertex_index]
    return vertices[kept_vertex_index], remap[unique_faces], new_colors, kept_vertex_index, report


def normalize_vertices(vertices: np.ndarray) -> tuple[np.ndarray, Normalization]:
    """Centre on the vertex mean and divide by the largest vertex norm (Text2Mesh's rule).

    Shape:
        - vertices: ``(V, 3)``; output ``(V, 3)`` inside the unit ball, touching it.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        center = vertices.mean(axis=0)
        scale = float(np.linalg.norm(vertices - center, axis=1).max())
    if not np.isfinite(scale) or not np.isfinite(center).all():
        raise InputError(f"vertex coordinates too large to normalise (extent {scale}): rescale the mesh")
    if scale <= 0:
        raise InputError(f"cannot normalise vertices spanning zero extent (scale {scale})")
    normalization = Normalization(center=center, scale=scale)
    return normalization.apply(vertices), normalization


def subdivide_to_vertex_count(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray | None,
    target_vertices: int,
    max_faces: int = DEFAULT_MAX_FACES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Midpoint-subdivide until there are at least ``target_vertices`` vertices.

    Each pass splits every triangle in four, appending new vertices after the existing ones, so
    original vertices keep their indices. Stops early rather than exceed ``max_faces``.

    Returns:
        ``(vertices, faces, colors, passes)``.
    """
    import trimesh.remesh

    passes = 0
    while len(vertices) < target_vertices and 4 * len(faces) <= max_faces:
        attributes = {"color": np.asarray(colors, dtype=np.float64)} if colors is not None else None
        result = trimesh.remesh.subdivide(vertices, faces, vertex_attributes=attributes)
        vertices, faces = result[0], result[1]
        if colors is not None:
            colors = result[2]["color"]
        passes += 1
    if len(vertices) < target_vertices:
        logger.warning(
            "subdivision stopped at %d vertices (target %d) to stay under %d faces", len(vertices), target_vertices, max_faces
        )
    return vertices, faces, colors, passes


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals of a triangle mesh.

    Shape:
        - vertices: ``(V, 3)``; faces: ``(F, 3)`` int64.
        - Output: ``(V, 3)``.
    """
    if vertices.dim() != 2 or vertices.shape[-1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {tuple(vertices.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"expected faces of shape (F, 3), got {tuple(faces.shape)}")
    corners = vertices[faces]
    cross = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = torch.zeros_like(vertices).index_add_(0, faces.reshape(-1), cross.repeat_interleave(3, dim=0))
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def make_icosphere(subdivisions: int = 2, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A closed, outward-wound icosphere ``(vertices (V, 3), faces (F, 3))`` with ``20 * 4**n`` faces."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(sphere.vertices, dtype=np.float64), np.asarray(sphere.faces, dtype=np.int64)


def make_cube(size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned cube centred on the origin: 8 vertices, 12 outward-wound faces."""
    import trimesh

    box = trimesh.creation.box(extents=(size, size, size))
    return np.asarray(box.vertices, dtype=np.float64), np.asarray(box.faces, dtype=np.int64)


def vertex_tangents(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Per-vertex tangent frames for tangent-space normal maps, as glTF ``TANGENT`` ``(V, 4)``.

    The convention is MikkTSpace's as Blender and the glTF exporters use it: the tangent points
    along increasing ``u``, the bitangent ``cross(normal, tangent.xyz) * tangent.w`` along
    increasing ``v`` of *v-up* texture coordinates (``uv`` here is trimesh's / OBJ's v-up
    convention; glTF's v-down ``v`` decreases along it), so a normal map's green channel is +Y
    "up" in the image (OpenGL, what glTF's ``normalTexture`` specifies). Per-triangle tangents
    from the UV derivatives are area-weighted into the vertices, then Gram-Schmidt
    orthogonalised against the vertex normal; ``w`` is the handedness (+1 or -1, -1 where the
    UVs are mirrored).

    Shape:
        - vertices: ``(V, 3)``; faces: ``(F, 3)``; uv: ``(V, 2)`` v-up; normals: ``(V, 3)`` unit.
        - Output: ``(V, 4)`` float32, unit ``xyz``.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    uv = np.asarray(uv, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    p0, p1, p2 = (vertices[faces[:, k]] for k in range(3))
    t0, t1, t2 = (uv[faces[:, k]] for k in range(3))
    e1, e2 = p1 - p0, p2 - p0
    d1, d2 = t1 - t0, t2 - t0
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    sign = np.sign(det)[:, None]  # 0 where the UV triangle is degenerate: that face adds nothing
    # dp/du and dp/dv of each triangle (up to the positive factor 1 / |det|), unit length, then
    # weighted by the triangle's 3D area when summed into its vertices.
    area = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1, keepdims=True)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)

    face_tangent = unit((e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * sign) * area * np.abs(sign)
    face_bitangent = unit((e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * sign) * area * np.abs(sign)
    tangent = np.zeros_like(vertices)
    bitangent = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(tangent, faces[:, k], face_tangent)
        np.add.at(bitangent, faces[:, k], face_bitangent)
    tangent -= normals * (tangent * normals).sum(1, keepdims=True)
    length = np.linalg.norm(tangent, axis=1, keepdims=True)
    # Vertices without usable UVs get any tangent perpendicular to the normal.
    fallback = np.cross(normals, np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    tangent = np.where(
        length > 1e-12, tangent / np.maximum(length, 1e-12), fallback / np.linalg.norm(fallback, axis=1, keepdims=True)
    )
    handedness = np.where((np.cross(normals, tangent) * bitangent).sum(1) < 0.0, -1.0, 1.0)
    return np.concatenate([tangent, handedness[:, None]], axis=1).astype(np.float32)
