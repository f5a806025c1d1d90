"""Rank candidate captions for images with a judge CLIP (R-precision style checks)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stylize.engine import ClipEngine


@torch.no_grad()
def caption_scores(
    judge: ClipEngine, images: torch.Tensor | None, captions: Sequence[str], embeddings: Sequence[torch.Tensor] | None = None
) -> dict[str, float]:
    """Mean cosine similarity of ``images`` (B, 3, H, W) with each caption, averaged over models
    and images (the mean embedding over the batch, as multi-view scores do).

    ``embeddings``: the judge's per-model embeddings of the images when the caller already has
    them (:meth:`ClipEngine.encode`), so the images are not encoded twice."""
    if embeddings is None:
        embeddings = judge.encode(images)
    per_model = []
    for model, encoded in zip(judge.clip_models, embeddings, strict=False):
        image = torch.nn.functional.normalize(encoded.mean(0), dim=-1)
        per_model.append(judge.embeddings.text(model, list(captions)) @ image)
    scores = torch.stack(per_model).mean(0)
    return {caption: float(score) for caption, score in zip(captions, scores, strict=False)}


def caption_rank(scores: dict[str, float], caption: str) -> int:
    """1-based rank of ``caption`` among ``scores`` (1 = best; ties count against it)."""
    if caption not in scores:
        raise KeyError(f"caption {caption!r} is not among the candidates")
    return 1 + sum(1 for other, value in scores.items() if other != caption and value >= scores[caption])
