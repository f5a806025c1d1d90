"""Cost of a Text2Mesh step per field kind (vertex, surface, texture): where the time goes.

For each field kind and thread count, a child process runs warm-up steps and then ``--steps``
timed steps of the ``fast`` preset (224 px, 5 views, one CLIP pass) on the vase, and prints per
step: the whole step, the render (which holds the field's forward pass in the per-point kinds),
CLIP forward, the backward pass and Adam; then, on the same points the step evaluates (the
vertices, or the covered pixels of the 5 views), the field's forward and backward alone; and the
step's ratio to the vertex kind's in the same run.

Usage::

    python tools/bench/bench_field_modes.py                                  # ViT-B-32:random, 1 and 2 threads
    python tools/bench/bench_field_modes.py --clip local-dir:tests/assets/clip/trainer --threads 1
    python tools/bench/bench_field_modes.py --device cuda --steps 10

Compare timings only as ratios measured in one run on a quiet machine (``uptime`` is printed
before and after).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def measure(mode: str, clip: str, threads: int, steps: int, device: str, mesh_path: str, material: str = "diffuse") -> dict:
    import torch

    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.io import load_mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    torch.set_num_threads(threads)
    overrides = {"clip": [clip], "device": device, "field.mode": mode, "profile": True, "material": material}
    config = resolve_mesh_config("a vase made of colorful crochet", "fast", None, overrides)
    run = Text2MeshRun(load_mesh(mesh_path), config)
    run.step()
    run.step()  # warm-up: allocator, kernels, text embeddings
    before = dict(run.timer.totals)
    start = time.perf_counter()
    for _ in range(steps):
        run.step()
    step = (time.perf_counter() - start) / steps
    phases = {k: (v - before.get(k, 0.0)) / steps for k, v in run.timer.totals.items()}
    # The field alone on the points a step evaluates.
    styled = run.styled
    if styled.surface:
        views = run.sample_views()
        out = run.renderer(styled.displaced().detach(), styled.faces,
                           torch.cat([styled.attributes(), torch.ones_like(styled.vertices[:, :1])], 1), views.to(run.device))  # fmt: skip
        width = styled.attributes().shape[1]
        covered = out.face_index.reshape(-1) >= 0
        points = out.features.reshape(-1, width + 1)[covered][:, :width].detach()
        evaluate = styled.features_at
    else:
        points = styled.vertices

        def evaluate(p):
            return styled.field(p, styled.base_colors).features

    def once() -> tuple[float, float]:
        sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        value = evaluate(points)
        sync()
        t1 = time.perf_counter()
        value.square().sum().backward()
        sync()
        t2 = time.perf_counter()
        run.field.zero_grad(set_to_none=True)
        return t1 - t0, t2 - t1

    once()
    timings = [once() for _ in range(max(steps, 2))]
    forward = min(t[0] for t in timings)
    backward = min(t[1] for t in timings)
    return {"mode": mode, "material": material, "threads": threads, "step": step, "render": phases.get("render", 0.0),
            "field_in_render": phases.get("field", 0.0), "clip": phases.get("clip", 0.0),
            "backward_adam": phases.get("backward_step", 0.0), "points": int(points.shape[0]),
            "field_forward": forward, "field_backward": backward}  # fmt: skip


def _child(queue, *args) -> None:
    queue.put(measure(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="ViT-B-32:random")
    parser.add_argument("--modes", nargs="+", default=["vertex", "surface", "texture"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mesh", default=str(ROOT / "examples" / "meshes" / "vase.obj"))
    args = parser.parse_args()
    print(f"uptime before: {os.getloadavg()}; clip {args.clip}; fast preset, 224 px, 5 views; {args.steps} timed steps")
    context = multiprocessing.get_context("spawn")
    header = ("| threads | mode | step (s) | render (s) | of it: field fwd (s) | CLIP fwd (s) | backward+Adam (s) | "
              "points | field fwd alone (s) | field bwd alone (s) | vs vertex |")  # fmt: skip
    print(header)
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threads in args.threads:
        base = None
        for mode in args.modes:
            queue = context.Queue()
            process = context.Process(target=_child, args=(queue, mode, args.clip, threads, args.steps, args.device, args.mesh))
            process.start()
            row = queue.get()
            process.join()
            base = row["step"] if mode == "vertex" else base
            ratio = f"{row['step'] / base:.2f}x" if base else "-"
            print(f"| {threads} | {mode} | {row['step']:.3f} | {row['render']:.3f} | {row['field_in_render']:.3f} | "
                  f"{row['clip']:.3f} | {row['backward_adam']:.3f} | {row['points']} | {row['field_forward']:.3f} | "
                  f"{row['field_backward']:.3f} | {ratio} |", flush=True)  # fmt: skip
    print(f"uptime after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
