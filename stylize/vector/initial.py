"""Initial scenes for CLIPDraw-style optimisation, picked by name from :data:`SCENE_INITIALISERS`.

- ``strokes``: CLIPDraw's random open strokes (:func:`~stylize.vector.scene.random_strokes`);
- ``fills``: random closed blobs filled with random RGBA, no stroke;
- ``both``: blobs underneath (a ``fill_fraction`` of the paths) and strokes on top.

How the filled shapes are painted is picked from :data:`FILL_PAINTS`: ``solid`` (a random colour)
or ``gradient`` (a linear gradient across the shape, from its colour to another random one, whose
stops and end points are optimised like everything else).

Each initialiser gets an :class:`~stylize.generation.InitContext` (canvas size, random stream,
device, and the target picture of a photo-to-sketch run where there is one).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from stylize.generation import InitContext
from stylize.registry import Registry
from stylize.vector.paint import Gradient
from stylize.vector.scene import Scene, VectorPath, random_strokes


def random_blobs(
    num_paths: int,
    width: int,
    height: int,
    *,
    generator: torch.Generator | None = None,
    max_segments: int = 3,
    radius: tuple[float, float] = (0.05, 0.15),
) -> Scene:
    """Closed filled shapes: ``randint(2, max(2, max_segments) + 1)`` cubic segments whose
    control points lie on a jittered circle of radius ``radius`` (fractions of the smaller
    canvas side) around a uniform centre. Fill RGBA uniform random; no stroke.

    Returns:
        A scene of ``num_paths`` closed paths (tensors do not require grad).
    """
    if num_paths < 0 or width <= 0 or height <= 0:
        raise ValueError(f"expected num_paths >= 0 and a positive canvas, got {num_paths}, {width} x {height}")
    side = min(width, height)
    paths = []
    for _ in range(num_paths):
        segments = int(torch.randint(2, max(2, max_segments) + 2, (1,), generator=generator))
        count = 3 * segments
        centre = torch.rand(2, generator=generator) * torch.tensor([width, height], dtype=torch.float32)
        base = radius[0] + (radius[1] - radius[0]) * float(torch.rand(1, generator=generator))
        angles = torch.arange(count) * (2 * math.pi / count) + 0.3 * (torch.rand(count, generator=generator) - 0.5)
        radii = side * base * (0.75 + 0.5 * torch.rand(count, generator=generator))
        contour = centre + torch.stack([torch.cos(angles), torch.sin(angles)], 1) * radii[:, None]
        color = torch.rand(4, generator=generator)
        paths.append(VectorPath([contour], closed=True, stroke_width=1.0, stroke_color=None, fill_color=color))
    return Scene.from_paths(paths)


def _strokes(context: InitContext, num_paths: int, max_segments: int, fill_fraction: float) -> Scene:
    return random_strokes(num_paths, context.width, context.height, generator=context.generator, max_segments=max_segments,
                          requires_grad=False)  # fmt: skip


def _fills(context: InitContext, num_paths: int, max_segments: int, fill_fraction: float) -> Scene:
    return random_blobs(num_paths, context.width, context.height, generator=context.generator, max_segments=max_segments)


def _both(context: InitContext, num_paths: int, max_segments: int, fill_fraction: float) -> Scene:
    num_fills = int(round(num_paths * fill_fraction))
    blobs = _fills(context, num_fills, max_segments, fill_fraction)
    strokes = _strokes(context, num_paths - num_fills, max_segments, fill_fraction)
    return Scene.from_paths(blobs.paths() + strokes.paths())


#: name -> ``build(context, num_paths, max_segments, fill_fraction) -> Scene``; an initialiser
#: may read ``context.target_image`` (a picture to follow) where it has one.
SCENE_INITIALISERS: Registry[Callable[..., Scene]] = Registry(
    "scene initialiser", {"strokes": _strokes, "fills": _fills, "both": _both}
)


def gradient_fills(scene: Scene, generator: torch.Generator | None = None) -> Scene:
    """The scene with every solid fill replaced by a two-stop linear gradient across the shape.

    The gradient runs through the shape's centre in a random direction over the extent of its
    control points, from the path's fill colour to a random colour.
    """
    paths = scene.paths()
    for path in paths:
        if path.fill_color is None or path.fill_gradient is not None:
            continue
        points = torch.cat(path.contours)
        low, high = points.min(0).values, points.max(0).values
        centre, half = (low + high) / 2, (high - low).norm() / 2
        angle = float(torch.rand(1, generator=generator)) * 2 * math.pi
        direction = torch.tensor([math.cos(angle), math.sin(angle)]) * half
        end_color = torch.rand(4, generator=generator)
        path.fill_gradient = Gradient("linear", [0.0, 1.0], torch.stack([path.fill_color.float(), end_color]),
                                      (centre - direction).tolist(), (centre + direction).tolist())  # fmt: skip
        path.fill_color = None
    return Scene.from_paths(paths, dtype=scene.dtype)


def _solid_fills(scene: Scene, generator: torch.Generator | None = None) -> Scene:
    return scene


#: name -> ``paint(scene, generator) -> Scene``: how the initial filled shapes are painted.
FILL_PAINTS: Registry[Callable[..., Scene]] = Registry("fill paint", {"solid": _solid_fills, "gradient": gradient_fills})


def initial_scene(
    kind: str,
    num_paths: int,
    context: InitContext,
    max_segments: int = 3,
    fill_fraction: float = 0.5,
    fills: str = "solid",
) -> Scene:
    """Build the initial scene registered as ``kind`` on ``context``'s canvas with its random
    stream (tensors on the CPU, not requiring grad).

    Example:
        >>> scene = initial_scene("strokes", 16, InitContext((224, 224), torch.Generator().manual_seed(0)))
    """
    build = SCENE_INITIALISERS.lookup(kind)
    if not 0.0 <= fill_fraction <= 1.0:
        raise ValueError(f"expected fill_fraction in [0, 1], got {fill_fraction}")
    if not isinstance(context, InitContext):
        raise TypeError(f"expected an InitContext, got {type(context).__name__}")
    paint = FILL_PAINTS.lookup(fills)
    return paint(build(context, num_paths, max_segments, fill_fraction), context.generator)
