"""The photo-to-sketch measurement on the test instrument's own shape pictures, with figures.

For each shape x colour x seed (default: the 4 shapes x 8 colours x seeds 0-1, 64 pictures) one
``stylize sketch`` run (reference settings at 224 px, trainer test CLIP, every level of
``--strokes`` in one batch) and three figures (:mod:`stylize.testing.sketch_check`):

- the judge test CLIP ranks the photo's shape first among the four ``--template`` captions for
  the largest level's render (goal: >= 85 % at 16 strokes with "a sketch of a {shape}");
- mean distance from ink pixels to the nearest photo edge pixel at 224 px (goal: <= 3 px, and
  <= half that of the initial strokes);
- the geometric loss per level (goal: 4 > 8 > 16 strokes).

Prints one JSON line per picture and a summary line; ``--out`` keeps the run folders and writes
``sheet.png`` (photo | initial strokes | each level, one row per picture). ``--data-sheet FILE``
only writes a contact sheet of the instrument's line-drawing training data
(:func:`stylize.testing.sketches.draw_sketches`) and exits.

    python tools/bench/sketch_check.py [--shapes circle square] [--colours red blue] [--seeds 0 1]
        [--strokes 4 8 16] [--iters 2000] [--best-of 3] [--template "a sketch of a {shape}"] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stylize.testing.shapes import COLOURS, SHAPES  # noqa: E402
from stylize.testing.sketch_check import measure_picture, summarise  # noqa: E402
from stylize.testing.sketches import SKETCH_TEMPLATE  # noqa: E402

TRAINER = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"
JUDGE = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'judge'}"


def data_sheet(path: Path, count: int = 64, size: int = 64) -> None:
    from stylize.images import image_grid, save_image
    from stylize.testing.sketches import draw_sketches

    batch = draw_sketches(count, size, torch.Generator().manual_seed(0))
    save_image(path, image_grid(list(batch.images), columns=8))
    print(json.dumps({"sheet": str(path), "shapes": [SHAPES[i] for i in batch.shape.tolist()]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--colours", nargs="+", default=list(COLOURS), choices=COLOURS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--strokes", nargs="+", type=int, default=[4, 8, 16])
    parser.add_argument("--iters", type=int, default=2000, help="most steps (early stop ends most runs sooner)")
    parser.add_argument("--best-of", type=int, default=3)
    parser.add_argument("--template", default=SKETCH_TEMPLATE, help="the judge's captions, {shape} filled in")
    parser.add_argument("--trainer", default=TRAINER)
    parser.add_argument("--judge", default=JUDGE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="keep the run folders and write sheet.png here")
    parser.add_argument("--data-sheet", type=Path, help="only write a contact sheet of the line-drawing training data")
    args = parser.parse_args()
    if args.data_sheet:
        data_sheet(args.data_sheet)
        return
    torch.set_num_threads(args.threads)
    from stylize.engine import ModelCache
    from stylize.images import image_grid, save_image

    load_before, started = os.getloadavg()[0], time.time()
    folder = args.out or Path(tempfile.mkdtemp(prefix="sketch-check-"))
    folder.mkdir(parents=True, exist_ok=True)
    cache = ModelCache()
    overrides = {"iters": args.iters, "best_of": args.best_of}
    measurements, rows = [], []
    for seed in args.seeds:
        for colour in args.colours:
            for shape in args.shapes:
                measured = measure_picture(shape, colour, seed, folder, args.trainer, args.judge, strokes=args.strokes,
                                           template=args.template, overrides=overrides, model_cache=cache,
                                           keep=args.out is not None)  # fmt: skip
                measurements.append(measured)
                print(json.dumps(measured.as_dict()), flush=True)
                if args.out is not None:
                    run = folder / f"{colour}-{shape}-{seed}"
                    from stylize.engine import load_image

                    rows.append(load_image(run / "preview.png"))
    summary = summarise(measurements)
    summary.update({"template": args.template, "strokes": args.strokes, "iters": args.iters, "best_of": args.best_of,
                    "seconds": round(time.time() - started, 1), "load_before_after": [load_before, os.getloadavg()[0]]})  # fmt: skip
    print(json.dumps({"summary": summary}))
    if rows:
        save_image(folder / "sheet.png", image_grid(rows, columns=1))


if __name__ == "__main__":
    main()
