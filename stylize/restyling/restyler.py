"""Restyle an existing picture with CLIPstyler: train a StyleNet for one (image, text) pair.

The StyleNet (:mod:`stylize.restyling.stylenet`) maps the content image to its stylized version;
it is trained from random initialisation with the losses of :mod:`stylize.restyling.losses`
against the direction from the ``source`` text to the ``prompt`` in each training CLIP's space
(an ensemble averages the per-model losses by weight). The settings and their source are listed
in :mod:`stylize.restyling.config`.

Example:
    >>> config = resolve_config(RestyleConfig, RESTYLE_PRESETS, "smoke",
    ...                         overrides={"image": "circle.png", "prompt": "a blue circle", "source": "a red circle"})
    >>> result = Restyler(config).run("runs/restyle")
    >>> result.files["net.pt"]      # stylize other pictures with it: apply_stylenet(...)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize.config import absolute_paths, to_dict
from stylize.engine import Augmenter, Direction, ModelCache, PromptSet
from stylize.engine.losses import directional_loss
from stylize.errors import InputError
from stylize.generation import SCORE_SCALE, Generator2D, RunContext, RunOutcome, Timer, frame_due, prompt_scores
from stylize.images import image_grid, save_image
from stylize.restyling.config import MAX_INPUT_PIXELS, RestyleConfig, check_restyle_config
from stylize.restyling.io import load_picture, resize_picture, training_size
from stylize.restyling.losses import ContentLoss, get_content_features, patch_directional_loss, random_patches, total_variation
from stylize.restyling.stylenet import StyleNet, save_stylenet, stylize_image
from stylize.restyling.templates import expand_templates
from stylize.utils import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["OUTPUT_NAMES", "RestyleResult", "Restyler"]

#: What a finished run folder holds.
OUTPUT_NAMES = ("image.png", "preview.png", "progress.gif", "net.pt", "config.toml", "run.json", "metrics.jsonl")
_GIF_SIDE = 256


@dataclass(kw_only=True)
class RestyleResult(RunOutcome):
    """What :meth:`Restyler.run` returns.

    Attributes:
        image: the stylized picture (3, H, W) at the training size.
        content: the content image (3, H, W) as trained on (resized).
        net: the trained :class:`~stylize.restyling.stylenet.StyleNet` (eval mode).
        scores: ``{"trainer": {prompt: score, "mean": ...}, "judge": {...}}`` of the result (100 x cosine).
        initial_scores: the same scores of the content image (judge, else trainer).
        steps: optimisation steps done.
    """

    image: Tensor
    content: Tensor
    net: StyleNet
    initial_scores: dict[str, float]
    steps: int = 0
    frames: list[Tensor] = field(default_factory=list, repr=False)


class Restyler(Generator2D):
    """A restyle run: owns the content image, the engine, the content features and the StyleNet.

    ``run(out_dir, on_step, overwrite)`` (:meth:`Generator2D.run`) trains the StyleNet and writes
    ``image.png``, ``preview.png`` (content | result), ``progress.gif``, ``net.pt``,
    ``config.toml``, ``run.json`` and ``metrics.jsonl`` when ``out_dir`` is given.

    Args:
        config: a :class:`RestyleConfig` (``image``, ``prompt`` and ``source`` set).
        model_cache: share loaded CLIPs between runs.

    Raises:
        InputError: bad settings, a missing, unreadable or oversize content image; at run time,
            an output that would overwrite the content image, or ``out_dir`` holding a run.
        ModelLoadError: CLIP or VGG weights that cannot be loaded (e.g. VGG offline: use
            ``content_features = "clip"``).
    """

    kind = "restyle"

    def __init__(self, config: RestyleConfig, model_cache: ModelCache | None = None) -> None:
        check_restyle_config(config)
        self.config = config = absolute_paths(config)  # recorded so that the run folder works from anywhere
        self.device = resolve_device(config.device)
        picture = load_picture(config.image, MAX_INPUT_PIXELS, "content image")
        height, width = training_size(picture.shape[-2], picture.shape[-1], config.size)
        if min(height, width) < config.crop_size:
            raise InputError(
                f"content image {config.image}: at size {config.size} it is {width} x {height} px, smaller than "
                f"crop_size {config.crop_size}: raise size or lower crop_size"
            )
        self.content = resize_picture(picture, height, width)[None].to(self.device)
        # VGG first: an offline machine fails before any CLIP is loaded.
        features = None
        if config.lambda_content > 0 and config.content_features != "clip":
            features = get_content_features(config.content_features)
        prompts = PromptSet.build(direction=Direction(config.source, config.prompt))
        # A judge scores the prompt as a text (a direction needs the source picture's embedding).
        self.build_engines(prompts, config.clip, config.judge, model_cache, judge_prompts=PromptSet.build(config.prompt))
        if config.lambda_content > 0 and features is None:
            features = get_content_features("clip", clip_model=self.engine.clip_models[0])
        self.content_loss = ContentLoss(features.to(self.device), self.content) if features is not None else None
        self.texts = [self._text_pair(model) for model in self.engine.clip_models]
        with torch.no_grad():
            self.source_embeddings = [model.encode_image(self.content) for model in self.engine.clip_models]

    def _text_pair(self, model) -> tuple[Tensor, Tensor]:
        """(target, source) text embeddings (D,) of one model: template embeddings averaged."""
        pair = []
        for text in (self.config.prompt, self.config.source):
            embeddings = self.engine.embeddings.text(model, expand_templates(text, self.config.templates))
            pair.append(F.normalize(embeddings.mean(0), dim=-1))
        return pair[0], pair[1]

    def _clip_losses(self, output: Tensor, patches: Tensor) -> dict[str, Tensor | float]:
        """Patch and global directional losses (weight-averaged over the models) and the score
        (the cosine of the output with the prompt, 100 x, as every generator reports it)."""
        c = self.config
        patch_loss = dir_loss = output.new_zeros(())
        kept = score = 0.0
        total_weight = sum(self.engine.weights)
        for model, weight, (target, source), image_source in zip(
            self.engine.clip_models, self.engine.weights, self.texts, self.source_embeddings, strict=False
        ):
            share = weight / total_weight
            patch_term, patch_kept = patch_directional_loss(
                model.encode_image(patches), image_source, target, source, c.threshold
            )
            global_embedding = model.encode_image(output)
            patch_loss = patch_loss + share * patch_term.to(self.device)
            dir_loss = dir_loss + share * directional_loss(global_embedding, image_source, target, source).to(self.device)
            kept += share * patch_kept
            score += share * float(global_embedding.detach()[0] @ target)
        return {"patch": patch_loss, "dir": dir_loss, "kept": kept, "score": SCORE_SCALE * score}

    def inputs(self) -> list:
        return [self.config.image]

    def make_timer(self) -> Timer:
        return Timer(synchronize=torch.cuda.synchronize if self.device.type == "cuda" else None)

    def generate(self, context: RunContext) -> RestyleResult:
        c, timer = self.config, context.timer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            net = StyleNet(c.width)
        net = net.to(self.device).train()
        optimiser = torch.optim.Adam(net.parameters(), lr=c.lr)
        schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=c.lr_step, gamma=c.lr_gamma)
        crops = torch.Generator().manual_seed(c.seed)
        augmenter = Augmenter(c.patch_augment, copies=1, fill=c.patch_fill, seed=c.seed)
        initial_scores = prompt_scores(self.judge, self.content, [c.prompt])
        frames: list[Tensor] = []
        last_good: dict[str, Tensor] = {}  # the weights of the last step whose loss was finite

        def step(index: int) -> dict:
            optimiser.zero_grad(set_to_none=True)
            lr = optimiser.param_groups[0]["lr"]
            with timer("net"):
                output = net(self.content)
            with timer("augment"):
                patches = augmenter(random_patches(output, c.num_crops, c.crop_size, crops))
            with timer("clip"):
                clip = self._clip_losses(output, patches)
            with timer("content"):
                content = self.content_loss(output) if self.content_loss is not None else output.new_zeros(())
                tv = total_variation(output)
            loss = c.lambda_patch * clip["patch"] + c.lambda_dir * clip["dir"] + c.lambda_content * content + c.lambda_tv * tv
            if math.isfinite(float(loss.detach())):  # these weights gave a finite loss: keep them
                last_good.update({k: v.detach().clone() for k, v in net.state_dict().items()})
            with timer("backward"):
                loss.backward()
                optimiser.step()
                schedule.step()
            metrics = {
                "loss": float(loss.detach()), "score": clip["score"], "patch_loss": float(clip["patch"].detach()),
                "dir_loss": float(clip["dir"].detach()), "content_loss": float(content.detach()),
                "tv_loss": float(tv.detach()), "patches_kept": clip["kept"], "lr": lr,
            }  # fmt: skip
            context.log(index, c.iters, metrics)
            if frame_due(index, c.iters, c.frame_every):
                frames.append(_thumbnail(output.detach()[0].cpu()))
            return metrics

        context.loop(c.iters, step)
        if context.diverged and last_good:  # (status diverged) write the last good state, not NaN
            logger.warning("restyle diverged: writing the last state whose loss was finite")
            net.load_state_dict(last_good)
        final = stylize_image(net, self.content)
        return RestyleResult(
            image=final, content=self.content[0].cpu(), net=net, initial_scores=initial_scores, steps=context.steps,
            scores=self.final_scores(final[None].to(self.device), [c.prompt]), frames=frames,
        )  # fmt: skip

    def write_outputs(self, folder, result: RestyleResult, context: RunContext) -> dict:
        c, files = self.config, result.files
        height, width = result.image.shape[-2:]
        files["image.png"] = save_image(folder.file("image.png"), result.image)
        preview = image_grid([result.content, result.image], columns=2)
        self.write_pictures(folder, files, preview, result.frames or [_thumbnail(result.image)])
        files["net.pt"] = save_stylenet(
            folder.file("net.pt"), result.net, prompt=c.prompt, source=c.source, size=[int(height), int(width)],
            steps=result.steps, config=to_dict(c),
        )  # fmt: skip
        return {"initial_scores": result.initial_scores, "size": [int(height), int(width)]}


def _thumbnail(image: Tensor, side: int = _GIF_SIDE) -> Tensor:
    """(3, H, W) scaled down so its longer side is at most ``side`` (animation frames stay small)."""
    scale = side / max(image.shape[-2:])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[-2] * scale)), max(1, round(image.shape[-1] * scale)))
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
