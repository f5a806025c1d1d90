"""Prompts (text, negative, image, directional) and the cache of their embeddings."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylize.errors import InputError, first_line

#: CLIPDraw weighs its negative prompts by 0.3.
DEFAULT_NEGATIVE_WEIGHT = 0.3


@dataclass(frozen=True)
class TextPrompt:
    """A text prompt and its weight."""

    text: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputError("empty prompt: give a non-empty text")
        if not self.weight > 0:
            raise InputError(f"prompt {self.text!r}: weight must be > 0, got {self.weight}")


@dataclass(frozen=True, eq=False)
class ImagePrompt:
    """A reference image (3, H, W) in [0, 1] whose embedding is a target, like a text prompt."""

    image: torch.Tensor
    name: str = "image"
    weight: float = 1.0

    @classmethod
    def from_file(cls, path: str | Path, weight: float = 1.0) -> ImagePrompt:
        return cls(load_image(path), name=f"image:{Path(path).name}", weight=weight)


@dataclass(frozen=True)
class Direction:
    """Directional (StyleGAN-NADA) prompt: move from ``source`` text towards ``target`` text."""

    source: str
    target: str
    weight: float = 1.0


def _as_text_prompts(items: Sequence[str | TextPrompt] | str | None, weight: float) -> list[TextPrompt]:
    if items is None:
        return []
    if isinstance(items, (str, TextPrompt)):
        items = [items]
    return [item if isinstance(item, TextPrompt) else TextPrompt(item, weight) for item in items]


@dataclass
class PromptSet:
    """Everything the engine scores images against.

    Args:
        texts: positive prompts (pulled towards).
        negatives: negative prompts (pushed away), weight 0.3 each unless given.
        images: image prompts (pulled towards).
        direction: an optional directional prompt; needs source images at scoring time.
    """

    texts: list[TextPrompt] = field(default_factory=list)
    negatives: list[TextPrompt] = field(default_factory=list)
    images: list[ImagePrompt] = field(default_factory=list)
    direction: Direction | None = None

    @classmethod
    def build(
        cls,
        texts: Sequence[str | TextPrompt] | str | None = None,
        negatives: Sequence[str | TextPrompt] | str | None = None,
        images: Sequence[ImagePrompt] | None = None,
        direction: Direction | tuple[str, str] | None = None,
        negative_weight: float = DEFAULT_NEGATIVE_WEIGHT,
    ) -> PromptSet:
        if isinstance(direction, tuple):
            direction = Direction(*direction)
        prompts = cls(
            texts=_as_text_prompts(texts, 1.0),
            negatives=_as_text_prompts(negatives, negative_weight),
            images=list(images or []),
            direction=direction,
        )
        if not prompts.texts and not prompts.images and prompts.direction is None:
            raise InputError("no prompt given: need a text prompt, an image prompt or a direction")
        return prompts


class EmbeddingCache:
    """Text and image-prompt embeddings per model, computed once.

    Keys are (model name, kind, text or id). ``misses`` counts computations (tests use it).
    """

    def __init__(self) -> None:
        self._store: dict[tuple[str, str, str], torch.Tensor] = {}
        self.misses = 0

    def text(self, model, texts: Sequence[str]) -> torch.Tensor:
        """(N, D) embeddings of ``texts`` under ``model`` (a :class:`ClipModel`)."""
        missing = [t for t in dict.fromkeys(texts) if (model.spec.name, "text", t) not in self._store]
        if missing:
            self.misses += len(missing)
            for text, emb in zip(missing, model.encode_text(missing), strict=False):
                self._store[(model.spec.name, "text", text)] = emb
        return torch.stack([self._store[(model.spec.name, "text", t)] for t in texts])

    def image(self, model, prompt: ImagePrompt) -> torch.Tensor:
        """(D,) embedding of an image prompt under ``model``."""
        key = (model.spec.name, "image", f"{prompt.name}:{id(prompt.image)}")
        if key not in self._store:
            self.misses += 1
            with torch.no_grad():
                self._store[key] = model.encode_image(prompt.image.unsqueeze(0))[0]
        return self._store[key]


# Images larger than this are refused before they are decoded (a 12000 x 12000 PNG decodes to
# 4.4 GB of float32); the header's size is checked, so a lying or compressed "bomb" costs nothing.
MAX_IMAGE_PIXELS = 40_000_000


def open_image_checked(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS):
    """``PIL.Image.open`` with the size checked before decoding (use it as a context manager).

    Raises:
        InputError: missing file, not an image, or more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path} does not exist")
    try:
        with warnings.catch_warnings():  # our own limit below speaks for oversized images
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(f"image {path} is larger than {max_pixels:,} pixels (downscale it first)") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: {first_line(exc)}") from None
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise InputError(f"image {path} is {width} x {height} pixels, over the limit of {max_pixels:,} "
                         "(downscale it first)")  # fmt: skip
    return img


def _eight_bit(img):
    """A 16-bit, 32-bit integer or float picture as 8-bit grey (``L``), scaled by what its mode
    means: ``I;16*`` by 65535, ``I`` (32-bit integers) by the range its values fall in (8-, 16- or
    31-bit: a 16-bit PNG read as ``I``), ``F`` taken as [0, 1] and clipped. PIL's own conversion
    clips them at 255 instead (all white, or all black for floats). Other modes are returned as is."""
    from PIL import Image

    mode = img.mode
    if not (mode.startswith("I;16") or mode in ("I", "F")):
        return img
    values = np.asarray(img).astype(np.float64)
    if mode.startswith("I;16"):
        values = values / 65535.0
    elif mode == "I":
        top = float(values.max(initial=0.0))
        values = values / (255.0 if top <= 255 else 65535.0 if top <= 65535 else float(2**31 - 1))
    values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    return Image.fromarray(np.round(values * 255.0).astype(np.uint8), mode="L")


def load_image(path: str | Path, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Read an image file as a float tensor (3, H, W) in [0, 1] (alpha composited over white;
    16-bit, 32-bit and float pictures scaled by their mode's range, not clipped at 255).

    Raises:
        InputError: the file is missing, is not an image PIL can read, is cut short, or has more
            than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with open_image_checked(path) as img:
            img.load()
            img = _eight_bit(img)
            if img.mode in ("RGBA", "LA", "P"):
                img = img.convert("RGBA")
                background = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, img)
            img = img.convert("RGB")
            if size is not None:
                img = img.resize((size, size) if isinstance(size, int) else (size[1], size[0]), Image.BICUBIC)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image {path}: {first_line(exc)}") from None
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()
