"""Copies of one surface position: welding for displacement, smoothing groups for written normals.

Game assets split a vertex wherever one of its attributes changes: at UV seams (two UVs), hard
edges (two normals) and material borders (two primitives). The copies sit at one position, and
the surface is closed only while they stay there. So:

- **displacement** moves every copy of a position together: along the *welded* normal (the
  area-weighted face normals of every face around the position, whichever copy those faces use,
  :func:`welded_normals`) by one amount (the mean of the copies', :func:`group_mean`; the field
  gives copies one value already, a mask may not);
- **written normals** keep the file's hard edges: copies whose reference normals agree (the
  file's own normals within :data:`FILE_NORMAL_DEGREES`, else the normals each copy's own faces
  give within :data:`COMPUTED_NORMAL_DEGREES`) form one *smoothing group* and get one normal
  (:func:`shading_normals`), so a UV seam shades smoothly and a hard edge stays sharp; neither
  opens.

:func:`position_groups` finds the copies (positions equal within a tolerance relative to the
mesh's size), :func:`seam_gap` measures how far copies drifted apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "COMPUTED_NORMAL_DEGREES", "FILE_NORMAL_DEGREES", "file_normals", "group_mean", "mesh_smoothing_groups",
    "position_groups", "seam_gap", "shading_normals", "smoothing_groups", "surface_smoothing_groups", "weld_surface", "welded_normals",
]  # fmt: skip

#: Copies whose file normals differ by more than this many degrees are a hard edge.
FILE_NORMAL_DEGREES = 10.0
#: Without file normals: copies whose own faces' normals differ by more than this are a hard edge
#: (each copy sees half the fan around a seam, so a smooth seam's copies differ by the fan's bend).
COMPUTED_NORMAL_DEGREES = 45.0
#: Positions closer than this share of the bounding-box diagonal are one position.
WELD_TOLERANCE = 1e-6


def _components(count: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Connected components ``(count,)`` (labels ``0..k-1``, by first member) of the graph with
    edges ``first[i] -- second[i]``."""
    labels = np.arange(count)
    if len(first):
        while True:
            low = np.minimum(labels[first], labels[second])
            before = labels.copy()
            np.minimum.at(labels, first, low)
            np.minimum.at(labels, second, low)
            labels = labels[labels]  # pointer jumping: long chains settle in a few rounds
            if np.array_equal(labels, before):
                break
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def position_groups(vertices: Any, tolerance: float = WELD_TOLERANCE) -> np.ndarray:
    """Which vertices are copies of one position: ``(V,)`` int64 group labels (``0..G-1``).

    Positions within ``tolerance`` x the bounding-box diagonal are one position (two grids half
    a cell apart, so copies on either side of a grid line still meet).

    Shape:
        - vertices: ``(V, 3)`` numpy array or tensor.
    """
    vertices = np.asarray(vertices.detach().cpu() if hasattr(vertices, "detach") else vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {vertices.shape}")
    if len(vertices) == 0:
        return np.zeros(0, dtype=np.int64)
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    cell = max(tolerance * diagonal, 1e-30)
    scaled = (vertices - vertices.min(axis=0)) / cell
    first = np.unique(np.floor(scaled).astype(np.int64), axis=0, return_inverse=True)[1].reshape(-1)
    second = np.unique(np.floor(scaled + 0.5).astype(np.int64), axis=0, return_inverse=True)[1].reshape(-1)
    # vertex -- its cell in either grid: a vertex graph with len(vertices) + cells nodes
    offset = len(vertices)
    nodes = offset + first.max() + 1 + second.max() + 1
    index = np.arange(len(vertices))
    edges_a = np.concatenate([index, index])
    edges_b = np.concatenate([offset + first, offset + first.max() + 1 + second])
    labels = _components(int(nodes), edges_a, edges_b)[: len(vertices)]
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def _as_index(groups: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(groups) if not torch.is_tensor(groups) else groups, dtype=torch.int64, device=device)


def group_mean(values: torch.Tensor, groups: Any) -> torch.Tensor:
    """Every row replaced by the mean of its group's rows (differentiable).

    Shape:
        - values: ``(V, C)``; groups: ``(V,)`` labels ``0..G-1``. Output ``(V, C)``.
    """
    index = _as_index(groups, values.device)
    count = len(index)  # labels are below V: no read of the largest back from the device
    sums = values.new_zeros(count, values.shape[1]).index_add(0, index, values)
    counts = values.new_zeros(count).index_add(0, index, values.new_ones(len(index)))
    return (sums / counts[:, None].clamp_min(1.0))[index]


def welded_normals(vertices: torch.Tensor, faces: torch.Tensor, groups: Any) -> torch.Tensor:
    """Area-weighted unit normals of the surface welded at ``groups``: every copy of a group gets
    the normal of all faces around it, whichever copy they use.

    Shape:
        - vertices: ``(V, 3)``; faces: ``(F, 3)`` int64; groups: ``(V,)`` labels. Output ``(V, 3)``.
    """
    if vertices.dim() != 2 or vertices.shape[-1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {tuple(vertices.shape)}")
    corners = vertices[faces]
    cross = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    summed = torch.zeros_like(vertices).index_add_(0, faces.reshape(-1), cross.repeat_interleave(3, dim=0))
    index = _as_index(groups, vertices.device)
    count = len(index)
    welded = vertices.new_zeros(count, 3).index_add(0, index, summed)[index]
    return torch.nn.functional.normalize(welded, dim=-1, eps=1e-12)


def weld_surface(
    vertices: torch.Tensor, faces: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """What a displaced surface needs to stay closed: ``(groups (V,) int64, welded normals (V, 3),
    weights (V, 1) or None)``, the mask weights averaged over each position's copies (so a copy
    keeps its position exactly only when every copy of it has weight 0), on ``vertices``' device."""
    groups = torch.as_tensor(position_groups(vertices), dtype=torch.int64, device=vertices.device)
    normals = welded_normals(vertices, faces, groups)
    if weights is not None:
        weights = group_mean(weights.reshape(-1, 1), groups)
    return groups, normals, weights


def smoothing_groups(positions: np.ndarray, reference: np.ndarray, degrees: float | np.ndarray) -> np.ndarray:
    """Split position groups into smoothing groups: copies whose ``reference`` normals are within
    ``degrees`` of each other (directly or through other copies) are one group.

    Args:
        positions: ``(V,)`` position-group labels (:func:`position_groups`).
        reference: ``(V, 3)`` unit normals to compare.
        degrees: the largest angle of one smooth group, one value or ``(V,)`` per vertex (a pair
            is smooth when it is within the larger of its two vertices' angles).

    Returns:
        ``(V,)`` int64 labels ``0..S-1``.
    """
    positions = np.asarray(positions, dtype=np.int64)
    reference = np.asarray(reference, dtype=np.float64)
    cosine = np.cos(np.radians(np.broadcast_to(np.asarray(degrees, dtype=np.float64), positions.shape)))
    order = np.argsort(positions, kind="stable")
    ranked = positions[order]
    first, second = [], []
    for step in range(1, 65):  # copies of one position sit next to each other in `order`
        same = ranked[step:] == ranked[:-step]
        if not same.any():
            break
        a, b = order[:-step][same], order[step:][same]
        agree = (reference[a] * reference[b]).sum(axis=1) >= np.minimum(cosine[a], cosine[b]) - 1e-9
        first.append(a[agree])
        second.append(b[agree])
    if not first:
        return np.arange(len(positions), dtype=np.int64)
    return _components(len(positions), np.concatenate(first), np.concatenate(second))


def file_normals(mesh: Any) -> np.ndarray | None:
    """The file's own normals of a loaded glTF mesh in its world frame, ``(V, 3)`` with NaN rows
    where the file had none (primitives without ``NORMAL``, vertices subdivision added); None
    for meshes that did not come from a glTF scene."""
    from stylize.mesh.gltf.scene import SceneSource

    source = getattr(mesh, "source_scene", None)
    if not isinstance(source, SceneSource):
        return None
    count = len(mesh.vertices)
    out = np.full((count, 3), np.nan)
    index = mesh.source_vertex_index if mesh.source_vertex_index is not None else np.arange(count)
    index = np.asarray(index, dtype=np.int64)
    for instance in source.instances:
        normals = instance.attributes.get("NORMAL")
        if normals is None:
            continue
        start, stop = instance.file_vertex_range
        mine = np.flatnonzero((index >= start) & (index < stop))
        if not len(mine):
            continue
        linear = instance.world[:3, :3]
        try:
            turned = normals[index[mine] - start] @ np.linalg.inv(linear)  # inverse transpose, row vectors
        except np.linalg.LinAlgError:
            continue
        length = np.linalg.norm(turned, axis=1, keepdims=True)
        out[mine] = np.where(length > 0, turned / np.where(length > 0, length, 1.0), np.nan)
    return out


def surface_smoothing_groups(vertices: Any, faces: Any, reference: np.ndarray | None = None) -> np.ndarray:
    """Smoothing groups ``(V,)`` of a surface: copies of one position whose ``reference`` normals
    ``(V, 3)`` agree within :data:`FILE_NORMAL_DEGREES` (the file's own normals; NaN rows where
    unknown), or, without them, whose own faces' normals agree within
    :data:`COMPUTED_NORMAL_DEGREES` (see the module docstring)."""
    from stylize.mesh.geometry import vertex_normals

    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    own = vertex_normals(torch.from_numpy(vertices), torch.from_numpy(faces)).numpy()
    degrees = np.full(len(vertices), COMPUTED_NORMAL_DEGREES)
    if reference is not None and len(reference) == len(vertices):
        have = np.isfinite(reference).all(axis=1)
        own = np.where(have[:, None], np.nan_to_num(reference), own)
        degrees[have] = FILE_NORMAL_DEGREES
    return smoothing_groups(position_groups(vertices), own, degrees)


def mesh_smoothing_groups(mesh: Any, vertices: Any = None) -> np.ndarray:
    """:func:`surface_smoothing_groups` of a loaded mesh (:class:`~stylize.mesh.io.LoadedMesh`),
    with its file normals when it came from glTF. ``vertices`` ``(V, 3)``: the positions to
    compare (default the file-frame ones; pass undisplaced positions)."""
    if vertices is None:
        vertices = mesh.file_vertices if mesh.file_vertices is not None else mesh.vertices
    return surface_smoothing_groups(vertices, mesh.faces, file_normals(mesh))


def shading_normals(vertices: Any, faces: Any, groups: Any) -> np.ndarray:
    """Unit normals to write: each smoothing group's area-weighted normal (hard edges split, UV
    seams smooth). Shape: vertices ``(V, 3)``, faces ``(F, 3)``, groups ``(V,)``; output ``(V, 3)``
    float64."""
    vertices = torch.as_tensor(np.asarray(vertices, dtype=np.float64))
    faces = torch.as_tensor(np.asarray(faces, dtype=np.int64))
    return welded_normals(vertices, faces, groups).numpy()


def seam_gap(vertices: Any, groups: np.ndarray) -> float:
    """The largest distance between a vertex and its group's first member (0 when every copy of
    a position stayed with the others).

    Shape:
        - vertices: ``(V, 3)``; groups: ``(V,)`` labels (:func:`position_groups` of the input).
    """
    vertices = np.asarray(vertices.detach().cpu() if hasattr(vertices, "detach") else vertices, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    if not len(groups):
        return 0.0
    first = np.full(int(groups.max()) + 1, len(groups), dtype=np.int64)
    np.minimum.at(first, groups, np.arange(len(groups)))
    return float(np.linalg.norm(vertices - vertices[first[groups]], axis=1).max())
