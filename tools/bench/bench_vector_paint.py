"""Vector raster time and peak memory for 256 paths at 224 px, with and without gradient fills.

Cases (each in its own child process, so that its peak RSS is its own): CLIPDraw's 256 random
strokes; 256 random filled blobs with solid fills; the same blobs with two-stop linear gradient
fills (``--set fills=gradient``); strokes and blobs half and half with gradient fills. Each case
times ``render(...)`` forward + backward of ``image.mean()`` over ``--rounds`` rounds after a warm-up
and prints the median and minimum, and the child's peak RSS above its RSS after the warm-up
scene was built (``resource`` high-water mark, so it includes the allocator's slack). Run it with
``PYTHONPATH`` pointing at another checkout to compare (cases that need gradients are skipped
where the package has none).

    python tools/bench/bench_vector_paint.py [--rounds 7] [--size 224] [--paths 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = ("strokes", "solid-fills", "gradient-fills", "both-gradient")


def _scene(case: str, paths: int, size: int, device: str):
    import torch

    from stylize.generation import InitContext
    from stylize.vector.initial import initial_scene

    context = InitContext((size, size), torch.Generator().manual_seed(0))
    shapes = {"strokes": "strokes", "solid-fills": "fills", "gradient-fills": "fills", "both-gradient": "both"}[case]
    if "gradient" in case:
        scene = initial_scene(shapes, paths, context, fills="gradient")
    else:
        scene = initial_scene(shapes, paths, context)
    return scene.to(device).requires_grad_(True)


def _child(case: str, rounds: int, size: int, paths: int, device: str) -> dict:
    import torch

    from stylize.vector.raster import render

    try:
        scene = _scene(case, paths, size, device)
    except TypeError:  # a package without gradient fills
        return {"skipped": True}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step() -> float:
        sync()
        start = time.perf_counter()
        render(scene, size, size).mean().backward()
        sync()
        return time.perf_counter() - start

    step()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    times = [step() for _ in range(rounds)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"median": statistics.median(times), "min": min(times), "peak_growth_mib": peak - baseline, "peak_mib": peak,
            "gradients": int(getattr(scene, "num_gradients", 0))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--paths", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.rounds, args.size, args.paths, args.device)))
        return
    print(f"load before: {os.getloadavg()}; {args.paths} paths at {args.size} px, forward + backward, {args.rounds} rounds")
    print(f"{'case':16s} {'median ms':>10s} {'min ms':>8s} {'peak RSS MiB':>13s} {'(growth)':>9s} gradients")
    for case in CASES:
        command = [sys.executable, __file__, "--child", case, "--rounds", str(args.rounds), "--size", str(args.size),
                   "--paths", str(args.paths), "--device", args.device]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{case:16s} failed: {(done.stderr.strip().splitlines() or ['no output'])[-1][:100]}")
            continue
        row = json.loads(lines[-1])
        if row.get("skipped"):
            print(f"{case:16s} skipped (no gradient fills in this package)")
            continue
        print(f"{case:16s} {row['median'] * 1e3:10.1f} {row['min'] * 1e3:8.1f} {row['peak_mib']:13.0f} "
              f"{row['peak_growth_mib']:9.1f} {row['gradients']}")  # fmt: skip
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
