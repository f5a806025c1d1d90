"""The order a sketch's strokes are written in: the way a hand (or a pen plotter) would draw them.

:func:`drawing_order` starts with the longest stroke, then repeatedly takes the stroke with an end
nearest to where the pen stopped, reversed when its far end was the nearer one. The picture is
unchanged for strokes of one colour (compositing identical opaque colours commutes; reversing a
stroke changes nothing); strokes of several colours keep their painter's order.
"""

from __future__ import annotations

import torch

from stylize.vector.scene import Scene, VectorPath

__all__ = ["drawing_order", "ordered_scene"]


def _stroke_length(points: torch.Tensor) -> float:
    return float((points[1:] - points[:-1]).norm(dim=-1).sum())


def drawing_order(scene: Scene) -> list[tuple[int, bool]]:
    """``(path index, reversed)`` for each path of ``scene`` in drawing order (see the module docstring).

    Only scenes of single open contours are reordered; others keep their order.
    """
    paths = scene.paths()
    if not paths or any(len(p.contours) != 1 or any(p.closed_flags()) for p in paths):
        return [(index, False) for index in range(len(paths))]
    ends = [(p.contours[0][0].detach().cpu(), p.contours[0][-1].detach().cpu()) for p in paths]
    remaining = set(range(len(paths)))
    first = max(remaining, key=lambda i: (_stroke_length(paths[i].contours[0].detach().cpu()), -i))
    order = [(first, False)]
    remaining.discard(first)
    pen = ends[first][1]
    while remaining:
        best = None
        for index in sorted(remaining):
            for flipped, end in ((False, ends[index][0]), (True, ends[index][1])):
                distance = float((end - pen).norm())
                if best is None or distance < best[0] - 1e-9:
                    best = (distance, index, flipped)
        _, index, flipped = best
        order.append((index, flipped))
        remaining.discard(index)
        pen = ends[index][0] if flipped else ends[index][1]
    return order


def ordered_scene(scene: Scene) -> Scene:
    """``scene`` with its strokes in :func:`drawing_order` when they share one colour (else as it is)."""
    if scene.num_paths < 2:
        return scene
    colours = scene.stroke_colors.detach()
    if not bool((colours == colours[:1]).all()):
        return scene
    paths = scene.paths()
    reordered: list[VectorPath] = []
    for index, flipped in drawing_order(scene):
        path = paths[index]
        if flipped:
            path.contours = [contour.flip(0) for contour in path.contours]
        reordered.append(path)
    return Scene.from_paths(reordered, device=scene.device, dtype=scene.dtype)
