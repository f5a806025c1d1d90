"""CLIPasso's loss for many sketches of one photo at once, from one CLIP pass.

Images are stacked as *groups*: the photo first, then every sketch (all seeds, all stroke
levels); the unaugmented group comes first, then one group per augmentation copy, each group
warped by one :func:`~stylize.engine.augment.paired_warps` warp. The photo appears once per
group (its features are computed once per augmentation draw, whatever the number of sketches)
and is detached. Per sketch and group:

``geometric = sum_l w_l mean((F_l(sketch) - F_l(photo))^2)`` over the CLIP image tower's
feature maps at the configured depths, ``semantic = 1 - cos(E(sketch), E(photo))`` and, with text
prompts, ``text = mean_p (1 - cos(E(sketch), T_p))``; ``total = geometric + w_s semantic + w_t text``.

The training loss of a sketch is its total averaged over all groups (CLIPasso averages over the
original and its augmented copies); its evaluation loss is the total of the unaugmented group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from stylize.engine.features import ClipFeatures

__all__ = ["SketchLoss", "SketchLossTerms"]


@dataclass
class SketchLossTerms:
    """Per-sketch losses of one pass, each ``(S,)``.

    Attributes:
        train: the training loss (mean over the groups), differentiable.
        eval: the unaugmented group's total (detached).
        geometric, semantic, text: the unaugmented group's terms (detached; ``text`` zeros
            without prompts).
        photo_cosine: cosine between the unaugmented sketch's and the photo's embeddings.
        text_cosine: mean cosine with the prompts (zeros without prompts).
    """

    train: Tensor
    eval: Tensor
    geometric: Tensor
    semantic: Tensor
    text: Tensor
    photo_cosine: Tensor
    text_cosine: Tensor


class SketchLoss:
    """The geometric + semantic (+ text) loss of sketches against one photo (see the module docstring).

    Args:
        clip_model: a :class:`~stylize.engine.ClipModel` (ViT or ResNet image tower).
        depths: relative depths of the feature maps (:meth:`ClipFeatures.at_depths`).
        weights: one weight per depth.
        semantic_weight: weight of ``1 - cos`` with the photo's embedding (0.1 in CLIPasso).
        text_embeddings: unit text embeddings (P, D) of the prompts, or None.
        prompt_weight: weight of the text term.
    """

    def __init__(self, clip_model, depths: Sequence[float], weights: Sequence[float], semantic_weight: float = 0.1,
                 text_embeddings: Tensor | None = None, prompt_weight: float = 0.1) -> None:  # fmt: skip
        if len(depths) != len(weights) or not depths:
            raise ValueError(f"expected one weight per depth, got {len(weights)} weights for {len(depths)} depths")
        self.features = ClipFeatures.at_depths(clip_model, depths)
        self.weights = [float(w) for w in weights]
        self.semantic_weight = float(semantic_weight)
        self.text = text_embeddings
        self.prompt_weight = float(prompt_weight)

    def __call__(self, images: Tensor, groups: int) -> SketchLossTerms:
        """Losses of the sketches in ``images``.

        Shape:
            images: ``(groups * (1 + S), 3, H, W)``, group-major; in each group the photo, then
            the S sketches. Returns :class:`SketchLossTerms` of ``(S,)`` tensors.
        """
        if groups < 1 or images.shape[0] % groups or images.shape[0] // groups < 2:
            raise ValueError(f"expected {groups} groups of a photo and at least one sketch, got {images.shape[0]} images")
        per_group = images.shape[0] // groups
        maps, embeddings = self.features.with_embedding(images)
        geometric = images.new_zeros(groups, per_group - 1)
        for weight, feature in zip(self.weights, maps, strict=True):
            if weight == 0:
                continue
            feature = feature.reshape(groups, per_group, -1)
            difference = feature[:, 1:] - feature[:, :1].detach()
            geometric = geometric + weight * difference.square().mean(-1)
        embeddings = embeddings.reshape(groups, per_group, -1)
        sketch, photo = embeddings[:, 1:], embeddings[:, :1].detach()
        photo_cosine = (sketch * photo).sum(-1)
        semantic = 1 - photo_cosine
        total = geometric + self.semantic_weight * semantic
        text = torch.zeros_like(semantic)
        text_cosine = torch.zeros_like(semantic)
        if self.text is not None and len(self.text):
            text_cosine = (sketch @ self.text.to(sketch).T).mean(-1)
            text = 1 - text_cosine
            total = total + self.prompt_weight * text
        return SketchLossTerms(
            train=total.mean(0), eval=total[0].detach(), geometric=geometric[0].detach(), semantic=semantic[0].detach(),
            text=text[0].detach(), photo_cosine=photo_cosine[0].detach(), text_cosine=text_cosine[0].detach(),
        )  # fmt: skip
