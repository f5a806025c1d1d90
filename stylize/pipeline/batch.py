"""A batch run: jobs file -> executor -> run folders, ``manifest.jsonl`` and a contact sheet.

Example:
    >>> result = run_batch("jobs.toml", out="runs/assets", executor="local", resume=True)
    >>> print(format_table(result.entries)); result.failed
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylize.errors import InputError, ModelLoadError, first_line
from stylize.locks import FolderLock
from stylize.pipeline.executors import ExecutorSettings, get_executor
from stylize.pipeline.jobs import Job, jobs_clip_specs, load_jobs, parse_jobs
from stylize.pipeline.manifest import Manifest, make_entry
from stylize.pipeline.runner import PARTIAL_DIR
from stylize.pipeline.summary import CONTACT_SHEET_NAME, contact_sheet

logger = logging.getLogger(__name__)

__all__ = ["BatchResult", "default_out", "run_batch"]


@dataclass
class BatchResult:
    """What :func:`run_batch` returns.

    Attributes:
        out_dir: the output folder.
        entries: the manifest entries of this batch's jobs, in file order.
        manifest: path of ``manifest.jsonl``.
        contact_sheet: path of ``contact_sheet.png`` (None with no jobs).
    """

    out_dir: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    manifest: Path | None = None
    contact_sheet: Path | None = None

    def count(self, status: str) -> int:
        return sum(entry["status"] == status for entry in self.entries)

    @property
    def failed(self) -> bool:
        """Whether any job failed."""
        return self.count("failed") > 0


def default_out(jobs_file: str | Path) -> Path:
    """``runs/<jobs file stem>``: the same folder on every run, so ``--resume`` finds it."""
    return Path("runs") / Path(jobs_file).stem


def run_batch(
    jobs: str | Path | Mapping[str, Any] | Sequence[Job],
    out: str | Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    resume: bool = False,
    threads: int = 1,
    on_job: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> BatchResult:
    """Run every job of a jobs file and record them in ``OUT/manifest.jsonl``.

    Args:
        jobs: a jobs file (TOML), its parsed data (relative paths then relative to the working
            directory), or jobs from :func:`~stylize.pipeline.jobs.load_jobs`.
        out: output folder (default ``runs/<jobs file stem>``, or ``runs/batch``).
        executor: ``local`` or ``ray``.
        workers: parallel workers (see :class:`~stylize.pipeline.executors.ExecutorSettings`).
        resume: skip jobs the manifest records as done whose outputs still exist.
        threads: torch threads per job.
        on_job: called with each manifest entry as its job ends (or is skipped): progress bars.
        on_progress: ``on_progress(job_id, step, total)`` while a job runs (the local executor;
            from worker processes at most twice a second): the nested bar of the job in progress.

    Returns:
        :class:`BatchResult`; a failed job is recorded with its error and the others go on.

    Raises:
        InputError: the jobs file is unusable (named job and key), a bad executor setting, or
            another batch is writing into ``out``.
    """
    if isinstance(jobs, (str, Path)):
        job_list = load_jobs(jobs)
        out_dir = Path(out) if out is not None else default_out(jobs)
    else:
        job_list = list(jobs) if isinstance(jobs, Sequence) else parse_jobs(jobs)
        out_dir = Path(out) if out is not None else Path("runs") / "batch"
    runner = get_executor(executor, ExecutorSettings(workers=workers, threads=threads))
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output folder {out_dir} is a file")
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        # One batch at a time per output folder: its staging folders, run folders and manifest are
        # this process's alone (a second batch into the same --out is refused, not interleaved).
        with FolderLock(out_dir, holder="another batch"):
            return _run_locked(job_list, out_dir, runner, resume, on_job, on_progress)
    except (InputError, ModelLoadError):
        if created and not any(out_dir.iterdir()):  # refused before any job: leave no empty folder behind
            out_dir.rmdir()
        raise


def _run_locked(job_list: list[Job], out_dir: Path, runner: Any, resume: bool,
                on_job: Callable[[dict[str, Any]], None] | None,
                on_progress: Callable[[str, int, int], None] | None) -> BatchResult:  # fmt: skip
    manifest = Manifest(out_dir)
    order = [job.id for job in job_list]
    result = BatchResult(out_dir, manifest=manifest.path)
    to_run: list[Job] = []
    for job in job_list:
        if resume and manifest.is_complete(job):
            previous = manifest.get(job.id)
            entry = {**previous, "status": "skipped", "error": None, "out": str(out_dir / job.id)}
            manifest.record(entry, order)
            if on_job is not None:
                on_job(entry)
        else:
            to_run.append(job)
    logger.info("batch: %d jobs to run, %d done earlier", len(to_run), len(job_list) - len(to_run))
    if getattr(runner, "models_local", True):
        check_models(to_run)

    def record(job: Job, outcome: dict[str, Any]) -> None:
        entry = make_entry(job, out_dir, outcome)
        manifest.record(entry, order)
        if on_job is not None:
            on_job(entry)

    if to_run:
        try:
            runner.run(to_run, out_dir, record, on_progress)
        finally:
            shutil.rmtree(out_dir / PARTIAL_DIR, ignore_errors=True)
    result.entries = [manifest.get(job_id) for job_id in order if manifest.get(job_id) is not None]
    result.contact_sheet = contact_sheet(result.entries, out_dir / CONTACT_SHEET_NAME)
    logger.info("batch: %d done, %d skipped, %d failed", result.count("done"), result.count("skipped"), result.count("failed"))
    return result


def check_models(jobs: Sequence[Job]) -> None:
    """Check, before any job runs, that the weights of every CLIP model the jobs name can be had
    (as unknown config keys are refused up front): one error naming the model and its jobs, not
    one failure per job after each has started.

    Raises:
        ModelLoadError: a model's weights are missing (offline, not cached, a folder without
            weights) or its spec is unusable.
    """
    from stylize.engine.models import check_weights

    for spec in jobs_clip_specs(jobs):
        try:
            check_weights(spec)
        except (InputError, ModelLoadError) as error:
            users = [job.name for job in jobs if spec in (*job.config.get("clip", []), *job.config.get("judge", []))]
            shown = ", ".join(users[:4]) + (f" and {len(users) - 4} more" if len(users) > 4 else "")
            raise ModelLoadError(f"no job was run: {len(users)} job(s) ({shown}) need a model that cannot be loaded: "
                                 f"{first_line(error)}") from None  # fmt: skip
