"""Count device-to-host reads (the operations that make a CUDA step wait on the GPU).

On the CPU nothing waits, but the same calls would synchronise on a GPU: ``Tensor.item``,
``tolist``, ``__bool__`` / ``__float__`` / ``__int__`` (``if tensor``, ``float(tensor)``) and
``numpy``/``cpu`` copies. :func:`count_host_reads` counts them while a block runs, so tests and
benchmarks can state how many a training step does.

Example:
    >>> with count_host_reads() as reads:
    ...     run.step()
    >>> reads.total
"""

from __future__ import annotations

import contextlib
import traceback
from collections import Counter
from collections.abc import Iterator

import torch

__all__ = ["HostReads", "count_host_reads"]

_METHODS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy", "cpu")


class HostReads(Counter):
    """Calls per method name; ``total`` is their sum; ``sites`` the ``file:line`` of each caller."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[str] = []

    @property
    def total(self) -> int:
        return sum(self.values())

    def project_sites(self, exclude: tuple[str, ...] = ("augment.py", "camera.py")) -> list[str]:
        """Callers inside the ``stylize`` package (path from ``stylize/``), leaving out the
        modules whose reads are of host-side random streams (augmentation and view sampling
        draw from CPU generators on every device)."""
        found = []
        for site in self.sites:
            path = site.rsplit(":", 1)[0]
            if "/stylize/" in path and not path.endswith(exclude):
                found.append("stylize/" + site.split("/stylize/")[-1])
        return found


@contextlib.contextmanager
def count_host_reads() -> Iterator[HostReads]:
    """Count the host reads of tensors made inside the block (nested reads count once)."""
    reads = HostReads()
    originals = {name: getattr(torch.Tensor, name) for name in _METHODS}
    depth = [0]

    def wrap(name, original):
        def counted(self, *args, **kwargs):
            if depth[0] == 0:
                reads[name] += 1
                caller = traceback.extract_stack(limit=2)[0]
                reads.sites.append(f"{caller.filename}:{caller.lineno}")
            depth[0] += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                depth[0] -= 1

        return counted

    for name, original in originals.items():
        setattr(torch.Tensor, name, wrap(name, original))
    try:
        yield reads
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
