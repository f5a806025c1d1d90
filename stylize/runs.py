"""Run folders: the resolved config, run metadata, per-step metrics, pictures and animations.

Every file is written atomically (a temporary beside it, then a rename), so an interrupted run
never leaves a half-written output; ``metrics.jsonl`` is a log appended one flushed line at a time.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from stylize.config import dumps_toml, to_dict
from stylize.utils import atomic_path, atomic_write, environment_info, write_json

logger = logging.getLogger(__name__)


def to_uint8_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(3, H, W) / (H, W, 3|4) / (1, 3, H, W) floats in [0, 1] -> (H, W, C) uint8."""
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu()
        if image.ndim == 4:
            image = image[0]
        if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[-1] not in (3, 4):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return array


def save_image(path: str | Path, image: torch.Tensor | np.ndarray) -> Path:
    """Write a PNG atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8_image(image)).save(tmp, format="PNG")
    return path


def save_gif(path: str | Path, frames: Sequence[torch.Tensor | np.ndarray], duration_ms: int = 80) -> Path:
    """Write an animated GIF (looping) atomically."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    pictures = [Image.fromarray(to_uint8_image(f)).convert("RGB") for f in frames]
    path = Path(path)
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    return path


def image_grid(images: Sequence[torch.Tensor], columns: int | None = None) -> torch.Tensor:
    """Tile (3, H, W) images into one (3, rows*H, columns*W) picture (white where empty)."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    columns = columns or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    _, height, width = images[0].shape
    grid = torch.ones(3, rows * height, columns * width)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        grid[:, r * height : (r + 1) * height, c * width : (c + 1) * width] = image.detach().float().cpu()[:3]
    return grid


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
