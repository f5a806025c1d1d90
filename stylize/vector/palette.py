"""Fixed palettes for drawings (colour parsing is :mod:`stylize.colors`).

A palette is a (K, 3) tensor of RGB colours in [0, 1]. It comes from a string of hex colours
(``"#aa3300,#ffffff"``) or from an image (k-means over its pixels). A :class:`PaletteColors`
module holds per-path logits over the palette and maps them to colours with a straight-through
hard choice: the forward pass uses exactly one palette colour per path (so what CLIP sees is
what gets saved), the backward pass the softmax's gradient.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from stylize.colors import parse_palette
from stylize.errors import InputError


def palette_from_image(path: str | Path, colors: int = 8, iterations: int = 20, seed: int = 0) -> Tensor:
    """The ``colors`` main colours of an image by k-means over (a sample of) its pixels.

    Returns:
        (K, 3) in [0, 1], K <= ``colors`` (duplicates removed), most frequent first.
    """
    from stylize.engine import load_image

    if colors < 1:
        raise ValueError(f"expected colors >= 1, got {colors}")
    pixels = load_image(path).reshape(3, -1).T
    generator = torch.Generator().manual_seed(seed)
    if pixels.shape[0] > 20000:
        pixels = pixels[torch.randperm(pixels.shape[0], generator=generator)[:20000]]
    centres = pixels[torch.randperm(pixels.shape[0], generator=generator)[:colors]].clone()
    for _ in range(iterations):
        assignment = torch.cdist(pixels, centres).argmin(1)
        for k in range(centres.shape[0]):
            members = pixels[assignment == k]
            if members.shape[0]:
                centres[k] = members.mean(0)
    counts = torch.bincount(torch.cdist(pixels, centres).argmin(1), minlength=centres.shape[0])
    centres = centres[counts.argsort(descending=True)]
    quantised = torch.unique((centres * 255).round(), dim=0) / 255.0
    return quantised


def resolve_palette(spec: str, colors: int = 8) -> Tensor | None:
    """A palette option value -> (K, 3) or None: empty means no palette, an existing file is an
    image to take colours from, anything else a list of hex colours."""
    spec = (spec or "").strip()
    if not spec:
        return None
    if Path(spec).is_file():
        return palette_from_image(spec, colors)
    if "/" in spec or Path(spec).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        raise InputError(f"palette image {spec} does not exist")
    return parse_palette(spec)


def snap_to_palette(colors: Tensor, palette: Tensor) -> Tensor:
    """Index (P,) of the nearest palette colour of each RGB(A) colour (P, 3|4)."""
    return torch.cdist(colors[:, :3].float(), palette.to(colors.device).float()).argmin(1)


class PaletteColors(nn.Module):
    """Per-path choice among palette colours, optimised through logits.

    Args:
        palette: (K, 3) RGB in [0, 1].
        initial: (P,) palette indices to start from.
        confidence: initial logit of the chosen colour (the others start at 0).

    Shape:
        ``forward()`` returns (P, 4): opaque RGBA, every row exactly one palette colour.
    """

    def __init__(self, palette: Tensor, initial: Tensor, confidence: float = 2.0) -> None:
        super().__init__()
        if palette.ndim != 2 or palette.shape[1] != 3:
            raise ValueError(f"expected a palette of shape (K, 3), got {tuple(palette.shape)}")
        self.register_buffer("palette", palette.float())
        logits = torch.zeros(initial.shape[0], palette.shape[0], device=initial.device)
        logits[torch.arange(initial.shape[0]), initial] = confidence
        self.logits = nn.Parameter(logits)

    def indices(self) -> Tensor:
        return self.logits.detach().argmax(1)

    def forward(self) -> Tensor:
        soft = torch.softmax(self.logits, dim=1)
        hard = torch.nn.functional.one_hot(soft.argmax(1), soft.shape[1]).to(soft.dtype)
        weights = hard + soft - soft.detach()
        rgb = weights @ self.palette.to(weights.device)
        return torch.cat([rgb, rgb.new_ones(rgb.shape[0], 1)], dim=1)
