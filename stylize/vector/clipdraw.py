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

import torch
from torch import Tensor

from stylize.config import absolute_paths, to_dict
from stylize.engine import Augmenter, ClipEngine, ModelCache, PromptSet, load_image
from stylize.engine.engine import memory_hint
from stylize.errors import InputError, Interrupted
from stylize.generation import (
    SCORE_SCALE,
    RunOutcome,
    StepCallback,
    Timer,
    frame_due,
    metric_floats,
    milestone_factor,
    prompt_scores,
    run_steps,
)
from stylize.images import image_grid, save_gif, save_image
from stylize.runs import RunFolder
from stylize.utils import resolve_device
from stylize.vector.config import DRAW_PRESETS, DrawConfig, check_draw_config  # noqa: F401  (re-exported)
from stylize.vector.initial import initial_scene
from stylize.vector.palette import PaletteColors, parse_color, resolve_palette, snap_to_palette
from stylize.vector.renderer import get_renderer
from stylize.vector.scene import Scene
from stylize.vector.svg import read_svg, save_svg
from stylize.vector.style import StyleLoss, get_style_features

logger = logging.getLogger(__name__)


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
class DrawResult(RunOutcome):
    """What :meth:`ClipDraw.run` returns.

    Attributes:
        scene: the best drawing (base canvas size; ``scene.scaled(k)`` for larger renders).
        image: its final render (3, H, W) at ``size * final_scale``.
        scores: the trainer's and judge's similarities of the final drawing.
        candidates: per-candidate seeds and judged scores (best-of-N).
        out_dir: the run folder, or None.
        status: ``finished`` or ``interrupted``.
        files: name -> path of each output written.
    """

    scene: Scene
    image: Tensor
    scores: dict[str, dict[str, float]]
    candidates: list[dict]


