"""What every ``stylize`` sub-command shares: exit codes, options, JSON events, reporting.

Command modules (:mod:`stylize.cli.mesh`, :mod:`stylize.cli.generate`, :mod:`stylize.cli.restyle`, ...)
import this module and never the package itself, so the command line has no import cycle.
Nothing here imports torch: building the parser and printing ``--help`` stay instant.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEVICES = ["auto", "cpu", "cuda", "mps"]


def add_clip_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clip",
        action="append",
        metavar="SPEC",
        help="CLIP model spec, repeatable for an ensemble: ViT-B-32:openai (default), "
        "ARCH:/path/weights.pt, local-dir:/path, hf-hub:org/name; append @W for a weight",
    )


def add_device_option(parser: argparse.ArgumentParser, default: str | None = "auto", shown: str = "auto") -> None:
    """``--device``; ``shown`` is the default the help states (a preset's, when ``default`` is None)."""
    parser.add_argument("--device", default=default, choices=DEVICES, help=f"where to run (default: {shown})")


def add_progress_option(parser: argparse.ArgumentParser, json_lines: bool = True, previews: bool = False) -> None:
    if json_lines:
        preview = ', {"event": "preview", "step": i, "path": FILE} after each preview_every snapshot' if previews else ""
        parser.add_argument(
            "--progress",
            choices=["auto", "json", "none"],
            default="auto",
            help="auto: a bar on a terminal; json: one JSON line per step on stdout "
            f'({{"event": "step", ...}}{preview}, then {{"event": "done", ...}}) for programs such as '
            "the Blender add-on",
        )
    else:
        parser.add_argument("--progress", choices=["auto", "none"], default="auto", help="auto: a bar on a terminal")
    parser.add_argument("--no-progress", dest="progress", action="store_const", const="none", help="same as --progress none")


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run's outputs in --out (a folder holding a run is refused otherwise)",
    )


def finite_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def json_event(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once so a reading process sees it as it happens."""
    emit(json.dumps({"event": event, **fields}))


def emit(line: str) -> None:
    """Print one line on stdout. When the reader has gone (``... | head -1``), the rest of the
    output goes nowhere instead of ending the run with a BrokenPipeError traceback."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail either
        os.close(devnull)


@dataclass
class CommandContext:
    """What a command takes from whoever runs it: the command line (the defaults) or the warm
    worker (:mod:`stylize.cli.worker`), which tags events with a job id, shares loaded CLIPs
    between jobs and stops a job on request.

    Attributes:
        emit: ``emit(event, **fields)`` writes one JSON event (``--progress json``).
        model_cache: a :class:`~stylize.engine.ModelCache` kept between runs, or None.
        check_cancel: called before every step's progress; raises to stop the run there.
    """

    emit: Callable[..., None] = json_event
    model_cache: Any = None
    check_cancel: Callable[[], None] | None = None


def step_callback(progress: str, description: str, context: CommandContext | None = None):
    """The ``on_step`` of a command: JSON step events, a terminal bar, or nothing (and, with a
    ``context`` that can cancel, the cancel check before each).

    Returns:
        ``(on_step or None, close)``.
    """
    context = context or CommandContext()
    on_step, close = _progress_callback(progress, description, context.emit)
    check = context.check_cancel
    if check is None:
        return on_step, close

    def checked(step: int, total: int, metrics: dict) -> None:
        check()
        if on_step is not None:
            on_step(step, total, metrics)

    return checked, close


def phase_callback(progress: str, description: str, emit_event: Callable[..., None] = json_event):
    """The ``on_phase`` of a command: what a run does between its last step and its result
    (writing its outputs, baking), as ``{"event": "phase", "phase": NAME}`` in JSON progress mode
    (through ``emit_event``: the worker tags it with the job's id), one line under the bar on a
    terminal, or nothing."""
    if progress == "json":
        return lambda name: emit_event("phase", phase=name)
    if progress == "auto" and sys.stderr.isatty():
        from tqdm.auto import tqdm

        return lambda name: tqdm.write(f"{description}: {name}", file=sys.stderr)
    return None


def _progress_callback(progress: str, description: str, emit_event: Callable[..., None]):
    if progress == "json":

        def emit(step: int, total: int, metrics: dict) -> None:
            emit_event("step", step=step, total=total, loss=finite_or_none(metrics.get("loss")),
                       score=finite_or_none(metrics.get("score")))  # fmt: skip

        return emit, lambda: None
    if progress == "auto" and sys.stderr.isatty():
        from stylize.generation import ProgressBar

        bar = ProgressBar(description, enabled=True)
        return bar, bar.close
    return None, lambda: None


def run_summary(result: Any, started: float, **extra: Any) -> dict[str, Any]:
    """A command's final line: the run folder, status, the files it wrote, scores (100 x cosine,
    by model) and the wall time."""
    import time

    files = getattr(result, "files", {}) or {}
    out = getattr(result, "out_dir", None)
    return {"out": None if out is None else str(out), "status": getattr(result, "status", "finished"), **extra,
            "scores": getattr(result, "scores", {}), "files": sorted(str(name) for name in files),
            "seconds": round(time.time() - started, 2)}  # fmt: skip


def finish(progress: str, summary: dict[str, Any], context: CommandContext | None = None) -> None:
    """Print the final line: a ``done`` event in JSON progress mode, else the summary as JSON."""
    if progress == "json":
        (context.emit if context is not None else json_event)("done", **summary)
    else:
        emit(json.dumps(summary))


def clip_specs(args: argparse.Namespace) -> list[str]:
    from stylize.engine.specs import DEFAULT_CLIP

    return args.clip or [DEFAULT_CLIP]
