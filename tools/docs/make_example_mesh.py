"""Generate ``examples/meshes/vase.obj``: a closed low-poly vase (surface of revolution), own-made, CC0.

Usage::

    python tools/docs/make_example_mesh.py [--out examples/meshes/vase.obj]
"""

from __future__ import annotations

import argparse
import math

import numpy as np


def vase(sections: int = 48, rings: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and outward-wound faces (F, 3) of a capped vase, y up, height 2."""
    heights = np.linspace(-1.0, 1.0, rings)
    radius = 0.45 + 0.25 * np.sin(np.pi * (heights + 1.0) * 0.75) - 0.08 * heights
    angles = np.linspace(0.0, 2 * math.pi, sections, endpoint=False)
    ring_points = [
        np.stack([r * np.cos(angles), np.full(sections, y), r * np.sin(angles)], 1) for y, r in zip(heights, radius, strict=False)
    ]
    vertices = np.concatenate([*ring_points, [[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]])
    faces = []
    for ring in range(rings - 1):
        for k in range(sections):
            a, b = ring * sections + k, ring * sections + (k + 1) % sections
            c, d = a + sections, b + sections
            faces += [[a, c, b], [b, c, d]]
    bottom, top = len(vertices) - 2, len(vertices) - 1
    last = (rings - 1) * sections
    for k in range(sections):
        faces.append([bottom, k, (k + 1) % sections])
        faces.append([top, last + (k + 1) % sections, last + k])
    return vertices, np.asarray(faces, dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/meshes/vase.obj")
    args = parser.parse_args()
    import trimesh

    vertices, faces = vase()
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    assert mesh.is_watertight, "vase must be closed"
    mesh.export(args.out)
    print(f"wrote {args.out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces")


if __name__ == "__main__":
    main()
