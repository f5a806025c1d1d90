"""Worker jobs: the stylize toolkit running in its own Python, read one JSON line at a time.

Nothing here imports bpy or torch, so the add-on's logic can be tested in any Python. A
:class:`Job` is one process started from an argv list (never a shell) with
:class:`subprocess.Popen`; two reader threads move its stdout lines into a queue and keep the tail
of its stderr. (Jobs on the warm worker, one process for many jobs, are
:class:`worker.WorkerJob`; both have the same ``poll``/``cancel``/``cleanup``.) :func:`poll_job`
is the one plain function a UI timer (or a blocking loop, or a test) calls to drain the queue and
learn the job's state. The contract of ``stylize mesh|draw ... --progress json``:

- stdout: ``{"event": "step", "step": i, "total": n, "loss": x, "score": s}`` per step,
  ``{"event": "preview", "step": i, "path": NPZ}`` per snapshot (``--set preview_every=N``),
  ``{"event": "phase", "phase": NAME}`` as the outputs are written (:data:`PHASES`), then
  ``{"event": "done", "out": DIR, ...}``; any other line is ignored;
- on bad input: one line ``stylize: error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Printed by `python -c` to answer the preferences' "check" button: one JSON line.
CHECK_SCRIPT = (
    "import json, stylize, torch; "
    "cuda = torch.cuda.is_available(); "
    "print(json.dumps({'stylize': stylize.__version__, 'torch': torch.__version__, 'cuda': cuda, "
    "'gpu': torch.cuda.get_device_name() if cuda else None}))"
)

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"

# The toolkit's presets as Blender enum items (identifier, name, description); a test checks that
# the identifiers are exactly the toolkit's preset names.
MESH_PRESETS = [
    ("fast", "Fast", "300 iterations, tuned to reach the paper's quality sooner"),
    ("paper", "Paper", "Text2Mesh's published settings (1500 iterations)"),
    ("smoke", "Smoke", "A tiny CPU run to check the setup (seconds)"),
]
DRAW_PRESETS = [
    ("clipdraw", "CLIPDraw", "CLIPDraw's settings (224 px, 256 strokes, 1000 steps)"),
    ("styleclipdraw", "StyleCLIPDraw", "StyleCLIPDraw's settings"),
    ("test", "Test", "Small and quick"),
    ("smoke", "Smoke", "A tiny run to check the setup (seconds)"),
]
_EOF = object()

# A mesh run's output phases (the toolkit's stylize.mesh.outputs.OUTPUT_PHASES, in order): what
# the progress bar says, and the share of the whole run done when each begins. The steps fill the
# bar up to TRAINING_SHARE; baking a texture can take as long as the steps of a fast preset.
PHASES = {"scoring": ("scoring the result", 0.85), "writing": ("writing", 0.87), "baking": ("baking texture", 0.88),
          "rendering": ("rendering pictures", 0.97)}  # fmt: skip
TRAINING_SHARE = 0.85
# What the score is, in the words of the panel, its tooltips and the README (the CLI's "score":
# 100 x the cosine similarity between CLIP's embeddings of the renders and of the prompt).
SCORE_MEANING = "a 0-100 match between the pictures and the prompt (100 x CLIP's cosine similarity; higher is better)"


def score_text(score: float) -> str:
    """``score 27/100``: the score as the progress bar and the messages show it."""
    return f"score {score:.0f}/100"


class JobError(Exception):
    """The worker could not be started or checked; the message is one line for the UI."""


@dataclass
class JobUpdate:
    """What :func:`poll_job` returns: the job's state after reading everything available.

    Attributes:
        state: ``running``, ``done``, ``failed`` or ``cancelled``.
        step: last step reported (0 before the first).
        total: steps the worker will run (0 until known).
        loss: last loss reported, or None.
        score: last CLIP similarity reported, or None.
        message: the error (failed) or a short status line.
        result: the worker's ``done`` record (``out``, ``status``, ``scores``, ...).
        preview: path of the newest preview snapshot announced, or None.
        preview_step: the step of that snapshot (0: none yet).
        phase: the output phase the run is in (a key of :data:`PHASES`; "" while it trains).
        counting: what ``step`` and ``total`` count: ``"steps"`` or ``"jobs"`` (a batch).
    """

    state: str = RUNNING
    step: int = 0
    total: int = 0
    loss: float | None = None
    score: float | None = None
    message: str = ""
    result: dict | None = None
    preview: str | None = None
    preview_step: int = 0
    phase: str = ""
    counting: str = "steps"

    @property
    def finished(self) -> bool:
        return self.state != RUNNING

    @property
    def fraction(self) -> float:
        """Progress in ``[0, 1]``: the steps, then the output phases (:data:`PHASES`)."""
        if self.phase in PHASES:
            return PHASES[self.phase][1]
        done = min(max(self.step / self.total, 0.0), 1.0) if self.total > 0 else 0.0
        return done * TRAINING_SHARE if self.counting == "steps" and self.state == RUNNING else done

    def describe(self, score: bool = True) -> str:
        """One line for a progress bar: ``step 12/300  score 27/100`` (``score``: with the score),
        ``baking texture  88%``, ``1 of 3 jobs done``."""
        if self.state != RUNNING:
            return self.message or self.state
        if self.phase in PHASES:
            return f"{PHASES[self.phase][0]}  {self.fraction:.0%}"
        if self.counting == "jobs":
            return f"{self.step} of {self.total} jobs done"
        if self.total == 0:
            return "starting the worker (loading CLIP)..."
        text = f"step {self.step}/{self.total}"
        return text if self.score is None or not score else f"{text}  {score_text(self.score)}"


@dataclass
class Job:
    """One worker process and what has been read from it.

    Args:
        argv: the full command (``[python, "-m", "stylize", ...]``).
        workdir: the job's folder (inputs and run folder); removed by :meth:`cleanup`.
        env: environment of the worker (default: this process's).
        payload: what the caller needs again when the job ends (object name, vertex map, ...).
        keep_workdir: :meth:`cleanup` leaves ``workdir`` (a folder the user chose).
        done_exit_codes: exit codes that end the job ``done`` without a ``done`` event (commands
            that print a JSON summary line instead, such as ``stylize batch``, whose exit code 1
            means "some jobs failed"); the last JSON object line is the result.
    """

    argv: list[str]
    workdir: Path
    env: dict[str, str] | None = None
    payload: dict = field(default_factory=dict)
    done_exit_codes: tuple[int, ...] = ()
    keep_workdir: bool = False
    process: subprocess.Popen | None = None
    update: JobUpdate = field(default_factory=JobUpdate)
    lines: queue.Queue = field(default_factory=queue.Queue)
    stderr_tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=40))
    _readers: list[threading.Thread] = field(default_factory=list)
    _stdout_closed: bool = False

    def start(self) -> Job:
        """Start the worker; raise :class:`JobError` when the interpreter cannot be run."""
        python = self.argv[0]
        if not python:
            raise JobError("no Python set: choose a Python that has stylize installed in the add-on preferences")
        try:
            self.process = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                env=self.env, cwd=str(self.workdir), text=True, encoding="utf-8", errors="replace", bufsize=1,
            )  # fmt: skip
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise JobError(f"cannot run the Python {python!r}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise JobError(f"cannot run the Python {python!r}: {exc}") from exc
        self._readers = [
            threading.Thread(target=_read_lines, args=(self.process.stdout, self.lines.put), daemon=True),
            threading.Thread(target=_read_lines, args=(self.process.stderr, self.stderr_tail.append), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    def cancel(self, grace: float = 5.0) -> None:
        """Stop the worker (terminate, then kill after ``grace`` seconds) and mark the job cancelled."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._join_readers()
        if not self.update.finished:
            self.update.state, self.update.message = CANCELLED, "cancelled"

    def cleanup(self) -> None:
        """Remove the job folder (its inputs and the worker's run folder)."""
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def poll(self) -> JobUpdate:
        """Read everything the process printed so far and return the job's state (never blocks).

        The job is ``done`` only when the process exited with code 0 after a ``done`` line (or
        with one of ``done_exit_codes``); any other exit is ``failed`` with its one-line error.
        """
        update = self.update
        if update.finished:
            return update
        while True:
            try:
                item = self.lines.get_nowait()
            except queue.Empty:
                break
            if item is _EOF:
                self._stdout_closed = True
                continue
            record = parse_event(item)
            if record is not None:
                apply_event(update, record)
            elif self.done_exit_codes and item.strip().startswith("{"):
                try:
                    summary = json.loads(item)
                except json.JSONDecodeError:
                    continue
                if isinstance(summary, dict):
                    update.result = summary
        returncode = self.process.poll() if self.process is not None else None
        if returncode is None or not self._stdout_closed:
            return update
        self._join_readers()
        if (returncode == 0 and update.result is not None) or (returncode in self.done_exit_codes):
            update.state, update.message = DONE, "finished"
            update.result = update.result or {}
            update.step = update.total or update.step
        else:
            update.state, update.message = FAILED, _error_message(list(self.stderr_tail), returncode)
        return update

    def _join_readers(self, timeout: float = 5.0) -> None:
        for reader in self._readers:
            reader.join(timeout)


def _read_lines(stream, put: Callable[[object], None]) -> None:
    """Reader thread: every line of ``stream`` (without its newline), then an end marker."""
    try:
        for line in stream:
            put(line.rstrip("\r\n"))
    finally:
        put(_EOF)
        stream.close()


def parse_event(line: str) -> dict | None:
    """The JSON object on a worker's stdout line, or None for anything else (warnings, text)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def _error_message(stderr_lines: Sequence[str], returncode: int) -> str:
    """The worker's one-line error (``stylize: error: ...``), else its last stderr line."""
    lines = [line.strip() for line in stderr_lines if isinstance(line, str) and line.strip()]
    for line in reversed(lines):
        if line.startswith("stylize: error:"):
            return line[len("stylize: error:") :].strip()
    if lines:
        return f"worker failed (exit code {returncode}): {lines[-1]}"
    return f"worker failed with exit code {returncode}"


def apply_event(update: JobUpdate, record: dict) -> None:
    """Fold one progress event (``step``, ``preview``, ``done``) into ``update``."""
    event = record["event"]
    if event == "step":
        update.step = int(record.get("step", update.step))
        update.total = int(record.get("total", update.total))
        update.loss, update.score = record.get("loss"), record.get("score")
    elif event == "preview" and isinstance(record.get("path"), str):
        step = int(record.get("step", 0))
        if step >= update.preview_step:
            update.preview, update.preview_step = record["path"], step
    elif event == "phase" and record.get("phase") in PHASES:
        update.phase = record["phase"]
    elif event == "done":
        update.result = record


def poll_job(job) -> JobUpdate:
    """Read everything the job's worker printed so far and return the job's state.

    Never blocks. Call it from a timer (the modal operator), a loop (:func:`wait_job`) or a test;
    ``job`` is a :class:`Job` or a warm worker's job (see :meth:`Job.poll`).
    """
    return job.poll()


def wait_job(job, on_update: Callable[[JobUpdate], None] | None = None, interval: float = 0.05) -> JobUpdate:
    """Poll until the job ends (scripts: ``EXEC_DEFAULT``). Ctrl-C cancels the worker and re-raises."""
    try:
        while True:
            update = poll_job(job)
            if on_update is not None:
                on_update(update)
            if update.finished:
                return update
            time.sleep(interval)
    except KeyboardInterrupt:
        job.cancel()
        raise


# --- commands ---------------------------------------------------------------------------------


def parse_clip_specs(text: str) -> list[str]:
    """``"ViT-B-32:openai, local-dir:/models/x"`` -> one spec per comma-separated entry."""
    return [spec.strip() for spec in (text or "").split(",") if spec.strip()]


@dataclass
class JobSettings:
    """What every worker job takes (the panel's values or the operator's own)."""

    prompt: str
    negative_prompt: str = ""
    preset: str = ""
    iterations: int = 0
    seed: int = 0
    device: str = "auto"
    clip: list[str] = field(default_factory=list)

    def common_argv(self) -> list[str]:
        """The options ``stylize mesh`` and ``stylize draw`` share: iterations, negative, CLIPs."""
        argv = ["--iters", str(int(self.iterations))] if self.iterations > 0 else []
        if self.negative_prompt.strip():
            argv += ["--negative", self.negative_prompt.strip()]
        for spec in self.clip:
            argv += ["--clip", spec]
        return argv


# The add-on's default for preview_every. A snapshot costs the worker one field evaluation and a
# file of 32 bytes per vertex (tools/bench/bench_blender_worker.py measures it), and costs Blender
# about the same to read and show, which PreviewThrottle caps at a fifth of its time whatever
# the rate. Every 10 steps is a new picture every 0.3-1 s on a GPU (fast preset) and every few
# seconds on a CPU, while the worker's overhead stays a few per cent even on a million vertices.
PREVIEW_EVERY = 10


@dataclass
class MeshJobSettings(JobSettings):
    """A Text2Mesh job: ``stylize mesh OBJ PROMPT``.

    ``preview_every``: a snapshot every N steps for the live preview (0: none). ``texture``:
    ``""`` (colours per vertex only), ``"bake"`` (also a baked texture) or ``"surface"`` (the
    field per pixel and texel: an exact texture); ``normal_map``: the relief as a tangent-space
    normal map instead of moved vertices; ``texture_size``: 0 for the toolkit's; ``best_of``:
    train N candidates for a short warm-up and finish the one the training CLIP likes best;
    ``source``: a restyle (``stylize mesh --source``): the text that describes the object as it
    looks now; the job then sends the object's own texture or colours (:class:`exchange.SourceLook`) and
    the run starts from them.
    """

    preset: str = "fast"
    displace: bool = True
    preview_every: int = 0
    texture: str = ""
    normal_map: bool = False
    texture_size: int = 0
    best_of: int = 1
    source: str = ""

    @property
    def shape_key(self) -> bool:
        """Whether the result is shown as a displacement shape key (a normal map carries it otherwise)."""
        return self.displace and not (self.normal_map and self.texture)


def mesh_argv(python: str, mesh_path: Path, out_dir: Path, settings: MeshJobSettings, mask_path: Path | None = None) -> list[str]:
    """The worker command for one Text2Mesh job (argv list; the prompt is one argument)."""
    return [python, "-m", "stylize", "mesh", *mesh_args(mesh_path, out_dir, settings, mask_path)]


def mesh_args(mesh_path: Path, out_dir: Path, settings: MeshJobSettings, mask_path: Path | None = None) -> list[str]:
    """``stylize mesh``'s arguments for one job (what the warm worker's request carries)."""
    argv = [str(mesh_path), settings.prompt, "--out", str(out_dir),
            "--preset", settings.preset, "--seed", str(int(settings.seed)), "--device", settings.device,
            "--progress", "json",
            # Results map back onto Blender's vertices by index: no remeshing of add-on jobs.
            "--set", "target_vertices=0",
            # The run folder is deleted once the result is applied: no animation nobody sees.
            "--set", "output.turntable_frames=1", "--set", "output.preview_views=1"]  # fmt: skip
    if not settings.displace:
        argv += ["--set", "field.geometry=false"]
    if settings.preview_every > 0:
        argv += ["--set", f"preview_every={int(settings.preview_every)}"]
    if settings.texture == "surface":
        argv += ["--field", "surface"]
    elif settings.texture == "bake":
        argv += ["--bake"]
    if settings.texture and settings.normal_map and settings.displace:
        argv += ["--normal-map"]
    if settings.texture and settings.texture_size > 0:
        argv += ["--bake-size", str(int(settings.texture_size))]
    if settings.best_of > 1:
        argv += ["--best-of", str(int(settings.best_of))]
    if settings.source.strip():
        argv += ["--source", settings.source.strip()]
    if mask_path is not None:
        argv += ["--mask", str(mask_path)]
    return argv + settings.common_argv()


@dataclass
class DrawJobSettings(JobSettings):
    """A CLIPDraw job: ``stylize draw PROMPT``."""

    preset: str = "clipdraw"
    paths: int = 0


def draw_argv(python: str, out_dir: Path, settings: DrawJobSettings) -> list[str]:
    """The worker command for one drawing (argv list)."""
    return [python, "-m", "stylize", "draw", *draw_args(out_dir, settings)]


def draw_args(out_dir: Path, settings: DrawJobSettings) -> list[str]:
    """``stylize draw``'s arguments for one drawing."""
    argv = [settings.prompt, "--out", str(out_dir), "--preset", settings.preset,
            "--seed", str(int(settings.seed)), "--progress", "json"]  # fmt: skip
    if settings.device != "auto":
        argv += ["--device", settings.device]
    if settings.paths > 0:
        argv += ["--paths", str(int(settings.paths))]
    return argv + settings.common_argv()


def worker_env(online_access: bool, base: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: Blender's "Allow Online Access" off forbids model downloads."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)  # Blender's own Python home must not leak into another interpreter
    env["PYTHONUNBUFFERED"] = "1"
    if not online_access:
        env["STYLIZE_OFFLINE"] = "1"
    return env


def new_workdir(prefix: str = "stylize-blender-") -> Path:
    """A fresh temporary folder for one job (never inside the add-on's own folder)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def check_python(python: str, timeout: float = 120.0, env: dict[str, str] | None = None) -> dict:
    """Run ``python -c CHECK_SCRIPT``: ``{"stylize": version, "torch": ..., "cuda": bool, "gpu": ...}``.

    Raises:
        JobError: no such interpreter, stylize not importable there, or no answer in time.
    """
    if not python:
        raise JobError("no Python set: choose a Python that has stylize installed")
    try:
        done = subprocess.run([python, "-c", CHECK_SCRIPT], capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)  # fmt: skip
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise JobError(f"cannot run the Python {python!r}: {exc.strerror or exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise JobError(f"the Python {python!r} did not answer within {timeout:.0f} s") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise JobError(f"stylize is not usable with {python!r}: {lines[-1] if lines else f'exit code {done.returncode}'}")
    for line in reversed(done.stdout.splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "stylize" in record:
            return record
    raise JobError(f"unexpected answer from {python!r}: {done.stdout.strip()[:200]!r}")


class BackgroundCheck:
    """:func:`check_python` in a thread, so Blender stays responsive while the Python imports
    torch (seconds, more on a cold disk); :meth:`poll` never blocks."""

    def __init__(self, python: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        self.python = python
        self._outcome: tuple[bool, object] | None = None
        self._thread = threading.Thread(target=self._run, args=(python, env, timeout), daemon=True)
        self._thread.start()

    def _run(self, python: str, env: dict[str, str] | None, timeout: float) -> None:
        try:
            self._outcome = (True, check_python(python, timeout=timeout, env=env))
        except JobError as exc:
            self._outcome = (False, str(exc))
        except Exception as exc:  # anything else: still one line for the preferences
            self._outcome = (False, f"the check failed: {exc}")

    def poll(self) -> tuple[bool, object] | None:
        """None while it runs, then ``(True, info)`` (:func:`check_python`'s dict) or ``(False, message)``."""
        return self._outcome

    @staticmethod
    def describe(info: dict) -> str:
        """The preferences' line for a usable Python."""
        cuda = f"CUDA available ({info.get('gpu')})" if info.get("cuda") else "no CUDA (CPU only)"
        return f"stylize {info.get('stylize')}, torch {info.get('torch')}, {cuda}"


class PreviewThrottle:
    """When the add-on may show the next preview snapshot: at most one per ``interval`` seconds
    and never more than ``busy`` of the wall time spent showing them.

    Showing one costs Blender time in proportion to the mesh (read the file, map it, fill a colour
    attribute and a shape key, redraw: about 0.1 s per million vertices here); a fast GPU can
    announce snapshots faster than that, so the cost of the last one sets the wait before the next.
    """

    def __init__(self, interval: float = 0.25, busy: float = 0.2) -> None:
        self.interval, self.busy = float(interval), float(busy)
        self.next_time = 0.0

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.next_time

    def shown(self, cost: float, now: float | None = None) -> None:
        """Record that a snapshot took ``cost`` seconds to show, ending at ``now``."""
        now = time.monotonic() if now is None else now
        self.next_time = now + max(self.interval, cost * (1.0 - self.busy) / self.busy)
