"""Make ``docs/images/sketch_ladder.png``: a picture and its sketches at 4, 8, 16 and 32 strokes.

The picture is one of the test instrument's own shape pictures (a red star on white, 224 px,
:func:`stylize.testing.sketch_check.shape_picture`); ``stylize sketch --strokes 4,8,16,32`` runs
all four levels in one batch with the committed *trainer* test CLIP (``tests/assets/clip/trainer``:
real CLIP weights cannot be downloaded here, so the strokes follow what that tiny model sees, not
a real CLIPasso result) and the reference settings otherwise. The picture written is the run's
``ladder.png`` (the picture, then each level left to right).

Usage::

    python tools/docs/make_sketch_ladder.py [--out docs/images/sketch_ladder.png] [--iters 2000] [--best-of 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from stylize import api
    from stylize.images import save_image
    from stylize.testing.sketch_check import shape_picture

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "sketch_ladder.png")
    parser.add_argument("--shape", default="star")
    parser.add_argument("--colour", default="red")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--best-of", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        photo = save_image(Path(folder) / "photo.png", shape_picture(args.shape, args.colour, args.seed))
        result = api.sketch(photo, Path(folder) / "run", strokes=[4, 8, 16, 32], best_of=args.best_of, iters=args.iters,
                            seed=args.seed, clip=[f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"],
                            saliency_clip="", device="cpu")  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.files["ladder.png"], args.out)
    print(json.dumps({"out": str(args.out), "candidates": result.candidates, "seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()
