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
from typing import Literal

import torch
from torch import Tensor

from stylize.config import to_dict
from stylize.engine import Augmenter, ClipEngine, ModelCache, PromptSet, load_image
from stylize.errors import InputError
from stylize.generation import GenerationConfig, Timer, frame_due, make_progress, prompt_scores
from stylize.raster.params import IMAGE_PARAMETERISATIONS, make_image
from stylize.runs import RunFolder, save_gif, save_image
from stylize.utils import resolve_device
from stylize.vector.palette import parse_color

logger = logging.getLogger(__name__)


@dataclass
class PaintConfig(GenerationConfig):
    """Everything one ``stylize paint`` run needs."""

    param: Literal["pixel", "fft"] = "fft"
    init: str = ""
    content_weight: float = 20.0
    copies: int = 8
    lr: float | None = None
    decay: float = 1.5
    pixel_size: int = 1
    canvas: str = "#e6e6e6"


PAINT_PRESETS: dict[str, dict] = {
    "aphantasia": {"param": "fft", "iters": 300, "copies": 8},
    "pixels": {"param": "pixel", "iters": 300, "copies": 8},
    "smoke": {"size": 48, "iters": 6, "copies": 2, "log_every": 2, "frame_every": 2, "progress": False},
    "test": {"size": 64, "iters": 24, "copies": 4, "pixel_size": 8, "log_every": 5, "frame_every": 5, "progress": False},
}


@dataclass
class PaintResult:
    """What :meth:`Painter.run` returns: the image (3, H, W), scores before/after, the run folder."""

    image: Tensor
    scores: dict[str, dict[str, float]]
    initial_scores: dict[str, float]
    out_dir: Path | None = None
    interrupted: bool = False


def check_paint_config(config: PaintConfig) -> None:
    """Raise :class:`InputError` naming the first unusable setting (prompts, sizes, parameterisation)."""
    if not config.prompts or not all(isinstance(p, str) and p.strip() for p in config.prompts):
        raise InputError("no prompt given: paint needs at least one non-empty text prompt")
    for name in ("size", "iters", "copies"):
        if getattr(config, name) < 1:
            raise InputError(f"config key {name!r}: expected a positive integer, got {getattr(config, name)}")
    if config.param not in IMAGE_PARAMETERISATIONS:
        raise InputError(f"unknown parameterisation {config.param!r}: expected one of {sorted(IMAGE_PARAMETERISATIONS)}")


class Painter:
    """A paint run: owns the engine, the parameterised image and the optional init picture.

    Raises:
        InputError: no prompt, bad sizes, a missing or unreadable init image.
    """

    def __init__(self, config: PaintConfig, model_cache: ModelCache | None = None) -> None:
        check_paint_config(config)
        self.config = config
        self.device = resolve_device(config.device)
        self.canvas = tuple(min(max(v, 0.01), 0.99) for v in parse_color(config.canvas))
        self.init_image = load_image(config.init, size=config.size).to(self.device) if config.init else None
        self.model_cache = model_cache if model_cache is not None else ModelCache()
        prompts = PromptSet.build(config.prompts, config.negatives or None, negative_weight=config.negative_weight)
        self.engine = ClipEngine(config.clip, prompts, device=self.device, model_cache=self.model_cache)
        self.judge = self.engine
        if config.judge and list(config.judge) != list(config.clip):
            self.judge = ClipEngine(config.judge, prompts, device=self.device, model_cache=self.model_cache)

    def run(self, out_dir: str | Path | None = None) -> PaintResult:
        """Optimise the image; write ``image.png``, ``preview.png``, ``progress.gif``,
        ``config.toml``, ``run.json`` and ``metrics.jsonl`` when ``out_dir`` is given."""
        c = self.config
        folder = RunFolder(out_dir, "paint") if out_dir is not None else None
        if folder is not None:
            folder.write_config(c)
        generator = torch.Generator().manual_seed(c.seed)
        init = self.init_image.cpu() if self.init_image is not None else None
        image_param = make_image(c.param, c.size, c.size, init=init, generator=generator, decay=c.decay, cell=c.pixel_size,
                                 base=self.canvas).to(self.device)
        lr = c.lr if c.lr is not None else image_param.default_lr
        optimiser = torch.optim.Adam(image_param.parameters(), lr=lr)
        augmenter = Augmenter(c.augment, copies=c.copies, seed=c.seed)
        timer = Timer()
        with torch.no_grad():
            initial_scores = prompt_scores(self.judge, image_param(), c.prompts)
        frames, steps, interrupted = [], 0, False
        bar = make_progress(c.iters, c.progress, "paint")
        try:
            for step in range(c.iters):
                optimiser.zero_grad(set_to_none=True)
                with timer("render"):
                    image = image_param()
                with timer("augment"):
                    batch = augmenter(image)
                with timer("clip"):
                    out = self.engine(batch)
                    loss = out.loss * c.copies
                content = None
                if self.init_image is not None and c.content_weight > 0:
                    content = torch.nn.functional.mse_loss(image, self.init_image[None])
                    loss = loss + c.content_weight * content
                with timer("backward"):
                    loss.backward()
                    optimiser.step()
                steps = step + 1
                if folder is not None and (step % c.log_every == 0 or step == c.iters - 1):
                    extra = {"content_loss": float(content.detach())} if content is not None else {}
                    sims = {f"sim/{p}": out.mean_similarity(p) for p in c.prompts}
                    folder.log_metrics(step, loss=float(loss.detach()), clip_loss=float(out.loss.detach()), **sims, **extra)
                if frame_due(step, c.iters, c.frame_every):
                    frames.append(image.detach()[0].cpu())
                bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted after %d of %d steps; saving what exists", steps, c.iters)
        finally:
            bar.close()
        try:
            with torch.no_grad():
                final = image_param()[0].cpu()
            scores = {"trainer": prompt_scores(self.engine, final[None], c.prompts)}
            if self.judge is not self.engine:
                scores["judge"] = prompt_scores(self.judge, final[None], c.prompts)
            result = PaintResult(final, scores, initial_scores, Path(out_dir) if out_dir else None, interrupted)
            if folder is not None:
                save_image(folder.file("image.png"), final)
                save_image(folder.file("preview.png"), final)
                save_gif(folder.file("progress.gif"), frames or [final])
                timings = timer.rounded()
                timings["per_iteration"] = {k: round(v / max(steps, 1), 5) for k, v in timer.totals.items()}
                folder.write_run_json(
                    seed=c.seed, device=str(self.device), timings=timings, scores=scores, initial_scores=initial_scores,
                    steps=steps, interrupted=interrupted, config=to_dict(c),
                )  # fmt: skip
        finally:
            if folder is not None:
                folder.close()
        if interrupted:
            raise KeyboardInterrupt
        return result
