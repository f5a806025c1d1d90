"""CLIPDraw and StyleCLIPDraw: optimise vector strokes (and shapes) so CLIP sees a prompt.

The loop follows the references (see ``shared/reference/clipdraw.md``): random strokes, three
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
from typing import Callable, Literal

import torch
from torch import Tensor

from stylize.config import to_dict
from stylize.engine import Augmenter, ClipEngine, ModelCache, PromptSet, load_image
from stylize.errors import InputError
from stylize.generation import GenerationConfig, Timer, frame_due, make_progress, milestone_factor, prompt_scores
from stylize.runs import RunFolder, image_grid, save_gif, save_image
from stylize.utils import resolve_device
from stylize.vector.init import initial_scene
from stylize.vector.palette import PaletteColors, parse_color, resolve_palette, snap_to_palette
from stylize.vector.raster import render
from stylize.vector.scene import Scene
from stylize.vector.svg import read_svg, save_svg
from stylize.vector.style import StyleLoss, get_style_features

logger = logging.getLogger(__name__)

# on_step(step, total, metrics): progress reporting for callers (the CLI's --progress json).
StepCallback = Callable[[int, int, dict], None]


@dataclass
class DrawConfig(GenerationConfig):
    """Everything one ``stylize draw`` run needs (defaults: the CLIPDraw reference settings)."""

    iters: int = 1000
    paths: int = 256
    segments: int = 3
    shapes: Literal["strokes", "fills", "both"] = "strokes"
    fill_fraction: float = 0.5
    min_width: float = 1.0
    max_width: float = 50.0
    init: str = ""
    palette: str = ""
    palette_colors: int = 8
    background: str = "#ffffff"
    lr_points: float = 1.0
    lr_widths: float = 0.1
    lr_colors: float = 0.01
    lr_palette: float = 0.1
    lr_milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])
    lr_factors: list[float] = field(default_factory=lambda: [0.4, 0.1])
    style: str = ""
    style_weight: float = 2.0
    style_features: str = "vgg16"
    style_samples: int = 1024
    style_only_fraction: float = 0.1
    final_scale: int = 1
    best_of: int = 1


DRAW_PRESETS: dict[str, dict] = {
    "clipdraw": {},
    "styleclipdraw": {"iters": 500, "copies": 10, "style_weight": 2.0, "style_only_fraction": 0.1, "final_scale": 4},
    "smoke": {"size": 64, "paths": 16, "iters": 8, "copies": 2, "log_every": 2, "frame_every": 2, "progress": False,
              "style_samples": 256},
    "test": {"size": 64, "paths": 24, "iters": 40, "copies": 2, "log_every": 5, "frame_every": 5, "progress": False,
             "style_samples": 256},
}  # fmt: skip


def check_draw_config(config: DrawConfig) -> None:
    """Raise :class:`InputError` naming the first unusable setting."""
    if not config.prompts or not all(isinstance(p, str) and p.strip() for p in config.prompts):
        raise InputError("no prompt given: draw needs at least one non-empty text prompt")
    positive = {"size": config.size, "iters": config.iters, "copies": config.copies, "segments": config.segments,
                "best_of": config.best_of, "final_scale": config.final_scale, "style_samples": config.style_samples}  # fmt: skip
    for name, value in positive.items():
        if value < 1:
            raise InputError(f"config key {name!r}: expected a positive integer, got {value}")
    if config.paths < 0 or (config.paths == 0 and not config.init):
        raise InputError(f"config key 'paths': expected at least 1 path (or an --init SVG), got {config.paths}")
    if not 0 < config.min_width <= config.max_width:
        raise InputError(f"expected 0 < min_width <= max_width, got {config.min_width} and {config.max_width}")
    if not 0.0 <= config.style_only_fraction < 1.0:
        raise InputError(f"config key 'style_only_fraction': expected a value in [0, 1), got {config.style_only_fraction}")
    if not 0.0 <= config.fill_fraction <= 1.0:
        raise InputError(f"config key 'fill_fraction': expected a value in [0, 1], got {config.fill_fraction}")
    if len(config.lr_milestones) != len(config.lr_factors):
        raise InputError("config keys 'lr_milestones' and 'lr_factors' must have the same length")


class _Drawing:
    """The optimised state: a scene whose tensors are leaves, and palette choices if any."""

    def __init__(self, scene: Scene, palette: Tensor | None) -> None:
        self.scene = scene.requires_grad_(True)
        self.stroke_choice = self.fill_choice = None
        if palette is not None:
            palette = palette.to(scene.device)
            self.stroke_choice = PaletteColors(palette, snap_to_palette(scene.stroke_colors.detach(), palette)).to(scene.device)
            self.fill_choice = PaletteColors(palette, snap_to_palette(scene.fill_colors.detach(), palette)).to(scene.device)
            scene.stroke_colors.requires_grad_(False)
            scene.fill_colors.requires_grad_(False)

    def current(self) -> Scene:
        """The scene to render: differentiable w.r.t. every optimised tensor."""
        if self.stroke_choice is None:
            return self.scene
        return dataclasses.replace(self.scene, stroke_colors=self.stroke_choice(), fill_colors=self.fill_choice())

    def optimisers(self, config: DrawConfig) -> dict[str, torch.optim.Optimizer]:
        groups = {"points": (self.scene.point_params(), config.lr_points), "widths": (self.scene.width_params(), config.lr_widths)}
        if self.stroke_choice is None:
            groups["colors"] = (self.scene.color_params(), config.lr_colors)
        else:
            groups["colors"] = ([self.stroke_choice.logits, self.fill_choice.logits], config.lr_palette)
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


@dataclass
class DrawResult:
    """What :meth:`ClipDraw.run` returns.

    Attributes:
        scene: the best drawing (base canvas size; ``scene.scaled(k)`` for larger renders).
        image: its final render (3, H, W) at ``size * final_scale``.
        scores: the trainer's and judge's similarities of the final drawing.
        candidates: per-candidate seeds and judged scores (best-of-N).
        out_dir: the run folder, or None.
    """

    scene: Scene
    image: Tensor
    scores: dict[str, dict[str, float]]
    candidates: list[dict]
    out_dir: Path | None = None
    interrupted: bool = False


class ClipDraw:
    """A CLIPDraw / StyleCLIPDraw run: owns the engine, style loss and inputs of one config.

    Args:
        config: a resolved :class:`DrawConfig`.
        model_cache: share loaded CLIP models between runs.

    Raises:
        InputError: unusable settings or inputs (missing init SVG, unreadable style image,
        bad palette or colour).
    """

    def __init__(self, config: DrawConfig, model_cache: ModelCache | None = None) -> None:
        check_draw_config(config)
        self.config = config
        self.device = resolve_device(config.device)
        self.background = parse_color(config.background)
        self.palette = resolve_palette(config.palette, config.palette_colors)
        self.init_scene = self._load_init(config.init) if config.init else None
        style_image = load_image(config.style, size=config.size) if config.style else None
        self.model_cache = model_cache if model_cache is not None else ModelCache()
        prompts = PromptSet.build(config.prompts, config.negatives or None, negative_weight=config.negative_weight)
        self.engine = ClipEngine(config.clip, prompts, device=self.device, model_cache=self.model_cache)
        self.style_loss = None
        if style_image is not None:
            features = get_style_features(config.style_features, clip_model=self.engine.clip_models[0]).to(self.device)
            self.style_loss = StyleLoss(style_image, features, samples=config.style_samples, seed=config.seed, device=self.device)
        self.judge = self.engine
        if config.judge and list(config.judge) != list(config.clip):
            self.judge = ClipEngine(config.judge, prompts, device=self.device, model_cache=self.model_cache)

    def _load_init(self, path: str) -> Scene:
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
        """Render ``scene`` (base coordinates) at ``size * scale``: (1, 3, H, W)."""
        size = self.config.size * scale
        scene = scene.scaled(scale) if scale != 1 else scene
        return render(scene, size, size, background=self.background).permute(2, 0, 1)[None]

    def initial(self, seed: int) -> Scene:
        """The starting scene for ``seed`` (a copy of the init SVG, or random)."""
        if self.init_scene is not None:
            return self.init_scene.detach().clone().to(self.device)
        generator = torch.Generator().manual_seed(seed)
        c = self.config
        scene = initial_scene(c.shapes, c.paths, c.size, c.size, generator, c.segments, c.fill_fraction)
        return scene.to(self.device)

    def optimise(
        self, seed: int, timer: Timer | None = None, run: RunFolder | None = None, on_step: StepCallback | None = None
    ) -> Candidate:
        """Run the loop once from the initial scene of ``seed``; Ctrl-C stops it early.

        ``on_step(step, iters, metrics)`` is called after each step (``step`` counts from 1).
        """
        c = self.config
        timer = timer if timer is not None else Timer()
        drawing = _Drawing(self.initial(seed), self.palette)
        optimisers = drawing.optimisers(c)
        base_lr = {name: opt.param_groups[0]["lr"] for name, opt in optimisers.items()}
        augmenter = Augmenter(c.augment, copies=c.copies, fill=sum(self.background) / 3.0, seed=seed)
        clip_steps = c.iters - int(round(c.iters * c.style_only_fraction)) if self.style_loss is not None else c.iters
        frames, steps, interrupted = [], 0, False
        bar = make_progress(c.iters, c.progress, f"draw seed {seed}")
        try:
            for step in range(c.iters):
                factor = milestone_factor(step, c.iters, c.lr_milestones, c.lr_factors)
                optimisers["points"].param_groups[0]["lr"] = base_lr["points"] * factor
                for opt in optimisers.values():
                    opt.zero_grad(set_to_none=True)
                metrics = self._step(drawing, augmenter, step < clip_steps, timer)
                with timer("step"):
                    for opt in optimisers.values():
                        opt.step()
                    drawing.scene.clamp_(c.min_width, c.max_width)
                steps = step + 1
                if run is not None and (step % c.log_every == 0 or step == c.iters - 1):
                    run.log_metrics(step, seed=seed, lr_points=base_lr["points"] * factor, **metrics)
                if frame_due(step, c.iters, c.frame_every):
                    with torch.no_grad():
                        frames.append(self.render(drawing.current())[0].cpu())
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}")
                if on_step is not None:
                    on_step(steps, c.iters, metrics)
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted after %d of %d steps; saving what exists", steps, c.iters)
        finally:
            bar.close()
        scene = drawing.final()
        with torch.no_grad():
            image = self.render(scene)[0].cpu()
        return Candidate(seed=seed, scene=scene, image=image, steps=steps, frames=frames, interrupted=interrupted)

    def _step(self, drawing: _Drawing, augmenter: Augmenter, use_clip: bool, timer: Timer) -> dict[str, float]:
        """Forward and backward of one step; each stage's backward is timed with its forward."""
        c = self.config
        with timer("render"):
            image = self.render(drawing.current())
        pixels = image.detach().requires_grad_(True)
        metrics: dict[str, float] = {}
        total = 0.0
        if use_clip:
            with timer("augment"):
                batch = augmenter(pixels)
            batch_leaf = batch.detach().requires_grad_(True)
            with timer("clip"):
                out = self.engine(batch_leaf)
                # The references sum the loss over the augmented copies; the engine averages.
                clip_loss = out.loss * c.copies
                clip_loss.backward()
            with timer("augment"):
                batch.backward(batch_leaf.grad)
            total += float(clip_loss.detach())
            metrics["clip_loss"] = float(out.loss.detach())
            for prompt in c.prompts:
                metrics[f"sim/{prompt}"] = out.mean_similarity(prompt)
        if self.style_loss is not None:
            with timer("style"):
                style = c.style_weight * self.style_loss(pixels)
                style.backward()
            total += float(style.detach())
            metrics["style_loss"] = float(style.detach())
            metrics.update(self.style_loss.last_terms)
        with timer("render"):
            if pixels.grad is not None:
                image.backward(pixels.grad)
        metrics["loss"] = total
        return metrics

    # ------------------------------------------------------------------ the whole run
    def run(self, out_dir: str | Path | None = None, on_step: StepCallback | None = None) -> DrawResult:
        """Optimise ``best_of`` candidates, keep the one the judge likes best, write the run folder.

        Outputs (when ``out_dir`` is given): ``drawing.svg``, ``drawing.png``, ``preview.png``,
        ``progress.gif``, ``config.toml``, ``run.json``, ``metrics.jsonl``. ``on_step(step, total,
        metrics)`` is called after every step, counted over all candidates (``total = iters * best_of``).
        """
        c = self.config
        folder = RunFolder(out_dir, "draw") if out_dir is not None else None
        if folder is not None:
            folder.write_config(c)
        timer = Timer()
        candidates: list[Candidate] = []
        try:
            for index in range(c.best_of):
                overall = None
                if on_step is not None:

                    def overall(step: int, iters: int, metrics: dict, done: int = index * c.iters) -> None:
                        on_step(done + step, c.iters * c.best_of, metrics)

                candidate = self.optimise(c.seed + index, timer, folder, overall)
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
            interrupted = any(cand.interrupted for cand in candidates)
            result = DrawResult(best.scene, final_image, scores, summary, Path(out_dir) if out_dir else None, interrupted)
            if folder is not None:
                self._write(folder, result, best, candidates, timer)
        finally:
            if folder is not None:
                folder.close()
        if result.interrupted:
            raise KeyboardInterrupt
        return result

    def _write(self, folder: RunFolder, result: DrawResult, best: Candidate, candidates: list[Candidate], timer: Timer) -> None:
        c = self.config
        size = c.size * c.final_scale
        metadata = {"prompts": c.prompts, "seed": best.seed, "clip": c.clip}
        save_svg(best.scene.scaled(c.final_scale) if c.final_scale != 1 else best.scene, folder.file("drawing.svg"), size, size, metadata)
        save_image(folder.file("drawing.png"), result.image)
        preview = image_grid([cand.image for cand in candidates]) if len(candidates) > 1 else best.image
        save_image(folder.file("preview.png"), preview)
        save_gif(folder.file("progress.gif"), best.frames or [best.image])
        steps = sum(cand.steps for cand in candidates)
        timings = timer.rounded()
        timings["per_iteration"] = {k: round(v / max(steps, 1), 5) for k, v in timer.totals.items()}
        folder.write_run_json(
            seed=c.seed, device=str(self.device), timings=timings, scores=result.scores, candidates=result.candidates,
            best_seed=best.seed, steps=steps, interrupted=result.interrupted, config=to_dict(c),
        )  # fmt: skip
