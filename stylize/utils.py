"""Small helpers used across the toolkit: devices, seeds, atomic file output, version info."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from stylize.errors import InputError

logger = logging.getLogger(__name__)


def mps_available() -> bool:
    """Whether torch can use Apple-silicon GPUs here (Metal Performance Shaders)."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` into a :class:`torch.device`.

    ``auto`` picks CUDA when it is available, else Apple's MPS, else the CPU. Asking for a device
    that is not there is an :class:`InputError` rather than a crash deep inside the first kernel.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r}: expected auto, cpu, cuda[:N] or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} was asked for but CUDA is not available here")
    if dev.type == "mps" and not mps_available():
        raise InputError(f"device {device!r} was asked for but this torch has no MPS (Apple silicon) support here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"unsupported device {device!r}: expected auto, cpu, cuda[:N] or mps")
    return dev


def default_threads() -> int:
    """Torch CPU threads when ``--threads`` is not given: ``STYLIZE_THREADS``, else
    ``OMP_NUM_THREADS``, else the cores not busy now (at least 1, at most 16); see
    :mod:`stylize.threads`."""
    from stylize.threads import thread_choice

    return thread_choice().threads


def set_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads (``None``: :func:`default_threads`); returns the number set."""
    from stylize.threads import thread_choice

    choice = thread_choice(threads)
    logger.info("torch CPU threads: %s", choice.describe())
    torch.set_num_threads(choice.threads)
    return choice.threads


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _umask_mode() -> int:
    """The mode a new file gets under the process's umask (``0o666 & ~umask``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_prefix(name: str) -> str:
    """Prefix of this process's temporary files for ``name``: ``.NAME.PID.`` (the pid tells a later
    run whether the writer is still alive, see :func:`sweep_stale_temporaries`)."""
    return f".{name}.{os.getpid()}."


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it into place only if the block succeeds.

    Readers never see a half-written file and a failure leaves any previous file untouched. The
    file gets the permissions a plain ``open`` would give it (the umask's), not the temporary's
    private 0600; a symbolic link at ``path`` is replaced, never written through.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _umask_mode())
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_torch(path: str | os.PathLike, data: Any) -> Path:
    """``torch.save`` ``data`` to ``path`` atomically and reproducibly: serialised in memory first,
    because torch names the archive's inner folder after the file it writes, and the atomic
    write's temporary has a random name (saving to it would differ byte for byte between runs)."""
    import io

    buffer = io.BytesIO()
    torch.save(data, buffer)
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for writers that want a filename (PIL, trimesh).

    The temporary keeps ``path``'s suffix so format detection by extension still works; the
    result gets the umask's permissions, as with :func:`atomic_write`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.stem), suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files (``.NAME.PID.xxxx.tmp*``) that dead writers left in ``folder``
    (a run killed with SIGKILL mid-write); temporaries of live processes stay. Returns those removed."""
    import re

    removed = []
    pattern = re.compile(r"\.(\d+)\.[a-z0-9_]{8}\.tmp")  # temp_prefix + mkstemp's 8 random characters
    for path in Path(folder).glob(".*.tmp*"):
        match = pattern.search(path.name)
        if path.is_file() and match and not pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_write(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def environment_info() -> dict[str, Any]:
    """Versions and hardware worth recording next to every result."""
    from stylize import __version__

    info: dict[str, Any] = {
        "stylize": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),  # how idle workers waited (see stylize.threads)
    }
    try:
        import open_clip

        info["open_clip"] = open_clip.__version__
    except Exception:  # pragma: no cover - open_clip is a hard dependency
        info["open_clip"] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
