"""Iterations-to-threshold of Text2Mesh presets, judged by the test CLIPs.

Trains with the trainer test CLIP and, every ``--every`` iterations, judges the current mesh with
the judge test CLIP: 100 x the mean cosine similarity between the prompt and 8 views around the
mesh (45-degree azimuth steps at 20 degrees elevation, white background), like X-Mesh's ITS. The
threshold is ``--fraction`` of the judged gain (over the grey mesh) that ``paper`` reaches at the
end of its run; the script prints, per preset, the first checked iteration at or above it.

Renders are ``--size`` px for every preset (the test CLIPs see 64 px images; the cost of the
paper's 224 px is measured separately by ``tools/bench/bench_text2mesh.py``).

Usage::

    python tools/bench/t2m_iters_to_threshold.py [--shape sphere|cube] [--paper-iters 1500] [--fast-iters 300]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stylize import api  # noqa: E402
from stylize.config import parse_set_items  # noqa: E402
from stylize.engine import ClipEngine, ModelCache  # noqa: E402
from stylize.mesh.camera import orbit_views  # noqa: E402
from stylize.mesh.evaluate import render_mesh  # noqa: E402
from stylize.mesh.geometry import make_cube, make_icosphere, normalize_vertices  # noqa: E402
from stylize.mesh.io import LoadedMesh  # noqa: E402
from stylize.mesh.text2mesh import Text2MeshRun  # noqa: E402

SHAPES = {
    "sphere": (lambda: make_icosphere(3), "a blue circle", {}),
    "cube": (
        lambda: make_cube(1.0),
        "a red square",
        {"views.center_azimuth": math.pi / 2, "views.center_elevation": 0.0, "views.std": 8.0},
    ),
}


def judged(judge: ClipEngine, mesh: LoadedMesh, prompt: str, size: int) -> float:
    views = orbit_views(torch.arange(8) * (math.pi / 4), [math.radians(20)])
    return 100.0 * float(judge.score_texts(render_mesh(mesh, views, size), [prompt]).mean())


def trace(
    preset: str, iters: int, shape: str, args, cache: ModelCache, judge: ClipEngine, settings: dict | None = None
) -> list[tuple[int, float]]:
    make, prompt, extra = SHAPES[shape]
    vertices, faces = make()
    vertices, normalization = normalize_vertices(vertices)
    mesh = LoadedMesh(vertices.astype(np.float32), faces, None, normalization)
    overrides = {
        "clip": [f"local-dir:{args.clips / 'trainer'}"],
        "iters": iters,
        "render_size": args.size,
        "device": "cpu",
        "seed": args.seed,
        **extra,
        **(settings or {}),
    }
    run = Text2MeshRun(mesh, api.mesh_config(prompt, preset, None, overrides), model_cache=cache)
    points = [(0, judged(judge, mesh, prompt, args.size))]

    def check(step, total, metrics):
        if step % args.every == 0 or step == iters:
            with torch.no_grad():
                displaced, colors = run.stylized()
            current = LoadedMesh(displaced.numpy(), faces, colors.numpy(), normalization)
            points.append((step, judged(judge, current, prompt, args.size)))

    start = time.time()
    run.run(on_step=check)
    print(
        f"{preset}: {iters} iterations in {time.time() - start:.0f} s; judged {points[0][1]:.2f} -> {points[-1][1]:.2f}",
        file=sys.stderr,
    )
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="sphere", choices=sorted(SHAPES))
    parser.add_argument("--paper-iters", type=int, default=1500)
    parser.add_argument("--fast-iters", type=int, default=300)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fraction", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=Path, default=ROOT / "tests" / "assets" / "clip")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="skip the paper run and use this judged threshold (from an earlier paper run)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of the fast run (to try candidates for the preset)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = ModelCache()
    _, prompt, _ = SHAPES[args.shape]
    judge = ClipEngine([f"local-dir:{args.clips / 'judge'}"], prompt, device="cpu", model_cache=cache)
    settings = parse_set_items(args.settings)
    curves = {}
    if args.threshold is None:
        curves["paper"] = trace("paper", args.paper_iters, args.shape, args, cache, judge)
    curves["fast"] = trace("fast", args.fast_iters, args.shape, args, cache, judge, settings)
    if args.threshold is None:
        start, final = curves["paper"][0][1], curves["paper"][-1][1]
        threshold = start + args.fraction * (final - start)
    else:
        threshold = args.threshold
    report = {"shape": args.shape, "prompt": prompt, "threshold": round(threshold, 3), "fast_settings": args.settings}
    for name, points in curves.items():
        hit = next((step for step, value in points if value >= threshold), None)
        report[f"{name}_iters_to_threshold"] = hit
        report[f"{name}_final"] = round(points[-1][1], 3)
        report[f"{name}_best"] = round(max(v for _, v in points), 3)
        report[f"{name}_curve"] = [(step, round(value, 2)) for step, value in points[:: max(1, 50 // args.every)]]
    if report.get("paper_iters_to_threshold") and report["fast_iters_to_threshold"]:
        report["ratio"] = round(report["paper_iters_to_threshold"] / report["fast_iters_to_threshold"], 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
