"""Batch pipelines: jobs files, executors (local, ray), the manifest and the end-of-batch summary.

See :func:`stylize.batch` and ``stylize batch JOBS.toml``.
"""

from stylize.pipeline.batch import BatchResult, run_batch
from stylize.pipeline.executors import EXECUTORS
from stylize.pipeline.jobs import Job, load_jobs, parse_jobs
from stylize.pipeline.kinds import JOB_KINDS
from stylize.pipeline.summary import contact_sheet, format_table

__all__ = [
    "EXECUTORS",
    "JOB_KINDS",
    "BatchResult",
    "Job",
    "contact_sheet",
    "format_table",
    "load_jobs",
    "parse_jobs",
    "run_batch",
]
