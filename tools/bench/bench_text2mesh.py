"""Time Text2Mesh iterations: the one-pass CLIP batch against one engine call per augmentation group.

For each preset, both scoring paths run in their own child process (so each has its own peak
memory) on the same mesh, seed and model, and print per-iteration time, the share spent in CLIP
(forward, plus the backward pass that is almost all CLIP), peak memory and the project's own
host reads per step (reads that would make a CUDA step wait on the GPU).

Usage::

    python tools/bench/bench_text2mesh.py                      # fast preset, CPU, 2 threads, 3 timed steps
    python tools/bench/bench_text2mesh.py --presets fast paper --steps 5 --threads 1
    python tools/bench/bench_text2mesh.py --device cuda --steps 20
    python tools/bench/bench_text2mesh.py --modes vertex surface --prop   # field mode cost split, vase and a 500-face prop

Compare timings only as ratios measured in one run on a quiet machine (``uptime`` is printed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(
    preset: str, one_pass: bool, device: str, threads: int, steps: int, mesh_path: str, clip: str, extra: dict | None = None
) -> dict:
    """One child process's measurement (see the module docstring)."""
    import torch

    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.io import load_mesh
    from stylize.mesh.text2mesh import Text2MeshRun
    from stylize.testing.syncs import count_host_reads

    torch.set_num_threads(threads)
    overrides = {"clip": [clip], "device": device, "loss.one_pass": one_pass, "profile": True, **(extra or {})}
    config = resolve_mesh_config("a vase made of colorful crochet", preset, None, overrides)
    run = Text2MeshRun(load_mesh(mesh_path), config)
    run.step()  # warm-up: allocator, kernels, text embeddings
    with count_host_reads() as reads:
        run.step()
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    before = dict(run.timer.totals)
    start = time.perf_counter()
    for _ in range(steps):
        run.step()
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    elapsed = (time.perf_counter() - start) / steps
    phases = {k: (run.timer.totals[k] - before.get(k, 0.0)) / steps for k in run.timer.totals}
    peak = torch.cuda.max_memory_allocated(run.device) / 2**20 if run.device.type == "cuda" else _peak_rss_mb()
    loss = config.loss
    encodes = config.views.n_views * (loss.n_augs + 2 * loss.n_local_augs)
    return {
        "preset": preset, "path": "one pass" if one_pass else "per group", "step_s": elapsed, "phases": phases,
        "clip_share": (phases.get("clip", 0.0) + phases.get("backward_step", 0.0)) / max(elapsed, 1e-9),
        "peak_mb": peak, "peak_kind": "GPU allocated" if run.device.type == "cuda" else "process RSS",
        "host_reads": len(reads.project_sites()), "encodes": encodes, "iters": config.iters, "size": config.render_size,
    }  # fmt: skip


def _child(queue, *args) -> None:
    try:
        queue.put(measure(*args))
    except Exception as exc:  # report, do not hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_isolated(*args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (after one warm-up)")
    parser.add_argument("--presets", nargs="+", default=["fast"])
    parser.add_argument("--mesh", default=str(ROOT / "examples" / "meshes" / "vase.obj"))
    parser.add_argument("--clip", default="ViT-B-32:random")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config keys for both paths")
    parser.add_argument("--json", action="store_true", help="also print each row as JSON")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["vertex", "surface"],
        default=None,
        help="instead of the two scoring paths: time the one-pass step per field mode (render, field per pixel, CLIP)",
    )
    parser.add_argument("--prop", action="store_true", help="with --modes: also a 500-face low-poly prop (a torus)")
    args = parser.parse_args()
    if args.modes:
        return compare_modes(args)
    from stylize.config import parse_set_items

    extra = parse_set_items(args.set)
    print(
        f"# {platform.processor() or platform.machine()}, device {args.device}, threads {args.threads}, "
        f"mesh {Path(args.mesh).name}, {args.clip}, {args.steps} timed steps; load before: {os.getloadavg()[0]:.2f}"
    )
    print(
        "| preset | path | px | encodes/it | step (s) | render | CLIP fwd | backward+Adam | CLIP share | peak (MB) | host reads/step |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for preset in args.presets:
        rows = {}
        for one_pass in (False, True):
            row = run_isolated(preset, one_pass, args.device, args.threads, args.steps, args.mesh, args.clip, extra)
            if "error" in row:
                print(f"| {preset} | {'one pass' if one_pass else 'per group'} | error: {row['error']} |")
                continue
            rows[one_pass] = row
            p = row["phases"]
            print(
                f"| {preset} | {row['path']} | {row['size']} | {row['encodes']} | {row['step_s']:.3f} | {p.get('render', 0):.3f} | "
                f"{p.get('clip', 0):.3f} | {p.get('backward_step', 0):.3f} | {row['clip_share']:.0%} | "
                f"{row['peak_mb']:.0f} ({row['peak_kind']}) | {row['host_reads']} |",
                flush=True,
            )
            if args.json:
                print(json.dumps(row))
        if len(rows) == 2:
            print(
                f"\n{preset}: one pass / per group = {rows[True]['step_s'] / rows[False]['step_s']:.2f}x per iteration; "
                f"projected {rows[True]['iters']} iterations: {rows[True]['step_s'] * rows[True]['iters'] / 60:.1f} min "
                f"(per group {rows[False]['step_s'] * rows[False]['iters'] / 60:.1f} min)\n"
            )
    print(f"# load after: {os.getloadavg()[0]:.2f}")


def compare_modes(args) -> None:
    """Per field mode, the one-pass step's split: render (surface mode: the field per covered
    pixel is timed inside it as ``field``), CLIP forward, backward + Adam."""
    import tempfile

    from stylize.config import parse_set_items

    extra = parse_set_items(args.set)
    meshes = [args.mesh]
    folder = tempfile.mkdtemp()
    if args.prop:
        import trimesh

        prop = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=25, minor_sections=10)
        meshes.append(str(Path(folder) / f"prop_{len(prop.faces)}_faces.obj"))
        prop.export(meshes[-1])
    print(
        f"# {platform.processor() or platform.machine()}, device {args.device}, threads {args.threads}, {args.clip}, "
        f"{args.steps} timed steps; load before: {os.getloadavg()[0]:.2f}"
    )
    print(
        "| preset | mesh | faces | mode | px | step (s) | render (s) | of it field (s) | CLIP fwd | backward+Adam | vs vertex |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for preset in args.presets:
        for mesh in meshes:
            import trimesh

            faces = len(trimesh.load(mesh, force="mesh", process=False).faces)
            base = None
            for mode in args.modes:
                row = run_isolated(preset, True, args.device, args.threads, args.steps, mesh, args.clip,
                                   {**extra, "field.mode": mode})  # fmt: skip
                if "error" in row:
                    print(f"| {preset} | {Path(mesh).name} | {faces} | {mode} | error: {row['error']} |")
                    continue
                p = row["phases"]
                base = row["step_s"] if mode == "vertex" else base
                ratio = f"{row['step_s'] / base:.2f}x" if base else ""
                print(
                    f"| {preset} | {Path(mesh).name} | {faces} | {mode} | {row['size']} | {row['step_s']:.3f} | "
                    f"{p.get('render', 0):.3f} | {p.get('field', 0):.3f} | {p.get('clip', 0):.3f} | "
                    f"{p.get('backward_step', 0):.3f} | {ratio} |",
                    flush=True,
                )
                if args.json:
                    print(json.dumps(row))
    print(f"# load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
