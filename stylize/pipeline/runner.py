"""Run one batch job into its output folder; used by every executor.

A job runs with a fixed number of torch threads and its own seed, with the process's RNG states
and thread count restored afterwards, so its outputs are the same bytes whichever executor or
worker runs it (on the CPU; GPU kernels may still differ run to run). It writes into
``OUT/.partial/ID`` and moves the folder to ``OUT/ID`` only when it succeeds, so ``OUT/ID`` never
holds a half-written result. Errors become a failed outcome with a one-line message; only Ctrl-C
propagates.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.errors import Interrupted, StylizeError
from stylize.pipeline.jobs import Job
from stylize.pipeline.kinds import JOB_KINDS
from stylize.utils import seed_everything

logger = logging.getLogger(__name__)

__all__ = ["PARTIAL_DIR", "failed_outcome", "preload_models", "run_job"]

PARTIAL_DIR = ".partial"


@contextlib.contextmanager
def isolated(seed: int, threads: int) -> Iterator[None]:
    """Run a block with ``threads`` torch threads and every RNG seeded with ``seed``; restore both."""
    previous_threads = torch.get_num_threads()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.set_num_threads(threads)
        seed_everything(seed)
        try:
            yield
        finally:
            torch.set_num_threads(previous_threads)
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def one_line(exc: BaseException) -> str:
    """An exception as one line: the message of a user error, ``Type: message`` of anything else."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, StylizeError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failed_outcome(job: Job, error: str | None, worker: str) -> dict[str, Any]:
    """A job's outcome before (or instead of) running it: status ``failed`` with ``error``."""
    return {"id": job.id, "status": "failed", "error": error, "scores": {}, "score": None, "seconds": 0.0,
            "worker": worker, "files": []}  # fmt: skip


def run_job(
    job: Job,
    out_root: str | Path,
    model_cache: Any,
    threads: int = 1,
    device: str | None = None,
    worker: str = "main",
    on_step: Callable[[int, int, dict], None] | None = None,
) -> dict[str, Any]:
    """Run ``job`` into ``out_root / job.id``.

    Args:
        job: the job.
        out_root: the batch's output folder.
        model_cache: a :class:`~stylize.engine.ModelCache` kept by the worker between jobs.
        threads: torch threads for the job (the same everywhere for identical results).
        device: the worker's device for jobs whose device is ``auto`` (None: leave ``auto``).
        worker: a name for the manifest.
        on_step: ``on_step(step, total, metrics)`` after each step of the job (progress).

    Returns:
        The outcome: ``id``, ``status`` (``done`` or ``failed``), ``error`` (one line or None),
        ``scores``, ``score``, ``seconds``, ``worker``, ``files`` (names in the output folder).

    Raises:
        Interrupted: Ctrl-C or SIGTERM (its ``signal_name``); the partial folder is removed.
    """
    out_root = Path(out_root)
    staging, final = out_root / PARTIAL_DIR / job.id, out_root / job.id
    shutil.rmtree(staging, ignore_errors=True)
    outcome = failed_outcome(job, None, worker)
    started = time.perf_counter()
    try:
        with isolated(job.seed, threads):
            kind = JOB_KINDS.lookup(job.kind)
            outcome.update(kind.run(job, staging, model_cache, device, on_step=on_step))
        missing = [name for name in kind.artefacts if not (staging / name).is_file()]
        if missing:
            raise RuntimeError(f"the run wrote no {missing[0]}")
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        outcome.update(status="done", files=sorted(p.name for p in final.iterdir() if p.is_file()))
    except KeyboardInterrupt as exc:
        shutil.rmtree(staging, ignore_errors=True)
        # The staging folder is gone: the interrupt keeps its signal but no longer names it.
        raise Interrupted(None, Interrupted.after(exc).signal_name) from None
    except Exception as exc:  # a failing job is recorded and the batch goes on
        shutil.rmtree(staging, ignore_errors=True)
        outcome["error"] = one_line(exc)
        logger.warning("job %s (%s) failed: %s", job.id, job.name, outcome["error"])
        logger.debug("job %s traceback", job.id, exc_info=True)
    outcome["seconds"] = round(time.perf_counter() - started, 3)
    return outcome


def preload_models(model_cache: Any, specs: list[str], device: str | None) -> None:
    """Load each CLIP once, up front; a model that fails to load is left for its jobs to report."""
    from stylize.utils import resolve_device

    try:
        target = resolve_device(device or "auto")
    except StylizeError as exc:
        logger.warning("not preloading CLIP models: %s", exc)
        return
    for spec in specs:
        try:
            model_cache.get(spec, target)
        except StylizeError as exc:
            logger.warning("could not preload %s: %s", spec, one_line(exc))
