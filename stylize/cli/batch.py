"""``stylize batch``: run a jobs file; prints a table of the jobs and a JSON line.

Exit code 0 when every job is done (or skipped as done earlier), 1 when any job failed, 2 for an
unusable jobs file or option.
"""

from __future__ import annotations

import argparse
import json
import sys

from stylize.cli.common import EXIT_FAILED, EXIT_OK, add_progress_option, emit


def batch_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("jobs", metavar="JOBS.toml", help="jobs file: [defaults] and [[jobs]] (see the README)")
    parser.add_argument("--executor", default="local", choices=["local", "ray"], help="where jobs run (default: local)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="parallel workers (default: one per GPU, else 1; ray: as the cluster allows)",
    )
    parser.add_argument("--resume", action="store_true", help="skip jobs already done in the output folder")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/<jobs file stem>)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch threads per job (default: 1; keep it fixed for identical results)",
    )
    add_progress_option(parser, json_lines=False)


def batch_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.pipeline.jobs import load_jobs
    from stylize.pipeline.summary import format_table

    jobs = load_jobs(args.jobs)
    bar = job_bar = None
    if args.progress == "auto" and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="stylize batch", unit="job", file=sys.stderr, position=0)
        # the job in progress: its steps (the local executor reports them; Ray jobs only end)
        job_bar = tqdm(total=1, desc="", unit="step", file=sys.stderr, position=1, leave=False)
    counts = {"done": 0, "skipped": 0, "failed": 0}

    def on_job(entry: dict) -> None:
        counts[entry["status"]] += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(counts)

    def on_progress(job_id: str, step: int, total: int) -> None:
        if job_bar is not None:
            if job_bar.desc != job_id or job_bar.total != total:
                job_bar.reset(total=total)
                job_bar.set_description_str(job_id)
            job_bar.n = step
            job_bar.refresh()

    out = args.out
    if out is None:
        from stylize.pipeline.batch import default_out

        out = default_out(args.jobs)
    try:
        result = api.batch(jobs, out, executor=args.executor, workers=args.workers, resume=args.resume,
                           threads=args.threads, on_job=on_job, on_progress=on_progress)  # fmt: skip
    finally:
        for each in (job_bar, bar):
            if each is not None:
                each.close()
    emit(format_table(result.entries))
    emit(json.dumps({
        "out": str(result.out_dir), "manifest": str(result.manifest),
        "contact_sheet": str(result.contact_sheet) if result.contact_sheet else None,
        **{status: result.count(status) for status in ("done", "skipped", "failed")},
    }))  # fmt: skip
    return EXIT_FAILED if result.failed else EXIT_OK
