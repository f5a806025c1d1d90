"""How many CPU threads torch gets, and how its OpenMP workers wait (no torch import here).

The decision is a pure function of what the user set and what the machine reports, so that it can
be tested without a loaded machine:

1. ``--threads N`` (the CLI), else ``STYLIZE_THREADS=N``, else ``OMP_NUM_THREADS=N`` (the standard
   OpenMP setting; its first number where it lists one per nesting level) fix the count;
2. otherwise the machine's cores that are not busy now (measured over 0.1 s), no more than this
   process may use (its CPU affinity), at least 1 and at most :data:`MAX_DEFAULT_THREADS`
   (:func:`choose_threads`).

The count alone cannot be made safe: "busy now" is a guess about the future, and on a shared
machine another job may start a second after the guess. What made a wrong guess expensive is how
OpenMP workers wait: GNU OpenMP (the runtime of PyTorch's Linux wheels) lets an idle worker spin
on its core for a while before sleeping, so a worker spins while the one it waits for is
descheduled by another process. :func:`quiet_openmp_environment` asks for *passive* waiting
(``OMP_WAIT_POLICY=PASSIVE``: idle workers sleep at once) unless the user chose a policy. It must
run before torch loads (the OpenMP runtime reads its environment once, when it is loaded), which
the command line does; Python callers who import torch themselves set the variable in their
environment. Measured on a 2-core machine with two other busy processes (see BENCHMARKS.md,
"Threads"): a smoke run took 216 s with 2 spinning threads, 33 s with 1 thread and 24 s with 2
passive threads.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from stylize.errors import InputError

__all__ = ["MAX_DEFAULT_THREADS", "ThreadChoice", "available_cores", "busy_cores", "choose_threads",
           "quiet_openmp_environment", "thread_choice"]  # fmt: skip

logger = logging.getLogger(__name__)

#: the automatic choice never exceeds this (a CLIP step stops scaling long before; not measured here)
MAX_DEFAULT_THREADS = 16
#: OpenMP settings that decide how idle workers wait (GNU and LLVM/Intel runtimes); any one set by
#: the user is left alone
WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and where it came from.

    Attributes:
        threads: torch CPU threads (>= 1).
        source: ``--threads``, ``STYLIZE_THREADS``, ``OMP_NUM_THREADS`` or ``automatic``.
        cores: cores this process may use.
        busy: the machine's cores busy when it was measured (None: not measured).
    """

    threads: int
    source: str
    cores: int
    busy: float | None = None

    def describe(self) -> str:
        """One phrase for logs and ``stylize doctor``."""
        if self.source != "automatic":
            return f"{self.threads} (set by {self.source})"
        busy = "" if self.busy is None else f", {self.busy:.1f} of them busy"
        return f"{self.threads} (automatic: {self.cores} cores{busy})"


def _positive(value: str, name: str) -> int:
    first = value.strip().split(",")[0].strip()  # OMP_NUM_THREADS may list one count per nesting level
    try:
        number = int(first)
    except ValueError:
        number = 0
    if number < 1:
        raise InputError(f"{name}: expected a positive integer, got {value!r}")
    return number


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS has one (a container or
    ``taskset`` limit), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores(sample_s: float = 0.1) -> float:
    """Cores busy right now: from ``/proc/stat`` over ``sample_s`` seconds where it exists (the
    load average lags by a minute: right after a heavy job ends it still says "busy"), else the
    1-minute load average."""

    def read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    first = read()
    if first is not None:
        time.sleep(sample_s)
        second = read()
        if second is not None and second[0] > first[0]:
            busy_share = 1.0 - (second[1] - first[1]) / (second[0] - first[0])
            return max(0.0, busy_share) * (os.cpu_count() or 1)
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0


def choose_threads(cores: int, busy: float, machine_cores: int | None = None, limit: int = MAX_DEFAULT_THREADS) -> int:
    """The automatic count: the machine's idle cores (``machine_cores - busy``, rounded), no more
    than the ``cores`` this process may use, at least 1, at most ``limit``.

    Example:
        >>> choose_threads(2, 0.1), choose_threads(2, 1.9), choose_threads(128, 0.0)
        (2, 1, 16)
        >>> choose_threads(4, 60.0, machine_cores=64)  # four cores of a 64-core machine, 60 busy
        4
    """
    idle = (machine_cores if machine_cores is not None else cores) - max(0.0, busy)
    return int(max(1, min(limit, cores, round(idle))))


def thread_choice(requested: int | None = None, environ: Mapping[str, str] | None = None, busy: float | None = None,
                  cores: int | None = None, machine_cores: int | None = None) -> ThreadChoice:  # fmt: skip
    """Decide the torch thread count (see the module docstring for the order).

    Args:
        requested: ``--threads`` (None: not given).
        environ: the environment (default ``os.environ``).
        busy: busy cores, for tests (default: measured by :func:`busy_cores`, only when needed).
        cores: usable cores, for tests (default :func:`available_cores`).
        machine_cores: the machine's cores, whose busy share ``busy`` counts (default: ``cores``
            when ``cores`` is given, else ``os.cpu_count()``).

    Raises:
        InputError: a count below 1, or a setting that is not a positive integer.
    """
    environ = os.environ if environ is None else environ
    if cores is None:
        cores = available_cores()
        machine_cores = max(cores, os.cpu_count() or 1) if machine_cores is None else machine_cores
    if requested is not None:
        if requested < 1:
            raise InputError(f"--threads: expected at least 1, got {requested}")
        return ThreadChoice(requested, "--threads", cores)
    for name in ("STYLIZE_THREADS", "OMP_NUM_THREADS"):
        value = environ.get(name, "").strip()
        if value:
            return ThreadChoice(_positive(value, name), name, cores)
    busy = busy_cores() if busy is None else busy
    return ThreadChoice(choose_threads(cores, busy, machine_cores), "automatic", cores, busy)


def quiet_openmp_environment(environ: MutableMapping[str, str] | None = None) -> bool:
    """Ask OpenMP for passive waiting (idle workers sleep instead of spinning) unless the user
    set a wait policy; returns whether it changed ``environ`` (default ``os.environ``).

    Call it before torch is imported: the OpenMP runtime reads the variable once, when it loads.
    """
    environ = os.environ if environ is None else environ
    if any(environ.get(name, "").strip() for name in WAIT_SETTINGS):
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
