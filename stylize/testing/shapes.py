"""A small synthetic world of captioned pictures: coloured, patterned, shaded 2D shapes.

It is the training data of the project's *test CLIPs* (``tools/dev/train_test_clip.py``) and the
held-out data of their accuracy tests, with the 3D renders of :mod:`stylize.testing.renders`.
Everything is drawn in torch, batched, from a seed, with no files and no downloads.

Captions are ``"a {colour} {shape}"`` and ``"a {colour} {pattern} {shape}"``, and for renders
shaded as a material (:mod:`stylize.testing.finishes`) the finish may lead:
``"a glossy red circle"``, ``"a metallic blue striped square"``. Colours are named
by :func:`colour_weights`: a picture of any RGB colour belongs to the eight named colours by its
distance to each in an opponent colour space, so "off-palette" colours (greys, cyan, magenta,
the mixtures an optimiser passes through) have a defined, graded caption too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "black", "white")
# The test CLIPs also learn "grey": without it every light grey is "white" and the score of
# "a white ..." stops rising long before white (an optimiser then stalls at light grey). Prompts,
# rankings and held-out accuracies use the eight :data:`COLOURS`.
TRAINING_COLOURS = COLOURS + ("grey",)
PATTERNS = ("plain", "striped", "dotted", "checkered")
PATTERN_SHARES = (0.4, 0.2, 0.2, 0.2)
# The finish of a PBR-shaded render (instrument v4): rough dielectric, smooth dielectric with
# highlights, metal with tinted reflections. A caption without a finish word stays valid.
FINISHES = ("matte", "glossy", "metallic")

COLOUR_RGB = {
    "red": (0.86, 0.10, 0.10),
    "green": (0.10, 0.66, 0.16),
    "blue": (0.10, 0.22, 0.86),
    "yellow": (0.96, 0.86, 0.10),
    "orange": (0.98, 0.52, 0.04),
    "purple": (0.56, 0.14, 0.72),
    "black": (0.05, 0.05, 0.05),
    "white": (0.97, 0.97, 0.97),
    "grey": (0.5, 0.5, 0.5),
}


# Opponent axes (lightness, red-green, yellow-blue) and their weights in colour distances.
_OPPONENT = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1.0, -1.0, 0.0], [0.5, 0.5, -1.0]])
_OPPONENT_WEIGHT = torch.tensor([1.0, 1.0, 1.0])
COLOUR_TEMPERATURE = 0.03


def colour_weights(rgb: torch.Tensor, temperature: float = COLOUR_TEMPERATURE, names: Sequence[str] = COLOURS) -> torch.Tensor:
    """How much each RGB colour is each of the named colours ``names`` (default :data:`COLOURS`).

    ``softmax(-d^2 / temperature)`` over the named colours, where ``d`` is the weighted distance
    in opponent space (lightness, red-green, yellow-blue). A named colour (jittered by a few hundredths) is
    itself with weight > 0.99; mid grey is shared between black and white; magenta is purple.

    Args:
        rgb: colours in ``[0, 1]``.
        temperature: softness; smaller is closer to nearest-colour.
        names: the colours to share among (keys of :data:`COLOUR_RGB`).

    Returns:
        Weights summing to 1 over ``names``.

    Shape:
        - rgb: ``(B, 3)``.
        - Output: ``(B, len(names))``.
    """
    if rgb.dim() != 2 or rgb.shape[-1] != 3:
        raise ValueError(f"expected rgb of shape (B, 3), got {tuple(rgb.shape)}")
    named = torch.tensor([COLOUR_RGB[c] for c in names], dtype=rgb.dtype)
    difference = (rgb[:, None, :] - named[None]) @ _OPPONENT.T.to(rgb.dtype)
    distance = (difference**2 * _OPPONENT_WEIGHT.to(rgb.dtype)).sum(-1)
    return torch.softmax(-distance / temperature, dim=-1)


def sample_colours(
    n: int, generator: torch.Generator, off_palette: float = 0.0, jitter: float = 0.07, greys: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colours of ``n`` pictures: named ones (jittered by up to ``jitter / 2``) or, for a share
    ``off_palette``, uniform over the RGB cube, and for a share ``greys`` an achromatic grey of
    uniform lightness in [0.1, 1] (the uniform cube almost never draws one). Returns
    ``(label (n,), rgb (n, 3))``; the label of an off-palette colour or grey is its heaviest
    :func:`colour_weights` entry."""
    label = torch.randint(len(COLOURS), (n,), generator=generator)
    rgb = torch.tensor([COLOUR_RGB[c] for c in COLOURS])[label]
    rgb = (rgb + jitter * (torch.rand(n, 3, generator=generator) - 0.5)).clamp(0, 1)
    free = torch.rand(n, generator=generator) < off_palette
    uniform = torch.rand(n, 3, generator=generator)
    rgb = torch.where(free.unsqueeze(1), uniform, rgb)
    if greys > 0:
        grey = torch.rand(n, generator=generator) < greys
        level = 0.1 + 0.9 * torch.rand(n, 1, generator=generator)
        rgb = torch.where(grey.unsqueeze(1), level.expand(n, 3), rgb)
        free = free | grey
    label = torch.where(free, colour_weights(rgb).argmax(-1), label)
    return label, rgb


