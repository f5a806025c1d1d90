"""Run folders: the resolved config, run metadata and per-step metrics of one run.

Every file is written atomically (a temporary beside it, then a rename), so an interrupted run
never leaves a half-written output; ``metrics.jsonl`` is a log appended one flushed line at a time.
Pictures and animations are written with :mod:`stylize.images`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylize.config import dumps_toml, to_dict
from stylize.errors import InputError
from stylize.locks import LOCK_NAME, FolderLock
from stylize.utils import atomic_write, environment_info, sweep_stale_temporaries, write_json

logger = logging.getLogger(__name__)


# Everything a run of any kind writes into its folder (files, or folders with a trailing "/").
# ``--overwrite`` removes these and nothing else; their presence means "a run lives here".
OUTPUT_NAMES = (
    "mesh.glb", "mesh.ply", "mesh.obj", "mesh_textured.glb", "mesh_textured.json", "mesh_textured_preview.png",
    "vertex_data.npz", "field.pt",
    "checkpoint.pt", "turntable.gif", "drawing.svg", "drawing.png", "image.png", "net.pt", "progress.gif",
    "sketch.svg", "sketch.png", "ladder.png", "levels/",
    "preview.png", "config.toml", "run.json", "metrics.jsonl", "textures/", "preview/",
)  # fmt: skip

#: The version of ``run.json``'s layout (its ``"schema"`` key).
RUN_SCHEMA = "stylize.run/2"

#: What ``run.json``'s ``"status"`` says:
#:
#: - ``running``: the run is going on (or its process was killed outright, e.g. SIGKILL);
#: - ``finished``: every step ran and every output is written;
#: - ``interrupted``: Ctrl-C or SIGTERM stopped it between steps; what existed was written;
#: - ``diverged``: (meshes) losses stopped being finite; the last good state was written;
#: - ``failed``: an error escaped the run (``"error"`` says which); outputs may be missing;
#: - ``cancelled``: a cancel request (the Blender add-on's worker) stopped it; nothing was written;
#: - ``applied``: (``stylize apply``, ``restyle --apply``) a trained field or net was reused.
RUN_STATUSES = ("running", "finished", "interrupted", "diverged", "failed", "cancelled", "applied")

#: The top-level keys every generator's ``run.json`` holds (mesh, draw, paint, restyle), beside
#: what a kind adds (``candidates``, ``input``, ``size``, ...). Scores are 100 x cosine by role:
#: ``{"trainer": {prompt: score, ..., "mean": score}, "judge": {...}}``.
RUN_KEYS = ("kind", "schema", "status", "complete", "interrupted", "environment", "wall_seconds", "seed", "device",
            "timings", "scores", "steps", "config")  # fmt: skip


def default_out(kind: str) -> Path:
    """A new run folder ``runs/KIND-YYYYmmdd-HHMMSS`` (``-2``, ``-3``, ... when that one exists):
    where a run goes when its command or API call names no folder."""
    base = Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def resolve_out(out: str | os.PathLike | None, kind: str) -> Path | None:
    """The run folder an API call writes: ``out`` itself; a new :func:`default_out` folder when
    ``out`` is the default ``"runs/KIND"`` (:func:`default_out_marker`); None (write nothing) for None."""
    if out is None:
        return None
    if str(out) == default_out_marker(kind):
        return default_out(kind)
    return Path(out)


def default_out_marker(kind: str) -> str:
    """The API's default ``out`` for ``kind`` (``"runs/draw"``): "a new ``runs/draw-TIMESTAMP``"."""
    return f"runs/{kind}"


def read_run(folder: str | os.PathLike, purpose: str = "use it") -> dict[str, Any]:
    """``run.json`` of a finished run folder; an :class:`InputError` when it is missing or the run
    never finished writing its outputs (it was killed: resume it or run it again)."""
    folder = Path(folder)
    try:
        data = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder}: no run.json (not a run folder, or the run never got far enough to {purpose})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder}/run.json is unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("complete") is not True:
        raise InputError(f"{folder}: the run did not finish writing its outputs (stopped or killed); "
                         "resume it (stylize mesh --resume) or run it again")  # fmt: skip
    return data


