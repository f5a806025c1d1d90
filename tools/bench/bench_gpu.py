"""The prepared GPU check: end-to-end Text2Mesh and CLIPDraw runs plus the rasterizer benchmarks.

Given a CUDA device it runs, in well under 8 minutes on an H100/H200-class GPU:

1. Text2Mesh ``fast`` for 300 iterations with ``ViT-B-32:random`` on the shipped vase (45 CLIP
   encodings per iteration in one batch), through the run owner, writing a real run folder;
   then the same with ``compile=true`` when ``--compile`` is given;
2. CLIPDraw's ``clipdraw`` preset for 1000 steps (256 strokes, 224 px, 4 copies);
3. one profiled Text2Mesh step (the top CUDA kernels), so a missed goal says where time goes;
4. the mesh and vector rasterizer benchmarks on the GPU;
5. a Text2Mesh step per field kind (vertex, surface, texture) split by stage
   (``tools/bench/bench_field_modes.py``'s measurement; ``--skip-field-kinds`` leaves it out), with
   the pbr material beside diffuse in the vertex and texture kinds;
6. a ``stylize sketch`` step at the reference settings (3 seeds x 16 strokes side by side, 20
   images per CLIP pass) split into raster, augment, CLIP and optimiser, against one seed alone
   (``tools/bench/bench_sketch.py``'s measurement; ``--skip-sketch`` leaves it out).

It prints wall times, iterations per second and peak GPU memory as Markdown rows and writes
them to ``--out/bench_gpu.json``. Goals (issue 15): Text2Mesh fast 300 iterations < 60 s end to
end; CLIPDraw 1000 steps < 60 s.

Usage::

    bash tools/bench/bench_gpu.sh                   # on the GPU machine (installs carried wheels first)
    python tools/bench/bench_gpu.py --smoke         # a seconds-long dry run of every part (CPU is fine)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def _peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def text2mesh(device: str, iters: int, out: Path, smoke: bool, compile_towers: bool = False) -> dict:
    from stylize.engine import ModelCache
    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.run import Text2Mesh

    overrides = {"clip": ["ViT-B-32:random"], "device": device, "iters": iters, "compile": compile_towers}
    if smoke:
        overrides.update(
            {
                "render_size": 32,
                "views.n_views": 2,
                "loss.n_local_augs": 1,
                "output.preview_size": 32,
                "output.turntable_frames": 2,
                "output.turntable_size": 32,
                "output.score_size": 32,
            }
        )
    config = resolve_mesh_config("a vase made of colorful crochet", "fast", None, overrides)
    cache = ModelCache()
    job = Text2Mesh(config, ROOT / "examples" / "meshes" / "vase.obj", model_cache=cache)
    from stylize.utils import resolve_device

    dev = resolve_device(config.device)
    first_step: list[float] = []
    started = time.perf_counter()

    def on_step(step: int, total: int, metrics: dict) -> None:
        if step == 1:
            first_step.append(time.perf_counter() - started)

    _reset(dev)
    result = job.run(out, on_step=on_step)
    wall = time.perf_counter() - started
    run = json.loads((out / "run.json").read_text())
    train = run["timings"]["train_seconds"]
    return {"name": "text2mesh fast" + (" compiled" if compile_towers else ""), "iters": result.iterations,
            "wall_s": round(wall, 2), "train_s": train, "it_per_s": round(result.iterations / train, 2),
            "first_step_s": round(first_step[0], 2) if first_step else None, "peak_mb": _peak_mb(dev)}  # fmt: skip


def clipdraw(device: str, iters: int, out: Path, smoke: bool) -> dict:
    from stylize.config import resolve_config
    from stylize.vector.clipdraw import ClipDraw
    from stylize.vector.config import DRAW_PRESETS, DrawConfig

    overrides = {"prompts": ["a red circle"], "clip": ["ViT-B-32:random"], "device": device, "iters": iters}
    if smoke:
        overrides.update({"size": 32, "paths": 8, "copies": 1})
    draw = ClipDraw(resolve_config(DrawConfig, DRAW_PRESETS, "clipdraw", overrides=overrides))
    _reset(draw.device)
    started = time.perf_counter()
    draw.run(out)
    wall = time.perf_counter() - started
    return {"name": "clipdraw", "iters": iters, "wall_s": round(wall, 2), "it_per_s": round(iters / wall, 2),
            "peak_mb": _peak_mb(draw.device)}  # fmt: skip


def profile_step(device: str, smoke: bool, rows: int = 15) -> str:
    from torch.profiler import ProfilerActivity, profile

    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.io import load_mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    overrides = {"clip": ["ViT-B-32:random"], "device": device}
    if smoke:
        overrides.update({"render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1})
    run = Text2MeshRun(
        load_mesh(ROOT / "examples" / "meshes" / "vase.obj"), resolve_mesh_config("a vase", "fast", None, overrides)
    )
    run.step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if run.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        run.step()
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)
    key = "cuda_time_total" if run.device.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def raster_benchmarks(device: str, smoke: bool) -> str:
    outputs = []
    for script, extra in (("bench_mesh_raster.py", ["--repeats", "1" if smoke else "5"]),
                          ("bench_vector_raster.py", ["--rounds", "1" if smoke else "7"])):  # fmt: skip
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / script), "--device", device, *extra],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
        outputs.append(f"## {script}\n{done.stdout}{done.stderr[-2000:] if done.returncode else ''}")
    return "\n".join(outputs)


def field_kinds(device: str, smoke: bool) -> str:
    """A Markdown table: one fast-preset step per field kind, split by stage (the vase)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_field_modes import measure

    clip = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}" if smoke else "ViT-B-32:random"
    mesh = str(ROOT / "examples" / "meshes" / "vase.obj")
    lines = ["| kind | material | step (s) | render (s) | CLIP fwd (s) | backward + Adam (s) | field fwd + bwd alone (s) | "
             "vs vertex diffuse |", "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    base = None
    # The pbr material (issue 28) beside diffuse in the vertex and texture kinds.
    for mode, material in (("vertex", "diffuse"), ("vertex", "pbr"), ("surface", "diffuse"), ("texture", "diffuse"),
                           ("texture", "pbr")):  # fmt: skip
        row = measure(mode, clip, torch.get_num_threads(), 1 if smoke else 5, device, mesh, material)
        base = row["step"] if base is None else base
        lines.append(f"| {mode} | {material} | {row['step']:.4f} | {row['render']:.4f} | {row['clip']:.4f} | "
                     f"{row['backward_adam']:.4f} | {row['field_forward'] + row['field_backward']:.4f} | "
                     f"{row['step'] / base:.2f}x |")  # fmt: skip
    return "\n".join(lines)


def sketch_split(device: str, smoke: bool) -> tuple[dict, str]:
    """``tools/bench/bench_sketch.py`` on this device: the JSON and a Markdown table."""
    sys.path.insert(0, str(ROOT / "tools" / "bench"))
    import bench_sketch

    result = bench_sketch.run("ViT-B-32:random", 2 if smoke else 20, device, smoke)
    lines = ["| phase | s/step (3 seeds, one batch) | share | s/step (one seed) |", "|---|---:|---:|---:|"]
    batched, single = result["batched"]["seconds_per_step"], result["one_seed"]["seconds_per_step"]
    for name in ("raster", "augment", "clip", "optimiser", "total"):
        lines.append(f"| {name} | {batched.get(name, 0):.4f} | {batched.get(name, 0) / batched['total']:.1%} | "
                     f"{single.get(name, 0):.4f} |")  # fmt: skip
    lines.append(f"\nbatched / (3 x one seed) = {result['batched_over_seeds_in_turn']}")
    return result, "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="folder for the runs and bench_gpu.json (default: a temp folder)")
    parser.add_argument("--compile", action="store_true", help="also run Text2Mesh with torch.compile'd image towers")
    parser.add_argument("--smoke", action="store_true", help="a tiny dry run of every part (any device)")
    parser.add_argument("--skip-raster", action="store_true")
    parser.add_argument("--skip-field-kinds", action="store_true")
    parser.add_argument("--skip-sketch", action="store_true")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here (use --device cpu --smoke for a dry run)", file=sys.stderr)
        return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    t2m_iters, draw_iters = (3, 3) if args.smoke else (300, 1000)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"# bench_gpu on {name}, torch {torch.__version__}", flush=True)
    rows = [text2mesh(args.device, t2m_iters, out / "t2m", args.smoke)]
    print(json.dumps(rows[-1]), flush=True)
    if args.compile:
        rows.append(text2mesh(args.device, t2m_iters, out / "t2m-compiled", args.smoke, compile_towers=True))
        print(json.dumps(rows[-1]), flush=True)
    rows.append(clipdraw(args.device, draw_iters, out / "draw", args.smoke))
    print(json.dumps(rows[-1]), flush=True)
    print("\n| run | iterations | wall (s) | it/s | peak GPU memory (MB) |\n|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['name']} | {row['iters']} | {row['wall_s']} | {row['it_per_s']} | {row['peak_mb'] or '-'} |")
    table = profile_step(args.device, args.smoke)
    print("\n## one profiled Text2Mesh fast step\n" + table, flush=True)
    raster = "" if args.skip_raster else raster_benchmarks(args.device, args.smoke)
    print(raster)
    kinds = "" if args.skip_field_kinds else field_kinds(args.device, args.smoke)
    print("\n## a Text2Mesh fast step per field kind\n" + kinds, flush=True)
    sketch, sketch_table = ({}, "") if args.skip_sketch else sketch_split(args.device, args.smoke)
    print("\n## a stylize sketch step (reference settings, ViT-B-32 random)\n" + sketch_table, flush=True)
    summary = {"rows": rows, "profile": table, "raster": raster, "field_kinds": kinds, "sketch": sketch}
    (out / "bench_gpu.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
