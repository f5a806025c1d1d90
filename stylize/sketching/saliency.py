"""Where a sketch's strokes start: CLIPasso's saliency map and the strokes drawn from it.

- :func:`xdog_edges`: eXtended Difference of Gaussians edges (Winnemöller et al. 2012), 1 on
  edges and 0 elsewhere, with the parameters CLIPasso uses;
- :func:`attention_relevance`: how much the CLS token of a CLIP ViT image tower attends to each
  image patch (the CLS row of the attention, averaged over heads and blocks), upsampled to the
  picture; a ResNet tower has no attention rows, so :func:`saliency_map` uses the edges alone;
- :func:`saliency_map`: relevance x edges (CLIPasso's ``xdog_intersec``), normalised to [0, 1];
- :func:`saliency_strokes`: start points drawn without replacement from ``softmax(map / T)``,
  each stroke's further control points a short random walk from its start.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize.vector.scene import Scene, VectorPath

logger = logging.getLogger(__name__)

__all__ = ["attention_relevance", "has_attention", "saliency_map", "saliency_strokes", "xdog_edges"]

_LUMA = (0.299, 0.587, 0.114)


def _gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, 1, H, W) with reflected borders."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    radius = min(radius, image.shape[-1] - 1, image.shape[-2] - 1)
    kernel = kernel[kernel.numel() // 2 - radius : kernel.numel() // 2 + radius + 1]
    kernel = kernel / kernel.sum()
    padded = F.pad(image, (radius, radius, 0, 0), mode="reflect")
    image = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    padded = F.pad(image, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1))


def xdog_edges(
    image: Tensor,
    sigma: float = 0.8,
    k: float = 10.0,
    gamma: float = 0.98,
    epsilon: float = -0.1,
    phi: float = 200.0,
    binarize: bool = True,
) -> Tensor:
    """XDoG edges of a picture: 1 on the lines an artist would ink, 0 elsewhere.

    ``D = G_sigma(L) - gamma G_{k sigma}(L)`` on the luminance ``L``; ``E = 1`` where ``D >= epsilon``
    else ``1 + tanh(phi (D - epsilon))``; binarised at its mean (CLIPasso's settings: sigma 0.8,
    k 10, gamma 0.98, epsilon -0.1, phi 200). Returns ``1 - E``.

    Shape:
        image: (3, H, W) in [0, 1]. Returns (H, W) in [0, 1].
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(image.shape)}")
    luma = (image * torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)).sum(0)[None, None]
    difference = _gaussian_blur(luma, sigma) - gamma * _gaussian_blur(luma, sigma * k)
    response = torch.where(difference >= epsilon, torch.ones_like(difference), 1 + torch.tanh(phi * (difference - epsilon)))
    if binarize:  # ink where the response is below its mean (a flat page has none)
        return (response < response.mean())[0, 0].to(image.dtype)
    return (1 - response)[0, 0].clamp(0, 1)


def has_attention(clip_model) -> bool:
    """Whether ``clip_model``'s image tower is a ViT whose attention rows can be read."""
    visual = clip_model.model.visual
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    return (
        blocks is not None
        and hasattr(visual, "grid_size")
        and all(isinstance(getattr(block, "attn", None), torch.nn.MultiheadAttention) for block in blocks)
    )


@torch.no_grad()
def attention_relevance(clip_model, image: Tensor) -> Tensor:
    """The CLS token's attention to each patch, averaged over heads and blocks, at the picture's size.

    Args:
        clip_model: a :class:`~stylize.engine.ClipModel` with a ViT image tower.
        image: (3, H, W) in [0, 1].

    Returns:
        (H, W) in [0, 1] (min-max normalised; bicubic upsampling of the patch grid).
    """
    if not has_attention(clip_model):
        raise ValueError("attention relevance needs a CLIP ViT image tower")
    visual = clip_model.model.visual
    rows: list[Tensor] = []
    attentions = [block.attn for block in visual.transformer.resblocks]

    def wrap(module):
        original = module.forward

        def forward(*args, **kwargs):
            kwargs["need_weights"], kwargs["average_attn_weights"] = True, True
            output, weights = original(*args, **kwargs)
            rows.append(weights)
            return output, weights

        return forward

    for module in attentions:
        module.forward = wrap(module)
    try:
        pixels = clip_model.preprocess(image[None].to(clip_model.device, torch.float32))
        visual(pixels)
    finally:
        for module in attentions:
            del module.forward
    grid_h, grid_w = visual.grid_size
    maps = []
    for weights in rows:  # (1, L, L) batch-first, or (L, 1, L)-like for sequence-first towers
        weights = weights if weights.shape[0] == 1 else weights.transpose(0, 1)
        maps.append(weights[0, 0, -grid_h * grid_w :].reshape(grid_h, grid_w).float())
    relevance = torch.stack(maps).mean(0)[None, None]
    relevance = F.interpolate(relevance, size=image.shape[-2:], mode="bicubic", align_corners=False)[0, 0]
    return _normalised(relevance.to(image.device))


