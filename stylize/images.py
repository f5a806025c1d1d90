"""Pictures out: tensors or arrays to PNG images, animated GIFs and grids, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from stylize.utils import atomic_path

__all__ = ["image_grid", "save_gif", "save_image", "to_uint8_image"]


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
    if image is None:  # a caller's bug, said plainly rather than as a TypeError deep in the conversion
        raise ValueError(f"{path.name}: no image to write (got None)")
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
