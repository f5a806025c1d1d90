"""A glTF document's node hierarchy: each node's local transform and the world transform of every
node the default scene reaches (``matrix`` or translation * rotation * scale, parents first).

Used to read scenes (:mod:`stylize.mesh.gltf.scene`), write them back
(:mod:`stylize.mesh.gltf.write`) and compare files (:mod:`stylize.testing.gltf_structure`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["node_matrix", "scene_roots", "world_transforms"]


def node_matrix(node: dict[str, Any]) -> np.ndarray:
    """A node's local transform ``(4, 4)``: its ``matrix`` (column-major) or ``T * R * S``."""
    if "matrix" in node:
        matrix = np.asarray(node["matrix"], dtype=np.float64)
        if matrix.shape != (16,):
            raise ValueError(f"node matrix has {matrix.size} numbers, expected 16")
        return matrix.reshape(4, 4).T
    x, y, z, w = np.asarray(node.get("rotation", [0, 0, 0, 1]), dtype=np.float64)
    norm = np.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.get("scale", [1, 1, 1]), dtype=np.float64)[None, :]
    matrix[:3, 3] = np.asarray(node.get("translation", [0, 0, 0]), dtype=np.float64)
    return matrix


def scene_roots(document: dict[str, Any]) -> list[int] | None:
    """Root nodes of the default scene (``scene``, else the first scene, else every node no
    other node lists as a child); None when there are no nodes."""
    nodes = document.get("nodes") or []
    scenes = document.get("scenes") or []
    if scenes:
        index = document.get("scene", 0)
        if not isinstance(index, int) or not 0 <= index < len(scenes):
            raise ValueError(f"default scene {index!r} does not exist")
        return [int(n) for n in scenes[index].get("nodes", [])]
    if not nodes:
        return None
    children = {int(c) for node in nodes for c in node.get("children", [])}
    return [i for i in range(len(nodes)) if i not in children]


def world_transforms(document: dict[str, Any], roots: list[int]) -> dict[int, np.ndarray]:
    """``node index -> (4, 4)`` world transform for every node reachable from ``roots``.

    Raises:
        ValueError: a node reached twice (a cycle, or a node with two parents) or out of range.
    """
    nodes = document.get("nodes") or []
    worlds: dict[int, np.ndarray] = {}
    stack = [(root, np.eye(4)) for root in reversed(roots)]
    while stack:
        index, parent = stack.pop()
        if not isinstance(index, int) or not 0 <= index < len(nodes):
            raise ValueError(f"node {index!r} does not exist")
        if index in worlds:
            raise ValueError(f"the node hierarchy is not a tree (node {index} is reached twice)")
        worlds[index] = parent @ node_matrix(nodes[index])
        stack.extend((child, worlds[index]) for child in reversed(nodes[index].get("children", [])))
    return worlds
