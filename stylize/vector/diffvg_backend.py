"""diffvg behind the vector renderer contract, for parity checks where ``pydiffvg`` is built.

pydiffvg is not on PyPI (it compiles from https://github.com/BachiLi/diffvg), so it is imported
only when this renderer is built; the registry in :mod:`stylize.vector.renderer` imports this
module lazily.

diffvg strokes have round caps and joins only: paths with other caps or joins are drawn round
(logged once per renderer). Gradients are drawn as their solid stand-in colour (the average of
their stops) and clip groups are not applied (logged once per renderer). A path's opacity is folded into its fill and stroke
alphas, which is exact where the stroke does not cover the fill.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from stylize.vector.renderer import WHITE, check_request, composite
from stylize.vector.scene import Scene

logger = logging.getLogger(__name__)


class DiffvgVectorRenderer:
    """diffvg behind the same contract (``"diffvg"``); needs ``pydiffvg``, built from source.

    Samples ``samples`` x ``samples`` per pixel as CLIPDraw does.
    """

    name = "diffvg"

    def __init__(self, samples: int = 2, seed: int = 0):
        try:
            import pydiffvg  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "the 'diffvg' renderer needs pydiffvg, which is not on PyPI: build it from "
                "https://github.com/BachiLi/diffvg, or use the 'torch' renderer"
            ) from exc
        self.samples, self.seed = samples, seed
        self._warned_styles = self._warned_gradients = False

    def _render_one(self, scene: Scene, width: int, height: int) -> Tensor:
        import pydiffvg

        if scene.has_stroke_styles and not self._warned_styles:
            logger.warning("diffvg draws round caps and joins only; butt, square, miter and bevel strokes are drawn round")
            self._warned_styles = True
        if (scene.num_gradients or bool((scene.clip_of >= 0).any())) and not self._warned_gradients:
            logger.warning("the diffvg renderer draws gradients as their average colour and clip geometry as paths, unclipped")
            self._warned_gradients = True
        opacity = scene.opacities[:, None]
        fill_colors = torch.cat([scene.fill_colors[:, :3], scene.fill_colors[:, 3:] * opacity], dim=1)
        stroke_colors = torch.cat([scene.stroke_colors[:, :3], scene.stroke_colors[:, 3:] * opacity], dim=1)
        shapes, groups = [], []
        starts = torch.cumsum(scene.contour_point_counts, 0) - scene.contour_point_counts
        for path_index in range(scene.num_paths):
            shape_ids = []
            for contour in (scene.contour_path == path_index).nonzero().flatten().tolist():
                start, count = int(starts[contour]), int(scene.contour_point_counts[contour])
                closed = bool(scene.contour_closed[contour])
                num_segments = count // 3 if closed else (count - 1) // 3
                shape_ids.append(len(shapes))
                shapes.append(
                    pydiffvg.Path(
                        num_control_points=torch.full((num_segments,), 2, dtype=torch.int32),
                        points=scene.points[start : start + count],
                        stroke_width=scene.stroke_widths[path_index],
                        is_closed=closed,
                    )
                )
            groups.append(
                pydiffvg.ShapeGroup(
                    shape_ids=torch.tensor(shape_ids),
                    fill_color=fill_colors[path_index] if bool(scene.has_fill[path_index]) else None,
                    stroke_color=stroke_colors[path_index] if bool(scene.has_stroke[path_index]) else None,
                    use_even_odd_rule=bool(scene.evenodd[path_index]),
                )
            )
        arguments = pydiffvg.RenderFunction.serialize_scene(width, height, shapes, groups)
        return pydiffvg.RenderFunction.apply(width, height, self.samples, self.samples, self.seed, None, *arguments)

    def __call__(self, scenes, width: int, height: int, background=WHITE) -> Tensor:
        """Same contract as :func:`render` (straight RGBA from diffvg, composited here)."""
        scene_list, single = check_request(scenes, width, height)
        images = composite(torch.stack([self._render_one(scene, width, height) for scene in scene_list]), background)
        return images[0] if single else images
