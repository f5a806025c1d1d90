"""Primitives as written, and the meshes several nodes instance: one set of arrays for them all.

A glTF mesh used by several nodes stays one mesh in the output. Each node's primitives are first
computed in the mesh's own frame (:class:`PrimitiveArrays`); where the instances agree on faces and
attribute layout, :func:`shared_instances` gives them one set of arrays, the mean of theirs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["PrimitiveArrays", "same_arrays", "shared_instances", "unit_rows"]


def unit_rows(vectors: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` ``(N, 3)`` scaled to unit length; ``fallback`` where a row is zero."""
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(length > 1e-12, vectors / np.where(length > 1e-12, length, 1.0), fallback)


class PrimitiveArrays(NamedTuple):
    """One written primitive: float32 attributes, faces, skin attributes (``JOINTS_n``,
    ``WEIGHTS_n``), morph targets; ``lost``: skin or morph data the file had that could not follow."""

    attributes: dict[str, np.ndarray]
    faces: np.ndarray
    skin: dict[str, np.ndarray]
    targets: list[dict[str, np.ndarray]]
    lost: bool


def _close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], scale: float) -> bool:
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and np.allclose(a[k], b[k], rtol=0, atol=1e-6 * (scale if k == "POSITION" else 1.0)) for k in a
    )


def same_arrays(first: PrimitiveArrays, second: PrimitiveArrays) -> bool:
    if first.faces.shape != second.faces.shape or not np.array_equal(first.faces, second.faces):
        return False
    scale = max(1.0, float(np.abs(first.attributes["POSITION"]).max()))
    return (_close(first.attributes, second.attributes, scale) and _close(first.skin, second.skin, 1.0)
            and len(first.targets) == len(second.targets)
            and all(_close(a, b, scale) for a, b in zip(first.targets, second.targets, strict=True)))  # fmt: skip


def shared_instances(by_node: dict[tuple[int | None, int], list]) -> tuple[dict[tuple[int | None, int], list], set[int]]:
    """The nodes instancing one mesh given one set of arrays: where their primitives agree on
    faces and attribute layout (always, unless repair changed one), every float attribute is the
    mean over the instances (normals and tangents renormalised); returns the groups and the
    meshes whose instances' data differed."""
    by_mesh: dict[int, list[tuple[int | None, int]]] = {}
    for key in by_node:
        by_mesh.setdefault(key[1], []).append(key)
    averaged: set[int] = set()
    for keys in by_mesh.values():
        if len(keys) < 2:
            continue
        groups = [by_node[key] for key in keys]
        first = groups[0]
        if any(len(group) != len(first) for group in groups):
            continue
        layouts_agree = all(
            a[0] == b[0] and np.array_equal(a[2].faces, b[2].faces) and a[2].attributes.keys() == b[2].attributes.keys()
            and all(a[2].attributes[k].shape == b[2].attributes[k].shape for k in a[2].attributes)
            for group in groups[1:] for a, b in zip(first, group, strict=True)
        )  # fmt: skip
        if not layouts_agree:
            continue
        merged = []
        for number, (index, primitive, arrays) in enumerate(first):
            attributes = {}
            for name in arrays.attributes:
                mean = np.mean([group[number][2].attributes[name] for group in groups], axis=0)
                if name in ("NORMAL", "TANGENT"):
                    mean[:, :3] = unit_rows(mean[:, :3], np.array([0.0, 0.0, 1.0] if name == "NORMAL" else [1.0, 0.0, 0.0]))
                if name == "TANGENT":
                    mean[:, 3] = arrays.attributes[name][:, 3]
                attributes[name] = np.ascontiguousarray(mean, dtype=np.float32)
            if not all(same_arrays(arrays, group[number][2]) for group in groups[1:]):
                averaged.add(keys[0][1])
            merged.append((index, primitive, arrays._replace(attributes=attributes)))
        for key in keys:
            by_node[key] = merged
    return by_node, averaged
