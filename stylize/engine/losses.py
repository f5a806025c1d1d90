"""CLIP losses between image embeddings and target embeddings.

All functions take unit-norm embeddings. Each returns a scalar averaged over the batch so that
loss values do not depend on how many augmented copies were scored.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from stylize.registry import Registry


def _check_pair(image_embeddings: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if image_embeddings.ndim != 2:
        raise ValueError(f"expected image embeddings of shape (B, D), got {tuple(image_embeddings.shape)}")
    if target.ndim == 1:
        target = target.unsqueeze(0)
    if target.ndim != 2 or target.shape[-1] != image_embeddings.shape[-1]:
        raise ValueError(
            f"expected target embeddings of shape (D,) or (N, D) with D={image_embeddings.shape[-1]}, got {tuple(target.shape)}"
        )
    return target


def cosine_loss(image_embeddings: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` averaged over the batch (and over the targets when several are given).

    Args:
        image_embeddings: (B, D) unit vectors.
        target: (D,) or (N, D) unit vectors.

    Returns:
        Scalar in [0, 2].
    """
    target = _check_pair(image_embeddings, target)
    return (1.0 - image_embeddings @ target.T).mean()


def spherical_distance_loss(image_embeddings: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance, as Pixray and the VQGAN+CLIP notebooks use.

    ``2 * arcsin(|x - y| / 2)^2`` averaged over the batch; smooth where cosine saturates.
    """
    target = _check_pair(image_embeddings, target)
    chord = (image_embeddings.unsqueeze(1) - target.unsqueeze(0)).norm(dim=-1)
    return (chord.div(2).clamp(max=1.0).arcsin().pow(2).mul(2)).mean()


def directional_loss(
    image_embeddings: torch.Tensor,
    source_image_embeddings: torch.Tensor,
    target_text: torch.Tensor,
    source_text: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """StyleGAN-NADA's directional CLIP loss.

    The change of the image embedding (image - source image) should point the same way as the
    change of the text embedding (target text - source text): ``1 - cos(dI, dT)``.

    Args:
        image_embeddings: (B, D) embeddings of the current images.
        source_image_embeddings: (B, D) or (D,) embeddings of the source images.
        target_text: (D,) embedding of the target text.
        source_text: (D,) embedding of the source text.
        reduction: ``mean`` (a scalar) or ``none`` (one value per image, (B,), for losses that
            weigh or reject images one by one, as CLIPstyler's patch loss does).

    Returns:
        Scalar (or (B,)) in [0, 2]: 0 when the moves align, 2 when they are opposed.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"expected reduction 'mean' or 'none', got {reduction!r}")
    if source_image_embeddings.ndim == 1:
        source_image_embeddings = source_image_embeddings.unsqueeze(0)
    image_direction = F.normalize(image_embeddings - source_image_embeddings, dim=-1, eps=1e-8)
    text_direction = F.normalize((target_text - source_text).reshape(1, -1), dim=-1, eps=1e-8)
    losses = 1.0 - (image_direction @ text_direction.T)[:, 0]
    return losses.mean() if reduction == "mean" else losses


LOSSES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry(
    "loss", {"cosine": cosine_loss, "spherical": spherical_distance_loss}
)


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Look up a target loss by name (``cosine`` or ``spherical``); an unknown name is an InputError."""
    return LOSSES.lookup(name)
