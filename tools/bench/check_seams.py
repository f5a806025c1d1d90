"""Seam gaps of vertex-mode displacement: how far the copies of one position (UV seams, hard
edges, material borders) move apart, displaced along unwelded normals (what the toolkit did
before ``stylize.mesh.seams``) and as the toolkit displaces now.

    python tools/bench/check_seams.py MESH.glb [MESH.obj ...] [--seed 0] [--amount 0.05]

A field whose displacement varies over the surface (random last layer, ``--amount`` x its bound
on average) is evaluated on each mesh; prints one line per mesh: positions with copies, how many
opened by more than 0.5 % of the bounding-box diagonal, and the largest gap (% of the diagonal).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from stylize.mesh.apply import evaluate_field
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.geometry import vertex_normals
from stylize.mesh.io import load_mesh
from stylize.mesh.seams import position_groups


def gaps(vertices: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per position group, the largest distance of a copy from the group's first copy."""
    first = np.full(int(groups.max()) + 1, len(groups), dtype=np.int64)
    np.minimum.at(first, groups, np.arange(len(groups)))
    distance = np.linalg.norm(vertices - vertices[first[groups]], axis=1)
    out = np.zeros(len(first))
    np.maximum.at(out, groups, distance)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("meshes", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amount", type=float, default=0.5, help="bias of the displacement head's last layer")
    args = parser.parse_args()
    for path in args.meshes:
        mesh = load_mesh(path)
        generator = torch.Generator().manual_seed(args.seed)
        field = NeuralStyleField(normalization=mesh.normalization, generator=generator)
        with torch.no_grad():
            last = field.displacement_head[-1]
            last.weight.copy_(torch.randn(last.weight.shape, generator=generator) * 2.0)
            last.bias.fill_(args.amount)
        vertices, faces, _ = mesh.to_torch()
        groups = position_groups(mesh.vertices)
        copies = np.bincount(groups) > 1
        with torch.no_grad():
            displacement = field.displacement_at(vertices)
            before = (vertices + vertex_normals(vertices, faces) * displacement).double().numpy()
            start = time.perf_counter()
            after = evaluate_field(field, mesh)[0].double().numpy()
            seconds = time.perf_counter() - start
        diagonal = float(np.linalg.norm(np.ptp(mesh.vertices, axis=0)))
        for label, moved in (("unwelded normals (before)", before), ("welded (now)", after)):
            gap = gaps(moved, groups)[copies] / diagonal
            print(f"{path}: {label}: {int(copies.sum())} positions with copies, {int((gap > 0.005).sum())} open by "
                  f"> 0.5 % of the diagonal, largest gap {100 * gap.max():.3g} % "
                  f"(mean displacement {float(displacement.abs().mean()) / diagonal * 100:.2g} % of the diagonal)")  # fmt: skip
        print(f"{path}: evaluate_field {seconds:.3f} s for {len(mesh.vertices)} vertices")


if __name__ == "__main__":
    main()
