"""``stylize worker``: one warm process that runs mesh, draw and sketch jobs sent as JSON lines on stdin.

A program that runs many jobs (the Blender add-on: one worker per Blender session) pays the
torch import and each CLIP load once: the models stay loaded between jobs in one
:class:`~stylize.engine.ModelCache`. Jobs run one at a time, in the order they arrive.

Requests, one JSON object per line on stdin:

- ``{"id": "j1", "command": "mesh", "args": [...]}``: run ``stylize mesh ARGS`` (or ``draw``, ``sketch``);
  ``args`` is that command's argv after its name, parsed by the command's own arguments, and the
  progress is always JSON;
- ``{"id": "j1", "command": "cancel"}``: stop job ``j1``: a running one before its next step's
  progress (it writes nothing more; checkpoints and metrics already written stay), a queued one
  before it starts. Without ``id``: the running job.

Events, one JSON object per line on stdout; every event of a job carries its ``id``:

- ``{"event": "ready", "version": V, "pid": P}`` once, when torch is imported and requests are read;
- ``{"event": "started", "id": ...}`` when a job begins;
- ``{"event": "step", "id", "step", "total", "loss", "score"}`` per step and
  ``{"event": "preview", "id", "step", "path"}`` per snapshot (meshes with ``preview_every``),
  ``{"event": "phase", "id", "phase"}`` as a mesh run's outputs enter each of ``scoring``,
  ``writing``, ``baking`` (with a texture) and ``rendering``;
- then exactly one of ``{"event": "done", "id", "out", ..., "models_loaded": N,
  "models_cached": M}``, ``{"event": "error", "id", "message": ONE_LINE}`` or
  ``{"event": "cancelled", "id"}``. The worker stays up after an error or a cancel.

A line that is not a request (not JSON, nested too deeply, an ``id`` that is not a string or
a number, ...) is answered with one ``{"event": "error", "id": ID_OR_NULL, "message": ...}`` and
the worker serves on. It exits with code 0 when stdin closes (the program that started it has
quit) or when its events can no longer be written (stdout closed: nobody reads them): it stops a
running job as a cancel does and drops queued ones. While it serves, ``sys.stdout`` is the log
stream (stderr), so nothing but events reaches stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from stylize.cli import generate, mesh, sketch
from stylize.cli.common import EXIT_OK, CommandContext
from stylize.errors import Cancelled, InputError, StylizeError, first_line

__all__ = ["JobCancelled", "WORKER_COMMANDS", "Worker", "worker_args", "worker_run"]

logger = logging.getLogger(__name__)

# Commands a worker runs: (add the command's arguments, run it with a context).
WORKER_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[..., int]]] = {
    "mesh": (mesh.mesh_args, mesh.mesh_run),
    "draw": (generate.draw_args, generate.draw_run),
    "sketch": (sketch.sketch_args, sketch.sketch_run),
}


_ID_TYPES = (str, int, float, type(None))


class JobCancelled(Cancelled):
    """A cancel request stopped the job. Neither an error nor an interrupt: the run saves nothing."""


class _RequestParser(argparse.ArgumentParser):
    """The commands' own arguments, with errors raised as one line instead of exiting the worker."""

    def error(self, message: str) -> None:
        raise InputError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:
        raise InputError((message or "").strip() or f"{self.prog}: not a job (--help or --version)")


def request_parser() -> argparse.ArgumentParser:
    """The parser of a request's ``[command, *args]``."""
    parser = _RequestParser(prog="stylize", add_help=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add_args, _) in WORKER_COMMANDS.items():
        add_args(sub.add_parser(name, prog=f"stylize {name}"))
    return parser


