"""CLIPDraw and StyleCLIPDraw: optimise vector strokes (and shapes) so CLIP sees a prompt.

The loop follows the references (their settings are listed in :class:`DrawConfig`): random strokes, three
Adam optimisers (points lr 1.0, x0.4 at 50 % and x0.1 at 75 % of the run; half-widths lr 0.1;
colours lr 0.01), clamps after each step, ``copies`` augmented copies per step through the CLIP
engine with the loss summed over copies. With a style image the STROTSS-like
:class:`~stylize.vector.style.StyleLoss` is added (weight ``style_weight``) and the last
``style_only_fraction`` of the steps optimise the style alone, as StyleCLIPDraw.

Beyond the references: filled shapes, a fixed palette (straight-through choice among palette
colours, so the result uses only those), an SVG to start from, a background colour, a larger
final render by scaling the scene, and best-of-N by a judge CLIP's score.

Example:
    >>> config = resolve_config(DrawConfig, DRAW_PRESETS, "smoke", overrides={"prompts": ["a red circle"]})
    >>> result = ClipDraw(config).run("runs/red-circle")
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stylize.colors import parse_color
from stylize.config import absolute_paths
from stylize.engine import Augmenter, ModelCache, PromptSet, load_image
from stylize.engine.engine import memory_hint
from stylize.errors import InputError
from stylize.generation import (
    SCORE_SCALE,
    Generator2D,
    InitContext,
    RunContext,
    RunOutcome,
    Timer,
    frame_due,
    milestone_factor,
    prompt_scores,
)
from stylize.images import image_grid, save_image
from stylize.utils import resolve_device
from stylize.vector.config import DrawConfig, check_draw_config
from stylize.vector.initial import initial_scene
from stylize.vector.palette import PaletteColors, resolve_palette, snap_to_palette
from stylize.vector.renderer import get_renderer
from stylize.vector.scene import Scene
from stylize.vector.style import StyleLoss, get_style_features
from stylize.vector.svg.write import save_svg

logger = logging.getLogger(__name__)


class _Drawing:
    """The optimised state: a scene whose tensors are leaves, and palette choices if any."""

    def __init__(self, scene: Scene, palette: Tensor | None) -> None:
        self.scene = scene.requires_grad_(True)
        self.stroke_choice = self.fill_choice = self.stop_choice = None
        if palette is not None:
            palette = palette.to(scene.device)

            def choice(colors: Tensor) -> PaletteColors:
                colors.requires_grad_(False)
                return PaletteColors(palette, snap_to_palette(colors.detach(), palette)).to(scene.device)

            self.stroke_choice, self.fill_choice = choice(scene.stroke_colors), choice(scene.fill_colors)
            if scene.num_gradients:  # the palette rules the gradients' stops too
                self.stop_choice = choice(scene.stop_colors)

    def current(self) -> Scene:
        """The scene to render: differentiable w.r.t. every optimised tensor."""
        if self.stroke_choice is None:
            return self.scene
        stops = {"stop_colors": self.stop_choice()} if self.stop_choice is not None else {}
        return dataclasses.replace(self.scene, stroke_colors=self.stroke_choice(), fill_colors=self.fill_choice(), **stops)

    def optimisers(self, config: DrawConfig) -> dict[str, torch.optim.Optimizer]:
        groups = {
            "points": (self.scene.point_params(), config.lr_points),
            "widths": (self.scene.width_params(), config.lr_widths),
        }
        if self.stroke_choice is None:
            groups["colors"] = (self.scene.color_params(), config.lr_colors)
        else:
            choices = [self.stroke_choice, self.fill_choice] + ([self.stop_choice] if self.stop_choice is not None else [])
            groups["colors"] = ([choice.logits for choice in choices], config.lr_palette)
            if self.scene.num_gradients:
                groups["stops"] = ([self.scene.stop_offsets], config.lr_colors)
        return {name: torch.optim.Adam(params, lr=lr) for name, (params, lr) in groups.items()}

    def final(self) -> Scene:
        """A detached copy with hard palette colours baked in."""
        with torch.no_grad():
            return self.current().detach().clone()


@dataclass
class Candidate:
    """One optimisation run: its final scene, render at the base size, scores and frames."""

    seed: int
    scene: Scene
    image: Tensor
    steps: int
    frames: list[Tensor] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False


@dataclass(kw_only=True)
class DrawResult(RunOutcome):
    """What :meth:`ClipDraw.run` returns.

    Attributes:
        scene: the best drawing (base canvas size; ``scene.scaled(k)`` for larger renders).
        image: its final render (3, H, W) at ``size * final_scale``.
        scores: the trainer's and judge's scores of the final drawing (100 x cosine).
        candidates: per-candidate seeds and judged scores (best-of-N).
        out_dir: the run folder, or None.
        status: ``finished`` or ``interrupted``.
        files: name -> path of each output written.
    """

    scene: Scene
    image: Tensor
    candidates: list[dict]
    best: Any = field(default=None, repr=False)  # the chosen Candidate
    all_candidates: list = field(default_factory=list, repr=False)


class ClipDraw(Generator2D):
    """A CLIPDraw / StyleCLIPDraw run: owns the engine, style loss and inputs of one config.

    ``run(out_dir, on_step, overwrite)`` (:meth:`Generator2D.run`) optimises ``best_of``
    candidates, keeps the one the judge likes best and writes ``drawing.svg``, ``drawing.png``,
    ``preview.png``, ``progress.gif``, ``config.toml``, ``run.json`` and ``metrics.jsonl`` when
    ``out_dir`` is given; ``on_step(step, total, metrics)`` counts over all candidates
    (``total = iters * best_of``).

    Args:
        config: a resolved :class:`DrawConfig`.
        model_cache: share loaded CLIP models between runs.

    Raises:
        InputError: unusable settings or inputs (missing init SVG, unreadable style image,
        bad palette or colour, unknown renderer).
    """

    kind = "draw"

    def __init__(self, config: DrawConfig, model_cache: ModelCache | None = None) -> None:
        check_draw_config(config)
        self.config = config = absolute_paths(config)  # recorded so that the run folder works from anywhere
        self.device = resolve_device(config.device)
        self.renderer = get_renderer(config.renderer)
        self.background = parse_color(config.background)
        self.palette = resolve_palette(config.palette, config.palette_colors)
        self.init_scene = self._load_init(config.init) if config.init else None
        style_image = load_image(config.style, size=config.size) if config.style else None
        prompts = PromptSet.build(config.prompts, config.negatives or None, negative_weight=config.negative_weight)
        self.build_engines(prompts, config.clip, config.judge, model_cache, clip_batch=config.clip_batch,
                           compile=config.compile)  # fmt: skip
        self.style_loss = None
        if style_image is not None:
            features = get_style_features(config.style_features, clip_model=self.engine.clip_models[0]).to(self.device)
            self.style_loss = StyleLoss(style_image, features, samples=config.style_samples, seed=config.seed, device=self.device)

    def _load_init(self, path: str) -> Scene:
        from stylize.vector.svg.read import read_svg  # only a run from an SVG reads one

        if not Path(path).is_file():
            raise InputError(f"init SVG {path} does not exist")
        document = read_svg(path)
        factor = self.config.size / max(document.width, document.height)
        scene = document.scene.scaled(factor) if abs(factor - 1.0) > 1e-6 else document.scene
        if scene.num_paths == 0:
            raise InputError(f"init SVG {path} has no paths to optimise")
        return scene

    # ------------------------------------------------------------------ one optimisation
    def render(self, scene: Scene, scale: int = 1) -> Tensor:
        """Render ``scene`` (base coordinates) at ``size * scale`` with the configured renderer: (1, 3, H, W)."""
        size = self.config.size * scale
        scene = scene.scaled(scale) if scale != 1 else scene
        return self.renderer(scene, size, size, background=self.background).permute(2, 0, 1)[None]

    def initial(self, seed: int) -> Scene:
        """The starting scene for ``seed`` (a copy of the init SVG, or random)."""
        if self.init_scene is not None:
            return self.init_scene.detach().clone().to(self.device)
        c = self.config
        context = InitContext((c.size, c.size), torch.Generator().manual_seed(seed), self.device)
        return initial_scene(c.shapes, c.paths, context, c.segments, c.fill_fraction, c.fills).to(self.device)

    def optimise(self, seed: int, context: RunContext | None = None) -> Candidate:
        """Run the loop once from the initial scene of ``seed``; Ctrl-C stops it early.

        ``context.on_step`` is called after each step, counted on from ``context.steps``.
        """
        c = self.config
        context = context if context is not None else RunContext(None, Timer(), None, c.iters)
        timer = context.timer
        drawing = _Drawing(self.initial(seed), self.palette)
        optimisers = drawing.optimisers(c)
        base_lr = {name: opt.param_groups[0]["lr"] for name, opt in optimisers.items()}
        augmenter = Augmenter(c.augment, copies=c.copies, fill=sum(self.background) / 3.0, seed=seed)
        clip_steps = c.iters - int(round(c.iters * c.style_only_fraction)) if self.style_loss is not None else c.iters
        frames: list[Tensor] = []

        def step(index: int) -> dict:
            factor = milestone_factor(index, c.iters, c.lr_milestones, c.lr_factors)
            optimisers["points"].param_groups[0]["lr"] = base_lr["points"] * factor
            for opt in optimisers.values():
                opt.zero_grad(set_to_none=True)
            metrics = self._step(drawing, augmenter, index < clip_steps, timer)
            with timer("step"):
                for opt in optimisers.values():
                    opt.step()
                drawing.scene.clamp_(c.min_width, c.max_width)
            context.log(index, c.iters, metrics, seed=seed, lr_points=base_lr["points"] * factor)
            if frame_due(index, c.iters, c.frame_every):
                with torch.no_grad():
                    frames.append(self.render(drawing.current())[0].cpu())
            return metrics

        loop = context.loop(c.iters, step)
        scene = drawing.final()
        with torch.no_grad():
            image = self.render(scene)[0].cpu()
        return Candidate(seed=seed, scene=scene, image=image, steps=loop.steps, frames=frames, interrupted=loop.interrupted)

    def _step(self, drawing: _Drawing, augmenter: Augmenter, use_clip: bool, timer: Timer) -> dict[str, Tensor]:
        """Forward and backward of one step; each stage's backward is timed with its forward.

        Returns the step's metrics as 0-dim tensors (read as floats only when logged or shown)."""
        c = self.config
        with timer("render"):
            image = self.render(drawing.current())
        pixels = image.detach().requires_grad_(True)
        metrics: dict[str, Tensor] = {}
        total = pixels.new_zeros(())
        if use_clip:
            with timer("augment"):
                batch = augmenter(pixels)
            batch_leaf = batch.detach().requires_grad_(True)
            with timer("clip"), memory_hint(self.engine.clip_batch):
                out = self.engine(batch_leaf)
                # The references sum the loss over the augmented copies; the engine averages.
                clip_loss = out.loss * c.copies
                clip_loss.backward()
            with timer("augment"):
                batch.backward(batch_leaf.grad)
            total = total + clip_loss.detach()
            metrics["clip_loss"] = out.loss.detach()
            sims = [out.similarity_tensor(prompt) for prompt in c.prompts]
            metrics.update({f"sim/{prompt}": sim for prompt, sim in zip(c.prompts, sims, strict=False)})
            metrics["score"] = SCORE_SCALE * torch.stack(sims).mean()
        if self.style_loss is not None:
            with timer("style"):
                style = c.style_weight * self.style_loss(pixels)
                style.backward()
            total = total + style.detach()
            metrics["style_loss"] = style.detach()
            metrics.update(self.style_loss.last_terms)
        with timer("render"):
            if pixels.grad is not None:
                image.backward(pixels.grad)
        metrics["loss"] = total
        return metrics

    # ------------------------------------------------------------------ the whole run
    def inputs(self) -> list:
        c = self.config
        return [c.init, c.style, c.palette if not c.palette.startswith("#") else ""]

    def total_steps(self) -> int:
        return self.config.iters * self.config.best_of

    def generate(self, context: RunContext) -> DrawResult:
        """Optimise ``best_of`` candidates (seeds ``seed``, ``seed + 1``, ...), keep the one the
        judge scores best."""
        c = self.config
        candidates: list[Candidate] = []
        for index in range(c.best_of):
            candidate = self.optimise(c.seed + index, context)
            candidate.scores = prompt_scores(self.judge, candidate.image[None], c.prompts)
            candidates.append(candidate)
            logger.info("candidate seed %d: judged %.4f", candidate.seed, candidate.scores["mean"])
            if candidate.interrupted:
                break
        best = max(candidates, key=lambda cand: cand.scores["mean"])
        with torch.no_grad():
            final_image = self.render(best.scene, c.final_scale)[0].cpu()
        scores = {"trainer": prompt_scores(self.engine, best.image[None], c.prompts)}
        if self.judge is not self.engine:
            scores["judge"] = best.scores
        summary = [{"seed": cand.seed, "judged": cand.scores["mean"], "steps": cand.steps} for cand in candidates]
        return DrawResult(scene=best.scene, image=final_image, scores=scores, candidates=summary, best=best,
                          all_candidates=candidates)  # fmt: skip

    def write_outputs(self, folder, result: DrawResult, context: RunContext) -> dict:
        c, best, candidates = self.config, result.best, result.all_candidates
        size = c.size * c.final_scale
        metadata = {"prompts": c.prompts, "seed": best.seed, "clip": c.clip}
        files = result.files
        files["drawing.svg"] = save_svg(best.scene.scaled(c.final_scale) if c.final_scale != 1 else best.scene,
                                        folder.file("drawing.svg"), size, size, metadata)  # fmt: skip
        files["drawing.png"] = save_image(folder.file("drawing.png"), result.image)
        preview = image_grid([cand.image for cand in candidates]) if len(candidates) > 1 else best.image
        self.write_pictures(folder, files, preview, best.frames or [best.image])
        return {"candidates": result.candidates, "best_seed": best.seed}
