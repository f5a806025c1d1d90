"""Exceptions shared by the whole toolkit.

Anything a user can cause with bad input derives from :class:`StylizeError`; the CLI turns those
into one line on stderr and exit code 2. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class StylizeError(Exception):
    """An error caused by the user's input or environment, reported as one line."""


class InputError(StylizeError, ValueError):
    """A file, prompt, option or value the user gave cannot be used."""


class ModelLoadError(StylizeError, RuntimeError):
    """A CLIP model could not be loaded (unknown name, missing or unreachable weights)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line errors."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Cancelled(Exception):
    """A cancel request stopped a run (neither an error nor an interrupt: nothing more is saved);
    its run folder's ``run.json`` says ``"status": "cancelled"``."""


class Terminated(KeyboardInterrupt):
    """SIGTERM received (schedulers, ``timeout``, ``docker stop``, Ray): handled like Ctrl-C."""


class Interrupted(KeyboardInterrupt):
    """A run was stopped by Ctrl-C or SIGTERM after it saved what existed.

    It is a :class:`KeyboardInterrupt`, so a script's loop over runs stops as it would at Ctrl-C.

    Attributes:
        result: what the run returns when it finishes (status ``interrupted``), or None.
        signal_name: ``SIGINT`` or ``SIGTERM``.
    """

    def __init__(self, result: object = None, signal_name: str = "SIGINT") -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.result = result
        self.signal_name = signal_name

    @classmethod
    def after(cls, cause: BaseException, result: object = None) -> Interrupted:
        """The interrupt to raise once ``result`` is saved, for the KeyboardInterrupt ``cause``."""
        if isinstance(cause, Interrupted):
            return cls(result if result is not None else cause.result, cause.signal_name)
        return cls(result, "SIGTERM" if isinstance(cause, Terminated) else "SIGINT")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 143 if self.signal_name == "SIGTERM" else 130


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread, as Ctrl-C raises
    KeyboardInterrupt, so runs checkpoint and save what exists instead of dying. Outside the main
    thread (where signal handlers cannot be set) it does nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
