"""Benchmark the pure-PyTorch vector rasterizer against a ViT-B-32 forward + backward.

Prints forward+backward time for 64, 256 and 1024 random CLIPDraw-like strokes at 224 px, the
peak memory each needs, and the ratio to a random-init open_clip ViT-B-32 forward+backward of a
batch of 4 images at 224 px, measured in the same run (CLIPDraw's per-step CLIP cost). Timings
are medians over interleaved rounds so that load from other processes hits both sides alike.

    python tools/bench/bench_vector_raster.py [--device cpu|cuda] [--rounds 7] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

import torch

from stylize.vector.raster import render
from stylize.vector.scene import random_strokes

SIZE = 224
STROKE_COUNTS = (64, 256, 1024)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _raster_step(scene, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    image = render(scene, SIZE, SIZE)
    image.mean().backward()
    _sync(device)
    return time.perf_counter() - start


def _clip_step(model, images: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    features = model.encode_image(images)
    features.square().sum().backward()
    _sync(device)
    return time.perf_counter() - start


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    scenes = {
        count: random_strokes(count, SIZE, SIZE, generator=torch.Generator().manual_seed(count), device=device)
        for count in STROKE_COUNTS
    }

    # Memory first, smallest scene first: the process high-water mark only grows, so each
    # increase is that scene's peak working set.
    _raster_step(random_strokes(4, SIZE, SIZE), device)
    baseline = _peak_rss_mib()
    peak_mib = {}
    for count, scene in scenes.items():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            _raster_step(scene, device)
            peak_mib[count] = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            _raster_step(scene, device)
            peak_mib[count] = max(_peak_rss_mib() - baseline, 0.0)

    import open_clip

    model = open_clip.create_model("ViT-B-32", pretrained=None).to(device)
    images = torch.rand(4, 3, SIZE, SIZE, device=device)
    _clip_step(model, images, device)

    times: dict[object, list[float]] = {"clip": [], **{count: [] for count in STROKE_COUNTS}}
    for _ in range(args.rounds):
        times["clip"].append(_clip_step(model, images, device))
        for count, scene in scenes.items():
            scene.points.grad = None
            times[count].append(_raster_step(scene, device))

    clip_time = statistics.median(times["clip"])
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}"
    )
    print(f"ViT-B-32 (random init) forward+backward, 4 x {SIZE} px: {clip_time * 1e3:.0f} ms (median of {args.rounds})")
    memory_label = "peak CUDA memory" if device.type == "cuda" else "peak RSS growth"
    for count in STROKE_COUNTS:
        raster_time = statistics.median(times[count])
        print(
            f"{count:5d} strokes at {SIZE} px: forward+backward {raster_time * 1e3:7.1f} ms "
            f"(min {min(times[count]) * 1e3:.1f}), ratio to CLIP {raster_time / clip_time:.3f}, "
            f"{memory_label} {peak_mib[count]:.1f} MiB"
        )


if __name__ == "__main__":
    main()
