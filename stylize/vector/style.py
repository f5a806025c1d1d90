"""A STROTSS-like style loss (Kolkin et al. 2019), as StyleCLIPDraw uses it.

The style of an image is described by *hypercolumns*: at randomly sampled locations, the features
of several layers of a convolutional or transformer image encoder (bilinearly sampled and
concatenated) plus the RGB colour there. The loss between a drawing and a style image is

``relaxed EMD(features) + moment(features) + relaxed EMD(RGB)``

- relaxed EMD: ``max(mean_i min_j D_ij, mean_j min_i D_ij)`` of a cosine-distance matrix
  between the two sets of hypercolumns;
- moment: ``mean |mu_x - mu_y| + mean |cov_x - cov_y|`` of the hypercolumns;
- palette: the relaxed EMD of the RGB samples with Euclidean distances.

Feature extractors (:mod:`stylize.engine.features`) are picked by name from :data:`STYLE_FEATURES`:

- ``vgg16``: torchvision VGG-16 with ImageNet weights (downloaded once by torchvision), relu1_1
  ... relu5_3 (the reference's layers 1, 3, 6, 8, 11, 13, 15, 22, 29);
- ``vgg16-random``: the same network with random weights (tests; no download);
- ``clip``: intermediate blocks of a CLIP image encoder already loaded for the CLIP loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize.registry import Registry

logger = logging.getLogger(__name__)


def _vgg16(clip_model=None, pretrained: bool = True) -> nn.Module:
    from stylize.engine.features import VggFeatures  # imported when a style image needs it

    return VggFeatures(pretrained=pretrained)


def _clip_layers(clip_model=None) -> nn.Module:
    from stylize.engine.features import ClipFeatures

    return ClipFeatures(clip_model)


STYLE_FEATURES: Registry[Callable[..., nn.Module]] = Registry("style features", {
    "vgg16": _vgg16,
    "vgg16-random": lambda clip_model=None: _vgg16(pretrained=False),
    "clip": _clip_layers,
})  # fmt: skip


def get_style_features(name: str, clip_model=None) -> nn.Module:
    """Build the feature extractor registered as ``name`` (``clip`` needs ``clip_model``)."""
    build = STYLE_FEATURES.lookup(name)
    if name == "clip" and clip_model is None:
        raise ValueError("style features 'clip' need a loaded CLIP model")
    return build(clip_model=clip_model)


def sample_hypercolumns(image: Tensor, feature_maps: list[Tensor], positions: Tensor) -> Tensor:
    """Features of every map plus RGB at ``positions``, concatenated.

    Args:
        image: (1, 3, H, W) in [0, 1].
        feature_maps: list of (1, C_l, H_l, W_l).
        positions: (N, 2) as (x, y) in [-1, 1] (grid_sample convention).

    Returns:
        (N, 3 + sum C_l): RGB first.
    """
    grid = positions.to(image.device, image.dtype).view(1, 1, -1, 2)
    columns = [F.grid_sample(image, grid, align_corners=False)]
    for feature in feature_maps:
        columns.append(F.grid_sample(feature, grid.to(feature.dtype), align_corners=False))
    return torch.cat([c[0, :, 0, :] for c in columns], dim=0).T


def cosine_distance_matrix(x: Tensor, y: Tensor) -> Tensor:
    """1 - cos between rows: (N, C), (M, C) -> (N, M)."""
    return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).T


def relaxed_emd(distances: Tensor) -> Tensor:
    """``max(mean row-min, mean column-min)`` of a distance matrix (N, M): scalar."""
    return torch.maximum(distances.min(1).values.mean(), distances.min(0).values.mean())


def moment_loss(x: Tensor, y: Tensor) -> Tensor:
    """``mean |mu_x - mu_y| + mean |cov_x - cov_y|`` of two sample sets (N, C), (M, C)."""
    mu_x, mu_y = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cov_x = (x - mu_x).T @ (x - mu_x) / max(x.shape[0] - 1, 1)
    cov_y = (y - mu_y).T @ (y - mu_y) / max(y.shape[0] - 1, 1)
    return (mu_x - mu_y).abs().mean() + (cov_x - cov_y).abs().mean()


class StyleLoss(nn.Module):
    """STROTSS-like style loss of drawings against one style image.

    Args:
        style_image: (3, H, W) in [0, 1]; its feature maps are computed once.
        features: a feature extractor (see :func:`get_style_features`).
        samples: hypercolumns sampled on the drawing (and on the style image) per call.
        seed: seed of the loss's own sampling stream.
        device: where the features are computed (default: the style image's device).

    Shape:
        ``forward(image)``: image (1, 3, H, W) in [0, 1] -> scalar; ``last_terms`` holds the parts.
    """

    def __init__(
        self,
        style_image: Tensor,
        features: Callable[[Tensor], list[Tensor]],
        samples: int = 1024,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if style_image.ndim != 3 or style_image.shape[0] != 3:
            raise ValueError(f"expected a style image of shape (3, H, W), got {tuple(style_image.shape)}")
        if samples < 2:
            raise ValueError(f"expected samples >= 2, got {samples}")
        self.features = features
        self.samples = int(samples)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.style_image = style_image[None].to(device if device is not None else style_image.device)
        with torch.no_grad():
            self.style_maps = [m.detach() for m in features(self.style_image)]
        self.last_terms: dict[str, Tensor] = {}  # 0-dim tensors (no device sync per step)

    def _positions(self) -> Tensor:
        return torch.rand(self.samples, 2, generator=self.generator) * 2.0 - 1.0

    def forward(self, image: Tensor) -> Tensor:
        if image.ndim != 4 or image.shape[:2] != (1, 3):
            raise ValueError(f"expected an image of shape (1, 3, H, W), got {tuple(image.shape)}")
        image = image.to(self.style_image.device)
        drawing = sample_hypercolumns(image, self.features(image), self._positions())
        style = sample_hypercolumns(self.style_image, self.style_maps, self._positions())
        remd = relaxed_emd(cosine_distance_matrix(drawing[:, 3:], style[:, 3:]))
        moment = moment_loss(drawing[:, 3:], style[:, 3:])
        palette = relaxed_emd(torch.cdist(drawing[:, :3], style[:, :3]))
        self.last_terms = {"style_remd": remd.detach(), "style_moment": moment.detach(), "style_palette": palette.detach()}
        return remd + moment + palette
