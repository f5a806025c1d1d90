"""``manifest.jsonl``: one JSON object per job, the batch's record of what is done.

Each line holds at least ``id``, ``status`` (``done``, ``failed`` or ``skipped``), ``out`` (the
job's folder) and ``error`` (one line, or null), plus the kind, name, input, prompt, seed, content
hash, scores, seconds, worker and the files written. The file is rewritten atomically after every
job, so it always describes finished work only; entries of jobs that are not in the current batch
are kept as they were.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stylize.pipeline.jobs import Job
from stylize.pipeline.kinds import JOB_KINDS
from stylize.utils import atomic_write

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST_NAME", "STATUSES", "Manifest", "make_entry"]

MANIFEST_NAME = "manifest.jsonl"
STATUSES = ("done", "failed", "skipped")


def make_entry(job: Job, out_root: Path, outcome: dict[str, Any]) -> dict[str, Any]:
    """The manifest line of ``job`` from a runner outcome (see :func:`~stylize.pipeline.runner.run_job`)."""
    return {
        "id": job.id,
        "status": outcome["status"],
        "out": str(out_root / job.id),
        "error": outcome.get("error"),
        "kind": job.kind,
        "name": job.name,
        "input": job.input,
        "prompt": job.prompt,
        "seed": job.seed,
        "hash": job.digest,
        "score": outcome.get("score"),  # 100 x cosine (see stylize.generation.SCORE_SCALE)
        "score_by": outcome.get("score_by"),  # "judge" or "trainer": the model that gave it
        "scores": outcome.get("scores", {}),
        "seconds": outcome.get("seconds"),
        "worker": outcome.get("worker"),
        "files": outcome.get("files", []),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class Manifest:
    """The manifest of one output folder, loaded if it exists.

    Args:
        out_root: the batch's output folder.
    """

    def __init__(self, out_root: str | Path) -> None:
        self.out_root = Path(out_root)
        self.path = self.out_root / MANIFEST_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    self.entries[str(entry["id"])] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    logger.warning("%s line %d is not a manifest entry; ignoring it", self.path, number)

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self.entries.get(job_id)

    def is_complete(self, job: Job) -> bool:
        """Whether ``job`` finished earlier (done or skipped) and its folder still holds its outputs."""
        entry = self.entries.get(job.id)
        if entry is None or entry.get("status") not in ("done", "skipped") or entry.get("hash") != job.digest:
            return False
        folder = self.out_root / job.id
        if not all((folder / name).is_file() for name in JOB_KINDS.lookup(job.kind).artefacts):
            return False
        try:  # run.json is written last with "complete": true (see stylize.runs.RunFolder)
            return json.loads((folder / "run.json").read_text(encoding="utf-8")).get("complete") is True
        except (OSError, ValueError, AttributeError):
            return False

    def record(self, entry: dict[str, Any], order: Iterable[str]) -> None:
        """Store ``entry`` and rewrite the file: the jobs of ``order`` first, then older entries."""
        if entry.get("status") not in STATUSES:
            raise ValueError(f"expected a status in {STATUSES}, got {entry.get('status')!r}")
        self.entries[entry["id"]] = entry
        self.write(order)

    def write(self, order: Iterable[str]) -> None:
        order = [job_id for job_id in order if job_id in self.entries]
        rest = [job_id for job_id in self.entries if job_id not in set(order)]
        with atomic_write(self.path) as handle:
            for job_id in [*order, *rest]:
                handle.write(json.dumps(self.entries[job_id], sort_keys=False) + "\n")
