"""Photo to vector sketch (CLIPasso): a few open strokes optimised so CLIP sees the photo in them.

Every sketch of a run (``best_of`` seeds at each stroke level of ``strokes``) is optimised side
by side: one rasterizer call renders all of them, one CLIP pass scores them with the photo under
the same augmentations (:class:`~stylize.sketching.loss.SketchLoss`), one Adam updates their
points. Each sketch is evaluated every ``eval_every`` steps on the unaugmented pair, keeps its
best evaluated points, and leaves the batch when its evaluation loss stops moving (CLIPasso's
early stop); the run ends when every sketch has stopped or after ``iters`` steps. Per level, the
sketch with the lowest evaluation loss is kept. Settings and their sources:
:class:`~stylize.sketching.config.SketchConfig`.

Example:
    >>> config = resolve_config(SketchConfig, SKETCH_PRESETS, "fast", overrides={"image": "cat.png"})
    >>> result = Sketcher(config).run("runs/cat-sketch")
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize.colors import parse_color
from stylize.config import absolute_paths
from stylize.engine import ImagePrompt, ModelCache, PromptSet, load_image
from stylize.engine.augment import paired_warps, warp_copies
from stylize.engine.engine import memory_hint
from stylize.engine.specs import absolute_spec, parse_model_spec
from stylize.errors import InputError
from stylize.generation import SCORE_SCALE, Generator2D, InitContext, RunContext, RunOutcome, as_score, frame_due
from stylize.images import image_grid, save_image
from stylize.sketching.config import SketchConfig, check_sketch_config
from stylize.sketching.loss import SketchLoss
from stylize.sketching.order import ordered_scene
from stylize.sketching.saliency import saliency_map, saliency_strokes
from stylize.utils import resolve_device
from stylize.vector.renderer import get_renderer
from stylize.vector.scene import Scene
from stylize.vector.svg.write import save_svg

logger = logging.getLogger(__name__)

__all__ = ["SketchCandidate", "SketchResult", "Sketcher", "load_square"]

#: The canvas the reference's stroke width is given at.
REFERENCE_SIZE = 224


def load_square(path: str | Path, size: int) -> Tensor:
    """A picture scaled so its shorter side is ``size`` and centre-cropped to a square: (3, size, size).

    Raises:
        InputError: the file is missing or unreadable (see :func:`~stylize.engine.load_image`).
    """
    image = load_image(path)
    height, width = image.shape[-2:]
    factor = size / min(height, width)
    new_h, new_w = max(size, round(height * factor)), max(size, round(width * factor))
    image = F.interpolate(image[None], size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[:, top : top + size, left : left + size].clamp(0, 1).contiguous()


@dataclass
class SketchCandidate:
    """One sketch being optimised: its stroke level, seed, scene (leaf tensors) and best state."""

    strokes: int
    seed: int
    scene: Scene
    initial: Scene
    best_points: Tensor | None = None
    best_widths: Tensor | None = None
    best_colors: Tensor | None = None
    best_loss: float = math.inf
    best_step: int = -1
    last_loss: float = math.inf
    steady: bool = False  # the last evaluation did not move the best (CLIPasso's "terminate")
    stopped: bool = False
    steps: int = 0
    frames: list[Tensor] = field(default_factory=list)
    image: Tensor | None = None  # final render (3, H, W) of the best state

    def keep_best(self, loss: float, step: int) -> None:
        self.best_loss, self.best_step = loss, step
        self.best_points = self.scene.points.detach().clone()
        self.best_widths = self.scene.stroke_widths.detach().clone()
        self.best_colors = self.scene.stroke_colors.detach().clone()

    def final(self) -> Scene:
        """A detached copy of the sketch at its best evaluated step (the current one if none was)."""
        scene = self.scene.detach().clone()
        if self.best_points is not None:
            scene.points, scene.stroke_widths, scene.stroke_colors = self.best_points, self.best_widths, self.best_colors
        return scene

    def summary(self) -> dict:
        return {"strokes": self.strokes, "seed": self.seed, "loss": self.best_loss if math.isfinite(self.best_loss) else None,
                "best_step": self.best_step, "steps": self.steps, "stopped_early": self.stopped}  # fmt: skip


@dataclass(kw_only=True)
class SketchResult(RunOutcome):
    """What :meth:`Sketcher.run` returns.

    Attributes:
        scene: the kept sketch of the largest stroke level (canvas coordinates, drawing order).
        image: its render (3, H, W).
        levels: stroke count -> the kept sketch of that level (drawing order).
        images: stroke count -> its render.
        photo: the photo as the run saw it (3, H, W): centre-cropped, masked.
        photo_scores: stroke count -> ``{"trainer": s, "judge": s}``, 100 x cosine with the photo.
        candidates: per sketch: strokes, seed, best evaluation loss and step, steps, early stop.
    """

    scene: Scene
    image: Tensor
    levels: dict[int, Scene]
    images: dict[int, Tensor]
    photo: Tensor
    photo_scores: dict[int, dict[str, float]]
    candidates: list[dict]
    frames: list[Tensor] = field(default_factory=list, repr=False)
    all_candidates: list[SketchCandidate] = field(default_factory=list, repr=False)


class Sketcher(Generator2D):
    """A ``stylize sketch`` run: owns the photo, the CLIP(s), the saliency map and the loss.

    ``run(out_dir, on_step, overwrite)`` (:meth:`Generator2D.run`) writes ``sketch.svg`` and
    ``sketch.png`` (the largest stroke level), with several levels ``levels/sketch-N.svg`` /
    ``.png`` per level and ``ladder.png`` (the photo and each level side by side), plus
    ``preview.png``, ``progress.gif``, ``config.toml``, ``run.json`` and ``metrics.jsonl``.

    Args:
        config: a resolved :class:`SketchConfig`.
        model_cache: share loaded CLIP models between runs.

    Raises:
        InputError: unusable settings, a missing or unreadable photo or mask.
    """

    kind = "sketch"

    def __init__(self, config: SketchConfig, model_cache: ModelCache | None = None) -> None:
        check_sketch_config(config)
        self.config = config = absolute_paths(config)
        if config.saliency_clip:  # recorded absolute too, like clip and judge
            config.saliency_clip = absolute_spec(config.saliency_clip)
        self.device = resolve_device(config.device)
        self.renderer = get_renderer(config.renderer)
        self.background = parse_color(config.background)
        self.color = (*parse_color(config.color), 1.0)
        if not Path(config.image).is_file():
            raise InputError(f"image {config.image} does not exist")
        photo = load_square(config.image, config.size)
        self.mask = None
        if config.mask:
            if not Path(config.mask).is_file():
                raise InputError(f"mask {config.mask} does not exist")
            self.mask = load_square(config.mask, config.size).mean(0)
            paper = torch.tensor(self.background).view(3, 1, 1)
            photo = photo * self.mask + paper * (1 - self.mask)
        self.photo = photo
        # The photo is an image prompt: every engine (trainer, judge) knows what the sketch should show.
        prompts = PromptSet.build(config.prompts or None, images=[ImagePrompt(self.photo, name="photo")])
        self.build_engines(prompts, config.clip, config.judge, model_cache, clip_batch=config.clip_batch)
        self.clip_model = self.engine.clip_models[0]
        text = self.engine.embeddings.text(self.clip_model, config.prompts) if config.prompts else None
        self.loss = SketchLoss(self.clip_model, config.geometric_layers, config.geometric_weights, config.semantic_weight,
                               text, config.prompt_weight)  # fmt: skip
        saliency_model = self.clip_model
        if config.saliency_clip:
            saliency_model = self.model_cache.get(parse_model_spec(config.saliency_clip), self.device)
        self.saliency = saliency_map(self.photo.to(self.device), saliency_model,
                                     None if self.mask is None else self.mask.to(self.device)).cpu()  # fmt: skip

    # ------------------------------------------------------------------ pieces
    def inputs(self) -> list:
        return [self.config.image, self.config.mask]

    @property
    def half_width(self) -> float:
        """The stroke half-width on this canvas (``width`` is given at 224 px)."""
        return self.config.width * self.config.size / REFERENCE_SIZE

    def initial(self, strokes: int, seed: int) -> Scene:
        """The starting sketch of ``strokes`` strokes for ``seed``, drawn from the saliency map."""
        c = self.config
        context = InitContext((c.size, c.size), torch.Generator().manual_seed(seed), self.device, self.photo)
        return saliency_strokes(self.saliency, strokes, context.generator, segments=c.segments,
                                temperature=c.softmax_temperature, walk_radius=c.walk_radius,
                                half_width=self.half_width, color=self.color,
                                allowed=None if self.mask is None else self.mask > 0.5)  # fmt: skip

    def render(self, scenes: list[Scene]) -> Tensor:
        """Render sketches on the canvas in one call: (S, 3, H, W)."""
        size = self.config.size
        return self.renderer(scenes, size, size, background=self.background).permute(0, 3, 1, 2)

    def candidates(self) -> list[SketchCandidate]:
        """Every sketch of the run (stroke levels x seeds), with its leaf tensors on the device."""
        c = self.config
        result = []
        for strokes in c.strokes:
            for index in range(c.best_of):
                start = self.initial(strokes, c.seed + index)
                scene = start.detach().clone().to(self.device)
                scene.points.requires_grad_(True)
                scene.stroke_widths.requires_grad_(c.optimise_width)
                scene.stroke_colors.requires_grad_(c.optimise_color)
                result.append(SketchCandidate(strokes, c.seed + index, scene, start))
        return result

    def optimiser(self, candidates: list[SketchCandidate]) -> torch.optim.Optimizer:
        """One Adam over every sketch (Adam is per element, so sketches do not affect each other)."""
        c = self.config
        groups = [{"params": [cand.scene.points for cand in candidates], "lr": c.lr_points}]
        if c.optimise_width:
            groups.append({"params": [cand.scene.stroke_widths for cand in candidates], "lr": c.lr_widths})
        if c.optimise_color:
            groups.append({"params": [cand.scene.stroke_colors for cand in candidates], "lr": c.lr_colors})
        return torch.optim.Adam(groups)

    def _evaluate(self, candidate: SketchCandidate, loss: float, step: int) -> None:
        """CLIPasso's evaluation: keep a better state; stop after two evaluations in a row that
        moved the best by at most ``min_delta``."""
        c = self.config
        delta = loss - candidate.best_loss
        candidate.last_loss = loss
        if not math.isfinite(delta) or abs(delta) > c.min_delta:
            if delta < 0 or not math.isfinite(candidate.best_loss):
                candidate.keep_best(loss, step)
                candidate.steady = False
        else:
            if candidate.steady and c.early_stop:
                candidate.stopped = True
            candidate.steady = True

    # ------------------------------------------------------------------ the run
    def generate(self, context: RunContext) -> SketchResult:
        c, timer = self.config, context.timer
        candidates = self.candidates()
        optimiser = self.optimiser(candidates)
        photo = self.photo.to(self.device)[None]
        warp_stream = torch.Generator().manual_seed(c.seed)
        fill = sum(self.background) / 3.0
        watched = candidates[(len(c.strokes) - 1) * c.best_of]  # the largest level's first seed: the animation

        def step(index: int) -> dict:
            active = [cand for cand in candidates if not cand.stopped]
            optimiser.zero_grad(set_to_none=True)
            with timer("render"):
                rendered = self.render([cand.scene for cand in active])
            pixels = rendered.detach().requires_grad_(True)
            with timer("augment"):
                pair = torch.cat([photo, pixels])
                warps = paired_warps(c.copies, (c.size, c.size), warp_stream, c.distortion, c.crop_scale)
                batch = torch.cat([pair, warp_copies(pair, warps, fill)])
            batch_leaf = batch.detach().requires_grad_(True)
            with timer("clip"), memory_hint(self.engine.clip_batch):
                terms = self.loss(batch_leaf, c.copies + 1)
                terms.train.sum().backward()
            with timer("augment"):
                batch.backward(batch_leaf.grad)
            with timer("render"):
                rendered.backward(pixels.grad)
            with timer("step"):
                if index % c.eval_every == 0 or index == c.iters - 1:
                    for cand, value in zip(active, terms.eval.tolist(), strict=True):
                        self._evaluate(cand, value, index)
                optimiser.step()
                with torch.no_grad():
                    for cand in active:
                        cand.steps += 1
                        cand.scene.stroke_widths.clamp_(c.min_width * c.size / REFERENCE_SIZE,
                                                        c.max_width * c.size / REFERENCE_SIZE)  # fmt: skip
                        cand.scene.stroke_colors.clamp_(0, 1)
            if watched in active and frame_due(index, c.iters, c.frame_every):
                watched.frames.append(pixels[active.index(watched)].detach().cpu())
            score_of = terms.text_cosine if c.prompts else terms.photo_cosine
            metrics = {"loss": terms.eval.mean(), "geometric": terms.geometric.mean(), "semantic": terms.semantic.mean(),
                       "score": SCORE_SCALE * score_of.mean()}  # fmt: skip
            if c.prompts:
                metrics["text"] = terms.text.mean()
            context.log(index, c.iters, metrics, sketches=len(active))
            return metrics

        done = 0
        while done < c.iters and not all(cand.stopped for cand in candidates):
            chunk = min(c.eval_every, c.iters - done)
            outcome = context.loop(chunk, lambda i, start=done: step(start + i))
            done += outcome.steps
            if outcome.interrupted or outcome.diverged:
                break
        stopped = sum(cand.stopped for cand in candidates)
        logger.info("sketch: %d steps, %d of %d sketches stopped early", done, stopped, len(candidates))
        return self._result(candidates, watched)

    def _result(self, candidates: list[SketchCandidate], watched: SketchCandidate) -> SketchResult:
        c = self.config
        finals = [cand.final() for cand in candidates]
        with torch.no_grad():
            images = self.render(finals).cpu()
        for cand, image in zip(candidates, images, strict=True):
            cand.image = image
        levels, level_images, photo_scores = {}, {}, {}
        for strokes in c.strokes:
            group = [i for i, cand in enumerate(candidates) if cand.strokes == strokes]
            best = min(group, key=lambda i: candidates[i].best_loss)
            levels[strokes] = ordered_scene(finals[best])
            level_images[strokes] = images[best]
            photo_scores[strokes] = self._photo_scores(images[best][None])
        top = max(c.strokes)
        image = level_images[top][None]
        if c.prompts:
            scores = self.final_scores(image, c.prompts)
        else:
            scores = {role: {"photo": value, "mean": value} for role, value in photo_scores[top].items()}
        return SketchResult(scene=levels[top], image=level_images[top], levels=levels, images=level_images,
                            photo=self.photo, photo_scores=photo_scores, scores=scores,
                            candidates=[cand.summary() for cand in candidates], frames=watched.frames,
                            all_candidates=candidates)  # fmt: skip

    @torch.no_grad()
    def _photo_scores(self, image: Tensor) -> dict[str, float]:
        """100 x cosine between ``image`` (1, 3, H, W) and the photo, by the trainer (and the judge)."""
        pair = torch.cat([self.photo[None], image.cpu()]).to(self.device)
        engines = {"trainer": self.engine} | ({"judge": self.judge} if self.judge is not self.engine else {})
        scores = {}
        for role, engine in engines.items():
            cosines = [(emb[0] * emb[1]).sum() for emb in engine.encode(pair)]
            scores[role] = as_score(torch.stack(cosines).mean())
        return scores

    def write_outputs(self, folder, result: SketchResult, context: RunContext) -> dict:
        c, files = self.config, result.files
        size = c.size
        metadata = {"image": c.image, "prompts": c.prompts, "seed": c.seed, "clip": c.clip}
        top = max(c.strokes)
        files["sketch.svg"] = save_svg(result.scene, folder.file("sketch.svg"), size, size, {**metadata, "strokes": top})
        files["sketch.png"] = save_image(folder.file("sketch.png"), result.image)
        if len(c.strokes) > 1:
            for strokes in c.strokes:
                name = f"levels/sketch-{strokes}"
                files[f"{name}.svg"] = save_svg(result.levels[strokes], folder.file(f"{name}.svg"), size, size,
                                                {**metadata, "strokes": strokes})  # fmt: skip
                files[f"{name}.png"] = save_image(folder.file(f"{name}.png"), result.images[strokes])
        strip = [result.photo, *(result.images[strokes] for strokes in c.strokes)]
        preview = image_grid(strip, columns=len(strip))
        if len(c.strokes) > 1:
            files["ladder.png"] = save_image(folder.file("ladder.png"), preview)
        self.write_pictures(folder, files, preview, result.frames or [result.image])
        return {"candidates": result.candidates, "photo_scores": {str(k): v for k, v in result.photo_scores.items()},
                "strokes": c.strokes}  # fmt: skip
