"""What the pbr material adds to a Text2Mesh step: pbr against diffuse, per field kind.

For each field kind, a child process per material runs the measurement of
``bench_field_modes.py`` (fast preset: 224 px, 5 views, one CLIP pass, the vase; 2 warm-up steps
then ``--steps`` timed ones) and prints the step split (render, which holds the shading, CLIP,
backward + Adam) and the pbr step's ratio to the diffuse step of the same kind. ``--rounds``
repeats the pair (diffuse, pbr, diffuse, pbr, ...) and the ratio uses each material's fastest
step, so a burst of load on the shared machine does not land on one side only. Then, in this
process, the shaded render's forward + backward alone is timed for both materials (interleaved,
fastest of 5): the pbr render's extra time over the diffuse step is the steadier figure of what pbr
adds, since the CLIP pass (most of a step) swings with the load.

Usage::

    python tools/bench/bench_pbr.py                           # ViT-B-32:random, 1 thread, vertex and texture
    python tools/bench/bench_pbr.py --modes vertex --rounds 2
    python tools/bench/bench_pbr.py --device cuda --steps 10

The target (issue 28): pbr adds at most 15 % to a CPU step with ``ViT-B-32:random``. Compare
timings only as ratios measured in one run on a quiet machine (``uptime`` before and after).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "bench"))


def _child(queue, *args) -> None:
    from bench_field_modes import measure

    queue.put(measure(*args))


def render_alone(mode: str, mesh_path: str, threads: int, repeats: int = 5) -> dict[str, float]:
    """The shaded render's forward + backward alone (the step's training views: 224 px, 5 views,
    the vase), fastest of ``repeats``, diffuse and pbr interleaved: what pbr adds to a step,
    without the CLIP pass whose time swings with the machine's load."""
    import time

    import torch

    from stylize.mesh.camera import sample_text2mesh_views
    from stylize.mesh.config import FieldConfig
    from stylize.mesh.field import NeuralStyleField
    from stylize.mesh.geometry import vertex_normals
    from stylize.mesh.io import load_mesh
    from stylize.mesh.renderer import get_renderer
    from stylize.mesh.surface import StyledMesh

    torch.set_num_threads(threads)
    mesh = load_mesh(mesh_path)
    vertices, faces, _ = mesh.to_torch("cpu")
    renderer = get_renderer(height=224)
    views = sample_text2mesh_views(5, generator=torch.Generator().manual_seed(0))
    styled = {}
    for material in ("diffuse", "pbr"):
        field = NeuralStyleField(FieldConfig(mode=mode, progressive=False), generator=torch.Generator().manual_seed(0),
                                 material=material)  # fmt: skip
        styled[material] = StyledMesh(field, vertices, faces, vertex_normals(vertices, faces))
    best = {"diffuse": float("inf"), "pbr": float("inf")}
    for _ in range(repeats):
        for material, item in styled.items():
            lights = item.material.sample_lights(torch.Generator().manual_seed(1))
            started = time.perf_counter()
            item.render(renderer, views, lights=lights).mean().backward()
            best[material] = min(best[material], time.perf_counter() - started)
            item.field.zero_grad(set_to_none=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="ViT-B-32:random")
    parser.add_argument("--modes", nargs="+", default=["vertex", "texture"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mesh", default=str(ROOT / "examples" / "meshes" / "vase.obj"))
    args = parser.parse_args()
    print(f"uptime before: {os.getloadavg()}; clip {args.clip}; fast preset, 224 px, 5 views; {args.threads} thread(s); "
          f"{args.steps} timed steps; {args.rounds} round(s)", flush=True)  # fmt: skip
    context = multiprocessing.get_context("spawn")
    print("| kind | material | round | step (s) | render (s) | CLIP fwd (s) | backward+Adam (s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    summary = []
    for mode in args.modes:
        best: dict[str, dict] = {}
        for round_index in range(args.rounds):
            for material in ("diffuse", "pbr"):
                queue = context.Queue()
                process = context.Process(target=_child, args=(queue, mode, args.clip, args.threads, args.steps, args.device,
                                                                args.mesh, material))  # fmt: skip
                process.start()
                row = queue.get()
                process.join()
                print(f"| {mode} | {material} | {round_index + 1} | {row['step']:.3f} | {row['render']:.3f} | "
                      f"{row['clip']:.3f} | {row['backward_adam']:.3f} |", flush=True)  # fmt: skip
                if material not in best or row["step"] < best[material]["step"]:
                    best[material] = row
        ratio = best["pbr"]["step"] / best["diffuse"]["step"]
        render_added = best["pbr"]["render"] - best["diffuse"]["render"]
        summary.append((mode, best["diffuse"]["step"], best["pbr"]["step"], ratio, render_added))
    print()
    print(
        "| kind | diffuse step (s) | pbr step (s) | pbr / diffuse | render fwd added by pbr (s) | "
        "render fwd+bwd alone: diffuse / pbr (s) | diffuse step + added render / diffuse step |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, diffuse, pbr, ratio, added in summary:
        alone = render_alone(mode, args.mesh, args.threads)
        estimate = (diffuse + alone["pbr"] - alone["diffuse"]) / diffuse
        print(f"| {mode} | {diffuse:.3f} | {pbr:.3f} | **{ratio:.3f}x** | {added:+.3f} | "
              f"{alone['diffuse']:.3f} / {alone['pbr']:.3f} | **{estimate:.3f}x** |", flush=True)  # fmt: skip
    print(f"uptime after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
