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
from dataclasses import dataclass, field

import torch
from torch import Tensor

from stylize.colors import parse_color
from stylize.config import absolute_paths
from stylize.engine import Augmenter, ModelCache, PromptSet, load_image
from stylize.engine.engine import memory_hint
from stylize.generation import SCORE_SCALE, Generator2D, RunContext, RunOutcome, frame_due, prompt_scores
from stylize.images import save_image
from stylize.painting.config import PaintConfig, check_paint_config
from stylize.painting.params import get_image
from stylize.utils import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["PaintResult", "Painter"]


@dataclass(kw_only=True)
class PaintResult(RunOutcome):
    """What :meth:`Painter.run` returns: the image (3, H, W), ``scores`` after and
    ``initial_scores`` before (judge, else trainer), the run folder, ``status`` (``finished`` or
    ``interrupted``) and ``files`` (name -> path written)."""

    image: Tensor
    initial_scores: dict[str, float]
    frames: list[Tensor] = field(default_factory=list, repr=False)


class Painter(Generator2D):
    """A paint run: owns the engine, the parameterised image and the optional init picture.

    ``run(out_dir, on_step, overwrite)`` (:meth:`Generator2D.run`) optimises the image and writes
    ``image.png``, ``preview.png``, ``progress.gif``, ``config.toml``, ``run.json`` and
    ``metrics.jsonl`` when ``out_dir`` is given.

    Raises:
        InputError: no prompt, bad sizes, a missing or unreadable init image.
    """

    kind = "paint"

    def __init__(self, config: PaintConfig, model_cache: ModelCache | None = None) -> None:
        check_paint_config(config)
        self.config = config = absolute_paths(config)  # recorded so that the run folder works from anywhere
        self.device = resolve_device(config.device)
        self.canvas = tuple(min(max(v, 0.01), 0.99) for v in parse_color(config.canvas))
        self.init_image = load_image(config.init, size=config.size).to(self.device) if config.init else None
        prompts = PromptSet.build(config.prompts, config.negatives or None, negative_weight=config.negative_weight)
        self.build_engines(prompts, config.clip, config.judge, model_cache, clip_batch=config.clip_batch,
                           compile=config.compile)  # fmt: skip

    def inputs(self) -> list:
        return [self.config.init]

    def generate(self, context: RunContext) -> PaintResult:
        c, timer = self.config, context.timer
        generator = torch.Generator().manual_seed(c.seed)
        init = self.init_image.cpu() if self.init_image is not None else None
        image_param = get_image(c.param, c.size, c.size, init=init, generator=generator, decay=c.decay, cell=c.pixel_size,
                                base=self.canvas).to(self.device)  # fmt: skip
        lr = c.lr if c.lr is not None else image_param.default_lr
        optimiser = torch.optim.Adam(image_param.parameters(), lr=lr)
        augmenter = Augmenter(c.augment, copies=c.copies, seed=c.seed)
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
            context.log(index, c.iters, metrics)
            if frame_due(index, c.iters, c.frame_every):
                frames.append(image.detach()[0].cpu())
            return metrics

        context.loop(c.iters, step)
        with torch.no_grad():
            final = image_param()[0].cpu()
        return PaintResult(image=final, scores=self.final_scores(final[None], c.prompts), initial_scores=initial_scores,
                           frames=frames)  # fmt: skip

    def write_outputs(self, folder, result: PaintResult, context: RunContext) -> dict:
        result.files["image.png"] = save_image(folder.file("image.png"), result.image)
        self.write_pictures(folder, result.files, result.image, result.frames)
        return {"initial_scores": result.initial_scores}
