"""The CLIP-loss engine: images in, a scalar loss and per-prompt similarities out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from stylize.engine.losses import directional_loss, get_loss
from stylize.engine.models import ClipModel, ModelCache, check_images
from stylize.engine.prompts import EmbeddingCache, PromptSet, TextPrompt
from stylize.engine.specs import DEFAULT_CLIP, ModelSpec, parse_model_spec
from stylize.errors import InputError
from stylize.utils import resolve_device

logger = logging.getLogger(__name__)


@dataclass
class EngineOutput:
    """What one scoring call returns.

    Attributes:
        loss: scalar tensor, differentiable w.r.t. the images.
        similarities: ``{model name: {prompt: cosine similarity}}`` averaged over the batch
            (detached floats); negatives and image prompts included.
        model_losses: ``{model name: float}`` before ensemble weighting.
    """

    loss: torch.Tensor
    similarities: dict[str, dict[str, float]] = field(default_factory=dict)
    model_losses: dict[str, float] = field(default_factory=dict)

    def mean_similarity(self, prompt: str) -> float:
        """Similarity to ``prompt`` averaged over the models (unweighted)."""
        values = [sims[prompt] for sims in self.similarities.values() if prompt in sims]
        return sum(values) / len(values) if values else float("nan")


class ClipEngine(nn.Module):
    """Turns images (B, 3, H, W) in [0, 1] into a CLIP loss against a set of prompts.

    Every model of the ensemble gets the images resized and normalised its own way; the
    ensemble loss is the weight-averaged per-model loss (Pixray-style multi-CLIP). For one model:

    ``loss = sum_p w_p L(img, p) / sum_p w_p + sum_n w_n cos(img, n) + w_d L_dir``

    over positive text/image prompts p, negative prompts n (pushed away) and an optional
    direction d. ``L`` is ``cosine`` (1 - cos) or ``spherical``.

    Args:
        models: model specs (see :mod:`stylize.engine.models`), each optionally ``@weight``.
        prompts: a :class:`PromptSet`, or text(s) for the positive prompts.
        negatives: negative prompt texts (when ``prompts`` is not a PromptSet).
        loss: ``cosine`` or ``spherical``.
        device: ``auto``, ``cpu`` or ``cuda``.
        model_cache: share loaded models between engines.
        embedding_cache: share prompt embeddings between engines.
        allow_download: passed to :func:`load_clip`.

    Example:
        >>> engine = ClipEngine(["local-dir:tests/assets/clip/trainer"], "a red circle")
        >>> out = engine(torch.rand(2, 3, 64, 64))
        >>> out.loss.backward()
    """

    def __init__(
        self,
        models: Sequence[str | ModelSpec] | str = (DEFAULT_CLIP,),
        prompts: PromptSet | Sequence[str | TextPrompt] | str = (),
        negatives: Sequence[str | TextPrompt] | str | None = None,
        loss: str = "cosine",
        device: str | torch.device = "auto",
        model_cache: ModelCache | None = None,
        embedding_cache: EmbeddingCache | None = None,
        allow_download: bool | None = None,
    ) -> None:
        super().__init__()
        if isinstance(models, (str, ModelSpec)):
            models = [models]
        specs = [parse_model_spec(m) for m in models]
        if not specs:
            raise InputError("no CLIP model given")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise InputError(f"the same CLIP model is listed twice: {names}")
        self.prompts = prompts if isinstance(prompts, PromptSet) else PromptSet.build(prompts, negatives)
        self.loss_fn = get_loss(loss)
        self.loss_name = loss
        self.device = resolve_device(device)
        self.model_cache = model_cache if model_cache is not None else ModelCache()
        self.embeddings = embedding_cache if embedding_cache is not None else EmbeddingCache()
        self.clip_models: list[ClipModel] = [
            self.model_cache.get(spec, self.device, allow_download=allow_download) for spec in specs
        ]
        self.weights = [spec.weight for spec in specs]
        self._source_embeddings: dict[str, torch.Tensor] = {}

    @property
    def model_names(self) -> list[str]:
        return [m.spec.name for m in self.clip_models]

    def set_source(self, images: torch.Tensor) -> None:
        """Record the source images for the directional loss (encoded once, no gradient)."""
        check_images(images)
        with torch.no_grad():
            for model in self.clip_models:
                self._source_embeddings[model.spec.name] = model.encode_image(images)

    def _model_loss(
        self, model: ClipModel, image_emb: torch.Tensor, pooled: bool
    ) -> tuple[torch.Tensor, dict[str, float]]:
        prompts = self.prompts
        sims: dict[str, float] = {}
        terms: list[torch.Tensor] = []
        weights: list[float] = []
        if prompts.texts:
            text_emb = self.embeddings.text(model, [p.text for p in prompts.texts])
            for prompt, emb in zip(prompts.texts, text_emb):
                terms.append(self.loss_fn(image_emb, emb))
                weights.append(prompt.weight)
                sims[prompt.text] = float((image_emb.detach() @ emb).mean())
        for prompt in prompts.images:
            emb = self.embeddings.image(model, prompt)
            terms.append(self.loss_fn(image_emb, emb))
            weights.append(prompt.weight)
            sims[prompt.name] = float((image_emb.detach() @ emb).mean())
        total = image_emb.new_zeros(())
        if terms:
            w = torch.tensor(weights, device=image_emb.device)
            total = total + (torch.stack(terms) * w).sum() / w.sum()
        if prompts.negatives:
            neg_emb = self.embeddings.text(model, [p.text for p in prompts.negatives])
            for prompt, emb in zip(prompts.negatives, neg_emb):
                cos = (image_emb @ emb).mean()
                total = total + prompt.weight * cos
                sims[prompt.text] = float(cos.detach())
        if prompts.direction is not None:
            direction = prompts.direction
            source = self._source_embeddings.get(model.spec.name)
            if source is None:
                raise RuntimeError("directional prompt needs source images: call engine.set_source(images) first")
            if pooled:
                source = torch.nn.functional.normalize(source.mean(0, keepdim=True), dim=-1)
            src_text, tgt_text = self.embeddings.text(model, [direction.source, direction.target])
            total = total + direction.weight * directional_loss(image_emb, source, tgt_text, src_text)
            sims[direction.target] = float((image_emb.detach() @ tgt_text).mean())
        return total, sims

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-norm embeddings (B, D_m) of ``images`` under each model."""
        check_images(images)
        return [model.encode_image(images) for model in self.clip_models]

    def forward(self, images: torch.Tensor, pool: bool = False) -> EngineOutput:
        """Score ``images``.

        Args:
            images: (B, 3, H, W) in [0, 1], any size, any device.
            pool: average the embeddings over the batch before comparing (Text2Mesh compares
                the mean embedding of all views with the prompt); otherwise losses are averaged.

        Returns:
            :class:`EngineOutput` with a scalar ``loss`` differentiable w.r.t. ``images``.
        """
        check_images(images)
        total = None
        out = EngineOutput(loss=torch.zeros(()))
        for model, weight in zip(self.clip_models, self.weights):
            image_emb = model.encode_image(images)
            if pool:
                image_emb = torch.nn.functional.normalize(image_emb.mean(0, keepdim=True), dim=-1)
            model_loss, sims = self._model_loss(model, image_emb, pool)
            out.similarities[model.spec.name] = sims
            out.model_losses[model.spec.name] = float(model_loss.detach())
            contribution = weight * model_loss.to(self.device)
            total = contribution if total is None else total + contribution
        out.loss = total / sum(self.weights)
        return out

    @torch.no_grad()
    def score_texts(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity (M, B, N) of each image with each text under each of the M models."""
        rows = []
        for model in self.clip_models:
            image_emb = model.encode_image(images)
            rows.append(image_emb @ self.embeddings.text(model, list(texts)).T)
        return torch.stack(rows)


__all__ = ["ClipEngine", "EngineOutput", "DEFAULT_CLIP"]
