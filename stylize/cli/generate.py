"""``stylize score``, ``stylize draw`` and ``stylize paint``."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from stylize.cli.common import (
    DEVICES,
    EXIT_OK,
    CommandContext,
    add_clip_option,
    add_device_option,
    add_overwrite_option,
    add_progress_option,
    clip_specs,
    emit,
    finish,
    run_summary,
    step_callback,
)

# --- score -----------------------------------------------------------------------------------


def score_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file to score")
    parser.add_argument("prompt", help="text prompt")
    parser.add_argument("--negative", action="append", default=[], metavar="TEXT", help="negative prompt (repeatable)")
    add_clip_option(parser)
    add_device_option(parser)


def score_run(args: argparse.Namespace) -> int:
    from stylize import api

    result = api.score(args.image, args.prompt, clip=clip_specs(args), negatives=args.negative, device=args.device)
    emit(json.dumps({"loss": result.loss, "scores": result.scores, "models": result.models}))
    return EXIT_OK


# --- draw / paint ----------------------------------------------------------------------------


def default_out(kind: str) -> str:
    from stylize.runs import default_out as new_folder

    return str(new_folder(kind))


def _add_generation_options(parser: argparse.ArgumentParser, presets: Sequence[str], kind: str, defaults) -> None:
    """The options draw and paint share; ``defaults`` is the config's default instance (its
    values are what a run without a preset uses, shown in the help)."""
    parser.add_argument("prompt", nargs="?", default=None, help="text prompt (or the prompts of a --config file)")
    parser.add_argument(
        "--prompt", dest="extra_prompts", action="append", default=[], metavar="TEXT", help="another prompt (repeatable)"
    )
    parser.add_argument("--out", metavar="DIR", help=f"run folder (default: a new runs/{kind}-YYYYmmdd-HHMMSS)")
    parser.add_argument(
        "--preset", choices=list(presets), help=f"named settings: {', '.join(presets)} (default: none, the defaults below)"
    )
    parser.add_argument("--size", type=int, metavar="PX", help=f"canvas size in pixels (default: {defaults.size})")
    parser.add_argument("--iters", type=int, metavar="N", help=f"optimisation steps (default: {defaults.iters})")
    parser.add_argument("--negative", action="append", metavar="TEXT", help="negative prompt (repeatable)")
    parser.add_argument("--judge", action="append", metavar="SPEC", help="CLIP model(s) that score the result (default: none)")
    parser.add_argument("--init", metavar="FILE", help="start from this file")
    parser.add_argument("--seed", type=int, metavar="S", help=f"random seed (default: {defaults.seed})")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML file of config keys (a run's config.toml works)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    add_overwrite_option(parser)
    add_clip_option(parser)
    parser.add_argument("--device", choices=DEVICES, help="where to run (default: auto)")


def _generation_options(args: argparse.Namespace) -> dict:
    return {
        "size": args.size, "iters": args.iters, "negatives": args.negative, "judge": args.judge, "init": args.init,
        "seed": args.seed, "clip": args.clip, "device": args.device,
    }  # fmt: skip


def _prompts(args: argparse.Namespace) -> list[str]:
    from stylize.errors import InputError

    prompts = [p for p in (args.prompt, *args.extra_prompts) if p]
    if not prompts and not args.config:
        raise InputError("expected a PROMPT (or a --config file that holds the prompts)")
    return prompts


def draw_args(parser: argparse.ArgumentParser) -> None:
    from stylize.vector.config import DRAW_PRESETS, DrawConfig

    defaults = DrawConfig()
    _add_generation_options(parser, DRAW_PRESETS, "draw", defaults)
    add_progress_option(parser)
    parser.add_argument("--paths", type=int, metavar="N", help=f"number of paths (default: {defaults.paths})")
    parser.add_argument(
        "--shapes", choices=["strokes", "fills", "both"], help=f"open strokes, filled shapes or both (default: {defaults.shapes})"
    )
    parser.add_argument("--style", metavar="IMAGE", help="style image (StyleCLIPDraw)")
    parser.add_argument("--palette", help='fixed colours "#aa3300,#ffffff,..." or an image to take them from')
    parser.add_argument("--background", help=f"background colour (default: {defaults.background})")
    parser.add_argument(
        "--best-of",
        type=int,
        metavar="N",
        help="optimise N whole candidates (seeds S, S+1, ...), keep the one the judge (--judge, else the "
        f"training CLIP) scores best; stylize mesh --best-of instead picks after a short warm-up (default: {defaults.best_of})",
    )
    parser.add_argument(
        "--final-scale",
        type=int,
        metavar="N",
        help=f"render the final drawing this many times larger (default: {defaults.final_scale})",
    )


def draw_run(args: argparse.Namespace, context: CommandContext | None = None) -> int:
    from stylize import api
    from stylize.config import parse_set_items

    started = time.time()
    context = context or CommandContext()
    options = _generation_options(args)
    options.update(paths=args.paths, shapes=args.shapes, style=args.style, palette=args.palette,
                   background=args.background, best_of=args.best_of, final_scale=args.final_scale)  # fmt: skip
    out = args.out or default_out("draw")
    on_step, close = step_callback(args.progress, "draw", context)
    try:
        result = api.draw(_prompts(args), out, preset=args.preset, config_file=args.config,
                          overrides=parse_set_items(args.set), on_step=on_step, overwrite=args.overwrite,
                          model_cache=context.model_cache, **options)  # fmt: skip
    finally:
        close()
    finish(args.progress, run_summary(result, started, svg=str(Path(out) / "drawing.svg")), context)
    return EXIT_OK


def paint_args(parser: argparse.ArgumentParser) -> None:
    from stylize.painting.config import PAINT_PRESETS, PaintConfig

    defaults = PaintConfig()
    _add_generation_options(parser, PAINT_PRESETS, "paint", defaults)
    add_progress_option(parser)
    parser.add_argument("--param", choices=["pixel", "fft"], help=f"image parameterisation (default: {defaults.param})")


def paint_run(args: argparse.Namespace, context: CommandContext | None = None) -> int:
    from stylize import api
    from stylize.config import parse_set_items

    started = time.time()
    context = context or CommandContext()
    options = _generation_options(args)
    options["param"] = args.param
    out = args.out or default_out("paint")
    on_step, close = step_callback(args.progress, "paint", context)
    try:
        result = api.paint(_prompts(args), out, preset=args.preset, config_file=args.config,
                           overrides=parse_set_items(args.set), on_step=on_step, overwrite=args.overwrite,
                           model_cache=context.model_cache, **options)  # fmt: skip
    finally:
        close()
    finish(args.progress, run_summary(result, started, image=str(Path(out) / "image.png")), context)
    return EXIT_OK
