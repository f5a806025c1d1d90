"""Folder locks: one process at a time in a run folder or a batch's output folder.

A lock is the file ``FOLDER/.stylize.lock`` holding its owner's pid and host (for the message a
second process gets). Taking it must be atomic, including the takeover of a lock left by a
process that died: two processes that both find a stale lock must not both end up holding it.

Where ``fcntl`` exists (Linux, macOS) the lock file is also held with ``flock`` for the owner's
whole life, and every decision is taken while holding it:

1. open (creating if needed) the lock file and ``flock(LOCK_EX | LOCK_NB)`` it; failing that,
   a live process holds it;
2. check that the file locked is still the one at the path (a releasing owner unlinks it before
   closing: whoever locked the unlinked file tries again);
3. read the record: empty, or a dead process on this host, means free (the kernel dropped the dead
   owner's ``flock``); a live pid on this host, or any other host, is a holder that does not use
   ``flock`` (an older stylize, another machine on a shared disk): refused;
4. write our record into the file we hold.

Only one process can hold the ``flock`` of one file at a time and the owner keeps it, so exactly
one of any number of processes racing for a stale lock wins. Without ``fcntl`` (Windows) the lock
is created with ``O_EXCL`` and a stale one is removed and created again (not atomic).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path

from stylize.errors import InputError
from stylize.utils import pid_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = logging.getLogger(__name__)

__all__ = ["LOCK_NAME", "FolderLock"]

LOCK_NAME = ".stylize.lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class FolderLock:
    """The lock of ``folder`` (``folder/.stylize.lock``), taken by :meth:`acquire`.

    Args:
        folder: an existing folder.
        what: how the refusal names the folder (``--out PATH``).
        holder: how the refusal names a live holder (``another run``, ``another batch``).

    Example:
        >>> lock = FolderLock(out).acquire()
        >>> try: ...
        ... finally: lock.release()
    """

    def __init__(self, folder: str | Path, what: str | None = None, holder: str = "another run") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what or f"--out {self.folder}"
        self.holder = holder
        self._fd: int | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> FolderLock:
        """Take the lock, taking over a stale one (with a warning).

        Raises:
            InputError: a live process holds it, or the folder cannot be written.
        """
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        try:
            if fcntl is not None:
                self._acquire_flock(record)
            else:  # pragma: no cover - Windows
                self._acquire_exclusive(record)
        except OSError as exc:
            raise InputError(f"cannot write into {self.folder}: {exc.strerror or exc}") from None
        self._held = True
        return self

    def release(self) -> None:
        """Give the lock up (the file is removed first, then the ``flock`` dropped)."""
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._held = False
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- the two ways -----------------------------------------------------------------------------

    def _acquire_flock(self, record: dict) -> None:
        for _ in range(100):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR | _NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._refuse(self._read())
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # its owner released it (unlinked) as we opened it: try the new one
                os.close(fd)
                continue
            holder = self._read()
            if holder and not self._stale(holder):
                os.close(fd)
                self._refuse(holder)
            data = json.dumps(record).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            self._fd = fd
            return
        raise InputError(f"{self.what}: cannot take its lock {self.path}")

    def _acquire_exclusive(self, record: dict) -> None:  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW, 0o644)
            except FileExistsError:
                holder = self._read()
                if not self._stale(holder):
                    self._refuse(holder)
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            return
        raise InputError(f"{self.what}: cannot take its lock {self.path}")

    # --- records ----------------------------------------------------------------------------------

    def _read(self) -> dict:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _stale(self, holder: dict) -> bool:
        """Whether ``holder`` is a dead process on this host (its lock may be taken over)."""
        pid = holder.get("pid")
        if holder.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid):
            logger.warning("taking over the lock of %s left by process %s, which is gone", self.folder, pid)
            return True
        return False

    def _refuse(self, holder: dict) -> None:
        raise InputError(f"{self.what} is in use by {self.holder} (pid {holder.get('pid')} on {holder.get('host')}); "
                         "wait for it or choose another folder")  # fmt: skip
