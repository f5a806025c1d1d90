"""The ``stylize`` command line: parses arguments and calls :mod:`stylize.api`.

Each sub-command is a triple (help, add its arguments, run it) in :data:`COMMANDS`, defined in
:mod:`stylize.cli.mesh`, :mod:`stylize.cli.generate`, :mod:`stylize.cli.restyle`, :mod:`stylize.cli.sketch`, :mod:`stylize.cli.batch`,
:mod:`stylize.cli.worker` and :mod:`stylize.cli.doctor`. Errors the user can fix (:class:`~stylize.errors.StylizeError`)
print one line on stderr and exit with code 2; a traceback is shown only with ``--debug``.
Ctrl-C and SIGTERM stop a run the same way: it
saves what exists and the command exits with 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Callable, Sequence

from stylize import __version__
from stylize.cli import batch, doctor, generate, mesh, restyle, sketch, worker
from stylize.cli.common import EXIT_USAGE
from stylize.errors import Interrupted, StylizeError, first_line, terminate_as_interrupt

_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR,
                       errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP}  # fmt: skip

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "score": ("score an image against a prompt with CLIP; prints one JSON line", generate.score_args, generate.score_run),
    "mesh": ("stylize a mesh from a text prompt (Text2Mesh); writes a run folder", mesh.mesh_args, mesh.mesh_run),
    "eval": ("judge a mesh or run folder with CLIP over 24 views; prints one JSON line", mesh.eval_args, mesh.eval_run),
    "draw": ("draw a vector illustration of a prompt (CLIPDraw / StyleCLIPDraw)", generate.draw_args, generate.draw_run),
    "paint": ("paint a raster image of a prompt (pixel or FFT parameterisation)", generate.paint_args, generate.paint_run),
    "restyle": (
        "restyle a picture towards a text (CLIPstyler), or --apply a trained StyleNet to another",
        restyle.restyle_args,
        restyle.restyle_run,
    ),
    "sketch": (
        "turn a photo or render into a vector sketch of a few strokes (CLIPasso); writes a run folder",
        sketch.sketch_args,
        sketch.sketch_run,
    ),
    "apply": ("apply a trained mesh field to another mesh of the same object", mesh.apply_args, mesh.apply_run),
    "bake": ("bake a coloured mesh's vertex colours into a UV texture GLB", mesh.bake_args, mesh.bake_run),
    "batch": (
        "run a jobs file of meshes, drawings, paints, restyles and sketches (local or Ray executor)",
        batch.batch_args,
        batch.batch_run,
    ),
    "worker": (
        "run mesh, draw and sketch jobs sent as JSON lines on stdin, CLIP models kept loaded (the Blender add-on's)",
        worker.worker_args,
        worker.worker_run,
    ),
    "doctor": (
        "report torch, CUDA/MPS, CPU threads and which CLIP/VGG weights are downloaded (and where)",
        doctor.doctor_args,
        doctor.doctor_run,
    ),
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
        # --debug and -v work after the command too (SUPPRESS keeps the top-level value otherwise).
        shared = argparse.ArgumentParser(add_help=False)
        shared.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        shared.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output")
        if name not in THREADS_OWN:
            shared.add_argument(
                "--threads",
                type=int,
                default=None,
                metavar="N",
                help="torch CPU threads (default: STYLIZE_THREADS, else OMP_NUM_THREADS, else the cores "
                "not busy right now; see stylize doctor)",
            )
        add_args(sub.add_parser(name, help=help_text, description=help_text, parents=[shared]))
    return parser


THREADS_OWN = ("batch", "doctor")  # commands that set threads their own way


def _report_interrupt(exc: Interrupted) -> int:
    out = getattr(exc.result, "out_dir", None)
    where = f"; what exists is in {out}" if out else ""
    print(f"stylize: interrupted by {exc.signal_name}{where}", file=sys.stderr)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)  # library warnings go through logging (and its filter), not raw to stderr
    if args.verbose == 0:
        # open_clip logs chatty lines on the root logger ("model initialized randomly", ...);
        # keep the CLI's output to our own warnings.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_third_party)
    if "torch" not in sys.modules:  # the OpenMP runtime reads its settings once, as torch loads
        from stylize.threads import quiet_openmp_environment

        quiet_openmp_environment()
    previous_threads = None
    try:
        if getattr(args, "threads", None) is not None or args.command not in THREADS_OWN:
            import torch

            from stylize.utils import set_threads

            previous_threads = torch.get_num_threads()
            set_threads(getattr(args, "threads", None))
        with terminate_as_interrupt():
            return COMMANDS[args.command][2](args)
    except StylizeError as exc:
        if args.debug:
            raise
        print(f"stylize: error: {first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        # The environment, not a bug: a full disk, a read-only or forbidden folder, a file where
        # a folder should be. Outputs are written atomically, so what existed before is intact.
        if args.debug or exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"stylize: error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        return _report_interrupt(exc)
    except KeyboardInterrupt as exc:
        return _report_interrupt(Interrupted.after(exc))
    finally:
        if previous_threads is not None:  # main() called from Python leaves the caller's setting
            import torch

            torch.set_num_threads(previous_threads)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