class Worker:
    """Serves requests from ``requests`` and writes events to ``events`` (see the module docstring).

    Args:
        requests: a text stream of JSON lines (stdin).
        events: a text stream for JSON events (the real stdout).
        model_cache: shared by every job; a fresh :class:`~stylize.engine.ModelCache` if None.
    """

    def __init__(self, requests: TextIO, events: TextIO, model_cache: Any = None) -> None:
        if model_cache is None:
            from stylize.engine import ModelCache

            model_cache = ModelCache()
        self.model_cache = model_cache
        self._requests, self._events = requests, events
        self._parser = request_parser()
        self._lock = threading.Lock()  # one event line at a time; guards the job bookkeeping
        self._queue: queue.Queue = queue.Queue()
        self._current: Any = None
        self._cancel_current = threading.Event()
        self._cancelled: set = set()
        self._closed = threading.Event()
        self.events_gone = False  # stdout closed under us: nobody reads events any more

    # --- events and requests -------------------------------------------------------------------

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields})
        with self._lock:
            if self.events_gone:
                return
            try:
                self._events.write(line + "\n")
                self._events.flush()
            except (OSError, ValueError):  # BrokenPipeError, or a stream already closed
                self.events_gone = True
        if self.events_gone:
            logger.info("nobody reads the events any more: stopping")
            self._stop()

    def _stop(self) -> None:
        """Stop serving: the running job is cancelled, queued ones are dropped."""
        self._closed.set()
        self._cancel_current.set()
        self._queue.put(None)

    def _read_requests(self) -> None:
        try:
            for line in self._requests:
                self._take(line)
        finally:
            self._stop()

    def _take(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            self.emit("error", id=None, message=f"not a JSON request ({exc.msg}): {line[:80]!r}")
            return
        except (RecursionError, ValueError) as exc:  # nested too deeply; an integer too long
            self.emit("error", id=None, message=f"not a usable JSON request ({type(exc).__name__}): {line[:80]!r}")
            return
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            self.emit(
                "error", id=None, message='expected {"id": ..., "command": "mesh" | "draw" | "sketch" | "cancel", "args": [...]}'
            )
            return
        job_id, command = request.get("id"), request["command"]
        if not isinstance(job_id, _ID_TYPES):  # ids are compared and kept in a set: plain values only
            self.emit("error", id=None, message=f"expected 'id' to be a string or a number, got {type(job_id).__name__}")
            return
        if command == "cancel":
            self.cancel(job_id)
        elif command not in WORKER_COMMANDS:
            self.emit("error", id=job_id, message=f"unknown command {command!r}: expected {', '.join(WORKER_COMMANDS)} or cancel")
        elif not isinstance(request.get("args", []), list) or not all(isinstance(a, str) for a in request.get("args", [])):
            self.emit("error", id=job_id, message="expected 'args' to be a list of strings (the command's argv)")
        else:
            self._queue.put((job_id, command, list(request.get("args", []))))

    def cancel(self, job_id: Any = None) -> None:
        """Stop the running job (``job_id`` None or its id) or drop a queued one."""
        with self._lock:
            if job_id is None or job_id == self._current:
                if self._current is not None:
                    self._cancel_current.set()
            else:
                self._cancelled.add(job_id)

    # --- the loop --------------------------------------------------------------------------------

    def serve(self) -> int:
        """Announce ``ready``, run jobs until stdin closes; returns the exit code (0)."""
        from stylize import __version__

        reader = threading.Thread(target=self._read_requests, name="stylize-worker-requests", daemon=True)
        self.emit("ready", version=__version__, pid=os.getpid())
        reader.start()
        while True:
            item = self._queue.get()
            if item is None or self._closed.is_set():
                return EXIT_OK
            job_id, command, argv = item
            with self._lock:
                dropped = job_id in self._cancelled
                self._cancelled.discard(job_id)
                if not dropped:
                    self._current = job_id
                    self._cancel_current.clear()
            if dropped:
                self.emit("cancelled", id=job_id)
                continue
            try:
                self.run_job(job_id, command, argv)
            finally:
                with self._lock:
                    self._current = None

    def run_job(self, job_id: Any, command: str, argv: list[str]) -> None:
        """Run one job and write its events, ending with ``done``, ``error`` or ``cancelled``."""
        self.emit("started", id=job_id)
        summary: dict[str, Any] = {}

        def emit(event: str, **fields: Any) -> None:
            if event == "done":  # sent below, once the command has returned its exit code
                summary.update(fields)
            else:
                self.emit(event, id=job_id, **fields)

        def check_cancel() -> None:
            if self._cancel_current.is_set():
                raise JobCancelled(job_id)

        context = CommandContext(emit=emit, model_cache=self.model_cache, check_cancel=check_cancel)
        try:
            args = self._parser.parse_args([command, *argv])
            args.progress = "json"
            code = WORKER_COMMANDS[command][1](args, context)
        except JobCancelled:
            logger.info("job %s cancelled", job_id)
            self.emit("cancelled", id=job_id)
            return
        except StylizeError as exc:
            self.emit("error", id=job_id, message=first_line(exc))
            return
        except Exception as exc:  # a bug or a device error: report it, keep serving
            logger.exception("job %s failed", job_id)
            self.emit("error", id=job_id, message=f"{type(exc).__name__}: {first_line(exc)}")
            return
        if code != EXIT_OK:
            status = summary.get("status", "failed")
            self.emit("error", id=job_id, message=f"the run ended {status} after {summary.get('iterations', 0)} iterations")
            return
        self.emit("done", id=job_id, **summary, models_loaded=self.model_cache.loads, models_cached=len(self.model_cache))


def worker_args(parser: argparse.ArgumentParser) -> None:
    """``stylize worker`` takes no arguments: everything comes with the jobs."""


def worker_run(args: argparse.Namespace) -> int:
    import stylize.api  # noqa: F401  (torch and the toolkit load now, before "ready", not in the first job)

    events = sys.stdout
    sys.stdout = sys.stderr  # a stray print must not break the protocol
    worker = Worker(sys.stdin, events)
    try:
        return worker.serve()
    finally:
        sys.stdout = events
        if worker.events_gone:  # nothing may flush into the closed pipe at exit (a BrokenPipe message)
            os.dup2(os.open(os.devnull, os.O_WRONLY), events.fileno())
