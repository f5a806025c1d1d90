"""The ``stylize`` command line: parses arguments and calls :mod:`stylize.api`.

Each sub-command is a pair (add its arguments, run it) in :data:`COMMANDS`. Errors the user can
fix (:class:`~stylize.errors.StylizeError`) print one line on stderr and exit with code 2; a
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from stylize import __version__
from stylize import cli_mesh_tools as tools
from stylize.cli_batch import batch_args, batch_run
from stylize.errors import StylizeError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _add_clip_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clip",
        action="append",
        metavar="SPEC",
        help="CLIP model spec, repeatable for an ensemble: ViT-B-32:openai (default), "
        "ARCH:/path/weights.pt, local-dir:/path, hf-hub:org/name; append @W for a weight",
    )


def _add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run (default: auto)")


def _add_progress_option(parser: argparse.ArgumentParser, json_lines: bool = True) -> None:
    if json_lines:
        parser.add_argument("--progress", choices=["auto", "json", "none"], default="auto",
                            help="auto: a bar on a terminal; json: one JSON line per step on stdout "
                            '({"event": "step", ...}, then {"event": "done", ...}) for programs such as the Blender add-on')
    else:
        parser.add_argument("--progress", choices=["auto", "none"], default="auto", help="auto: a bar on a terminal")
    parser.add_argument("--no-progress", dest="progress", action="store_const", const="none", help="same as --progress none")


def _finite_or_none(value: float | None) -> float | None:
    import math

    return float(value) if value is not None and math.isfinite(value) else None


def _json_event(event: str, **fields) -> None:
    """One JSON line on stdout, flushed at once so a reading process sees it as it happens."""
    print(json.dumps({"event": event, **fields}), flush=True)


def _clip_specs(args: argparse.Namespace) -> list[str]:
    from stylize.engine import DEFAULT_CLIP

    return args.clip or [DEFAULT_CLIP]


# --- score -----------------------------------------------------------------------------------


def _score_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file to score")
    parser.add_argument("prompt", help="text prompt")
    parser.add_argument("--negative", action="append", default=[], metavar="TEXT", help="negative prompt (repeatable)")
    _add_clip_option(parser)
    _add_device_option(parser)


def _score_run(args: argparse.Namespace) -> int:
    from stylize import api

    result = api.score(args.image, args.prompt, clip=_clip_specs(args), negatives=args.negative, device=args.device)
    print(json.dumps({"loss": float(result.loss), "similarities": result.similarities}))
    return EXIT_OK


# --- mesh ------------------------------------------------------------------------------------


def _mesh_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", help="mesh file (OBJ, PLY, GLB, OFF, STL); never modified")
    parser.add_argument("prompt", nargs="?", default="", help="text prompt, e.g. 'a wooden chair'")
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder (default: runs/mesh, or the --resume folder)")
    parser.add_argument("--preset", default=None, metavar="NAME", help="fast (default), paper or smoke")
    _add_clip_option(parser)
    parser.add_argument("--negative", action="append", default=None, metavar="TEXT", help="negative prompt (repeatable)")
    parser.add_argument("--image-prompt", action="append", default=None, metavar="IMAGE", help="image prompt (repeatable)")
    parser.add_argument("--iters", type=int, default=None, metavar="N", help="iterations (preset's by default)")
    parser.add_argument("--views", type=int, default=None, metavar="N", help="views per iteration")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="where to run (default: auto)")
    parser.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
    parser.add_argument("--config", default=None, metavar="FILE.toml", help="settings file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting (repeatable)")
    _add_progress_option(parser)
    parser.add_argument("--mask", metavar="FILE", help="stylize only a region: .npy or text file of per-vertex weights "
                        "in [0, 1] (or vertex indices) in the input's vertex order; weight-0 vertices stay as they are")
    parser.add_argument("--symmetry", choices=["x", "y", "z"], help="mirror-symmetric field about that axis plane of the input")
    parser.add_argument("--input-colours", action="store_true", default=None,
                        help="start from the input's vertex colours or texture instead of grey")
    parser.add_argument("--bake", action="store_true", default=None, help="also write mesh_textured.glb (UV texture)")
    parser.add_argument("--bake-size", type=int, default=None, metavar="PX", help="baked texture size (default: 1024)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint.pt")


def _mesh_overrides(args: argparse.Namespace) -> dict:
    from stylize.config import parse_set_items

    overrides = {
        "iters": args.iters, "views.n_views": args.views, "device": args.device, "seed": args.seed,
        "clip": args.clip, "negatives": args.negative, "image_prompts": args.image_prompt,
        "field.symmetry": args.symmetry, "field.input_colours": args.input_colours, "output.bake": args.bake,
        "output.bake_size": args.bake_size,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    overrides.update(parse_set_items(args.set))
    return overrides


def _mesh_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.errors import InputError

    if not args.resume and (not args.input or not args.prompt):
        raise InputError("expected INPUT and PROMPT (or --resume RUN_DIR)")
    bars: list = []  # the tqdm bar, made at the first step: the run knows its length and start then

    def on_step(record, run) -> None:
        if args.progress == "json":
            _json_event("step", step=record.step + 1, total=run.config.iters, loss=_finite_or_none(record.loss),
                        score=_finite_or_none(record.similarity))  # fmt: skip
            return
        if not bars:
            from tqdm import tqdm

            bars.append(tqdm(total=run.config.iters, initial=record.step, desc="stylize mesh", unit="it", file=sys.stderr))
        bars[0].update(1)
        bars[0].set_postfix(loss=f"{record.loss:.4f}", sim=f"{record.similarity:.3f}")

    show = args.progress == "json" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        result = api.stylize_mesh(args.input, args.prompt, out=args.out or api.DEFAULT_MESH_OUT,
                                  preset=args.preset or (None if args.config else "fast"), config_file=args.config,
                                  overrides=_mesh_overrides(args), on_step=on_step if show else None, mask=args.mask,
                                  resume=args.resume)  # fmt: skip
    finally:
        for bar in bars:
            bar.close()
    summary = {"out": str(result.out_dir), "status": result.status, "iterations": result.iterations, "scores": result.scores}
    if args.progress == "json":
        _json_event("done", **summary)
    else:
        print(json.dumps(summary))
    return 130 if result.status == "interrupted" else EXIT_OK if result.status == "finished" else EXIT_FAILED


# --- eval ------------------------------------------------------------------------------------


def _eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mesh", metavar="MESH_OR_RUN", help="a mesh file or a run folder")
    parser.add_argument("prompt", help="text prompt to score")
    parser.add_argument("--judge", action="append", default=None, metavar="SPEC",
                        help="judge CLIP spec, repeatable (default: ViT-B-32:openai)")
    parser.add_argument("--captions", nargs="+", default=(), metavar="TEXT", help="candidate captions to rank")
    parser.add_argument("--size", type=int, default=224, metavar="PX", help="render size (default: 224)")
    _add_device_option(parser)


def _eval_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.engine import DEFAULT_CLIP

    result = api.evaluate_mesh(args.mesh, args.prompt, judge=args.judge or [DEFAULT_CLIP], captions=args.captions,
                               size=args.size, device=args.device)
    print(json.dumps(result))
    return EXIT_OK


# --- draw / paint ----------------------------------------------------------------------------


def _default_out(kind: str) -> str:
    import time

    return f"runs/{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _add_generation_options(parser: argparse.ArgumentParser, presets: Sequence[str]) -> None:
    parser.add_argument("prompt", help="text prompt")
    parser.add_argument("--prompt", dest="extra_prompts", action="append", default=[], metavar="TEXT", help="another prompt (repeatable)")
    parser.add_argument("--out", help="run folder (default: runs/KIND-TIMESTAMP)")
    parser.add_argument("--preset", choices=list(presets), help="named settings")
    parser.add_argument("--size", type=int, help="canvas size in pixels")
    parser.add_argument("--iters", type=int, help="optimisation steps")
    parser.add_argument("--negative", action="append", metavar="TEXT", help="negative prompt (repeatable)")
    parser.add_argument("--judge", action="append", metavar="SPEC", help="CLIP model(s) that score the result")
    parser.add_argument("--init", help="start from this file")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--config", help="TOML file of config keys")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    _add_clip_option(parser)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to run (default: auto)")


def _generation_options(args: argparse.Namespace) -> dict:
    return {
        "size": args.size, "iters": args.iters, "negatives": args.negative, "judge": args.judge, "init": args.init,
        "seed": args.seed, "clip": args.clip, "device": args.device, "progress": False if args.progress != "auto" else None,
    }  # fmt: skip


def _draw_args(parser: argparse.ArgumentParser) -> None:
    from stylize.vector.clipdraw import DRAW_PRESETS

    _add_generation_options(parser, DRAW_PRESETS)
    _add_progress_option(parser)
    parser.add_argument("--paths", type=int, help="number of paths")
    parser.add_argument("--shapes", choices=["strokes", "fills", "both"], help="open strokes, filled shapes or both")
    parser.add_argument("--style", metavar="IMAGE", help="style image (StyleCLIPDraw)")
    parser.add_argument("--palette", help='fixed colours "#aa3300,#ffffff,..." or an image to take them from')
    parser.add_argument("--background", help="background colour (default #ffffff)")
    parser.add_argument("--best-of", type=int, help="optimise N candidates, keep the best judged")
    parser.add_argument("--final-scale", type=int, help="render the final drawing this many times larger")


def _draw_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.config import parse_set_items

    options = _generation_options(args)
    options.update(paths=args.paths, shapes=args.shapes, style=args.style, palette=args.palette,
                   background=args.background, best_of=args.best_of, final_scale=args.final_scale)  # fmt: skip
    out = args.out or _default_out("draw")
    on_step = None
    if args.progress == "json":

        def on_step(step: int, total: int, metrics: dict) -> None:
            sims = [value for key, value in metrics.items() if key.startswith("sim/")]
            _json_event("step", step=step, total=total, loss=_finite_or_none(metrics.get("loss")),
                        score=_finite_or_none(sum(sims) / len(sims)) if sims else None)  # fmt: skip

    result = api.draw([args.prompt, *args.extra_prompts], out, preset=args.preset, config_file=args.config,
                      overrides=parse_set_items(args.set), on_step=on_step, **options)  # fmt: skip
    summary = {"out": str(out), "scores": result.scores}
    if args.progress == "json":
        _json_event("done", svg=str(Path(out) / "drawing.svg"), **summary)
    else:
        print(json.dumps(summary))
    return EXIT_OK


def _paint_args(parser: argparse.ArgumentParser) -> None:
    from stylize.raster.paint import PAINT_PRESETS

    _add_generation_options(parser, PAINT_PRESETS)
    _add_progress_option(parser, json_lines=False)
    parser.add_argument("--param", choices=["pixel", "fft"], help="image parameterisation (default fft)")


def _paint_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.config import parse_set_items

    options = _generation_options(args)
    options["param"] = args.param
    out = args.out or _default_out("paint")
    result = api.paint([args.prompt, *args.extra_prompts], out, preset=args.preset, config_file=args.config,
                       overrides=parse_set_items(args.set), **options)  # fmt: skip
    print(json.dumps({"out": str(out), "scores": result.scores}))
    return EXIT_OK


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "score": ("score an image against a prompt with CLIP; prints one JSON line", _score_args, _score_run),
    "mesh": ("stylize a mesh from a text prompt (Text2Mesh); writes a run folder", _mesh_args, _mesh_run),
    "eval": ("judge a mesh or run folder with CLIP over 24 views; prints one JSON line", _eval_args, _eval_run),
    "draw": ("draw a vector illustration of a prompt (CLIPDraw / StyleCLIPDraw)", _draw_args, _draw_run),
    "paint": ("paint a raster image of a prompt (pixel or FFT parameterisation)", _paint_args, _paint_run),
    "apply": ("apply a trained mesh field to another mesh of the same object", tools.apply_args, tools.apply_run),
    "bake": ("bake a coloured mesh's vertex colours into a UV texture GLB", tools.bake_args, tools.bake_run),
    "batch": ("run a jobs file of meshes, drawings and paints (local or Ray executor)", batch_args, batch_run),
}


def _quiet_third_party(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR or record.name.startswith("stylize")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylize", description="CLIP-guided mesh stylization and vector drawing")
    parser.add_argument("--version", action="version", version=f"stylize {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose == 0:
        # open_clip logs chatty lines on the root logger ("model initialized randomly", ...);
        # keep the CLI's output to our own warnings.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_third_party)
    try:
        return COMMANDS[args.command][2](args)
    except StylizeError as exc:
        if args.debug:
            raise
        print(f"stylize: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("stylize: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