class ClipDraw:
    """A CLIPDraw / StyleCLIPDraw run: owns the engine, style loss and inputs of one config.

    Args:
        config: a resolved :class:`DrawConfig`.
        model_cache: share loaded CLIP models between runs.

    Raises:
        InputError: unusable settings or inputs (missing init SVG, unreadable style image,
        bad palette or colour, unknown renderer).
    """

    def __init__(self, config: DrawConfig, model_cache: ModelCache | None = None) -> None:
        check_draw_config(config)
        self.config = config = absolute_paths(config)  # recorded so that the run folder works from anywhere
        self.device = resolve_device(config.device)
        self.renderer = get_renderer(config.renderer)
        self.background = parse_color(config.background)
        self.palette = resolve_palette(config.palette, config.palette_colors)
        self.init_scene = self._load_init(config.init) if config.init else None
        style_image = load_image(config.style, size=config.size) if config.style else None
        self.model_cache = model_cache if model_cache is not None else ModelCache()
        prompts = PromptSet.build(config.prompts, config.negatives or None, negative_weight=config.negative_weight)
        self.engine = ClipEngine(config.clip, prompts, device=self.device, model_cache=self.model_cache,
                                 clip_batch=config.clip_batch, compile=config.compile)
        self.style_loss = None
        if style_image is not None:
            features = get_style_features(config.style_features, clip_model=self.engine.clip_models[0]).to(self.device)
            self.style_loss = StyleLoss(style_image, features, samples=config.style_samples, seed=config.seed, device=self.device)
        self.judge = self.engine
        if config.judge and list(config.judge) != list(config.clip):
            self.judge = ClipEngine(config.judge, prompts, device=self.device, model_cache=self.model_cache,
                                 clip_batch=config.clip_batch, compile=config.compile)

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
        """Render ``scene`` (base coordinates) at ``size * scale`` with the configured renderer: (1, 3, H, W)."""
        size = self.config.size * scale
        scene = scene.scaled(scale) if scale != 1 else scene
        return self.renderer(scene, size, size, background=self.background).permute(2, 0, 1)[None]

    def initial(self, seed: int) -> Scene:
        """The starting scene for ``seed`` (a copy of the init SVG, or random)."""
        if self.init_scene is not None:
            return self.init_scene.detach().clone().to(self.device)
        generator = torch.Generator().manual_seed(seed)
        c = self.config
        scene = initial_scene(c.shapes, c.paths, c.size, c.size, generator, c.segments, c.fill_fraction)
        return scene.to(self.device)

    def optimise(
        self, seed: int, timer: Timer | None = None, run: RunFolder | None = None, on_step: StepCallback | None = None,
        done_before: int = 0, total: int | None = None,
    ) -> Candidate:
        """Run the loop once from the initial scene of ``seed``; Ctrl-C stops it early.

        ``on_step(done_before + step, total, metrics)`` is called after each step (``step`` from 1).
        """
        c = self.config
        timer = timer if timer is not None else Timer()
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
            if run is not None and (index % c.log_every == 0 or index == c.iters - 1):
                logged = {k: v for k, v in metric_floats(metrics).items() if k != "score"}
                run.log_metrics(index, seed=seed, lr_points=base_lr["points"] * factor, **logged)
            if frame_due(index, c.iters, c.frame_every):
                with torch.no_grad():
                    frames.append(self.render(drawing.current())[0].cpu())
            return metrics

        loop = run_steps(c.iters, step, on_step=on_step, done_before=done_before, total=total)
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
            metrics.update({f"sim/{prompt}": sim for prompt, sim in zip(c.prompts, sims)})
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
    def run(self, out_dir: str | Path | None = None, on_step: StepCallback | None = None, overwrite: bool = False) -> DrawResult:
        """Optimise ``best_of`` candidates, keep the one the judge likes best, write the run folder.

        Outputs (when ``out_dir`` is given): ``drawing.svg``, ``drawing.png``, ``preview.png``,
        ``progress.gif``, ``config.toml``, ``run.json``, ``metrics.jsonl``. ``on_step(step, total,
        metrics)`` is called after every step, counted over all candidates (``total = iters * best_of``).
        ``overwrite`` replaces an earlier run's outputs in ``out_dir`` (else such a folder is refused).

        Raises:
            Interrupted: Ctrl-C (or SIGTERM in the CLI) stopped the run; what existed was written
                (``run.json`` says ``"interrupted": true``) and is in the exception's ``result``.
        """
        c = self.config
        inputs = [c.init, c.style, c.palette if not c.palette.startswith("#") else ""]
        folder = RunFolder(out_dir, "draw", inputs=inputs, overwrite=overwrite) if out_dir is not None else None
        if folder is not None:
            folder.write_config(c)
        timer = Timer()
        candidates: list[Candidate] = []
        try:
            for index in range(c.best_of):
                candidate = self.optimise(c.seed + index, timer, folder, on_step, done_before=index * c.iters,
                                          total=c.iters * c.best_of)  # fmt: skip
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
            status = "interrupted" if any(cand.interrupted for cand in candidates) else "finished"
            result = DrawResult(best.scene, final_image, scores, summary, out_dir=Path(out_dir) if out_dir else None, status=status)
            if folder is not None:
                self._write(folder, result, best, candidates, timer)
        finally:
            if folder is not None:
                folder.close()
        if result.interrupted:
            raise Interrupted(result)
        return result

    def _write(self, folder: RunFolder, result: DrawResult, best: Candidate, candidates: list[Candidate], timer: Timer) -> None:
        c = self.config
        size = c.size * c.final_scale
        metadata = {"prompts": c.prompts, "seed": best.seed, "clip": c.clip}
        files = result.files
        files["drawing.svg"] = save_svg(best.scene.scaled(c.final_scale) if c.final_scale != 1 else best.scene,
                                        folder.file("drawing.svg"), size, size, metadata)  # fmt: skip
        files["drawing.png"] = save_image(folder.file("drawing.png"), result.image)
        preview = image_grid([cand.image for cand in candidates]) if len(candidates) > 1 else best.image
        files["preview.png"] = save_image(folder.file("preview.png"), preview)
        files["progress.gif"] = save_gif(folder.file("progress.gif"), best.frames or [best.image])
        files["config.toml"] = folder.file("config.toml")
        steps = sum(cand.steps for cand in candidates)
        timings = timer.rounded()
        timings["per_iteration"] = timer.per_step(steps)
        files["run.json"] = folder.write_run_json(
            seed=c.seed, device=str(self.device), timings=timings, scores=result.scores, candidates=result.candidates,
            best_seed=best.seed, steps=steps, interrupted=result.interrupted, status=result.status, config=to_dict(c),
        )  # fmt: skip
        if folder.has_metrics:
            files["metrics.jsonl"] = folder.file("metrics.jsonl")
