"""``stylize sketch``: a photo (or a render) to a vector sketch of a few strokes (CLIPasso)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from stylize.cli.common import (
    DEVICES,
    EXIT_OK,
    CommandContext,
    add_clip_option,
    add_overwrite_option,
    add_progress_option,
    finish,
    run_summary,
    step_callback,
)


def sketch_args(parser: argparse.ArgumentParser) -> None:
    from stylize.sketching.config import SKETCH_PRESETS, SketchConfig

    defaults = SketchConfig()
    parser.add_argument("image", help="the photo or render to sketch (never modified; centre-cropped to a square)")
    parser.add_argument(
        "--strokes",
        metavar="N[,N...]",
        help=f"strokes per sketch (default: {defaults.strokes[0]}); several levels, e.g. 4,8,16,32, write one SVG "
        "each and a contact sheet (ladder.png)",
    )
    parser.add_argument(
        "--prompt", dest="prompts", action="append", metavar="TEXT", help="text that steers the style (repeatable)"
    )
    parser.add_argument("--mask", metavar="IMAGE", help="a picture whose dark pixels are background (left blank)")
    parser.add_argument(
        "--best-of",
        type=int,
        metavar="N",
        help=f"N seeds per level, side by side in one batch, the lowest loss kept (default: {defaults.best_of})",
    )
    parser.add_argument("--out", metavar="DIR", help="run folder (default: a new runs/sketch-YYYYmmdd-HHMMSS)")
    parser.add_argument(
        "--preset",
        choices=list(SKETCH_PRESETS),
        help="named settings: clipasso (the reference, also the defaults), fast, smoke, test",
    )
    parser.add_argument("--size", type=int, metavar="PX", help=f"canvas size in pixels (default: {defaults.size})")
    parser.add_argument("--iters", type=int, metavar="N", help=f"most optimisation steps (default: {defaults.iters})")
    parser.add_argument("--judge", action="append", metavar="SPEC", help="CLIP model(s) that score the result (default: none)")
    parser.add_argument("--seed", type=int, metavar="S", help=f"random seed of the first sketch (default: {defaults.seed})")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML file of config keys (a run's config.toml works)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable), e.g. optimise_width=true, optimise_color=true",
    )  # fmt: skip
    add_overwrite_option(parser)
    add_clip_option(parser)
    parser.add_argument("--device", choices=DEVICES, help="where to run (default: auto)")
    add_progress_option(parser)


def sketch_run(args: argparse.Namespace, context: CommandContext | None = None) -> int:
    from stylize import api
    from stylize.config import parse_set_items

    started = time.time()
    context = context or CommandContext()
    options = {"size": args.size, "iters": args.iters, "judge": args.judge, "seed": args.seed, "clip": args.clip,
               "device": args.device}  # fmt: skip
    if args.out:
        out = args.out
    else:
        from stylize.runs import default_out

        out = str(default_out("sketch"))
    on_step, close = step_callback(args.progress, "sketch", context)
    try:
        result = api.sketch(args.image, out, strokes=args.strokes, prompt=args.prompts, mask=args.mask,
                            best_of=args.best_of, preset=args.preset, config_file=args.config,
                            overrides=parse_set_items(args.set), on_step=on_step, overwrite=args.overwrite,
                            model_cache=context.model_cache, **options)  # fmt: skip
    finally:
        close()
    extra = {"svg": str(Path(out) / "sketch.svg")}
    if len(result.levels) > 1:
        extra["levels"] = {str(n): str(Path(out) / "levels" / f"sketch-{n}.svg") for n in result.levels}
    finish(args.progress, run_summary(result, started, **extra), context)
    return EXIT_OK