def caption(colour: str, shape: str, pattern: str = "plain", finish: str | None = None) -> str:
    """The caption of one picture: ``a red circle``, ``a red striped circle`` or, with a finish,
    ``a glossy red striped circle``."""
    words = ["a", finish, colour, None if pattern == "plain" else pattern, shape]
    return " ".join(w for w in words if w)


def short_captions() -> list[str]:
    """The 32 ``a {colour} {shape}`` captions, colour-major."""
    return [caption(c, s) for c in COLOURS for s in SHAPES]


def all_captions(colours: Sequence[str] = COLOURS) -> list[str]:
    """All captions without a finish (128 for :data:`COLOURS`): index ``(colour * 4 + shape) * 4 + pattern``."""
    return [caption(c, s, p) for c in colours for s in SHAPES for p in PATTERNS]


def finish_captions(colours: Sequence[str] = COLOURS) -> list[str]:
    """All captions with and without a finish word (512 for :data:`COLOURS`): index
    ``((colour * 4 + shape) * 4 + pattern) * 4 + finish``, where finish 0 is none (the
    :func:`all_captions` caption) and ``1 + i`` is ``FINISHES[i]``."""
    return [caption(c, s, p, f) for c in colours for s in SHAPES for p in PATTERNS for f in (None, *FINISHES)]


