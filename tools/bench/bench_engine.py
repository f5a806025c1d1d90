"""Time one CLIP-engine loss + backward on CPU (or CUDA) with a random-init model.

Usage: python tools/bench/bench_engine.py [--clip ViT-B-32:random] [--batch 4] [--size 224] [--repeats 5]

Weights do not change the cost, so a random-init model measures what a pretrained one costs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stylize.engine import ClipEngine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="ViT-B-32:random")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    engine = ClipEngine([args.clip], "a red circle", device=args.device)
    images = torch.rand(args.batch, 3, args.size, args.size, device=engine.device, requires_grad=True)
    times = []
    for i in range(args.repeats + 1):
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        engine(images).loss.backward()
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call warms up allocators and kernels
            times.append(time.perf_counter() - start)
    print(
        f"{args.clip} loss+backward, {args.batch} images at {args.size} px on {engine.device} "
        f"({torch.get_num_threads()} threads): median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s over {args.repeats} runs"
    )


if __name__ == "__main__":
    main()