class RunFolder:
    """One run's output folder: refuses to mix runs or overwrite inputs, locks, marks completeness.

    - A folder that already holds a run's outputs is refused (one line naming it) unless
      ``overwrite`` (which removes only :data:`OUTPUT_NAMES`) or ``resume`` (the same run goes on).
    - An input file inside the folder under an output's name is refused (never overwritten).
    - ``.stylize.lock`` (pid and host) keeps a second run out while this one runs; a lock left by
      a dead process on this host is taken over with a warning, atomically (:mod:`stylize.locks`).
    - ``run.json`` is written at the start with ``"complete": false`` and rewritten last with
      ``"complete": true`` by :meth:`write_run_json`, so a run killed while writing its outputs is
      recognisable (:func:`read_run` refuses it); temporaries of dead writers are swept.

    Args:
        path: the folder (created if needed).
        kind: ``mesh``, ``draw``, ``paint``, ... recorded in ``run.json``.
        inputs: the run's input files (checked against the outputs' names).
        overwrite: replace an earlier run's outputs in ``path``.
        resume: ``path`` holds this run's own earlier state (a resumed mesh run).

    Raises:
        InputError: ``path`` is a file, cannot be created or written, holds another run, is
            locked by a live run, or holds an input under an output's name.
    """

    def __init__(self, path: str | Path, kind: str, *, inputs: Sequence[str | Path] = (), overwrite: bool = False,
                 resume: bool = False) -> None:  # fmt: skip
        self.path = Path(path)
        self.kind = kind
        self.started = time.time()
        self._metrics = None
        self._locked = False
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"--out {self.path} is a file, not a folder")
        self._created = not self.path.exists()
        self._completed = False
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the run folder {self.path}: {exc.strerror or exc}") from None
        self._check_inputs(inputs)
        self._lock()
        try:
            sweep_stale_temporaries(self.path)
            existing = [name for name in OUTPUT_NAMES if (self.path / name.rstrip("/")).exists()]
            if existing and not resume:
                if not overwrite:
                    raise InputError(f"--out {self.path} already holds a run ({existing[0]}, ...): choose another folder, "
                                     "or --overwrite to replace it (or --resume to continue it)")  # fmt: skip
                self._clear(existing)
            self._marked = not resume or not self.file("run.json").is_file()
            if self._marked:
                write_json(self.file("run.json"), self._marker("running"))
        except BaseException:
            self._unlock()
            raise

    def _check_inputs(self, inputs: Sequence[str | Path]) -> None:
        folder = self.path.resolve()
        names = {name.rstrip("/") for name in OUTPUT_NAMES}
        for item in inputs:
            if not item:
                continue
            path = Path(item).resolve()
            inside = path.parent == folder or folder in path.parents
            if inside and path.relative_to(folder).parts[0] in names:
                raise InputError(f"{item}: this run's output of the same name in {self.path} would overwrite the input: "
                                 "choose another --out")  # fmt: skip

    def _lock(self) -> None:
        self._folder_lock = FolderLock(self.path).acquire()  # atomic, stale locks included (see stylize.locks)
        self._locked = True

    def _unlock(self) -> None:
        if self._locked:
            self._folder_lock.release()
            self._locked = False

    def _clear(self, names: list[str]) -> None:
        for name in names:
            target = self.path / name.rstrip("/")
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        logger.info("--overwrite: removed the earlier run's outputs in %s", self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def has_metrics(self) -> bool:
        """Whether ``metrics.jsonl`` exists (something was logged)."""
        return self.file("metrics.jsonl").is_file()

    def write_config(self, config: Any) -> Path:
        """Write the fully resolved config as ``config.toml``."""
        data = config if isinstance(config, dict) else to_dict(config)
        with atomic_write(self.file("config.toml")) as handle:
            handle.write(dumps_toml(data))
        return self.file("config.toml")

    def log_metrics(self, step: int, **values: float) -> None:
        """Append one JSON line to ``metrics.jsonl`` (opened without following a symbolic link:
        a link planted there is refused, never written through)."""
        if self._metrics is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            try:
                fd = os.open(self.file("metrics.jsonl"), flags, 0o666)
            except OSError as exc:
                raise InputError(f"cannot write {self.file('metrics.jsonl')}: {exc.strerror or exc} "
                                 "(a symbolic link there is refused)") from None  # fmt: skip
            self._metrics = os.fdopen(fd, "a", encoding="utf-8")
        record = {
            "step": int(step),
            **{k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in values.items()},
        }
        self._metrics.write(json.dumps(json_finite(record), allow_nan=False) + "\n")
        self._metrics.flush()

    def truncate_metrics(self, before_step: int) -> None:
        """Drop ``metrics.jsonl`` lines of steps ``>= before_step`` (a resumed run logs them again)."""
        path = self.file("metrics.jsonl")
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) < before_step:
                    kept.append(line)
            except (json.JSONDecodeError, AttributeError):
                continue  # a line cut short when the run stopped
        with atomic_write(path) as handle:
            handle.write("".join(line + "\n" for line in kept))

    def _marker(self, status: str, **fields: Any) -> dict[str, Any]:
        return {"kind": self.kind, "schema": RUN_SCHEMA, "status": status, "complete": False,
                "interrupted": status == "interrupted", **fields}  # fmt: skip

    def write_run_json(self, **fields: Any) -> Path:
        """Write ``run.json`` last: the :data:`RUN_KEYS` (versions and hardware under
        ``environment``; keys the caller does not give are null), whatever the pipeline adds, and
        ``"complete": true`` (every other output is in place)."""
        data: dict[str, Any] = {key: None for key in RUN_KEYS}
        data.update(kind=self.kind, schema=RUN_SCHEMA, status="finished", environment=environment_info(),
                    wall_seconds=round(time.time() - self.started, 3), timings={}, scores={})  # fmt: skip
        data.update(fields)
        if data["status"] not in RUN_STATUSES:
            raise ValueError(f"expected a run status among {', '.join(RUN_STATUSES)}, got {data['status']!r}")
        data["interrupted"] = data["status"] == "interrupted"
        data["complete"] = True
        self._completed = True
        write_json(self.file("run.json"), data)
        return self.file("run.json")

    def close(self, error: BaseException | None = None) -> None:
        """Release the folder. A folder this run created and left with nothing but its start
        marker (it failed before writing anything, e.g. on a bad input) is removed again.

        A run that never wrote its final ``run.json`` is marked there as ``failed`` (with the
        error's first line), ``interrupted`` (``error`` a KeyboardInterrupt) or ``cancelled``
        (a :class:`~stylize.errors.Cancelled`), never left ``running``."""
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if not self._completed and self._marked:
            with contextlib.suppress(OSError):
                write_json(self.file("run.json"), self._marker(failure_status(error), **failure_details(error)))
        if self._created and not self._completed:
            with contextlib.suppress(OSError):
                if {entry.name for entry in self.path.iterdir()} <= {"run.json", LOCK_NAME}:
                    shutil.rmtree(self.path)
        self._unlock()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> None:
        self.close(error)


def json_finite(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None (NaN and infinities are not
    JSON: a bare ``NaN`` breaks strict readers), through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_finite(item) for item in value]
    return value


def failure_status(error: BaseException | None) -> str:
    """The ``run.json`` status of a run that ``error`` stopped before it finished writing."""
    from stylize.errors import Cancelled

    if isinstance(error, Cancelled):
        return "cancelled"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "failed"


def failure_details(error: BaseException | None) -> dict[str, str]:
    if error is None or isinstance(error, KeyboardInterrupt):
        return {}
    from stylize.errors import first_line

    return {"error": f"{type(error).__name__}: {first_line(error)}"}


@contextlib.contextmanager
def hold_folder_lock(path: str | Path) -> Iterator[None]:
    """Hold a run folder's ``.stylize.lock`` (as :class:`RunFolder` does) while a command writes
    into a run that is not its own (``stylize bake RUN``); a live run holding it is refused.

    Raises:
        InputError: the folder is in use by a live run, or cannot be locked.
    """
    lock = FolderLock(Path(path)).acquire()  # the lock alone: no marker, no checks of the outputs
    try:
        yield
    finally:
        lock.release()
