"""Exceptions shared by the whole toolkit.

Anything a user can cause with bad input derives from :class:`StylizeError`; the CLI turns those
into one line on stderr and exit code 2. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class StylizeError(Exception):
    """An error caused by the user's input or environment, reported as one line."""


class InputError(StylizeError, ValueError):
    """A file, prompt, option or value the user gave cannot be used."""


class ModelLoadError(StylizeError, RuntimeError):
    """A CLIP model could not be loaded (unknown name, missing or unreachable weights)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line errors."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
