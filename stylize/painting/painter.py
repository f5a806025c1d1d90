"""Raster painting guided by CLIP: optimise a ``pixel`` or ``fft`` image towards a prompt.

With ``init`` the image starts as that picture and a content loss (mean squared pixel error,
weight ``content_weight``) keeps it close, which stylizes an existing picture instead of
painting from noise. The CLIP loss is summed over ``copies`` augmented copies, as in CLIPDraw.

Example:
    >>> config = resolve_config(PaintConfig, PAINT_PRESETS, "smoke", overrides={"prompts": ["a red circle"]})
    >>> result = Painter(config).run("runs/paint")
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from stylize.config import absolute_paths, to_dict
from stylize.engine import Augmenter, ClipEngine, ModelCache, PromptSet, load_image
from stylize.engine.engine import memory_hint
from stylize.errors import Interrupted
from stylize.generation import SCORE_SCALE, RunOutcome, StepCallback, Timer, frame_due, metric_floats, prompt_scores, run_steps
from stylize.images import save_gif, save_image
from stylize.painting.config import PAINT_PRESETS, PaintConfig, check_paint_config  # noqa: F401  (re-exported)
from stylize.painting.params import get_image
from stylize.runs import RunFolder
from stylize.utils import resolve_device
from stylize.vector.palette import parse_color

logger = logging.getLogger(__name__)

__all__ = ["PAINT_PRESETS", "PaintConfig", "PaintResult", "Painter", "check_paint_config"]


@dataclass
class PaintResult(RunOutcome):
    """What :meth:`Painter.run` returns: the image (3, H, W), scores before/after, the run folder,
    ``status`` (``finished`` or ``interrupted``) and ``files`` (name -> path written)."""

    image: Tensor
    scores: dict[str, dict[str, float]]
    initial_scores: dict[str, float]


class Painter:
    """A paint run: owns the engine, the parameterised image and the optional init picture.

    Raises:
        InputError: no prompt, bad sizes, a missing or unreadable init image.
    """

    def __init__(self, config: PaintConfig, model_cache: ModelCache | None = None) -> None:
        check_paint_config(config)
        self.config = config = absolute_paths(config)  # recorded so that the run folder works from anywhere
        self.device = resolve_device(config.device)
        self.canvas = tuple(min(max(v, 0.01), 0.99) for v in parse_color(config.canvas))
        self.init_image = load_image(config.init, size=config.size).to(self.device) if config.init else None
        self.model_cache = model_cache if model_cache is not None else ModelCache()
        prompts = PromptSet.build(config.prompts, config.negatives or None, negative_weight=config.negative_weight)
        self.engine = ClipEngine(config.clip, prompts, device=self.device, model_cache=self.model_cache,
                                 clip_batch=config.clip_batch, compile=config.compile)
        self.judge = self.engine
        if config.judge and list(config.judge) != list(config.clip):
            self.judge = ClipEngine(config.judge, prompts, device=self.device, model_cache=self.model_cache,
                                 clip_batch=config.clip_batch, compile=config.compile)

    def run(self, out_dir: str | Path | None = None, on_step: StepCallback | None = None, overwrite: bool = False) -> PaintResult:
        """Optimise the image; write ``image.png``, ``preview.png``, ``progress.gif``,
        ``config.toml``, ``run.json`` and ``metrics.jsonl`` when ``out_dir`` is given (a folder
        holding another run is refused unless ``overwrite``).

        Raises:
            Interrupted: Ctrl-C stopped the run after what existed was written.
        """
        c = self.config
        folder = RunFolder(out_dir, "paint", inputs=[c.init], overwrite=overwrite) if out_dir is not None else None
        if folder is not None:
            folder.write_config(c)
        generator = torch.Generator().manual_seed(c.seed)
        init = self.init_image.cpu() if self.init_image is not None else None
        image_param = get_image(c.param, c.size, c.size, init=init, generator=generator, decay=c.decay, cell=c.pixel_size,
                                base=self.canvas).to(self.device)  # fmt: skip
        lr = c.lr if c.lr is not None else image_param.default_lr
        optimiser = torch.optim.Adam(image_param.parameters(), lr=lr)
        augmenter = Augmenter(c.augment, copies=c.copies, seed=c.seed)
        timer = Timer()
        with torch.no_grad():
            initial_scores = prompt_scores(self.judge, image_param(), c.prompts)
        frames: list[Tensor] = []

        def step(index: int) -> dict:
            optimiser.zero_grad(set_to_none=True)
            with timer("render"):
                image = image_param()
            with timer("augment"):
                batch = augmenter(image)
            with timer("clip"), memory_hint(self.engine.clip_batch):
                out = self.engine(batch)
                loss = out.loss * c.copies
            content = None
            if self.init_image is not None and c.content_weight > 0:
                content = torch.nn.functional.mse_loss(image, self.init_image[None])
                loss = loss + c.content_weight * content
            with timer("backward"):
                loss.backward()
                optimiser.step()
            sims = {f"sim/{p}": out.similarity_tensor(p) for p in c.prompts}
            metrics = {"loss": loss.detach(), "clip_loss": out.loss.detach(), **sims,
                       "score": SCORE_SCALE * torch.stack(list(sims.values())).mean()}  # fmt: skip
            if content is not None:
                metrics["content_loss"] = content.detach()
            if folder is not None and (index % c.log_every == 0 or index == c.iters - 1):
                folder.log_metrics(index, **{k: v for k, v in metric_floats(metrics).items() if k != "score"})
            if frame_due(index, c.iters, c.frame_every):
                frames.append(image.detach()[0].cpu())
            return metrics

        loop = run_steps(c.iters, step, on_step=on_step)
        try:
            with torch.no_grad():
                final = image_param()[0].cpu()
            scores = {"trainer": prompt_scores(self.engine, final[None], c.prompts)}
            if self.judge is not self.engine:
                scores["judge"] = prompt_scores(self.judge, final[None], c.prompts)
            status = "interrupted" if loop.interrupted else "finished"
            result = PaintResult(final, scores, initial_scores, out_dir=Path(out_dir) if out_dir else None, status=status)
            if folder is not None:
                self._write(folder, result, frames, timer, loop.steps)
        finally:
            if folder is not None:
                folder.close()
        if result.interrupted:
            raise Interrupted(result)
        return result

    def _write(self, folder: RunFolder, result: PaintResult, frames: list[Tensor], timer: Timer, steps: int) -> None:
        c, files = self.config, result.files
        files["image.png"] = save_image(folder.file("image.png"), result.image)
        files["preview.png"] = save_image(folder.file("preview.png"), result.image)
        files["progress.gif"] = save_gif(folder.file("progress.gif"), frames or [result.image])
        files["config.toml"] = folder.file("config.toml")
        timings = timer.rounded()
        timings["per_iteration"] = timer.per_step(steps)
        files["run.json"] = folder.write_run_json(
            seed=c.seed, device=str(self.device), timings=timings, scores=result.scores,
            initial_scores=result.initial_scores, steps=steps, interrupted=result.interrupted, status=result.status,
            config=to_dict(c),
        )  # fmt: skip
        if folder.has_metrics:
            files["metrics.jsonl"] = folder.file("metrics.jsonl")
