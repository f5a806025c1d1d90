"""CLIPstyler's losses: patch-wise and global directional CLIP losses, content and TV terms.

``loss = lambda_p L_patch + lambda_d L_dir + lambda_c L_content + lambda_tv L_tv`` where

- ``L_patch``: the directional loss (:func:`stylize.engine.losses.directional_loss`) of
  ``num_crops`` random ``crop_size`` patches of the output, each perspective-warped, against the
  embedding of the whole content image; a patch whose loss is already below ``threshold`` is
  rejected (counts as 0), so no patch is pushed further once it follows the text direction;
- ``L_dir``: the same directional loss of the whole output;
- ``L_content``: mean squared error of feature maps of the output and of the content image,
  summed over the layers (:data:`CONTENT_FEATURES`);
- ``L_tv``: the sum of the L2 norms of the four neighbour differences (horizontal, vertical and
  both diagonals), as the reference code's image prior.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize.engine.losses import directional_loss
from stylize.registry import Registry

__all__ = [
    "CONTENT_FEATURES", "ClipContentFeatures", "ContentLoss", "VGG19_CONTENT_LAYERS", "get_content_features", "patch_directional_loss",
    "random_patches", "total_variation",
]  # fmt: skip

#: Indices into ``torchvision.models.vgg19().features`` the reference code reads: 21 is conv4_2;
#: 31, which the code names conv5_2, is the ReLU right after conv5_2 (index 30).
VGG19_CONTENT_LAYERS = (21, 31)


def _vgg(pretrained: bool) -> nn.Module:
    from stylize.engine.features import VggFeatures

    # Random weights come from a fixed seed, so a "vgg-random" run is as reproducible as any.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return VggFeatures(pretrained=pretrained, layers=VGG19_CONTENT_LAYERS, arch="vgg19", setting="content_features")


class ClipContentFeatures(nn.Module):
    """A CLIP image tower's feature maps for the content loss.

    A ResNet tower (open_clip's ModifiedResNet) runs over the picture at its own size: its stem
    and four stages are convolutional, so the loss sees the picture at full resolution, as VGG's
    conv4_2 / conv5_2 do in the paper (resizing to the model's 64 or 224 px first would let
    shapes drift by a few pixels unseen). A ViT's patch grid is fixed, so for a ViT the picture
    is resized to the model's size (:class:`stylize.engine.features.ClipFeatures`).

    Args:
        clip_model: a loaded :class:`~stylize.engine.ClipModel`.

    Shape:
        (B, 3, H, W) in [0, 1] -> list of (B, C_l, H_l, W_l).
    """

    def __init__(self, clip_model) -> None:
        super().__init__()
        from stylize.engine.features import ClipFeatures

        self.clip_model = clip_model
        visual = clip_model.model.visual
        self.stages = None
        if hasattr(visual, "stem") and all(hasattr(visual, f"layer{i}") for i in range(1, 5)):
            self.stages = [visual.layer1, visual.layer2, visual.layer3, visual.layer4]
            self.register_buffer("mean", torch.tensor(clip_model.mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(clip_model.std).view(1, 3, 1, 1))
        else:
            self.resized = ClipFeatures(clip_model)

    def forward(self, images: Tensor) -> list[Tensor]:
        if self.stages is None:
            return self.resized(images)
        x = (images.to(self.clip_model.device, torch.float32) - self.mean) / self.std
        x = self.clip_model.model.visual.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x.float())
        return outputs


def _clip(clip_model) -> nn.Module:
    if clip_model is None:
        raise ValueError("content features 'clip' need a loaded CLIP model")
    return ClipContentFeatures(clip_model)


CONTENT_FEATURES: Registry[Callable[..., nn.Module]] = Registry("content features", {
    "vgg": lambda clip_model=None: _vgg(pretrained=True),
    "vgg-random": lambda clip_model=None: _vgg(pretrained=False),
    "clip": lambda clip_model=None: _clip(clip_model),
})  # fmt: skip


def get_content_features(name: str, clip_model=None) -> nn.Module:
    """Build the feature extractor registered as ``name`` (``clip`` needs ``clip_model``)."""
    return CONTENT_FEATURES.lookup(name, "content_features")(clip_model=clip_model)


class ContentLoss(nn.Module):
    """Mean squared feature error to a fixed content image, summed over the extractor's layers.

    Args:
        features: ``images (B, 3, H, W) in [0, 1] -> list of (B, C, h, w)``.
        content: (1, 3, H, W) in [0, 1]; its features are computed once.

    Shape:
        ``forward(image)``: (1, 3, H, W) -> scalar.
    """

    def __init__(self, features: Callable[[Tensor], list[Tensor]], content: Tensor) -> None:
        super().__init__()
        if content.ndim != 4 or content.shape[:2] != (1, 3):
            raise ValueError(f"expected a content image of shape (1, 3, H, W), got {tuple(content.shape)}")
        self.features = features
        with torch.no_grad():
            self.targets = [f.detach() for f in features(content)]

    def forward(self, image: Tensor) -> Tensor:
        maps = self.features(image)
        return sum(F.mse_loss(m, t.to(m.device)) for m, t in zip(maps, self.targets, strict=False))


def total_variation(images: Tensor) -> Tensor:
    """CLIPstyler's TV prior: the sum of the L2 norms of the horizontal, vertical and two
    diagonal neighbour differences over the whole batch (not divided by the pixel count).

    Shape:
        (B, C, H, W) -> scalar.

    Example:
        >>> total_variation(torch.zeros(1, 3, 8, 8))
        tensor(0.)
    """
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}")
    differences = (
        images[..., :, :-1] - images[..., :, 1:],
        images[..., :-1, :] - images[..., 1:, :],
        images[..., 1:, :-1] - images[..., :-1, 1:],
        images[..., :-1, :-1] - images[..., 1:, 1:],
    )
    return sum(torch.linalg.vector_norm(d) for d in differences)


def random_patches(image: Tensor, count: int, size: int, generator: torch.Generator) -> Tensor:
    """``count`` square crops of ``size`` pixels at uniform random positions (torchvision's
    RandomCrop), drawn from ``generator`` (CPU).

    Shape:
        (1, C, H, W) -> (count, C, size, size).
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"expected one image of shape (1, C, H, W), got {tuple(image.shape)}")
    height, width = image.shape[-2:]
    if not 1 <= size <= min(height, width):
        raise ValueError(f"expected a patch size in [1, {min(height, width)}], got {size}")
    tops = torch.randint(0, height - size + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(0, width - size + 1, (count,), generator=generator).tolist()
    return torch.cat([image[:, :, top : top + size, left : left + size] for top, left in zip(tops, lefts, strict=False)])


def patch_directional_loss(
    patch_embeddings: Tensor, source_embedding: Tensor, target_text: Tensor, source_text: Tensor, threshold: float
) -> tuple[Tensor, float]:
    """CLIPstyler's PatchCLIP loss with its rejection threshold.

    Args:
        patch_embeddings: (N, D) unit embeddings of the augmented output patches.
        source_embedding: (D,) or (1, D) unit embedding of the whole content image.
        target_text, source_text: (D,) text embeddings.
        threshold: per-patch losses below it are set to 0 (``tau`` = 0.7 in the paper).

    Returns:
        ``(loss, kept)``: the mean over all N patches (rejected ones count as 0), and the fraction
        of patches kept.
    """
    losses = directional_loss(patch_embeddings, source_embedding, target_text, source_text, reduction="none")
    keep = (losses >= threshold).to(losses.dtype)
    return (losses * keep).mean(), float(keep.mean())
