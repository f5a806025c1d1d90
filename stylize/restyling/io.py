"""Reading the pictures a restyle takes, with the size bound checked before any pixel is decoded."""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor

from stylize.engine.prompts import load_image
from stylize.errors import InputError, first_line

__all__ = ["check_pixels", "load_picture", "resize_picture", "same_file", "training_size"]


def check_pixels(path: str | Path, max_pixels: int, what: str = "image") -> tuple[int, int]:
    """The (width, height) of an image file from its header; refuse one over ``max_pixels``.

    Raises:
        InputError: the file is missing or unreadable, or it is too large (one line each).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Image.DecompressionBombError as exc:  # PIL's own bound, far above ours
        raise InputError(
            f"{what} {path} is over the limit of {max_pixels / 1e6:.1f} MP ({first_line(exc)}): scale it down first"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: {first_line(exc)}") from None
    if width * height > max_pixels:
        raise InputError(
            f"{what} {path} is {width} x {height} px ({width * height / 1e6:.1f} MP), over the limit of "
            f"{max_pixels / 1e6:.1f} MP: scale it down first"
        )
    return width, height


def load_picture(path: str | Path, max_pixels: int, what: str = "image") -> Tensor:
    """Read an image file as (3, H, W) in [0, 1] (alpha over white), refusing oversize files."""
    check_pixels(path, max_pixels, what)
    return load_image(path)


def training_size(height: int, width: int, size: int, multiple: int = 8) -> tuple[int, int]:
    """(h, w) with the longer side ``size``, the aspect kept, both rounded down to ``multiple``."""
    scale = size / max(height, width)
    return (max(multiple, int(height * scale) // multiple * multiple), max(multiple, int(width * scale) // multiple * multiple))


def resize_picture(image: Tensor, height: int, width: int) -> Tensor:
    """(3, H, W) -> (3, height, width), antialiased bicubic, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    resized = F.interpolate(image[None], size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return resized[0].clamp(0.0, 1.0)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same existing file (or the same path once resolved)."""
    a, b = Path(a), Path(b)
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False
