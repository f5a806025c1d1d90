"""The warm worker: one ``python -m stylize worker`` per Blender session (no bpy, no torch).

The first job starts it (the torch import and the CLIP load, seconds); later jobs find the
models loaded and start their first step at once. Requests and events are JSON lines (the
toolkit's ``stylize.cli.worker`` documents them): a job is ``{"id", "command": "mesh"|"draw",
"args": [...]}`` and its events come back tagged with its id; ``{"id", "command": "cancel"}``
stops it and the worker goes on. The worker exits when its stdin closes, which happens when
Blender quits (or :meth:`WarmWorker.close`). A worker that died (a crash, out of memory, killed)
is started again by the next job; the job it was running fails with its last stderr line.
"""

from __future__ import annotations

import collections
import itertools
import json
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import jobs
from .jobs import CANCELLED, DONE, FAILED, JobError, JobUpdate

_GONE = "worker-gone"  # the event a job gets when its worker's stdout closes
_ENDS = ("done", "error", "cancelled", _GONE)
# A cancelled job the worker has not confirmed after this long means a stuck worker: the next
# job starts a fresh one.
CANCEL_GRACE = 30.0


def worker_argv(python: str) -> list[str]:
    return [python, "-m", "stylize", "worker"]


@dataclass
class WorkerJob:
    """One job on the warm worker; polled, cancelled and cleaned up like :class:`jobs.Job`.

    Attributes:
        id: the job's id in the protocol.
        workdir: the job's folder (inputs and run folder); removed by :meth:`cleanup`.
        payload: what the caller needs again when the job ends.
    """

    id: str
    worker: WarmWorker
    process: subprocess.Popen
    workdir: Path
    payload: dict = field(default_factory=dict)
    update: JobUpdate = field(default_factory=JobUpdate)
    events: queue.Queue = field(default_factory=queue.Queue)
    cancelled_at: float | None = None  # when cancel() was asked, until the worker confirms
    cleanup_pending: bool = False  # cleanup() was asked while the worker still ran the job
    ended: bool = False  # the worker ended the job (both flags under the worker's lock)

    def poll(self) -> JobUpdate:
        """Fold the events that arrived into :attr:`update` (never blocks)."""
        update = self.update
        while not update.finished:
            try:
                record = self.events.get_nowait()
            except queue.Empty:
                break
            self._take(record)
        return update

    def _take(self, record: dict) -> None:
        update, event = self.update, record["event"]
        if event == "done":
            jobs.apply_event(update, record)
            update.state, update.message = DONE, "finished"
            update.step = update.total or update.step
        elif event == "error":
            update.state, update.message = FAILED, str(record.get("message") or "the worker reported an error")
        elif event == "cancelled":
            update.state, update.message = CANCELLED, "cancelled"
        elif event == _GONE:
            update.state, update.message = FAILED, record["message"]
        else:
            jobs.apply_event(update, record)
        if update.finished:
            self.worker._retire(self)

    def cancel(self, grace: float = 0.0) -> None:
        """Ask the worker to stop this job; the job is ``cancelled`` at once (Blender does not
        wait for the worker's current step). The worker confirms at its next step; until then
        :meth:`cleanup` is deferred, and a worker that never confirms (stuck for
        :data:`CANCEL_GRACE` seconds) is replaced by the next job.

        Args:
            grace: seconds to wait for the confirmation here (0: none).
        """
        if self.update.finished:
            return
        self.cancelled_at = time.monotonic()
        self.update.state, self.update.message = CANCELLED, "cancelled"
        if not self.worker.send({"id": self.id, "command": "cancel"}, self.process):
            self.worker.forget(self)
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.worker.pending(self):
            time.sleep(0.01)

    def cleanup(self) -> None:
        """Remove the job folder, now or (a cancelled job the worker still runs) once it stopped."""
        with self.worker._lock:
            if self.cancelled_at is not None and not self.ended:
                self.cleanup_pending = True  # the reader removes it when the worker ends the job
                return
        shutil.rmtree(self.workdir, ignore_errors=True)


