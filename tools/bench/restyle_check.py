"""The restyle measurement of tests/restyling/test_semantic.py, over several seeds, with figures.

For each seed: a red disc on white (128 px) restyled from "a red circle" to "a blue circle" with
the smoke preset, 200 iterations, ``content_features = "clip"`` and the trainer test CLIP, once
with the content loss and once without (``lambda_content = 0``); the judge test CLIP ranks the
eight "a {colour} circle" captions for each result, and the IoU of the foreground masks before /
after tells whether the disc kept its shape. The net trained with the content loss is then
applied to a second red-disc picture (another size, place and radius) and the mean colour shifts
(foreground and background, after minus before) of the two pictures are compared.

Prints one JSON line per run and a summary line; ``--out`` keeps the run folders and writes a
side-by-side picture (content | with content loss | without | second picture | applied).

    python tools/bench/restyle_check.py [--seeds 0 1 2] [--iters 200] [--threads 2] [--out runs/restyle_check]
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
TRAINER = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"
JUDGE = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'judge'}"


def _figures(judge, before: torch.Tensor, after: torch.Tensor) -> dict:
    from stylize.testing.restyle_check import colour_ranking, foreground_mask, mask_iou, mean_colour

    ranking = colour_ranking(judge, after)
    captions = [caption for caption, _ in ranking]
    disc = mean_colour(after, foreground_mask(before))
    return {"rank": captions.index("a blue circle") + 1, "top2": [[c, round(s, 3)] for c, s in ranking[:2]],
            "iou": round(mask_iou(foreground_mask(before), foreground_mask(after)), 3),
            "disc_rgb": disc.numpy().round(3).tolist(), "blue_lead": round(float(disc[2] - disc[:2].max()), 3)}  # fmt: skip


def _shift(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    from stylize.testing.restyle_check import foreground_mask, mean_colour

    mask = foreground_mask(before)
    return torch.cat(
        [mean_colour(after, mask) - mean_colour(before, mask), mean_colour(after, ~mask) - mean_colour(before, ~mask)]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="keep the run folders here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("STYLIZE_OFFLINE", "1")
    from stylize.config import resolve_config
    from stylize.engine import ClipEngine, PromptSet
    from stylize.images import image_grid, save_image
    from stylize.restyling.apply import apply_stylenet
    from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig
    from stylize.restyling.restyler import Restyler
    from stylize.testing.restyle_check import disc_picture

    judge = ClipEngine([JUDGE], PromptSet.build("a blue circle"), device="cpu")
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="restyle_check_"))
    root.mkdir(parents=True, exist_ok=True)
    content, other = disc_picture(128, (0.45, 0.55), 0.3), disc_picture((144, 176), (0.62, 0.4), 0.24)
    save_image(root / "red.png", content)
    save_image(root / "other.png", other)
    print(json.dumps({"load_average": [round(x, 2) for x in os.getloadavg()], "threads": args.threads}), flush=True)
    rows, tiles = [], []
    for seed in args.seeds:
        row: dict = {"seed": seed}
        results = {}
        for label, weight in (("with_content", None), ("without_content", 0.0)):
            overrides = {"image": str(root / "red.png"), "prompt": "a blue circle", "source": "a red circle", "clip": [TRAINER],
                         "iters": args.iters, "content_features": "clip", "device": "cpu", "seed": seed}  # fmt: skip
            if weight is not None:
                overrides["lambda_content"] = weight
            started = time.perf_counter()
            result = Restyler(resolve_config(RestyleConfig, RESTYLE_PRESETS, "smoke", overrides=overrides)).run(
                root / f"seed{seed}-{label}"
            )
            row[label] = {**_figures(judge, result.content, result.image), "seconds": round(time.perf_counter() - started, 1)}
            results[label] = result
        applied = apply_stylenet(root / f"seed{seed}-with_content", root / "other.png", root / f"seed{seed}-applied")
        trained_shift = _shift(content, results["with_content"].image)
        applied_shift = _shift(other, applied.image)
        row["apply"] = {**_figures(judge, other, applied.image), "shift_trained": trained_shift.numpy().round(3).tolist(),
                        "shift_applied": applied_shift.numpy().round(3).tolist(),
                        "max_shift_difference": round(float((trained_shift - applied_shift).abs().max()), 3)}  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        pad = torch.ones(3, 144, 176)
        tiles += [pad.clone(), pad.clone(), pad.clone(), other, applied.image]
        for index, picture in enumerate((content, results["with_content"].image, results["without_content"].image)):
            tiles[-5 + index][:, :128, :128] = picture
    save_image(root / "restyle_check.png", image_grid(tiles, columns=5))
    summary = {key: [row[key]["iou"] for row in rows] for key in ("with_content", "without_content")}
    summary.update({f"{key}_rank": [row[key]["rank"] for row in rows] for key in ("with_content", "without_content", "apply")})
    summary["max_shift_difference"] = [row["apply"]["max_shift_difference"] for row in rows]
    print(json.dumps({"summary": summary, "out": str(root)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
