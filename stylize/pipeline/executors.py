"""Executors: where the jobs of a batch run. Picked by name from :data:`EXECUTORS`.

- ``local``: in this process, one job after another; with ``workers > 1`` (or several GPUs) one
  process per worker (one per GPU where there are several), each loading the CLIP models once and
  taking jobs from a shared queue.
- ``ray``: one Ray actor per GPU (or per CPU worker) that loads the CLIP models once and takes jobs
  from a pool. It connects to the cluster at ``RAY_ADDRESS`` when that is set, to the session of
  an earlier ``ray.init`` in this process, or else starts a local one (and stops it afterwards).
  Workers write into the output folder themselves, so on a multi-node cluster it must be on a
  filesystem every node sees, and the input files too.

Every executor calls ``on_result(job, outcome)`` in the driving process as each job ends, in
completion order; the outcome is the dict of :func:`~stylize.pipeline.runner.run_job`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize.errors import InputError
from stylize.pipeline.jobs import Job, jobs_clip_specs
from stylize.pipeline.runner import failed_outcome, preload_models, run_job
from stylize.registry import Registry

logger = logging.getLogger(__name__)

__all__ = ["EXECUTORS", "ExecutorSettings", "LocalExecutor", "RayExecutor", "get_executor"]

OnResult = Callable[[Job, dict], None]
#: ``on_progress(job_id, step, total)`` while a job runs (local executor; Ray jobs report only
#: their end).
OnProgress = Callable[[str, int, int], None]


def _throttled(send: Callable[[int, int], None], every_s: float = 0.5) -> Callable[[int, int, dict], None]:
    """An ``on_step`` that forwards ``(step, total)`` at most every ``every_s`` seconds (and the last step)."""
    last = [0.0]

    def on_step(step: int, total: int, _metrics: dict) -> None:
        now = time.monotonic()
        if step >= total or now - last[0] >= every_s:
            last[0] = now
            send(step, total)

    return on_step


@dataclass(frozen=True)
class ExecutorSettings:
    """How to run a batch.

    Attributes:
        workers: parallel workers; None: one per GPU where there are GPUs, else one (local) or
            one per ``threads`` CPUs of the cluster (ray).
        threads: torch threads per job; fixed so that results do not depend on the worker layout.
    """

    workers: int | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise InputError(f"expected at least 1 worker, got {self.workers}")
        if self.threads < 1:
            raise InputError(f"expected at least 1 thread per job, got {self.threads}")


# --- local -------------------------------------------------------------------------------------


def _local_worker(name: str, device: str | None, threads: int, specs: list[str], out_root: str, tasks: Any, results: Any) -> None:
    """A worker process: load the CLIPs once, then run jobs from ``tasks`` until a None arrives."""
    import torch

    from stylize.engine import ModelCache
    from stylize.errors import terminate_as_interrupt

    torch.set_num_threads(threads)
    cache = ModelCache()
    preload_models(cache, specs, device)
    with terminate_as_interrupt():  # SIGTERM stops the job as Ctrl-C does: no half-written folder stays
        while True:
            job = tasks.get()
            if job is None:
                return
            results.put(("start", name, job.id))
            progress = _throttled(lambda step, total, job_id=job.id: results.put(("step", name, (job_id, step, total))))
            try:
                outcome = run_job(job, out_root, cache, threads, device, name, on_step=progress)
            except KeyboardInterrupt:
                return
            results.put(("end", name, outcome))


class LocalExecutor:
    """Runs jobs on this machine: in-process, or one process per worker / GPU."""

    #: The jobs run on this machine: their CLIP weights are checked here before any job starts.
    models_local = True

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings

    def devices(self) -> list[str | None]:
        """One device per worker: the GPUs in turn where there are several, else ``auto``."""
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        workers = self.settings.workers or (gpus if gpus > 1 else 1)
        if gpus > 1:
            return [f"cuda:{index % gpus}" for index in range(workers)]
        return [None] * workers

    def run(self, jobs: Sequence[Job], out_root: Path, on_result: OnResult, on_progress: OnProgress | None = None) -> None:
        from stylize.engine import ModelCache

        devices = self.devices()[: max(len(jobs), 1)]
        if len(devices) == 1:
            cache = ModelCache()
            for job in jobs:
                progress = None
                if on_progress is not None:
                    progress = _throttled(lambda step, total, job_id=job.id: on_progress(job_id, step, total), 0.0)
                on_result(job, run_job(job, out_root, cache, self.settings.threads, devices[0], "local", on_step=progress))
            return
        self._run_processes(jobs, out_root, on_result, devices, on_progress)

    def _run_processes(
        self,
        jobs: Sequence[Job],
        out_root: Path,
        on_result: OnResult,
        devices: list[str | None],
        on_progress: OnProgress | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        tasks, results = context.Queue(), context.Queue()
        for job in jobs:
            tasks.put(job)
        specs = jobs_clip_specs(jobs)
        processes = {}
        for index, device in enumerate(devices):
            name = f"local-{index}" + (f" ({device})" if device else "")
            tasks.put(None)
            process = context.Process(target=_local_worker, name=name, daemon=True,
                                      args=(name, device, self.settings.threads, specs, str(out_root), tasks, results))  # fmt: skip
            process.start()
            processes[name] = process
        by_id = {job.id: job for job in jobs}
        running: dict[str, str] = {}  # worker -> id of the job it is on

        def handle(message: str, worker: str, payload: Any) -> None:
            if message == "start":
                running[worker] = payload
            elif message == "step":
                if on_progress is not None:
                    on_progress(*payload)
            else:
                running.pop(worker, None)
                job = by_id.pop(payload["id"], None)
                if job is not None:
                    on_result(job, payload)

        try:
            while by_id:
                try:
                    handle(*results.get(timeout=1.0))
                    continue
                except queue.Empty:
                    pass
                if any(process.is_alive() for process in processes.values()):
                    for worker, process in processes.items():
                        # A worker that ended cleanly has sent its results; one that crashed has not.
                        if not process.is_alive() and process.exitcode != 0 and worker in running:
                            job = by_id.pop(running.pop(worker))
                            on_result(job, failed_outcome(job, f"worker process died (exit code {process.exitcode})", worker))
                    continue
                # Every worker has ended: take what they sent last, fail what nobody finished.
                while True:
                    try:
                        handle(*results.get(timeout=0.5))
                    except queue.Empty:
                        break
                for job in list(by_id.values()):
                    on_result(job, failed_outcome(job, "its worker process ended before finishing it", "local"))
                by_id.clear()
        finally:
            for process in processes.values():
                if process.is_alive():
                    process.terminate()
                process.join(timeout=10)


# --- ray ---------------------------------------------------------------------------------------


class JobActor:
    """The state a Ray actor keeps between jobs: its CLIP models (loaded once)."""

    def __init__(self, name: str, out_root: str, threads: int, specs: list[str]) -> None:
        import torch

        from stylize.engine import ModelCache

        torch.set_num_threads(threads)
        self.name, self.out_root, self.threads = name, out_root, threads
        self.cache = ModelCache()
        preload_models(self.cache, specs, None)

    def run(self, job: Job) -> dict[str, Any]:
        from stylize.errors import terminate_as_interrupt

        with terminate_as_interrupt():
            return run_job(job, self.out_root, self.cache, self.threads, None, self.name)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("the ray executor needs Ray: pip install 'stylize[ray]' (or pip install 'ray>=2.9')") from None
    return ray


class RayExecutor:
    """Runs jobs on Ray actors, one per GPU (or per CPU worker)."""

    #: The cluster's workers may hold weights this machine lacks: no up-front check here.
    models_local = False

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings

    def run(self, jobs: Sequence[Job], out_root: Path, on_result: OnResult, on_progress: OnProgress | None = None) -> None:
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            address = os.environ.get("RAY_ADDRESS") or None
            logger.info("ray: %s", f"connecting to {address}" if address else "starting a local cluster")
            runtime_env = None
            if address is None:
                # Workers of a local cluster import the same stylize as this process (a source
                # checkout may not be the installed one).
                package_root = str(Path(__file__).resolve().parents[2])
                paths = [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
                runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, runtime_env=runtime_env)
        try:
            self._run(ray, jobs, out_root, on_result)
        finally:
            if started_here:
                ray.shutdown()

    def _actor_options(self, ray: Any) -> tuple[int, dict[str, Any]]:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        threads = self.settings.threads
        if gpus:
            capacity, options = gpus, {"num_gpus": 1, "num_cpus": min(threads, max(cpus // gpus, 1))}
        else:
            capacity, options = max(cpus // threads, 1), {"num_cpus": min(threads, cpus)}
        workers = self.settings.workers or capacity
        if workers > capacity:
            logger.warning("ray: %d workers asked for but the cluster has room for %d; using %d", workers, capacity, capacity)
            workers = capacity
        return workers, options

    def _run(self, ray: Any, jobs: Sequence[Job], out_root: Path, on_result: OnResult) -> None:
        workers, options = self._actor_options(ray)
        workers = min(workers, len(jobs))
        remote_actor = ray.remote(JobActor)
        specs = jobs_clip_specs(jobs)
        actors = [
            remote_actor.options(**options).remote(f"ray-{index}", str(Path(out_root).resolve()), self.settings.threads, specs)
            for index in range(workers)
        ]
        logger.info("ray: %d actors (%s)", workers, options)
        pending = list(jobs)[::-1]
        in_flight: dict[Any, tuple[Job, Any]] = {}

        def submit(actor: Any) -> None:
            if pending:
                job = pending.pop()
                in_flight[actor.run.remote(job)] = (job, actor)

        for actor in actors:
            submit(actor)
        try:
            while in_flight:
                done, _ = ray.wait(list(in_flight), num_returns=1)
                job, actor = in_flight.pop(done[0])
                try:
                    outcome = ray.get(done[0])
                except ray.exceptions.RayError as exc:  # its job fails, the others go on
                    on_result(job, failed_outcome(job, f"ray worker failed: {_ray_cause(exc)}", "ray"))
                    if not isinstance(exc, ray.exceptions.RayActorError):
                        submit(actor)
                        continue
                    actors.remove(actor)
                    if not actors:
                        for job in pending[::-1]:
                            on_result(job, failed_outcome(job, "no ray worker left", "ray"))
                        pending.clear()
                    continue
                on_result(job, outcome)
                submit(actor)
        finally:
            for actor in actors:
                ray.kill(actor)


def _ray_cause(exc: BaseException) -> str:
    """The innermost ``SomeError: message`` line of a Ray error (they carry whole tracebacks)."""
    causes = re.findall(r"(\w+(?:Error|Exception): [^\n]+)", str(exc))
    return causes[-1].strip() if causes else type(exc).__name__


EXECUTORS: Registry[type] = Registry("executor", {"local": LocalExecutor, "ray": RayExecutor})


def get_executor(name: str, settings: ExecutorSettings) -> Any:
    """The executor called ``name`` (``local`` or ``ray``)."""
    return EXECUTORS.lookup(name)(settings)