class WarmWorker:
    """The session's warm worker process (started on the first :meth:`submit`).

    Attributes:
        starts: how many processes were started (a restart after a death counts).
        ready: the worker's ``ready`` event (version, pid), once it arrived.
    """

    def __init__(self, command=worker_argv) -> None:
        self.command = command  # python -> the worker's argv (tests put a stand-in here)
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.ready: dict | None = None
        self.stderr_tail: collections.deque = collections.deque(maxlen=40)
        self._key: tuple | None = None
        self._jobs: dict[str, WorkerJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def submit(self, python: str, env: dict[str, str] | None, command: str, args: list[str], workdir: Path,
               payload: dict | None = None) -> WorkerJob:  # fmt: skip
        """Send one job (starting the worker first if there is none, it died, or the Python or
        its environment changed).

        Raises:
            JobError: the Python cannot be run.
        """
        with self._lock:
            stuck = [j for j in self._jobs.values() if j.cancelled_at is not None and j.process is self.process
                     and time.monotonic() - j.cancelled_at > CANCEL_GRACE]  # fmt: skip
        if stuck:
            self.stop()  # its reader fails its jobs and removes their folders
        process = self._ensure(python, env)
        job = WorkerJob(f"job-{next(self._ids)}", self, process, Path(workdir), dict(payload or {}))
        with self._lock:
            self._jobs[job.id] = job
        if not self.send({"id": job.id, "command": command, "args": list(args)}, process):
            # It died since we last looked: a fresh one takes the job, transparently.
            self.forget(job)
            process = self._ensure(python, env)
            job.process = process
            with self._lock:
                self._jobs[job.id] = job
            if not self.send({"id": job.id, "command": command, "args": list(args)}, process):
                self.forget(job)
                raise JobError(
                    f"the stylize worker stopped at once: {jobs._error_message(list(self.stderr_tail), process.poll() or 1)}"
                )
        return job

    def send(self, message: dict, process: subprocess.Popen | None = None) -> bool:
        """Write one request line; False when the worker is gone."""
        process = process or self.process
        if process is None or process.poll() is not None:
            return False
        try:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def forget(self, job: WorkerJob) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def pending(self, job: WorkerJob) -> bool:
        """Whether the worker has not ended ``job`` yet."""
        with self._lock:
            return job.id in self._jobs

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the worker ended every job (cancelled ones included); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.busy

    def _retire(self, job: WorkerJob) -> None:
        """The worker ended a job: remove its folder if a cleanup waited on that, then forget it
        (in that order: :meth:`wait_idle` returns once the folder is gone)."""
        with self._lock:
            job.ended = True
            remove = job.cleanup_pending
        if remove:
            shutil.rmtree(job.workdir, ignore_errors=True)
        self.forget(job)

    def stop(self, process: subprocess.Popen | None = None, grace: float = 3.0) -> None:
        """Stop a worker process now (terminate, then kill)."""
        process = process or self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self, grace: float = 5.0) -> None:
        """End the worker as Blender quitting does: close its stdin, then wait, then stop it."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            self.stop(process)

    # --- process ---------------------------------------------------------------------------------

    def _ensure(self, python: str, env: dict[str, str] | None) -> subprocess.Popen:
        key = (python, tuple(sorted((env or {}).items())))
        if self.alive and key == self._key:
            return self.process
        if self.process is not None:
            self.close(grace=2.0)
        if not python:
            raise JobError("no Python set: choose a Python that has stylize installed in the add-on preferences")
        try:
            process = subprocess.Popen(
                self.command(python), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                text=True, encoding="utf-8", errors="replace", bufsize=1,
            )  # fmt: skip
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise JobError(f"cannot run the Python {python!r}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise JobError(f"cannot run the Python {python!r}: {exc}") from exc
        self.process, self._key, self.ready = process, key, None
        self.starts += 1
        self.stderr_tail.clear()
        stderr_done = threading.Event()
        threading.Thread(target=self._read_stderr, args=(process, stderr_done), daemon=True).start()
        threading.Thread(target=self._read_events, args=(process, stderr_done), daemon=True).start()
        return process

    def _read_stderr(self, process: subprocess.Popen, finished: threading.Event) -> None:
        try:
            for line in process.stderr:
                if process is self.process or self.process is None:
                    self.stderr_tail.append(line.rstrip("\r\n"))
        finally:
            finished.set()

    def _read_events(self, process: subprocess.Popen, stderr_done: threading.Event) -> None:
        for line in process.stdout:
            record = jobs.parse_event(line)
            if record is None:
                continue
            if record["event"] == "ready":
                self.ready = record
                continue
            with self._lock:
                job = self._jobs.get(str(record.get("id")))
            if job is None:
                continue
            if job.cancelled_at is not None:  # nobody polls it any more
                if record["event"] in _ENDS:
                    self._retire(job)
                continue
            job.events.put(record)
        # stdout closed: the process is gone (or going); its jobs fail with its last words.
        try:
            returncode = process.wait(10)
        except subprocess.TimeoutExpired:
            returncode = -1
        stderr_done.wait(5)
        message = jobs._error_message(list(self.stderr_tail), returncode)
        if returncode == 2 and "invalid choice: 'worker'" in message:
            message = "this stylize has no `stylize worker` (update it, or turn off Warm Worker in the preferences)"
        with self._lock:
            orphans = [job for job in self._jobs.values() if job.process is process]
        for job in orphans:
            if job.cancelled_at is not None:
                self._retire(job)
            else:
                job.events.put({"event": _GONE, "id": job.id, "message": f"the stylize worker stopped: {message}"})
