"""Does a pbr run take the finish it was prompted with? (issue 28; needs instrument v4)

3 finishes (matte, glossy, metallic) x 4 colours x 2 seeds on a sphere and a cube, the ``fast``
preset, optimised with the trainer test CLIP towards ``"a {finish} {colour} {shape}"`` (a sphere
is a "circle", a cube a "square" to the test CLIPs). The held-out judge CLIP renders each result
from 8 views under the studio light and ranks the prompted caption against the other two
finishes (same colour) and the other seven colours (same finish): a run is right when both rank
it first (:func:`stylize.testing.pbr_checks.finish_scores`). The maps are read off the field: the
mean roughness and metalness over the surface (area-weighted).

Targets: right in at least 90 % of runs; mean roughness of glossy and metallic runs at least 0.3
below matte runs; mean metalness of metallic runs at least 0.5 above the others.

The figures mean something only with test CLIPs that learned finishes (instrument v4:
``tests/assets/clip/*/training.json`` ``"version"`` 4 or more); with older ones the tool says so
and stops unless ``--force``.

Usage::

    python tools/bench/pbr_finish_check.py                                  # 48 runs
    python tools/bench/pbr_finish_check.py --colours red --seeds 0 --shapes sphere --iters 60   # a quick look

Runtime: one fast-preset run of the trainer CLIP is about 0.6 s a step on one quiet core
(BENCHMARKS.md: a vertex step 0.59 s at 224 px), so 300 steps plus scoring is about 3-4 minutes
and the full 48 runs about 3 hours on one core; pass ``--iters`` and ``--size`` for shorter looks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
CLIPS = ROOT / "tests" / "assets" / "clip"


def instrument_version() -> int:
    """The lowest ``version`` of the two test CLIPs' training.json (0 when absent)."""
    versions = []
    for variant in ("trainer", "judge"):
        try:
            versions.append(int(json.loads((CLIPS / variant / "training.json").read_text()).get("version", 0)))
        except (OSError, ValueError):
            versions.append(0)
    return min(versions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--finishes", nargs="+", default=["matte", "glossy", "metallic"])
    parser.add_argument("--colours", nargs="+", default=["red", "blue", "yellow", "green"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--shapes", nargs="+", default=["sphere", "cube"])
    parser.add_argument("--iters", type=int, default=None, help="default: the fast preset's 300")
    parser.add_argument("--size", type=int, default=None, help="render size (default: the preset's 224)")
    parser.add_argument("--force", action="store_true", help="run with test CLIPs older than v4 (figures meaningless)")
    args = parser.parse_args()
    version = instrument_version()
    if version < 4 and not args.force:
        print(f"the test CLIPs are instrument v{version}: they do not know finishes (v4 does); --force runs anyway")
        return 2

    import torch

    from stylize.engine import ClipEngine, ModelCache, PromptSet
    from stylize.testing.pbr_checks import finish_scores, pbr_run

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    overrides = {}
    if args.iters:
        overrides["iters"] = args.iters
    if args.size:
        overrides.update({"render_size": args.size, "output.score_size": args.size})
    cache = ModelCache()
    judge = ClipEngine([f"local-dir:{CLIPS / 'judge'}"], PromptSet.build("a red circle"), device="cpu", model_cache=cache)
    print(f"uptime before: {os.getloadavg()}; instrument v{version}; fast preset {overrides or ''}", flush=True)
    print("| shape | finish | colour | seed | finish rank | colour rank | right | roughness | metallic | train (s) |")
    print("|---|---|---|---:|---:|---:|---|---:|---:|---:|")
    rows = []
    for shape in args.shapes:
        for finish in args.finishes:
            for colour in args.colours:
                for seed in args.seeds:
                    from stylize.testing.pbr_checks import caption_of

                    started = time.perf_counter()
                    run = pbr_run(shape, caption_of(finish, colour, shape), f"local-dir:{CLIPS / 'trainer'}", seed=seed,
                                  overrides=overrides, model_cache=cache)  # fmt: skip
                    seconds = time.perf_counter() - started
                    result = finish_scores(run, judge, finish, colour, shape)
                    rows.append((finish, result))
                    print(f"| {shape} | {finish} | {colour} | {seed} | {result.finish_rank} | {result.colour_rank} | "
                          f"{'yes' if result.right else 'no'} | {result.roughness:.3f} | {result.metallic:.3f} | "
                          f"{seconds:.0f} |", flush=True)  # fmt: skip

    def mean(values):
        values = list(values)
        return sum(values) / len(values) if values else float("nan")

    right = mean(float(r.right) for _, r in rows)
    rough = {f: mean(r.roughness for g, r in rows if g == f) for f in args.finishes}
    metal = {f: mean(r.metallic for g, r in rows if g == f) for f in args.finishes}
    print()
    print("| finish | runs | right | mean roughness | mean metallic |")
    print("|---|---:|---:|---:|---:|")
    for f in args.finishes:
        share = mean(float(r.right) for g, r in rows if g == f)
        print(f"| {f} | {sum(g == f for g, _ in rows)} | {100 * share:.0f} % | {rough[f]:.3f} | {metal[f]:.3f} |")
    print(f"right overall: {100 * right:.1f} % (target >= 90 %)")
    if {"matte", "glossy", "metallic"} <= set(args.finishes):
        print(f"roughness below matte: glossy {rough['matte'] - rough['glossy']:.3f}, metallic "
              f"{rough['matte'] - rough['metallic']:.3f} (target >= 0.3)")  # fmt: skip
        others = mean([metal["matte"], metal["glossy"]])
        print(f"metallic above the others: {metal['metallic'] - others:.3f} (target >= 0.5)")
    print(f"uptime after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
