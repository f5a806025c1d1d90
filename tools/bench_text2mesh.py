"""Benchmark: one Text2Mesh iteration split into render, CLIP and field/optimiser time.

For each preset (``paper``, ``fast``) it builds a :class:`~stylize.mesh.text2mesh.Text2MeshRun`
on ``examples/meshes/vase.obj`` with a random-init ViT-B-32 (weights do not change the cost) and
times, median over ``--repeats`` after one warm-up:

- ``render``: the coloured and the grey (geometry) renders of all views, forward + backward;
- ``clip``: the global, local and geometry losses (augmentations + CLIP encodes), forward + backward;
- ``field``: the style field forward + backward + Adam step;
- ``step``: a whole ``run.step()`` (the three above plus glue).

It prints a Markdown table and the projected wall time of a full run of each preset.

Usage::

    python tools/bench_text2mesh.py [--device cpu|cuda] [--threads 1] [--repeats 3] [--presets paper fast]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize import api  # noqa: E402
from stylize.engine import ModelCache  # noqa: E402
from stylize.mesh.io import load_mesh  # noqa: E402
from stylize.mesh.text2mesh import Text2MeshRun, render_shaded  # noqa: E402


def _timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_preset(preset: str, device: str, repeats: int, cache: ModelCache, mesh_path: Path) -> dict:
    config = api.mesh_config("a vase made of colorful crochet", preset, None, {"clip": ["ViT-B-32:random"], "device": device})
    run = Text2MeshRun(load_mesh(mesh_path), config, model_cache=cache)
    dev = run.device
    views = run.sample_views()
    cfg = config.loss

    def field_part():
        run.optimizer.zero_grad()
        out = run.field(run.vertices)
        (out.colors.sum() + out.displacement.sum()).backward()
        run.optimizer.step()

    colors = torch.full_like(run.vertices, 0.5).requires_grad_()
    displaced = run.vertices.clone().requires_grad_()

    def render_part():
        image = render_shaded(run.renderer, displaced, run.faces, colors, views)
        grey = render_shaded(run.renderer, displaced, run.faces, torch.full_like(colors, 0.5), views)
        (image.sum() + grey.sum()).backward()

    with torch.no_grad():
        base = render_shaded(run.renderer, run.vertices, run.faces, torch.full_like(run.vertices, 0.5), views)

    def clip_part():
        images = base.clone().requires_grad_()
        geo = base.clone().requires_grad_()
        total = run._pooled_loss(run.global_aug(images), cfg.n_augs)[0]
        total = total + run._pooled_loss(run.local_aug(images), cfg.n_local_augs)[0]
        total = total + run._pooled_loss(run.geometry_aug(geo), cfg.n_local_augs)[0]
        total.backward()

    row = {
        "preset": preset,
        "render": _timed(render_part, dev, repeats),
        "clip": _timed(clip_part, dev, repeats),
        "field": _timed(field_part, dev, repeats),
        "step": _timed(run.step, dev, repeats),
        "iters": config.iters,
        "encodes": config.views.n_views * (cfg.n_augs + 2 * cfg.n_local_augs),
        "size": config.render_size,
    }
    row["projected_s"] = row["step"] * config.iters
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="Time one Text2Mesh iteration by component")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--mesh", default=str(ROOT / "examples" / "meshes" / "vase.obj"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = ModelCache()
    mesh = load_mesh(args.mesh)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, device {args.device}, "
          f"threads {args.threads}, mesh {Path(args.mesh).name} ({len(mesh.faces)} faces)")
    print("| preset | px | CLIP encodes/it | render (s) | CLIP (s) | field+Adam (s) | whole step (s) | iters | projected run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for preset in args.presets:
        r = bench_preset(preset, args.device, args.repeats, cache, Path(args.mesh))
        print(f"| {r['preset']} | {r['size']} | {r['encodes']} | {r['render']:.3f} | {r['clip']:.3f} | {r['field']:.3f} | "
              f"{r['step']:.3f} | {r['iters']} | {r['projected_s'] / 60:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
