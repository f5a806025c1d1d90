"""Benchmark restyle: seconds per training iteration at 512 px and ``--apply`` time at 2048 px.

- ``apply``: one StyleNet (width 16) forward pass over a 2048 x 2048 picture (median of
  ``--rounds``), with the process's peak memory after it (measured first, before any training).
- ``paper``: per-iteration seconds of a training run at 512 px with the paper's settings (64
  patches of 128 px, ViT-B/32, VGG-19 content loss) on random-init ViT-B/32 and VGG-19 weights:
  the same architectures and arithmetic as the pretrained ones, which these machines cannot
  download. ``--skip-paper`` leaves it out (it takes minutes on a CPU).
- ``test-clip``: the same at 512 px and at the smoke preset's 128 px with the project's test CLIP
  (``content_features = "clip"``), which is what the test suite runs.

Prints one JSON line per measurement and the load average (``uptime``) before and after.

    python tools/bench/bench_restyle.py [--device cpu|cuda] [--threads 2] [--iters 3] [--rounds 3] [--skip-paper]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TRAINER = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def bench_apply(device: torch.device, side: int, rounds: int) -> dict:
    from stylize.restyling.stylenet import StyleNet, stylize_image

    torch.manual_seed(0)
    net = StyleNet(16).to(device).eval()
    picture = torch.rand(3, side, side)
    seconds = []
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        stylize_image(net, picture)
        _sync(device)
        seconds.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)  # fmt: skip
    return {"measure": "apply", "side": side, "seconds_median": round(statistics.median(seconds), 3),
            "seconds": [round(s, 3) for s in seconds], "peak_memory_gib": round(peak, 2)}  # fmt: skip


def bench_training(name: str, device: torch.device, iters: int, image: Path, **overrides) -> dict:
    from stylize.config import resolve_config
    from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig
    from stylize.restyling.restyler import Restyler

    preset = overrides.pop("preset", "clipstyler")
    values = {"image": str(image), "prompt": "a watercolour painting", "iters": iters + 1, "device": str(device), **overrides}
    config = resolve_config(RestyleConfig, RESTYLE_PRESETS, preset, overrides=values)
    restyler = Restyler(config)
    stamps: list[float] = []

    def on_step(step: int, total: int, metrics: dict) -> None:
        _sync(device)
        stamps.append(time.perf_counter())

    _sync(device)
    start = time.perf_counter()
    result = restyler.run(None, on_step=on_step)
    steps = [b - a for a, b in zip([start, *stamps[:-1]], stamps, strict=False)][1:]  # the first step warms up
    return {"measure": name, "size": list(result.image.shape[-2:]), "crops": config.num_crops, "crop_size": config.crop_size,
            "clip": config.clip, "content_features": config.content_features, "iters_timed": len(steps),
            "seconds_per_iter_median": round(statistics.median(steps), 3), "seconds_per_iter": [round(s, 3) for s in steps]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3, help="timed training iterations (after one warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="apply rounds")
    parser.add_argument("--side", type=int, default=2048, help="apply picture side")
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("STYLIZE_OFFLINE", "1")
    device = torch.device(args.device)
    print(json.dumps({"uptime_before": _load(), "threads": args.threads, "device": str(device), "torch": torch.__version__,
                      "cpu": platform.processor() or platform.machine()}), flush=True)  # fmt: skip
    print(json.dumps(bench_apply(device, args.side, args.rounds)), flush=True)
    from stylize.images import save_image
    from stylize.testing.restyle_check import disc_picture

    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "content.png"
        save_image(image, disc_picture(512, (0.45, 0.55), 0.3))
        if not args.skip_paper:
            print(json.dumps(bench_training("paper", device, args.iters, image, clip=["ViT-B-32:random"],
                                            content_features="vgg-random")), flush=True)  # fmt: skip
        print(json.dumps(bench_training("test-clip-512", device, args.iters, image, clip=[TRAINER], content_features="clip",
                                        templates="none")), flush=True)  # fmt: skip
        print(json.dumps(bench_training("test-clip-smoke-128", device, args.iters, image, preset="smoke", clip=[TRAINER],
                                        content_features="clip")), flush=True)  # fmt: skip
    print(json.dumps({"uptime_after": _load()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
