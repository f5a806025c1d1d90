"""Seed robustness of the Text2Mesh presets: how often does the judge see the prompted colour?

Runs each preset on an icosphere (level 3, prompt "a {colour} circle") and a cube ("a {colour}
square") for every colour and seed with the *trainer* test CLIP, then asks the *judge* test CLIP
which of the eight "a {c} circle|square" captions fits the result best over 16 views (8 azimuths at
20 and -10 degrees elevation). Prints the fraction of runs whose prompted colour ranks first, per
preset and primitive, and the failures. See :mod:`stylize.testing.robustness`.

    python tools/bench/seed_robustness.py                       # fast, 8 colours x 5 seeds x sphere, cube
    python tools/bench/seed_robustness.py --presets fast paper --iters 100 --jobs 2 --out runs.jsonl
    python tools/bench/seed_robustness.py --clips /elsewhere/clip   # another trainer/judge pair

``--iters`` shortens every run (``fast`` and ``paper`` decay the learning rate per step, so a short
run is the start of the full one); ``--checkpoints`` also records the judge's verdict on the way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stylize.config import parse_set_items  # noqa: E402
from stylize.testing.shapes import COLOURS  # noqa: E402

_STATE: dict = {}


def _init(clips: str, threads: int) -> None:
    import torch

    from stylize.engine import ClipEngine, ModelCache

    torch.set_num_threads(threads)
    cache = ModelCache()
    _STATE.update(
        cache=cache, trainer=f"local-dir:{Path(clips) / 'trainer'}",
        judge=ClipEngine([f"local-dir:{Path(clips) / 'judge'}"], "a red circle", device="cpu", model_cache=cache),
    )  # fmt: skip


def _run(task: tuple) -> dict:
    from stylize.testing.robustness import RobustnessCase, run_case

    preset, primitive, colour, seed, iters, size, views, checkpoints, overrides, best_of = task
    result = run_case(
        RobustnessCase(preset, primitive, colour, seed), _STATE["trainer"], _STATE["judge"], iters=iters, size=size,
        n_views=views, checkpoints=checkpoints, model_cache=_STATE["cache"], overrides=overrides, best_of=best_of,
    )  # fmt: skip
    return result.to_dict()


def summarise(rows: list[dict]) -> dict:
    """``{preset (and best-of N): {"all": rate, primitive: rate, "mean_seconds": s, "failures": [...],
    "checkpoints": {it: rate}}}``."""
    out: dict = {}

    def group(row: dict) -> str:
        n = row.get("best_of", 1)
        return row["case"]["preset"] if n == 1 else f"{row['case']['preset']} best-of {n}"

    for preset in dict.fromkeys(map(group, rows)):
        mine = [r for r in rows if group(r) == preset]
        entry: dict = {"runs": len(mine), "all": sum(r["success"] for r in mine) / len(mine),
                       "mean_seconds": round(sum(r["seconds"] for r in mine) / len(mine), 1)}  # fmt: skip
        for primitive in dict.fromkeys(r["case"]["primitive"] for r in mine):
            theirs = [r for r in mine if r["case"]["primitive"] == primitive]
            entry[primitive] = sum(r["success"] for r in theirs) / len(theirs)
        steps = sorted({int(s) for r in mine for s in r["checkpoints"]})
        entry["checkpoints"] = {
            s: sum(r["checkpoints"].get(s, r["checkpoints"].get(str(s))) == r["case"]["colour"] for r in mine) / len(mine)
            for s in steps
        }
        entry["failures"] = [
            f"{r['case']['primitive']} {r['case']['colour']} seed {r['case']['seed']} -> {r['winner']} "
            f"(mean colour {', '.join(f'{c:.2f}' for c in r['mean_colour'])})"
            for r in mine if not r["success"]
        ]  # fmt: skip
        out[preset] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["fast"])
    parser.add_argument("--primitives", nargs="+", default=["sphere", "cube"])
    parser.add_argument("--colours", nargs="+", default=list(COLOURS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--iters", type=int, default=None, help="iterations per run (default: the preset's)")
    parser.add_argument("--size", type=int, default=64, help="render size for training and judging")
    parser.add_argument("--views", type=int, default=3, help="training views per iteration")
    parser.add_argument("--checkpoints", type=int, nargs="*", default=[], help="also judge at these iterations")
    parser.add_argument("--clips", default=str(ROOT / "tests" / "assets" / "clip"), help="folder with trainer/ and judge/")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of every run (to try preset candidates)",
    )
    parser.add_argument(
        "--best-of",
        type=int,
        nargs="+",
        default=[1],
        metavar="N",
        help="also measure `--best-of N` (each N a separate pass over the grid)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--out", type=Path, default=None, help="append one JSON line per run here")
    args = parser.parse_args()
    overrides = parse_set_items(args.settings)
    tasks = [
        (preset, primitive, colour, seed, args.iters, args.size, args.views, tuple(args.checkpoints), overrides, n)
        for n in args.best_of for preset in args.presets for primitive in args.primitives for colour in args.colours
        for seed in args.seeds
    ]  # fmt: skip
    started = time.time()
    rows = []
    with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(args.clips, args.threads)) as pool:
        for row in pool.map(_run, tasks):
            rows.append(row)
            case = row["case"]
            print(
                f"{case['preset']} best-of {row['best_of']} {case['primitive']} {case['colour']} seed {case['seed']}: judge says "
                f"{row['winner']} ({'ok' if row['success'] else 'FAIL'}, {row['seconds']:.0f} s)",
                flush=True,
            )
            if args.out is not None:
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
    report = {"clips": args.clips, "iters": args.iters, "size": args.size, "views": args.views, "settings": args.settings,
              "minutes": round((time.time() - started) / 60, 1), "presets": summarise(rows)}  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
