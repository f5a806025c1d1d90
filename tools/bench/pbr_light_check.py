"""Is the light kept out of a pbr run's base colour? (issue 28)

A sphere is stylized towards one plain colour ("a orange circle": the test CLIPs see a sphere
as a circle) with the trainer test CLIP and the ``fast`` preset, baked, and the baked base
colour's spread over the surface (standard deviation over the covered pixels of 8 views, mean
of R, G, B, seen through the UVs) is compared with the spread of the same views lit by the studio
light (the baked GLB shaded as a glTF viewer does): see :func:`stylize.testing.pbr_checks.light_spread`.
Target: base colour spread at most a third of the lit spread. A diffuse run of the same prompt is
the control (its GLB is shaded as a rough dielectric).

Usage::

    python tools/bench/pbr_light_check.py                         # orange, red, purple; seed 0; 300 iterations
    python tools/bench/pbr_light_check.py --colours orange --iters 60 --size 64
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default=f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}")
    parser.add_argument("--colours", nargs="+", default=["orange", "red", "purple"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--materials", nargs="+", default=["pbr", "diffuse"])
    parser.add_argument("--iters", type=int, default=None, help="default: the fast preset's 300")
    parser.add_argument("--size", type=int, default=None, help="render size (default: the preset's 224)")
    args = parser.parse_args()

    import torch

    from stylize.engine import ModelCache
    from stylize.testing.pbr_checks import light_spread, pbr_run

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    overrides = {}
    if args.iters:
        overrides["iters"] = args.iters
    if args.size:
        overrides.update({"render_size": args.size, "output.score_size": args.size})
    print(f"uptime before: {os.getloadavg()}; sphere, fast preset {overrides or ''}; clip {args.clip}", flush=True)
    print("| colour | seed | material | base colour spread | lit spread | ratio | mean base colour (sRGB) | train (s) |")
    print("|---|---:|---|---:|---:|---:|---|---:|")
    cache = ModelCache()
    worst = {}
    for colour in args.colours:
        for seed in args.seeds:
            for material in args.materials:
                started = time.perf_counter()
                run = pbr_run("sphere", f"a {colour} circle", args.clip, seed=seed, overrides={**overrides, "material": material},
                              model_cache=cache)  # fmt: skip
                seconds = time.perf_counter() - started
                with tempfile.TemporaryDirectory() as folder:
                    spread = light_spread(run, folder)
                worst[material] = max(worst.get(material, 0.0), spread["ratio"])
                rgb = ", ".join(f"{v:.2f}" for v in spread["mean_rgb"])
                print(f"| {colour} | {seed} | {material} | {spread['base_color']:.4f} | {spread['lit']:.4f} | "
                      f"{spread['ratio']:.3f} | ({rgb}) | {seconds:.0f} |", flush=True)  # fmt: skip
    for material, ratio in worst.items():
        print(f"{material}: worst ratio {ratio:.3f} (target for pbr: <= 0.333)")
    print(f"uptime after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
