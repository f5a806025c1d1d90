"""Run folders: the resolved config, run metadata and per-step metrics of one run.

Every file is written atomically (a temporary beside it, then a rename), so an interrupted run
never leaves a half-written output; ``metrics.jsonl`` is a log appended one flushed line at a time.
Pictures and animations are written with :mod:`stylize.images`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from stylize.config import dumps_toml, to_dict
from stylize.images import image_grid, save_gif, save_image, to_uint8_image  # noqa: F401  (older imports)
from stylize.utils import atomic_write, environment_info, write_json

logger = logging.getLogger(__name__)


class RunFolder:
    """One run's output folder.

    Args:
        path: the folder (created if needed).
        kind: ``mesh``, ``draw``, ``paint``, ... recorded in ``run.json``.
    """

    def __init__(self, path: str | Path, kind: str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.started = time.time()
        self._metrics = None

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def has_metrics(self) -> bool:
        """Whether ``metrics.jsonl`` exists (something was logged)."""
        return self.file("metrics.jsonl").is_file()

    def write_config(self, config: Any) -> Path:
        """Write the fully resolved config as ``config.toml``."""
        data = config if isinstance(config, dict) else to_dict(config)
        with atomic_write(self.file("config.toml")) as handle:
            handle.write(dumps_toml(data))
        return self.file("config.toml")

    def log_metrics(self, step: int, **values: float) -> None:
        """Append one JSON line to ``metrics.jsonl``."""
        if self._metrics is None:
            self._metrics = open(self.file("metrics.jsonl"), "a", encoding="utf-8")
        record = {"step": int(step), **{k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in values.items()}}
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()

    def truncate_metrics(self, before_step: int) -> None:
        """Drop ``metrics.jsonl`` lines of steps ``>= before_step`` (a resumed run logs them again)."""
        path = self.file("metrics.jsonl")
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) < before_step:
                    kept.append(line)
            except (json.JSONDecodeError, AttributeError):
                continue  # a line cut short when the run stopped
        with atomic_write(path) as handle:
            handle.write("".join(line + "\n" for line in kept))

    def write_run_json(self, **fields: Any) -> Path:
        """Write ``run.json``: versions, hardware, timings and whatever the pipeline adds."""
        data = {"kind": self.kind, "environment": environment_info(), "wall_seconds": round(time.time() - self.started, 3)}
        data.update(fields)
        write_json(self.file("run.json"), data)
        return self.file("run.json")

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
