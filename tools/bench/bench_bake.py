"""Benchmark: baking vertex colours into a texture GLB (``stylize bake``), split by step.

For meshes of about 20k faces (a torus of 200 x 50 sections = 20,000 faces and an icosphere of
5 subdivisions = 20,480 faces, or ``--mesh FILE``) with a smooth colour field, it times
:func:`stylize.mesh.bake.bake_mesh` at ``--size`` px (default 1024) and prints, per mesh, the
median over ``--repeats`` runs of each step (unwrap = xatlas, raster, dilate, export = PNG + GLB)
and of the total, plus the reconstruction error (texture sampled at each vertex's UV vs. the
vertex colour, mean absolute in sRGB).

Usage::

    python tools/bench/bench_bake.py [--size 1024] [--repeats 3] [--threads 1] [--mesh FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def torus(major: int = 200, minor: int = 50, radii: tuple[float, float] = (1.0, 0.35)):
    u, v = np.meshgrid(np.arange(major) * 2 * np.pi / major, np.arange(minor) * 2 * np.pi / minor, indexing="ij")
    big, small = radii
    vertices = np.stack([(big + small * np.cos(v)) * np.cos(u), small * np.sin(v), (big + small * np.cos(v)) * np.sin(u)], -1)
    i, j = np.meshgrid(np.arange(major), np.arange(minor), indexing="ij")
    a, b = i * minor + j, ((i + 1) % major) * minor + j
    c, d = ((i + 1) % major) * minor + (j + 1) % minor, i * minor + (j + 1) % minor
    faces = np.concatenate([np.stack([a, d, b], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    return vertices.reshape(-1, 3), faces


def colors_at(points: np.ndarray) -> np.ndarray:
    return 0.5 + 0.45 * np.sin(4.0 * points + np.array([0.0, 1.0, 2.0]))


def bench(name: str, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None, size: int, repeats: int) -> dict:
    import trimesh

    from stylize.mesh.bake import bake_mesh
    from stylize.mesh.texture import sample_texture

    colors = colors_at(vertices) if colors is None else colors
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "baked.glb"
        for _ in range(repeats):
            start = time.perf_counter()
            report = bake_mesh(vertices, faces, colors, path, size=size)
            runs.append({**report.timings, "total": time.perf_counter() - start})
        baked = trimesh.load(path, process=False, force="mesh")
        uv = np.asarray(baked.visual.uv, dtype=np.float64).copy()
        uv[:, 1] = 1.0 - uv[:, 1]
        sampled = sample_texture(np.asarray(baked.visual.material.baseColorTexture.convert("RGB")), uv)
        error = (
            float(np.abs(sampled - colors_at(np.asarray(baked.vertices, dtype=np.float64))).mean()) if name != "file" else None
        )
        glb_mb = path.stat().st_size / 2**20
    steps = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
    return {"mesh": name, "faces": int(len(faces)), "vertices_out": report.vertices, "charts": report.charts,
            "utilization": round(report.utilization or 0.0, 3), "size": size, "seconds": steps,
            "mean_abs_error_srgb": None if error is None else round(error, 4), "glb_mb": round(glb_mb, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (xatlas uses its own)")
    parser.add_argument("--mesh", help="bench this coloured mesh file instead")
    args = parser.parse_args(argv)
    import torch
    import trimesh

    torch.set_num_threads(args.threads)
    print(json.dumps({"python": platform.python_version(), "machine": platform.machine(), "cpus": __import__("os").cpu_count()}))
    if args.mesh:
        from stylize.mesh.io import load_mesh

        mesh = load_mesh(args.mesh, normalize=False)
        if mesh.colors is None:
            sys.exit(f"{args.mesh}: has no vertex colours")
        cases = [("file", mesh.file_vertices, mesh.faces, mesh.colors)]
    else:
        sphere = trimesh.creation.icosphere(subdivisions=5)
        cases = [("torus-20k", *torus(), None), ("icosphere-20k", np.asarray(sphere.vertices), np.asarray(sphere.faces), None)]
    for name, vertices, faces, colors in cases:
        print(json.dumps(bench(name, vertices, faces, colors, args.size, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
