"""The restyle measurement: pictures of a disc, its foreground mask, and the judge's colour ranking.

Used by ``tests/restyling`` and ``tools/bench/restyle_check.py``: a red disc on white is restyled from
"a red circle" to "a blue circle"; the judge CLIP ranks the eight "a {colour} circle" captions
for the result, and the intersection over union of the foreground masks before and after tells
whether the shape survived.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from stylize.testing.shapes import COLOUR_RGB, COLOURS

__all__ = ["border_colour", "colour_captions", "colour_ranking", "disc_picture", "foreground_mask", "mask_iou", "mean_colour"]


def disc_picture(
    size: int | tuple[int, int],
    centre: tuple[float, float] = (0.5, 0.5),
    radius: float = 0.3,
    colour: str = "red",
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """A filled, antialiased disc on a plain background.

    Args:
        size: side (or (height, width)) in pixels.
        centre: (x, y) as fractions of the width and height.
        radius: as a fraction of the shorter side.
        colour: a name of :data:`stylize.testing.shapes.COLOUR_RGB`.
        background: RGB in [0, 1].

    Returns:
        (3, H, W) in [0, 1].
    """
    height, width = (size, size) if isinstance(size, int) else size
    ys = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    distance = torch.sqrt((xs - centre[0] * width) ** 2 + (ys - centre[1] * height) ** 2) - radius * min(height, width)
    coverage = (0.5 - distance).clamp(0.0, 1.0)
    fill = torch.tensor(COLOUR_RGB[colour]).view(3, 1, 1)
    back = torch.tensor(background, dtype=torch.float32).view(3, 1, 1)
    return back * (1 - coverage) + fill * coverage


def border_colour(image: Tensor) -> Tensor:
    """Median RGB (3,) of the outermost row and column of pixels: the picture's background."""
    border = torch.cat([image[:, 0, :], image[:, -1, :], image[:, :, 0], image[:, :, -1]], dim=1)
    return border.median(dim=1).values


def foreground_mask(image: Tensor, background: Sequence[float] | Tensor | None = None, tolerance: float = 0.25) -> Tensor:
    """Pixels whose colour differs from the background by more than ``tolerance`` in some channel.

    Args:
        image: (3, H, W) in [0, 1].
        background: RGB; default: the picture's own (:func:`border_colour`), so that a restyle
            that tints the background still separates the shape from it.
        tolerance: largest channel difference that still counts as background.

    Shape:
        (3, H, W) -> (H, W) bool.
    """
    back = border_colour(image) if background is None else torch.as_tensor(background, dtype=image.dtype)
    return (image - back.view(3, 1, 1)).abs().amax(dim=0) > tolerance


def mask_iou(a: Tensor, b: Tensor) -> float:
    """Intersection over union of two boolean masks of the same shape (1.0 when both are empty)."""
    if a.shape != b.shape:
        raise ValueError(f"expected masks of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    union = (a | b).sum()
    return 1.0 if int(union) == 0 else float((a & b).sum() / union)


def mean_colour(image: Tensor, mask: Tensor) -> Tensor:
    """Mean RGB (3,) of ``image`` (3, H, W) over ``mask`` (H, W)."""
    if not bool(mask.any()):
        return torch.full((3,), float("nan"))
    return image[:, mask].mean(dim=1)


def colour_captions(shape: str = "circle") -> list[str]:
    """``a {colour} {shape}`` for the eight colours of the test world."""
    return [f"a {colour} {shape}" for colour in COLOURS]


def colour_ranking(judge, image: Tensor, shape: str = "circle") -> list[tuple[str, float]]:
    """The colour captions ranked by the judge engine's mean cosine for ``image`` (3, H, W), best first."""
    captions = colour_captions(shape)
    with torch.no_grad():
        sims = judge.score_texts(image[None].to(judge.device), captions).mean(dim=(0, 1))
    return sorted(zip(captions, (float(s) for s in sims), strict=False), key=lambda pair: -pair[1])
