"""Seconds per Text2Mesh iteration for several torch thread counts, each in its own process, and
what ``stylize``'s default (:func:`stylize.utils.default_threads`: the cores not busy now) picks.

    python tools/bench/bench_threads.py                       # smoke and fast presets, 1 and 2 threads
    python tools/bench/bench_threads.py --threads 1 2 4 8 --presets fast --steps 5

Prints the 1-minute load before and after: a busy machine changes the ratios (on a loaded 2-core
machine, 2 threads ran 5-15x slower than 1; on a quiet one they are faster).
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


def _measure(queue, preset: str, threads: int, steps: int, clip: str) -> None:
    import torch

    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.io import load_mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    torch.set_num_threads(threads)
    config = resolve_mesh_config("a red circle", preset, None, {"clip": [clip], "device": "cpu"})
    run = Text2MeshRun(load_mesh(ROOT / "examples" / "meshes" / "vase.obj"), config)
    run.step()
    start = time.perf_counter()
    for _ in range(steps):
        run.step()
    queue.put((time.perf_counter() - start) / steps)


def main() -> None:
    from stylize.utils import default_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["smoke", "fast"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--clip", default=f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    print(f"# {os.cpu_count()} cores, load before {os.getloadavg()[0]:.2f}; stylize's default now: {default_threads()} threads")
    print("| preset | threads | s / iteration | vs 1 thread |\n|---|---:|---:|---:|")
    for preset in args.presets:
        base = None
        for threads in args.threads:
            queue = context.Queue()
            process = context.Process(target=_measure, args=(queue, preset, threads, args.steps, args.clip))
            process.start()
            seconds = queue.get()
            process.join()
            base = base or seconds
            print(f"| {preset} | {threads} | {seconds:.3f} | {seconds / base:.2f}x |", flush=True)
    print(f"# load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