@dataclass
class ShapeBatch:
    """A batch of pictures and their labels.

    Attributes:
        images: (B, 3, S, S) in [0, 1].
        colour, shape, pattern: (B,) integer labels into COLOURS, SHAPES, PATTERNS; ``shape`` is
            -1 where no 2D shape name fits (a torus, a cylinder, a vase).
        rgb: (B, 3) the colour each picture was painted with (sRGB base colour, before shading), or None.
        finish: (B,) index into :data:`FINISHES`, -1 where the picture shows no material (2D
            pictures, renders lit as plain colour); None means -1 everywhere.
        sketch: (B,) bool, True where the picture is a line drawing of its shape
            (:func:`stylize.testing.sketches.draw_sketches`); None means False everywhere.
    """

    images: torch.Tensor
    colour: torch.Tensor
    shape: torch.Tensor
    pattern: torch.Tensor
    rgb: torch.Tensor | None = None
    finish: torch.Tensor | None = None
    sketch: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.finish is None:
            self.finish = torch.full_like(self.colour, -1)
        if self.sketch is None:
            self.sketch = torch.zeros_like(self.colour, dtype=torch.bool)

    def __len__(self) -> int:
        return int(self.colour.shape[0])

    def select(self, index: torch.Tensor) -> ShapeBatch:
        """The pictures at ``index`` (B',) as a new batch."""
        return ShapeBatch(self.images[index], self.colour[index], self.shape[index], self.pattern[index],
                          None if self.rgb is None else self.rgb[index], self.finish[index],
                          self.sketch[index])  # fmt: skip

    @staticmethod
    def cat(batches: list[ShapeBatch]) -> ShapeBatch:
        """Concatenate batches (all with ``rgb`` or all without)."""
        rgb = None if any(b.rgb is None for b in batches) else torch.cat([b.rgb for b in batches])
        images, colour, shape, pattern, finish, sketch = (
            torch.cat([getattr(b, k) for b in batches]) for k in ("images", "colour", "shape", "pattern", "finish", "sketch")
        )
        return ShapeBatch(images, colour, shape, pattern, rgb, finish, sketch)

    def captions(self, with_pattern: bool = True) -> list[str]:
        return [
            caption(COLOURS[c], SHAPES[s], PATTERNS[p] if with_pattern else "plain")
            for c, s, p in zip(self.colour.tolist(), self.shape.tolist(), self.pattern.tolist(), strict=False)
        ]

    def full_index(self) -> torch.Tensor:
        """(B,) index into :func:`all_captions` (meaningless where ``shape`` is -1)."""
        return (self.colour * len(SHAPES) + self.shape) * len(PATTERNS) + self.pattern

    def short_index(self) -> torch.Tensor:
        """(B,) index into :func:`short_captions`."""
        return self.colour * len(SHAPES) + self.shape


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def place_shapes(
    generator: torch.Generator, n: int, gx: torch.Tensor, gy: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random placements of ``n`` shapes on a ``size`` px canvas (scale 0.28-0.62 of the half
    width, kept inside the canvas, rotated in 70 % of draws): each pixel's coordinates in its
    shape's own frame, and the size of one pixel there.

    Shape:
        - gx, gy: ``(size, size)`` canvas coordinates in ``[-1, 1]``.
        - Output: px, py ``(n, size, size)``; pixel ``(n,)``.
    """
    g = generator
    scale = _uniform(g, n, 0.28, 0.62)
    cx = _uniform(g, n, -1, 1) * (0.92 - scale)
    cy = _uniform(g, n, -1, 1) * (0.92 - scale)
    theta = _uniform(g, n, -math.pi, math.pi) * (torch.rand(n, generator=g) < 0.7)
    cos, sin = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    dx = (gx - cx.view(-1, 1, 1)) / scale.view(-1, 1, 1)
    dy = (gy - cy.view(-1, 1, 1)) / scale.view(-1, 1, 1)
    return cos * dx + sin * dy, -sin * dx + cos * dy, 2.0 / size / scale


def _shape_distance(shape: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) to each shape of unit size, in local coordinates.

    Args:
        shape: (B,) shape labels.
        px, py: (B, S, S) local coordinates.
    """
    radius = torch.sqrt(px**2 + py**2)
    circle = radius - 1.0
    square = torch.maximum(px.abs(), py.abs()) - 0.86
    # Equilateral triangle (pointing up in image space, i.e. -y), circumradius 1.1.
    k = math.sqrt(3.0)
    size = 0.95
    tx, ty = px.abs() - size, -py + size / k
    fold = tx + k * ty > 0
    tx, ty = torch.where(fold, (tx - k * ty) / 2, tx), torch.where(fold, (-k * tx - ty) / 2, ty)
    tx = tx - tx.clamp(-2 * size, 0.0)
    triangle = -torch.sqrt(tx**2 + ty**2) * torch.sign(ty)
    # Five-pointed star: outer radius 1.15, inner 0.48; distance measured radially (good enough
    # for a one-pixel antialiased edge).
    angle = torch.atan2(px, -py)
    sector = 2 * math.pi / 5
    local = torch.remainder(angle + sector / 2, sector) - sector / 2
    outer, inner = 1.15, 0.48
    half = sector / 2
    # boundary between the outer point (angle 0) and the inner point (angle +-half)
    ox, oy = outer, 0.0
    ix, iy = inner * math.cos(half), inner * math.sin(half)
    t = local.abs()
    dx, dy = ix - ox, iy - oy
    # intersect the ray at angle t with the segment from (ox, oy) to (ix, iy)
    denom = torch.cos(t) * dy - torch.sin(t) * dx
    boundary = (ox * dy - oy * dx) / denom
    star = radius - boundary
    out = torch.stack([circle, square, triangle, star], dim=0)
    return out.gather(0, shape.view(1, -1, 1, 1).expand(1, *px.shape)).squeeze(0)


def _coverage(distance: torch.Tensor, pixel: torch.Tensor) -> torch.Tensor:
    """About one pixel of antialiasing from a signed distance in local units."""
    return (0.5 - distance / pixel.view(-1, 1, 1)).clamp(0.0, 1.0)


def draw_shapes(
    n: int,
    size: int = 64,
    generator: torch.Generator | None = None,
    white_background: float = 0.45,
    lit: float = 0.5,
    outline: float = 0.12,
    colour: torch.Tensor | None = None,
    shape: torch.Tensor | None = None,
    pattern: torch.Tensor | None = None,
    off_palette: float = 0.0,
    greys: float = 0.0,
) -> ShapeBatch:
    """Draw ``n`` random captioned pictures of ``size`` x ``size`` pixels.

    Args:
        n: number of pictures.
        size: side in pixels.
        generator: the random stream (a fresh seed-0 stream when None).
        white_background: share of pictures on a (near) white background, like renders.
        lit: share of pictures shaded as if lit from a random direction (3D-looking).
        outline: share of shapes drawn as a thick outline instead of filled (stroke-like).
        colour, shape, pattern: optional fixed (n,) labels.
        off_palette: share of pictures painted in a uniformly random colour (see
            :func:`sample_colours`); ignored when ``colour`` is given.
        greys: share painted an achromatic grey (see :func:`sample_colours`).

    Returns:
        :class:`ShapeBatch`.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    if colour is None:
        colour, base = sample_colours(n, g, off_palette, greys=greys)
    else:
        base = torch.tensor([COLOUR_RGB[c] for c in COLOURS])[colour]
        base = (base + 0.07 * (torch.rand(n, 3, generator=g) - 0.5)).clamp(0, 1)
    shape = shape if shape is not None else torch.randint(len(SHAPES), (n,), generator=g)
    if pattern is None:
        pattern = torch.multinomial(torch.tensor(PATTERN_SHARES), n, replacement=True, generator=g)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    px, py, pixel = place_shapes(g, n, gx, gy, size)
    distance = _shape_distance(shape, px, py)
    is_outline = torch.rand(n, generator=g) < outline
    ring = (distance.abs() - 0.16).where(is_outline.view(-1, 1, 1), distance)
    mask = _coverage(ring, pixel)

    body = base.view(-1, 3, 1, 1).expand(n, 3, size, size).clone()

    # Pattern in a contrasting neutral: black on light colours, white on dark ones.
    luminance = (base * torch.tensor([0.3, 0.59, 0.11])).sum(-1)
    contrast = torch.where(luminance > 0.55, 0.05, 0.97).view(-1, 1, 1, 1)
    phi = _uniform(g, n, 0, math.pi).view(-1, 1, 1)
    period = _uniform(g, n, 0.35, 0.55).view(-1, 1, 1)
    along = px * torch.cos(phi) + py * torch.sin(phi)
    stripes = (torch.sin(2 * math.pi * along / period) / (2 * math.pi * pixel.view(-1, 1, 1) / period)).clamp(-0.5, 0.5) + 0.5
    spacing = _uniform(g, n, 0.38, 0.5).view(-1, 1, 1)
    qx = torch.remainder(px, spacing) - spacing / 2
    qy = torch.remainder(py, spacing) - spacing / 2
    dots = _coverage(torch.sqrt(qx**2 + qy**2) - 0.3 * spacing, pixel)
    across = -px * torch.sin(phi) + py * torch.cos(phi)
    cell = spacing * 0.9
    checks = torch.sin(math.pi * along / cell) * torch.sin(math.pi * across / cell)
    checks = (checks / (math.pi * pixel.view(-1, 1, 1) / cell)).clamp(-0.5, 0.5) + 0.5
    which = pattern.view(-1, 1, 1)
    detail = torch.where(which == 1, stripes, torch.where(which == 2, dots, torch.where(which == 3, checks, 0.0)))
    body = body * (1 - detail.unsqueeze(1)) + contrast * detail.unsqueeze(1)

    # Lighting: a dome normal for a 3D look, lit from a random upper direction.
    is_lit = (torch.rand(n, generator=g) < lit).view(-1, 1, 1, 1)
    nz = torch.sqrt((1 - (px**2 + py**2) * 0.8).clamp(min=0.05))
    light = torch.nn.functional.normalize(
        torch.stack([_uniform(g, n, -1, 1), _uniform(g, n, -1, 0.3), _uniform(g, n, 0.6, 1.2)], -1), dim=-1
    )
    lambert = px * 0.6 * light[:, 0].view(-1, 1, 1) + py * 0.6 * light[:, 1].view(-1, 1, 1) + nz * light[:, 2].view(-1, 1, 1)
    shade = (0.55 + 0.55 * lambert.clamp(0, 1)).unsqueeze(1)
    body = torch.where(is_lit, (body * shade).clamp(0, 1), body)

    # Backgrounds: white, light grey, pale colour, gradient, dark; never the shape's own tone.
    kind = torch.multinomial(torch.tensor([white_background, 0.15, 0.15, 0.12, 0.13]), n, replacement=True, generator=g)
    light_shape = luminance > 0.8
    dark_shape = luminance < 0.1
    kind = torch.where(light_shape & (kind != 4), torch.full_like(kind, 4), kind)
    kind = torch.where(dark_shape & (kind == 4), torch.zeros_like(kind), kind)
    grey = _uniform(g, n, 0.72, 0.95).view(-1, 1, 1, 1).expand(n, 3, 1, 1)
    pale = 0.7 + 0.28 * torch.rand(n, 3, 1, 1, generator=g)
    top, bottom = 0.6 + 0.4 * torch.rand(n, 3, 1, 1, generator=g), 0.6 + 0.4 * torch.rand(n, 3, 1, 1, generator=g)
    ramp = ((gy + 1) / 2).view(1, 1, size, size)
    gradient = top * (1 - ramp) + bottom * ramp
    dark = _uniform(g, n, 0.12, 0.35).view(-1, 1, 1, 1).expand(n, 3, 1, 1)
    options = torch.stack(
        [
            torch.ones(n, 3, size, size),
            grey.expand(n, 3, size, size),
            pale.expand(n, 3, size, size),
            gradient,
            dark.expand(n, 3, size, size),
        ]
    )
    background = options[kind, torch.arange(n)]

    images = background * (1 - mask.unsqueeze(1)) + body * mask.unsqueeze(1)
    images = (images + 0.02 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    return ShapeBatch(images=images, colour=colour, shape=shape, pattern=pattern, rgb=base)
