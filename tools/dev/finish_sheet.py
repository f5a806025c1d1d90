"""Draw the test CLIPs' finish data side by side: the same objects under the same lights, once
matte, once glossy, once metallic, one row per finish.

The test CLIPs learn "a glossy red circle" from these renders, so what a row shows is what any
reader of a single render can know: where a glossy render has no highlight in view, it is a
matte render with another label. Look before a retrain that aims at a better finish reading.

    python tools/dev/finish_sheet.py --out finishes.png                 # the judge's lights
    python tools/dev/finish_sheet.py --out finishes.png --set trainer --n 12 --seed 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stylize.images import image_grid, save_image  # noqa: E402
from stylize.testing.renders import draw_renders, standard_primitives  # noqa: E402
from stylize.testing.shapes import FINISHES  # noqa: E402


def finish_sheet(n: int, size: int, seed: int, finish_set: str) -> torch.Tensor:
    """(3, len(FINISHES) * size, n * size): ``n`` renders per row, the same draw in every row."""
    renders = []
    for index in range(len(FINISHES)):
        # the same seed for every finish: the same objects, colours, views and lights
        generator = torch.Generator().manual_seed(seed)
        batch = draw_renders(n, size, generator, standard_primitives(), finish=torch.full((n,), index),
                             finish_set=finish_set)  # fmt: skip
        renders.extend(batch.images)
    return image_grid(renders, columns=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--n", type=int, default=12, help="renders per finish (1-64)")
    parser.add_argument("--size", type=int, default=64, help="render side in pixels, as the test CLIPs see it")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--set", dest="finish_set", default="judge", help="the lights: judge or trainer")
    parser.add_argument("--zoom", type=int, default=2, help="nearest-neighbour enlargement of the sheet")
    args = parser.parse_args()
    if not 1 <= args.n <= 64 or not 16 <= args.size <= 256 or not 1 <= args.zoom <= 8:
        parser.error("--n must be 1-64, --size 16-256 and --zoom 1-8")
    sheet = finish_sheet(args.n, args.size, args.seed, args.finish_set)
    save_image(args.out, F.interpolate(sheet[None], scale_factor=args.zoom, mode="nearest")[0])
    print(f"{args.out}: rows {', '.join(FINISHES)}; {args.n} renders each at {args.size} px ({args.finish_set} lights)")


if __name__ == "__main__":
    main()
