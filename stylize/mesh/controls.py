"""Artist controls on a Text2Mesh run: region masks, the colour a vertex starts from, symmetry.

- **Mask** (:func:`load_mask`): per-vertex weights in ``[0, 1]`` from a ``.npy`` file, a text file
  or an array. The field's colour change and displacement are blended by the weight
  (:func:`compose`), so weight-0 vertices keep their base colour and position exactly.
- **Base colour**: the input's own vertex colours (or its texture sampled at the vertices) when it
  has any, else the field's grey (0.5).
- **Symmetry** (:func:`symmetric_normalization`): the field folds one coordinate (``|x|``) before
  encoding, so ``f(p)`` and ``f(mirror(p))`` see bit-identical inputs and give bit-identical
  colours; to put the mirror plane at the file's origin plane (where artists model symmetric
  objects), the normalisation is re-centred to 0 along that axis.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.errors import InputError
from stylize.mesh.geometry import Normalization, subdivide_to_vertex_count
from stylize.mesh.gltf.scene import subdivided_parts
from stylize.mesh.io import LoadedMesh

__all__ = ["SYMMETRY_AXES", "compose", "load_mask", "prepare_mesh", "subdivide_with_weights", "symmetric_normalization"]

logger = logging.getLogger(__name__)

SYMMETRY_AXES = {"x": 0, "y": 1, "z": 2}
GREY = 0.5


def _read_mask_file(path: Path) -> np.ndarray:
    if not path.exists():
        raise InputError(f"mask file {path} not found")
    if not path.is_file():
        raise InputError(f"mask file {path} is not a regular file (expected a .npy or text file of weights)")
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"mask file {path}: not a readable .npy array ({exc})") from None
        return values
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"mask file {path}: expected a .npy file or a text file of numbers") from None
    tokens = [t for line in text.splitlines() for t in re.split(r"[\s,;]+", line.split("#", 1)[0]) if t]
    try:
        numbers = [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise InputError(f"mask file {path}: {bad!r} is not a number") from None
    if all(re.fullmatch(r"[+-]?\d+", t) for t in tokens):
        return np.asarray([int(t) for t in tokens], dtype=np.int64)
    return np.asarray(numbers, dtype=np.float64)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def load_mask(source: Any, n_vertices: int, name: str = "mask", text_rule: bool = False) -> np.ndarray:
    """Per-vertex weights ``(n_vertices,)`` float32 in ``[0, 1]`` from a file or an array.

    Args:
        source: a path (``.npy``; anything else is read as text: numbers separated by newlines,
            spaces or commas, ``#`` comments) or an array / tensor / list.
        n_vertices: vertices of the mesh the mask is for (in the file's order).
        name: what to call the mask in errors.
        text_rule: apply the text-file rule to integer arrays (set for text files).

    Floats (and booleans) are weights, one per vertex. Integers are vertex indices meaning weight
    1 (others 0); in a text file integers are read as weights instead when there is exactly one
    per vertex and every one is 0 or 1.

    Raises:
        InputError: unreadable file, wrong length, a weight outside ``[0, 1]`` or not finite, an
            index out of range, or a mask that selects no vertex.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        values = _read_mask_file(path)
        return load_mask(values, n_vertices, name=f"mask file {path}", text_rule=path.suffix.lower() != ".npy")
    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().numpy()
    values = np.asarray(source)
    if values.ndim != 1:
        values = values.reshape(-1) if values.ndim == 2 and 1 in values.shape else values
    if values.ndim != 1:
        raise InputError(f"{name}: expected a flat list of weights or indices, got shape {values.shape}")
    if values.dtype.kind in "iu" and not (text_rule and len(values) == n_vertices and np.isin(values, (0, 1)).all()):
        if values.size and (values.min() < 0 or values.max() >= n_vertices):
            bad = int(values[(values < 0) | (values >= n_vertices)][0])
            raise InputError(f"{name}: vertex index {bad} out of range for a mesh of {n_vertices} vertices")
        weights = np.zeros(n_vertices, dtype=np.float32)
        weights[values.astype(np.int64)] = 1.0
    elif values.dtype.kind in "fiub":
        weights = values.astype(np.float64)
        if len(weights) != n_vertices:
            raise InputError(f"{name}: expected {n_vertices} per-vertex weights (one per vertex of the mesh), got {len(weights)}")
        bad = ~np.isfinite(weights) | (weights < 0) | (weights > 1)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise InputError(f"{name}: weights must be in [0, 1], got {weights[index]} at vertex {index}")
        weights = weights.astype(np.float32)
    else:
        raise InputError(f"{name}: expected numbers, got an array of {values.dtype}")
    if not (weights > 0).any():
        raise InputError(f"{name}: no vertex has a weight above 0, so nothing would change")
    return weights


def mask_for_loaded(weights_in_file_order: np.ndarray, mesh: LoadedMesh) -> np.ndarray:
    """File-order weights -> weights of the loaded (repaired) mesh's vertices."""
    if mesh.source_vertex_index is None:
        return weights_in_file_order
    return weights_in_file_order[mesh.source_vertex_index]


def compose(
    colors: torch.Tensor,
    displacement: torch.Tensor,
    base_colors: torch.Tensor | None,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend the field's output into the base by the mask weights.

    ``colour = base + w (field - base)`` and ``displacement = w d``; with ``w = 0`` that is the
    base colour and no displacement exactly (not approximately).

    Shape:
        - colors: ``(V, 3)``; displacement: ``(V, 1)``; base_colors: ``(V, 3)`` or None (grey);
          weights: ``(V,)`` or ``(V, 1)`` or None (everywhere 1).
    """
    if weights is None:
        return colors, displacement
    weights = weights.reshape(-1, 1).to(colors)
    base = colors.new_full(colors.shape, GREY) if base_colors is None else base_colors.to(colors)
    keep = weights == 0
    blended = torch.where(keep, base, base + weights * (colors - base))
    return blended, torch.where(keep, torch.zeros_like(displacement), displacement * weights)


def symmetric_normalization(mesh: LoadedMesh, axis: str) -> LoadedMesh:
    """Re-normalise ``mesh`` so that the plane ``axis = 0`` of its file's frame is the plane
    ``axis = 0`` of the normalised frame (the plane the symmetric field mirrors about).

    Vertices mirrored about that plane in the file map to exactly mirrored normalised vertices
    (float rounding is sign-symmetric), so the folded field gives them identical colours.
    """
    if axis not in SYMMETRY_AXES:
        raise InputError(f"symmetry axis {axis!r}: expected one of {', '.join(SYMMETRY_AXES)}")
    index = SYMMETRY_AXES[axis]
    file_vertices = mesh.file_vertices if mesh.file_vertices is not None else mesh.original_vertices()
    center = np.asarray(mesh.normalization.center, dtype=np.float64).copy()
    center[index] = 0.0
    scale = float(np.linalg.norm(file_vertices - center, axis=1).max())
    span = file_vertices[:, index]
    lopsided = abs(span.max() + span.min()) / max(span.max() - span.min(), 1e-30)
    if lopsided > 0.1:
        logger.warning(
            "mesh spans %.4g..%.4g along %s: it is not centred on the mirror plane %s = 0 of its file; "
            "the field is mirrored about that plane anyway",
            span.min(),
            span.max(),
            axis,
            axis,
        )
    normalization = Normalization(center=center, scale=scale)
    vertices = normalization.apply(file_vertices).astype(np.float32)
    return dataclasses.replace(mesh, vertices=vertices, normalization=normalization)


def subdivide_with_weights(
    mesh: LoadedMesh, weights: np.ndarray | None, target_vertices: int, max_faces: int
) -> tuple[LoadedMesh, np.ndarray | None]:
    """Midpoint-subdivide ``mesh`` (as :func:`~stylize.mesh.io.load_mesh` does) carrying colours,
    UVs and mask weights to the new vertices (each the mean of its edge's ends, so an edge between
    two weight-0 vertices gets weight 0; UVs are per vertex, so the mean is exact inside every
    triangle). Original vertices keep their indices and values; parts' face ranges follow."""
    if not target_vertices or len(mesh.vertices) >= target_vertices:
        return mesh, weights
    n_colors = 0 if mesh.colors is None else 3
    columns = [np.asarray(mesh.colors, dtype=np.float64)] if mesh.colors is not None else []
    if weights is not None:
        columns.append(np.asarray(weights, dtype=np.float64)[:, None])
    has_uv = mesh.uv is not None and len(mesh.uv) == len(mesh.vertices)
    if has_uv:
        columns.append(np.asarray(mesh.uv, dtype=np.float64))
    packed = np.concatenate(columns, axis=1) if columns else None
    original_count = len(mesh.vertices)
    vertices, faces, packed, passes = subdivide_to_vertex_count(
        mesh.vertices.astype(np.float64), mesh.faces, packed, target_vertices, max_faces
    )
    added = len(vertices) - original_count
    file_vertices = mesh.file_vertices if mesh.file_vertices is not None else mesh.original_vertices()
    new_weights = None
    if weights is not None:
        new_weights = np.concatenate([weights, packed[original_count:, n_colors].astype(np.float32)])
    colors = None
    if mesh.colors is not None:
        colors = np.concatenate([mesh.colors, packed[original_count:, :3].astype(np.float32)])
    uv = np.concatenate([mesh.uv, packed[original_count:, -2:]]) if has_uv else None
    subdivided = dataclasses.replace(
        mesh,
        vertices=np.concatenate([mesh.vertices, vertices[original_count:].astype(np.float32)]),
        faces=np.ascontiguousarray(faces, dtype=np.int64),
        colors=colors,
        file_vertices=np.concatenate([file_vertices, mesh.normalization.invert(vertices[original_count:])]),
        source_vertex_index=np.concatenate([mesh.source_vertex_index, np.full(added, -1, dtype=np.int64)])
        if mesh.source_vertex_index is not None
        else None,
        source_face_index=np.full(len(faces), -1, dtype=np.int64),  # every face is a new, smaller one
        uv=uv,
        parts=subdivided_parts(mesh.parts, passes),
    )
    return subdivided, new_weights


def prepare_mesh(
    path: str | os.PathLike, config: Any, mask: Any = None
) -> tuple[LoadedMesh, np.ndarray | None, np.ndarray | None]:
    """Load a mesh for a Text2Mesh run: normalise (about the mirror plane with ``field.symmetry``),
    read the mask, subdivide to ``target_vertices`` carrying colours and weights.

    Args:
        path: the input mesh file.
        config: a :class:`~stylize.mesh.text2mesh.Text2MeshConfig`.
        mask: None, a mask file path or an array of weights / indices in the file's vertex order.

    Returns:
        ``(mesh, weights for mesh's vertices or None, weights in the file's vertex order or None)``.
    """
    from stylize.mesh.io import load_mesh

    mesh = load_mesh(path, normalize=True, max_faces=config.max_faces)
    if config.field.symmetry:
        mesh = symmetric_normalization(mesh, config.field.symmetry)
    file_weights = None
    weights = None
    if mask is not None:
        count = mesh.source_vertex_count if mesh.source_vertex_count is not None else len(mesh.vertices)
        file_weights = load_mask(mask, count)
        weights = mask_for_loaded(file_weights, mesh)
        if not (weights > 0).any():
            raise InputError("mask: every vertex with a weight above 0 was removed as broken geometry")
    mesh, weights = subdivide_with_weights(mesh, weights, config.target_vertices, config.max_faces)
    return mesh, weights, file_weights
