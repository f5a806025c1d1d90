"""Benchmark: the pure-PyTorch mesh rasterizer against one CLIP ViT-B-32 step, in one run.

For tori of about 2k, 20k and 200k faces (normalised like Text2Mesh) it times one Text2Mesh-style
render of 5 views at 224 x 224 -- vertices + per-vertex [rgb, 1] features through the renderer,
spherical-harmonic shading, white background -- forward and backward into vertices and colours.
It then times a random-init ``open_clip.create_model("ViT-B-32")`` forward + backward on the same
5 images, and prints the ratio of each render to it, with peak memory.

Each case runs in a fresh subprocess so its peak resident memory (``ru_maxrss``, minus the
process's resident size just before the timed loop) is its own.

Usage::

    python tools/bench/bench_mesh_raster.py [--threads N] [--device cpu|cuda] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Torus (major, minor) sections: faces = 2 * major * minor.
TORUS_SIZES = {"2k": (40, 25), "20k": (200, 50), "200k": (500, 200)}
VIEWS = 5
SIZE = 224


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_time(step, repeats: int, device: str) -> tuple[float, list[float]]:
    step()  # warm-up: allocator, lazy imports, kernels
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def bench_raster(label: str, device: str, repeats: int) -> dict:
    import numpy as np
    import torch
    import trimesh

    from stylize.mesh.camera import sample_text2mesh_views
    from stylize.mesh.geometry import normalize_vertices
    from stylize.mesh.lighting import TEXT2MESH_LIGHTS, spherical_harmonic_lighting
    from stylize.mesh.renderer import get_renderer as make_renderer

    major, minor = TORUS_SIZES[label]
    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=major, minor_sections=minor)
    vertices_np, _ = normalize_vertices(torus.vertices)
    vertices = torch.as_tensor(vertices_np, dtype=torch.float32, device=device)
    faces = torch.as_tensor(np.asarray(torus.faces), device=device)
    colours = torch.rand(len(vertices), 3, generator=torch.Generator().manual_seed(0)).to(device)
    # Tilt the torus so the views see both its hole and its side.
    views = sample_text2mesh_views(VIEWS, generator=torch.Generator().manual_seed(0)).to(device)
    renderer = make_renderer("torch", height=SIZE)
    lights = torch.tensor(TEXT2MESH_LIGHTS, device=device)
    coverage = []

    def step():
        verts = vertices.clone().requires_grad_(True)
        rgb = colours.clone().requires_grad_(True)
        result = renderer(verts, faces, torch.cat([rgb, torch.ones_like(rgb[:, :1])], 1), views)
        shade = spherical_harmonic_lighting(result.pixel_normals(), lights)
        colour, alpha = result.features[..., :3], result.features[..., 3:]
        image = (colour * shade.unsqueeze(-1)).clamp(0, 1) * alpha + (1 - alpha)
        image.mean().backward()
        coverage.append(float(result.mask.mean()))

    base_rss = _rss_mb()
    median, times = _median_time(step, repeats, device)
    return {
        "case": f"raster-{label}",
        "faces": int(len(faces)),
        "seconds": median,
        "all_seconds": times,
        "coverage": coverage[-1],
        "peak_extra_mb": max(0.0, _peak_mb() - base_rss),
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
    }


def bench_clip(device: str, repeats: int) -> dict:
    import open_clip
    import torch

    model = open_clip.create_model("ViT-B-32", pretrained=None).to(device)
    images = torch.rand(VIEWS, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device)

    def step():
        batch = images.clone().requires_grad_(True)
        model.encode_image(batch).sum().backward()
        model.zero_grad(set_to_none=True)

    base_rss = _rss_mb()
    median, times = _median_time(step, max(2, repeats // 2), device)
    return {
        "case": "clip-ViT-B-32",
        "seconds": median,
        "all_seconds": times,
        "peak_extra_mb": max(0.0, _peak_mb() - base_rss),
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
    }


def run_case(case: str, args: argparse.Namespace) -> dict:
    """Run one case in a fresh interpreter and return its JSON result."""
    command = [sys.executable, __file__, "--case", case, "--device", args.device, "--repeats", str(args.repeats)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per case (median reported)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        result = (
            bench_clip(args.device, args.repeats) if args.case == "clip" else bench_raster(args.case, args.device, args.repeats)
        )
        result["threads"] = torch.get_num_threads()
        print(json.dumps(result))
        return

    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"device {args.device}, threads {args.threads or torch.get_num_threads()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    results = [run_case(label, args) for label in TORUS_SIZES]
    clip = run_case("clip", args)
    print(f"{'case':<16}{'faces':>8}{'fwd+bwd s':>11}{'ratio':>8}{'peak MB':>9}  runs")
    for result in results:
        ratio = result["seconds"] / clip["seconds"]
        runs = ", ".join(f"{t:.3f}" for t in result["all_seconds"])
        print(
            f"{result['case']:<16}{result['faces']:>8}{result['seconds']:>11.3f}{ratio:>8.3f}{result['peak_extra_mb']:>9.0f}  {runs}"
        )
    runs = ", ".join(f"{t:.2f}" for t in clip["all_seconds"])
    print(f"{clip['case']:<16}{'':>8}{clip['seconds']:>11.3f}{1.0:>8.3f}{clip['peak_extra_mb']:>9.0f}  {runs}")
    goal = next(r for r in results if r["case"] == "raster-20k")["seconds"] / clip["seconds"]
    print(f"ratio at 20k faces: {goal:.3f} (goal <= 0.10: {'met' if goal <= 0.10 else 'NOT met'})")
    if math.isfinite(goal):
        print(json.dumps({"raster": results, "clip": clip}))


if __name__ == "__main__":
    main()
