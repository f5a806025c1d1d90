"""The sketch measurement: the instrument's own shape pictures turned into sketches, and three figures.

Used by ``tools/bench/sketch_check.py`` and ``tests/sketching/test_sketch_check.py``. For each
picture (a shape of the test instrument's world, in one of its colours, drawn by
:func:`~stylize.testing.shapes.draw_shapes`) one ``stylize sketch`` run optimises every stroke
level in one batch with the trainer test CLIP; then

- **recognition**: the held-out judge ranks the four ``template.format(shape=...)`` captions
  for the largest level's render; a hit is the photo's own shape first;
- **ink near edges**: the mean distance (pixels) from each ink pixel of a render to the nearest
  edge pixel of the photo, for the kept sketch and for its initial strokes;
- **fidelity per level**: the geometric loss (CLIP-layer L2, the unaugmented pair) of each
  level's kept sketch; fewer strokes should fit worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize.testing.shapes import COLOURS, SHAPES, draw_shapes
from stylize.testing.sketches import SKETCH_TEMPLATE

__all__ = ["SketchMeasurement", "edge_pixels", "ink_distance", "measure_picture", "shape_picture", "summarise"]

INK_LEVEL = 0.5  # a render's pixel is ink where its luminance is below this


def shape_picture(shape: str, colour: str, seed: int, size: int = 224, white: bool = True) -> Tensor:
    """The instrument's own picture of ``colour`` ``shape`` (plain) for ``seed``: (3, size, size).

    With ``white`` the picture is on the instrument's white background (a photo whose object was
    masked, as CLIPasso's object sketches are; white and yellow shapes keep the instrument's
    dark background, where they show)."""
    white_share = 1e6 if white else 0.45
    batch = draw_shapes(1, size, torch.Generator().manual_seed(seed), white_background=white_share,
                        colour=torch.tensor([COLOURS.index(colour)]), shape=torch.tensor([SHAPES.index(shape)]),
                        pattern=torch.tensor([0]))  # fmt: skip
    return batch.images[0]


def _luminance(image: Tensor) -> Tensor:
    return (image * torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype).view(3, 1, 1)).sum(0)


def edge_pixels(image: Tensor, threshold: float = 0.08) -> Tensor:
    """(E, 2) row, column of the pixels where the luminance changes (Sobel magnitude > threshold).

    The instrument's pictures carry 2 % pixel noise; a 3 x 3 box blur first keeps it off the edges."""
    luma = F.avg_pool2d(F.pad(_luminance(image)[None, None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    padded = F.pad(luma, (1, 1, 1, 1), mode="replicate")
    gx, gy = F.conv2d(padded, kx.view(1, 1, 3, 3)), F.conv2d(padded, kx.T.reshape(1, 1, 3, 3))
    magnitude = (gx.square() + gy.square()).sqrt()[0, 0]
    return torch.nonzero(magnitude > threshold).float()


def ink_distance(render: Tensor, edges: Tensor) -> float:
    """Mean distance in pixels from each ink pixel of ``render`` (3, H, W) to the nearest of ``edges``
    (E, 2); NaN without ink or edges."""
    ink = torch.nonzero(_luminance(render) < INK_LEVEL).float()
    if len(ink) == 0 or len(edges) == 0:
        return float("nan")
    nearest = torch.cat([torch.cdist(part, edges).min(dim=1).values for part in ink.split(4096)])
    return float(nearest.mean())


@dataclass
class SketchMeasurement:
    """The figures of one picture."""

    shape: str
    colour: str
    seed: int
    ranked_first: bool
    judge_ranking: list[str]
    ink_distance: float
    initial_ink_distance: float
    geometric: dict[int, float] = field(default_factory=dict)
    steps: int = 0

    def as_dict(self) -> dict:
        return {"shape": self.shape, "colour": self.colour, "seed": self.seed, "ranked_first": self.ranked_first,
                "judge_ranking": self.judge_ranking, "ink_distance": round(self.ink_distance, 3),
                "initial_ink_distance": round(self.initial_ink_distance, 3),
                "geometric": {str(k): round(v, 5) for k, v in self.geometric.items()}, "steps": self.steps}  # fmt: skip


def measure_picture(shape: str, colour: str, seed: int, folder: Path, trainer: str, judge: str, *,
                    strokes: Sequence[int] = (4, 8, 16), template: str = SKETCH_TEMPLATE, overrides: dict | None = None,
                    model_cache=None, keep: bool = False) -> SketchMeasurement:  # fmt: skip
    """Sketch one instrument picture at every level of ``strokes`` (one run) and measure it.

    Args:
        shape, colour, seed: which picture (:func:`shape_picture`).
        folder: where the picture (and, with ``keep``, the run folder) go.
        trainer, judge: CLIP specs: the one optimised, the one that ranks captions.
        strokes: the stroke levels; recognition and ink are measured on the largest.
        template: the judge's captions, ``{shape}`` filled with each of the four shapes.
        overrides: sketch settings (default: the reference's at 224 px, ``best_of`` 3).
    """
    from stylize.config import resolve_config
    from stylize.images import save_image
    from stylize.sketching.config import SKETCH_PRESETS, SketchConfig
    from stylize.sketching.sketcher import Sketcher

    picture = shape_picture(shape, colour, seed)
    path = save_image(folder / f"{colour}-{shape}-{seed}.png", picture)
    settings = {"image": str(path), "clip": [trainer], "judge": [judge], "saliency_clip": "", "strokes": list(strokes),
                "seed": seed, "device": "cpu"}  # fmt: skip
    settings.update(overrides or {})
    sketcher = Sketcher(resolve_config(SketchConfig, SKETCH_PRESETS, "clipasso", overrides=settings), model_cache)
    result = sketcher.run(folder / f"{colour}-{shape}-{seed}" if keep else None)
    top = max(strokes)
    captions = [template.format(shape=name) for name in SHAPES]
    with torch.no_grad():
        sims = sketcher.judge.score_texts(result.images[top][None].to(sketcher.device), captions).mean(0)[0]
        ranking = [captions[i] for i in sims.argsort(descending=True).tolist()]
        photo = sketcher.photo.to(sketcher.device)[None]
        renders = torch.stack([result.images[n] for n in sorted(result.images)]).to(sketcher.device)
        geometric = sketcher.loss(torch.cat([photo, renders]), 1).geometric.tolist()
    kept = min((c for c in result.all_candidates if c.strokes == top), key=lambda c: c.best_loss)
    with torch.no_grad():
        initial = sketcher.render([kept.initial.to(sketcher.device)])[0].cpu()
    edges = edge_pixels(sketcher.photo)
    return SketchMeasurement(
        shape, colour, seed, ranking[0] == captions[SHAPES.index(shape)], ranking,
        ink_distance(result.images[top], edges), ink_distance(initial, edges),
        dict(zip(sorted(result.images), geometric, strict=True)), steps=max(c.steps for c in result.all_candidates),
    )  # fmt: skip


def summarise(measurements: Sequence[SketchMeasurement]) -> dict:
    """Totals over pictures: recognition rate, mean ink distances, how often fidelity grows with strokes."""
    count = len(measurements)
    if not count:
        return {"pictures": 0}
    levels = sorted(measurements[0].geometric)
    ordered = sum(all(m.geometric[a] > m.geometric[b] for a, b in zip(levels, levels[1:], strict=False)) for m in measurements)
    mean = {n: sum(m.geometric[n] for m in measurements) / count for n in levels}
    return {
        "pictures": count,
        "ranked_first": round(sum(m.ranked_first for m in measurements) / count, 4),
        "ink_distance": round(sum(m.ink_distance for m in measurements) / count, 3),
        "initial_ink_distance": round(sum(m.initial_ink_distance for m in measurements) / count, 3),
        "geometric_mean": {str(n): round(v, 5) for n, v in mean.items()},
        "geometric_decreasing_share": round(ordered / count, 4),
        "mean_steps": round(sum(m.steps for m in measurements) / count, 1),
    }
