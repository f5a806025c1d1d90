"""``stylize restyle``: restyle a picture (CLIPstyler), or ``--apply`` a trained StyleNet to another."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stylize.cli.common import (
    DEVICES,
    EXIT_OK,
    add_clip_option,
    add_overwrite_option,
    add_progress_option,
    emit,
    finish,
    json_event,
    run_summary,
    step_callback,
)
from stylize.errors import InputError


def restyle_args(parser: argparse.ArgumentParser) -> None:
    from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig

    defaults = RestyleConfig()
    parser.add_argument("image", help="the picture to restyle (never modified)")
    parser.add_argument("prompt", nargs="?", help="the target style text (not with --apply)")
    parser.add_argument("--source", metavar="TEXT", help=f"text describing the picture as it is (default: {defaults.source!r})")
    parser.add_argument(
        "--apply", metavar="NET", help="stylize IMAGE with a trained net.pt (or its run folder) instead of training"
    )
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/restyle-TIMESTAMP)")
    parser.add_argument("--preset", choices=list(RESTYLE_PRESETS), help="named settings (default: the paper's)")
    parser.add_argument(
        "--size", type=int, metavar="PX", help=f"training size: the picture's longer side in pixels (default: {defaults.size})"
    )
    parser.add_argument("--iters", type=int, metavar="N", help=f"optimisation steps (default: {defaults.iters})")
    parser.add_argument("--judge", action="append", metavar="SPEC", help="CLIP model(s) that score the result")
    parser.add_argument("--seed", type=int, metavar="S", help=f"random seed (default: {defaults.seed})")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML file of config keys")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    add_overwrite_option(parser)
    add_clip_option(parser)
    parser.add_argument("--device", choices=DEVICES, help="where to run (default: auto)")
    add_progress_option(parser)


def _default_out(kind: str) -> str:
    from stylize.runs import default_out

    return str(default_out(kind))


def _apply(args: argparse.Namespace) -> int:
    from stylize import api

    unused = [f"--{name}" for name in ("source", "preset", "size", "iters", "judge", "seed", "config", "clip")
              if getattr(args, name)] + (["--set"] if args.set else [])  # fmt: skip
    if args.prompt is not None or unused:
        given = ", ".join(([f"PROMPT {args.prompt!r}"] if args.prompt is not None else []) + unused)
        raise InputError(f"--apply takes only NET, IMAGE, --out and --device; got {given}")
    out = args.out or _default_out("restyle-apply")
    result = api.apply_restyle(args.apply, args.image, out, device=args.device or "auto", overwrite=args.overwrite)
    summary = {"out": str(out), "image": str(Path(out) / "image.png"), "seconds": round(result.seconds, 4)}
    if args.progress == "json":
        json_event("done", **summary)
    else:
        emit(json.dumps(summary))
    return EXIT_OK


def restyle_run(args: argparse.Namespace) -> int:
    if args.apply is not None:
        return _apply(args)
    from stylize import api
    from stylize.config import parse_set_items

    if args.prompt is None:
        raise InputError("no prompt given: stylize restyle IMAGE PROMPT (or --apply NET IMAGE)")
    options = {"size": args.size, "iters": args.iters, "judge": args.judge, "seed": args.seed, "clip": args.clip,
               "device": args.device}  # fmt: skip
    out = args.out or _default_out("restyle")
    started = time.time()
    on_step, close = step_callback(args.progress, "restyle")
    try:
        result = api.restyle(args.image, args.prompt, out, source=args.source, preset=args.preset, config_file=args.config,
                             overrides=parse_set_items(args.set), on_step=on_step, overwrite=args.overwrite,
                             **options)  # fmt: skip
    finally:
        close()
    finish(args.progress, run_summary(result, started, image=str(Path(out) / "image.png"), net=str(Path(out) / "net.pt")))
    return EXIT_OK
