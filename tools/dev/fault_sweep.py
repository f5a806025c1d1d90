"""Run the fault sweep (stylize/testing/faults.py) in subprocesses and print a table.

Usage::

    python tools/dev/fault_sweep.py                          # this checkout
    python tools/dev/fault_sweep.py --code-root /path/to/old/checkout   # how an older version fares

Each case runs ``python -m stylize ...`` in a fresh temporary folder with ``PYTHONPATH`` set to
the code root; the table gives the exit code, the first stderr line and what went wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stylize.testing.faults import CASES, run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code-root", default=str(ROOT), help="the checkout whose stylize runs the cases")
    parser.add_argument("--fast", action="store_true", help="leave out the slow cases")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as hanging")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": args.code_root, "STYLIZE_OFFLINE": "1"}
    print("| case | group | exit | first stderr line | problems |\n|---|---|---:|---|---|")
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        for index, case in enumerate(CASES):
            if args.fast and case.slow:
                continue
            outcome = run_case(case, Path(scratch) / f"case{index}", env=env, timeout=args.timeout)
            failures += bool(outcome.problems)
            line = outcome.first_line.replace("|", "/")[:120]
            print(f"| {case.name} | {case.group} | {outcome.code} | {line} | {'; '.join(outcome.problems) or 'ok'} |", flush=True)
    print(f"\n{len(CASES) - failures} of {len(CASES)} cases hold")


if __name__ == "__main__":
    main()
