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

from stylize.testing.fault_cases import CASES  # noqa: E402
from stylize.testing.faults import run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code-root", default=str(ROOT), help="the checkout whose stylize runs the cases")
    parser.add_argument("--fast", action="store_true", help="leave out the slow cases")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as hanging")
    parser.add_argument("--group", action="append", help="only the cases of this group (repeatable)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": args.code_root, "STYLIZE_OFFLINE": "1"}
    print("| case | group | exit | first stderr line | problems |\n|---|---|---:|---|---|")
    failures, ran = 0, 0
    by_group: dict[str, list[int]] = {}  # group -> [cases that hold, cases run]
    with tempfile.TemporaryDirectory() as scratch:
        for index, case in enumerate(CASES):
            if (args.fast and case.slow) or (args.group and case.group not in args.group):
                continue
            outcome = run_case(case, Path(scratch) / f"case{index}", env=env, timeout=args.timeout)
            failures += bool(outcome.problems)
            ran += 1
            counts = by_group.setdefault(case.group, [0, 0])
            counts[0] += not outcome.problems
            counts[1] += 1
            line = outcome.first_line.replace("|", "/")[:120]
            print(f"| {case.name} | {case.group} | {outcome.code} | {line} | {'; '.join(outcome.problems) or 'ok'} |", flush=True)
    print("\n| class | cases that hold |\n|---|---:|")
    for group, (held, total) in by_group.items():
        print(f"| {group} | {held} of {total} |")
    print(f"\n{ran - failures} of {ran} cases hold")


if __name__ == "__main__":
    main()