def _normalised(values: Tensor) -> Tensor:
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if float(high - low) > 1e-12 else torch.ones_like(values)


def saliency_map(image: Tensor, clip_model=None, mask: Tensor | None = None) -> Tensor:
    """CLIPasso's saliency: attention relevance x XDoG edges, in [0, 1].

    With a ResNet ``clip_model`` (or none) the map is the XDoG edges alone: a ResNet tower has no
    attention rows to read (CLIPasso always reads a ViT-B/32 here). A picture without edges gives
    a uniform map. ``mask`` (H, W) in [0, 1] weighs the map (pass ``mask > 0.5`` as
    :func:`saliency_strokes`'s ``allowed`` to keep starts off the background entirely).

    Shape:
        image: (3, H, W) in [0, 1]. Returns (H, W).
    """
    edges = xdog_edges(image)
    if clip_model is not None and has_attention(clip_model):
        salient = attention_relevance(clip_model, image) * edges
    else:
        if clip_model is not None:
            logger.info("saliency: %s has no attention to read; strokes start on the XDoG edges alone", clip_model.spec.name)
        salient = edges
    if mask is not None:
        salient = salient * mask.to(salient)
    if float(salient.max()) <= 0:
        salient = torch.ones_like(salient) if mask is None else mask.to(salient).clone()
    return _normalised(salient) if float(salient.max() - salient.min()) > 0 else salient


def saliency_strokes(
    saliency: Tensor,
    num_strokes: int,
    generator: torch.Generator,
    *,
    segments: int = 1,
    temperature: float = 0.3,
    walk_radius: float = 0.05,
    half_width: float = 1.5,
    color=(0.0, 0.0, 0.0, 1.0),
    allowed: Tensor | None = None,
) -> Scene:
    """Open cubic strokes that start at points drawn from ``softmax(saliency / temperature)``.

    Start points are drawn without replacement (pixel centres); every further control point is
    the previous one plus ``walk_radius * (rand - 0.5)`` of the canvas per axis, as CLIPasso's.

    Args:
        saliency: (H, W) map in [0, 1].
        num_strokes: strokes to draw (at most H x W).
        generator: CPU random stream.
        segments: cubic segments per stroke.
        temperature: softmax temperature (0.3 in CLIPasso).
        walk_radius: step of the random walk, as a fraction of the canvas.
        half_width: stroke half-width in pixels.
        color: RGBA of every stroke.
        allowed: (H, W) bool, where strokes may start (the object of a masked photo); ignored
            when it holds fewer pixels than strokes.

    Returns:
        A :class:`Scene` on the CPU (tensors do not require grad).
    """
    if saliency.ndim != 2:
        raise ValueError(f"expected a saliency map of shape (H, W), got {tuple(saliency.shape)}")
    height, width = saliency.shape
    if not 1 <= num_strokes <= height * width:
        raise ValueError(f"expected between 1 and {height * width} strokes, got {num_strokes}")
    logits = saliency.detach().cpu().double().flatten() / temperature
    if allowed is not None and int(allowed.sum()) >= num_strokes:
        logits = logits.masked_fill(~allowed.cpu().flatten().bool(), float("-inf"))
    probabilities = torch.softmax(logits, dim=0)
    starts = torch.multinomial(probabilities, num_strokes, replacement=False, generator=generator)
    scale = torch.tensor([width, height], dtype=torch.float32)
    paths = []
    for index in starts.tolist():
        row, column = divmod(index, width)
        start = torch.tensor([(column + 0.5) / width, (row + 0.5) / height])
        steps = walk_radius * (torch.rand(3 * segments, 2, generator=generator) - 0.5)
        points = torch.cat([start[None], start[None] + torch.cumsum(steps, 0)]) * scale
        paths.append(VectorPath([points], closed=False, stroke_width=half_width, stroke_color=color))
    return Scene.from_paths(paths)
