"""The CLIP-loss engine: images in, a scalar loss and per-prompt similarities out."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.utils.checkpoint
from torch import nn

from stylize.engine.losses import directional_loss, get_loss
from stylize.engine.models import ClipModel, ModelCache, check_images
from stylize.engine.prompts import EmbeddingCache, PromptSet, TextPrompt
from stylize.engine.specs import DEFAULT_CLIP, ModelSpec, parse_model_spec
from stylize.errors import InputError, ModelLoadError
from stylize.utils import resolve_device

logger = logging.getLogger(__name__)


@dataclass
class EngineOutput:
    """What one scoring call returns.

    Similarities and per-model losses are kept as detached 0-dim tensors on the engine's device
    and turned into floats only when read, so a training step never waits on the device for
    numbers nobody looks at.

    Attributes:
        loss: scalar tensor, differentiable w.r.t. the images.
        similarity_tensors: ``{model name: {prompt: 0-dim tensor}}`` (cosine, batch mean).
        model_loss_tensors: ``{model name: 0-dim tensor}`` before ensemble weighting.
    """

    loss: torch.Tensor
    similarity_tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    model_loss_tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def similarities(self) -> dict[str, dict[str, float]]:
        """``{model name: {prompt: cosine similarity}}`` averaged over the batch, as floats
        (negatives, image prompts and a direction's target included)."""
        names = [(model, prompt) for model, sims in self.similarity_tensors.items() for prompt in sims]
        values = _to_floats([self.similarity_tensors[m][p] for m, p in names])
        result: dict[str, dict[str, float]] = {model: {} for model in self.similarity_tensors}
        for (model, prompt), value in zip(names, values, strict=False):
            result[model][prompt] = value
        return result

    @property
    def model_losses(self) -> dict[str, float]:
        return dict(zip(self.model_loss_tensors, _to_floats(list(self.model_loss_tensors.values())), strict=False))

    def similarity_tensor(self, prompt: str) -> torch.Tensor:
        """Similarity to ``prompt`` averaged over the models (unweighted), as a 0-dim tensor (NaN if absent)."""
        values = [sims[prompt] for sims in self.similarity_tensors.values() if prompt in sims]
        if not values:
            return torch.full((), float("nan"))
        return torch.stack(values).mean()

    def mean_similarity(self, prompt: str) -> float:
        """Similarity to ``prompt`` averaged over the models (unweighted)."""
        return float(self.similarity_tensor(prompt))


def _to_floats(values: list[torch.Tensor]) -> list[float]:
    """Many 0-dim tensors (on one device) as floats, with one device-to-host transfer."""
    return torch.stack([v.detach().float() for v in values]).tolist() if values else []


@dataclass
class GroupScores:
    """What :meth:`ClipEngine.score_groups` returns: one :class:`EngineOutput` per group and the
    groups' losses stacked, ``losses`` ``(G,)`` (differentiable)."""

    outputs: list[EngineOutput]
    losses: torch.Tensor


def default_clip_batch(device: torch.device) -> int:
    """Images per CLIP forward when ``clip_batch`` is 0 (auto): no chunking on the CPU, 8 images
    per GiB of GPU memory (64 on an 8 GiB card, ~1100 on an H200), 32 on Apple silicon."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return max(8, int(total / 2**30 * 8))
    if device.type == "mps":
        return 32
    return 4096


@contextlib.contextmanager
def memory_hint(clip_batch: int) -> Iterator[None]:
    """Turn an out-of-memory error into one line naming the setting to lower."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise ModelLoadError(
            f"out of memory scoring images with CLIP {clip_batch} at a time: lower clip_batch "
            f"(e.g. --set clip_batch={max(1, clip_batch // 2)}) or the render size"
        ) from None


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
        clip_batch: images per forward pass of a model (the memory budget); larger batches are
            encoded in chunks with activation checkpointing, so memory holds one chunk's
            activations while the loss and gradients stay those of one batch. 0: a default per
            device (:func:`default_clip_batch`).
        compile: ``torch.compile`` the image towers (CUDA; off by default).

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
        clip_batch: int = 0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if clip_batch < 0:
            raise InputError(f"config key 'clip_batch': expected 0 (auto) or a positive number of images, got {clip_batch}")
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
        self.clip_batch = int(clip_batch) or default_clip_batch(self.device)
        self._encoders = [model.compiled_encoder() if compile else model.encode_image for model in self.clip_models]
        self._source_embeddings: dict[str, torch.Tensor] = {}

    @property
    def model_names(self) -> list[str]:
        return [m.spec.name for m in self.clip_models]

    def set_source(self, images: torch.Tensor, pool: bool = False) -> None:
        """Record the source images for the directional loss (encoded once, no gradient).

        With ``pool`` their mean embedding is the one source of every image scored later
        (whatever the batch size), else image ``i`` pairs with source ``i``."""
        check_images(images)
        with torch.no_grad():
            for model, embedding in zip(self.clip_models, self.encode(images), strict=False):
                if pool:
                    embedding = torch.nn.functional.normalize(embedding.mean(0, keepdim=True), dim=-1)
                self._source_embeddings[model.spec.name] = embedding

    def _model_loss(
        self, model: ClipModel, image_emb: torch.Tensor, pooled: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        prompts = self.prompts
        sims: dict[str, torch.Tensor] = {}
        terms: list[torch.Tensor] = []
        weights: list[float] = []
        detached = image_emb.detach()
        if prompts.texts:
            text_emb = self.embeddings.text(model, [p.text for p in prompts.texts])
            for prompt, emb in zip(prompts.texts, text_emb, strict=False):
                terms.append(self.loss_fn(image_emb, emb))
                weights.append(prompt.weight)
                sims[prompt.text] = (detached @ emb).mean()
        for prompt in prompts.images:
            emb = self.embeddings.image(model, prompt)
            terms.append(self.loss_fn(image_emb, emb))
            weights.append(prompt.weight)
            sims[prompt.name] = (detached @ emb).mean()
        total = image_emb.new_zeros(())
        if terms:
            w = torch.tensor(weights, device=image_emb.device)
            total = total + (torch.stack(terms) * w).sum() / w.sum()
        if prompts.negatives:
            neg_emb = self.embeddings.text(model, [p.text for p in prompts.negatives])
            for prompt, emb in zip(prompts.negatives, neg_emb, strict=False):
                cos = (image_emb @ emb).mean()
                total = total + prompt.weight * cos
                sims[prompt.text] = cos.detach()
        if prompts.direction is not None:
            direction = prompts.direction
            source = self._source_embeddings.get(model.spec.name)
            if source is None:
                raise RuntimeError("directional prompt needs source images: call engine.set_source(images) first")
            if pooled:
                source = torch.nn.functional.normalize(source.mean(0, keepdim=True), dim=-1)
            src_text, tgt_text = self.embeddings.text(model, [direction.source, direction.target])
            total = total + direction.weight * directional_loss(image_emb, source, tgt_text, src_text)
            sims[direction.target] = (detached @ tgt_text).mean()
        return total, sims

    def _encode_with(self, index: int, images: torch.Tensor) -> torch.Tensor:
        """Model ``index``'s unit embeddings of ``images``, at most ``clip_batch`` per forward.

        Chunks are checkpointed when gradients are needed: their activations are recomputed in
        the backward pass instead of being kept, so memory holds one chunk at a time."""
        encode = self._encoders[index]
        if images.shape[0] <= self.clip_batch:
            return encode(images)
        needs_grad = torch.is_grad_enabled() and images.requires_grad
        parts = []
        for chunk in images.split(self.clip_batch):
            if needs_grad:
                parts.append(torch.utils.checkpoint.checkpoint(encode, chunk, use_reentrant=False))
            else:
                parts.append(encode(chunk))
        return torch.cat(parts)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-norm embeddings (B, D_m) of ``images`` under each model (one batch per model,
        chunked only by ``clip_batch``)."""
        check_images(images)
        with memory_hint(self.clip_batch):
            return [self._encode_with(index, images) for index in range(len(self.clip_models))]

    def _score_embeddings(self, embeddings: Sequence[torch.Tensor], pool: bool) -> EngineOutput:
        """The loss and similarities of one group of images, from their per-model embeddings."""
        total = None
        out = EngineOutput(loss=torch.zeros(()))
        for model, weight, image_emb in zip(self.clip_models, self.weights, embeddings, strict=False):
            if pool:
                image_emb = torch.nn.functional.normalize(image_emb.mean(0, keepdim=True), dim=-1)
            model_loss, sims = self._model_loss(model, image_emb, pool)
            out.similarity_tensors[model.spec.name] = sims
            out.model_loss_tensors[model.spec.name] = model_loss.detach()
            contribution = weight * model_loss.to(self.device)
            total = contribution if total is None else total + contribution
        out.loss = total / sum(self.weights)
        return out

    def forward(self, images: torch.Tensor, pool: bool = False) -> EngineOutput:
        """Score ``images``.

        Args:
            images: (B, 3, H, W) in [0, 1], any size, any device.
            pool: average the embeddings over the batch before comparing (Text2Mesh compares
                the mean embedding of all views with the prompt); otherwise losses are averaged.

        Returns:
            :class:`EngineOutput` with a scalar ``loss`` differentiable w.r.t. ``images``.
        """
        return self._score_embeddings(self.encode(images), pool)

    def score_groups(self, images: torch.Tensor, groups: int, pool: bool = True) -> GroupScores:
        """Score ``groups`` consecutive, equal groups of ``images`` with one encoding pass.

        Every image is encoded once per model in one batch (chunked only by ``clip_batch``);
        then each group is scored as :meth:`forward` would score it alone, so the losses and
        their gradients equal ``[engine(group, pool) for group in images.chunk(groups)]`` (to
        float rounding). This is how a Text2Mesh iteration scores its 9 augmentation groups of
        5 views (45 encodings) at once.

        Shape:
            images: ``(G * n, 3, H, W)``, group ``g`` being rows ``g * n`` to ``(g + 1) * n``.
        """
        check_images(images)
        if groups < 1 or images.shape[0] % groups:
            raise ValueError(f"expected a batch that splits into {groups} equal groups, got {images.shape[0]} images")
        embeddings = self.encode(images)
        per_group = [emb.chunk(groups, dim=0) for emb in embeddings]
        outputs = [self._score_embeddings([chunks[g] for chunks in per_group], pool) for g in range(groups)]
        return GroupScores(outputs, torch.stack([out.loss for out in outputs]))

    @torch.no_grad()
    def score_texts(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity (M, B, N) of each image with each text under each of the M models."""
        embeddings = self.encode(images)
        rows = [
            emb @ self.embeddings.text(model, list(texts)).T for model, emb in zip(self.clip_models, embeddings, strict=False)
        ]
        return torch.stack(rows)


__all__ = ["ClipEngine", "EngineOutput", "GroupScores", "DEFAULT_CLIP", "default_clip_batch", "memory_hint"]
