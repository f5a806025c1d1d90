"""Line drawings of the test instrument's shapes: ``"a sketch of a {shape}"``.

The test CLIPs learn these beside the coloured pictures of :mod:`stylize.testing.shapes`, so a
photo-to-sketch run (``stylize sketch``) can be judged: does the held-out judge name the shape a
sketch of a few black strokes shows? A drawing is black ink on white (paper a little off-white
at times), made of

- an outline along the shape's edge, wobbling a little, in one or two passes, broken into
  strokes with gaps (as a few Bézier strokes draw it), of one of several widths;
- and / or hatching: parallel lines inside the shape at a random angle and spacing.

Everything is drawn in torch from a seed, batched, like :func:`~stylize.testing.shapes.draw_shapes`
(same placement, scale and rotation ranges).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from stylize.testing.shapes import COLOURS, SHAPES, ShapeBatch, _shape_distance, _uniform, place_shapes

__all__ = ["SKETCH_TEMPLATE", "draw_sketches", "sketch_caption", "sketch_captions"]

SKETCH_TEMPLATE = "a sketch of a {shape}"
# What a drawing shows: outline only, outline and hatching, hatching only.
STYLES = ("outline", "outline_hatched", "hatched")
STYLE_SHARES = (0.55, 0.33, 0.12)


def sketch_caption(shape: str) -> str:
    """``a sketch of a circle``."""
    return SKETCH_TEMPLATE.format(shape=shape)


def sketch_captions(shapes: Sequence[str] = SHAPES) -> list[str]:
    """The captions of the line drawings, in :data:`~stylize.testing.shapes.SHAPES` order."""
    return [sketch_caption(shape) for shape in shapes]


def _line(distance: torch.Tensor, half_width: torch.Tensor, pixel: torch.Tensor) -> torch.Tensor:
    """Coverage of a line of ``half_width`` (local units) along ``distance == 0``, ~1 px soft edge."""
    return (0.5 + (half_width.view(-1, 1, 1) - distance.abs()) / pixel.view(-1, 1, 1)).clamp(0, 1)


def draw_sketches(
    n: int,
    size: int = 64,
    generator: torch.Generator | None = None,
    shape: torch.Tensor | None = None,
    style: torch.Tensor | None = None,
) -> ShapeBatch:
    """Draw ``n`` line drawings of random shapes, ``size`` x ``size`` pixels.

    Args:
        n: number of drawings.
        size: side in pixels.
        generator: the random stream (a fresh seed-0 stream when None).
        shape: optional fixed (n,) shape labels.
        style: optional fixed (n,) indices into :data:`STYLES`.

    Returns:
        A :class:`~stylize.testing.shapes.ShapeBatch` whose colour is ``black``, pattern
        ``plain``, ``rgb`` the ink colour and ``sketch`` True; caption each with
        :func:`sketch_caption`.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    shape = shape if shape is not None else torch.randint(len(SHAPES), (n,), generator=g)
    if style is None:
        style = torch.multinomial(torch.tensor(STYLE_SHARES), n, replacement=True, generator=g)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    px, py, pixel = place_shapes(g, n, gx, gy, size)
    distance = _shape_distance(shape, px, py)
    angle = torch.atan2(py, px)

    # Pen widths from about 0.7 to 3.5 px, whatever the shape's scale.
    pen = _uniform(g, n, 0.35, 1.75) * pixel
    # The outline wobbles (a hand, or a Bézier stroke that does not sit exactly on the edge).
    wobble = _uniform(g, n, 0.0, 0.06).view(-1, 1, 1)
    frequency = torch.randint(2, 6, (n, 1, 1), generator=g).float()
    phase = _uniform(g, n, 0, 2 * math.pi).view(-1, 1, 1)
    outline = _line(distance + wobble * torch.sin(frequency * angle + phase), pen, pixel)
    second = torch.rand(n, generator=g) < 0.35  # a second pass, a little off the first
    offset = _uniform(g, n, -0.06, 0.06).view(-1, 1, 1)
    again = _line(distance + offset + wobble * torch.sin((frequency + 1) * angle - phase), pen, pixel)
    outline = torch.where(second.view(-1, 1, 1), torch.maximum(outline, again), outline)
    # Gaps: the outline drawn as a few strokes, with up to 30 % of its length left out.
    pieces = torch.randint(3, 9, (n, 1, 1), generator=g).float()
    gap = _uniform(g, n, 0.0, 0.3).view(-1, 1, 1)
    along = torch.remainder((angle + math.pi) / (2 * math.pi) * pieces + _uniform(g, n, 0, 1).view(-1, 1, 1), 1.0)
    outline = outline * (along >= gap).float()

    # Hatching inside the shape: parallel lines at a random angle and spacing.
    hatch_angle = _uniform(g, n, 0, math.pi).view(-1, 1, 1)
    spacing = _uniform(g, n, 0.18, 0.35).view(-1, 1, 1)
    across = px * torch.cos(hatch_angle) + py * torch.sin(hatch_angle)
    from_line = (torch.remainder(across / spacing + 0.5, 1.0) - 0.5) * spacing
    inside = (0.5 - distance / pixel.view(-1, 1, 1)).clamp(0, 1)
    hatching = _line(from_line, pen * 0.6, pixel) * inside

    which = style.view(-1, 1, 1)
    ink = torch.where(which == 0, outline, torch.where(which == 1, torch.maximum(outline, hatching), hatching))
    paper = _uniform(g, n, 0.93, 1.0).view(-1, 1, 1, 1) * torch.ones(n, 3, 1, 1)
    tone = _uniform(g, n, 0.0, 0.2).view(-1, 1, 1, 1)  # black to dark grey ink
    images = paper * (1 - ink.unsqueeze(1)) + tone * ink.unsqueeze(1)
    images = (images + 0.01 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    black = torch.full((n,), COLOURS.index("black"), dtype=torch.long)
    rgb = tone.view(n, 1).expand(n, 3).clone()
    return ShapeBatch(images, black, shape, torch.zeros(n, dtype=torch.long), rgb, sketch=torch.ones(n, dtype=torch.bool))
