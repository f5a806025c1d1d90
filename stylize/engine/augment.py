"""Differentiable, seeded augmentation pipelines (kornia) applied before CLIP scoring.

Presets are looked up by name in :data:`AUGMENT_PRESETS`:

- ``clipdraw``: RandomPerspective(distortion 0.5, p 1) then RandomResizedCrop(scale 0.7-0.9),
  as CLIPDraw; N copies per image.
- ``text2mesh``: RandomResizedCrop(scale 1) then RandomPerspective(distortion 0.5, p 0.8), as
  Text2Mesh's global augmentation.
- ``text2mesh_local``: crops of ``local_area`` of the image then the same perspective, as
  Text2Mesh's local ("norm") augmentation.
- ``perspective``: RandomPerspective(distortion 0.5, p 1) alone, CLIPstyler's augmentation of
  its random patches (which are cropped before, see :mod:`stylize.restyling.losses`).
- ``none``: identity (optionally resized).

Out-of-image pixels are filled with ``fill`` (white by default, as both references do).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from stylize.engine.models import check_images
from stylize.registry import Registry


def _clipdraw(size: tuple[int, int], local_area: float) -> list[nn.Module]:
    import kornia.augmentation as K

    return [K.RandomPerspective(distortion_scale=0.5, p=1.0), K.RandomResizedCrop(size, scale=(0.7, 0.9))]


def _text2mesh(size: tuple[int, int], local_area: float) -> list[nn.Module]:
    import kornia.augmentation as K

    return [K.RandomResizedCrop(size, scale=(1.0, 1.0)), K.RandomPerspective(distortion_scale=0.5, p=0.8)]


def _text2mesh_local(size: tuple[int, int], local_area: float) -> list[nn.Module]:
    import kornia.augmentation as K

    return [K.RandomResizedCrop(size, scale=(local_area, local_area)), K.RandomPerspective(distortion_scale=0.5, p=0.8)]


def _perspective(size: tuple[int, int], local_area: float) -> list[nn.Module]:
    import kornia.augmentation as K

    return [K.RandomPerspective(distortion_scale=0.5, p=1.0)]


def _none(size: tuple[int, int], local_area: float) -> list[nn.Module]:
    return []


AUGMENT_PRESETS: Registry[Callable[[tuple[int, int], float], list[nn.Module]]] = Registry(
    "augmentation preset",
    {
        "clipdraw": _clipdraw,
        "text2mesh": _text2mesh,
        "text2mesh_local": _text2mesh_local,
        "perspective": _perspective,
        "none": _none,
    },
)


class Augmenter(nn.Module):
    """Make ``copies`` augmented versions of each image, reproducibly under ``seed``.

    The augmenter owns its random stream: the same seed gives the same sequence of augmentations
    whatever else uses torch's global generator, and calling it does not disturb that generator.

    Args:
        preset: a key of :data:`AUGMENT_PRESETS`.
        copies: augmented copies per input image.
        size: output (h, w) or int; default: the input size.
        fill: value for pixels that come from outside the image.
        seed: seed of the augmenter's own random stream.
        local_area: crop area fraction for ``text2mesh_local``.

    Shape:
        (B, 3, H, W) -> (copies * B, 3, h, w), copy-major (all images of copy 0 first).

    Example:
        >>> aug = Augmenter("clipdraw", copies=4, seed=0)
        >>> aug(torch.rand(1, 3, 64, 64)).shape
        torch.Size([4, 3, 64, 64])
    """

    def __init__(
        self,
        preset: str = "clipdraw",
        copies: int = 4,
        size: int | tuple[int, int] | None = None,
        fill: float = 1.0,
        seed: int = 0,
        local_area: float = 0.1,
    ) -> None:
        super().__init__()
        self._make_pipeline = AUGMENT_PRESETS.lookup(preset)
        if copies < 1:
            raise ValueError(f"expected copies >= 1, got {copies}")
        if not 0.0 < local_area <= 1.0:
            raise ValueError(f"expected local_area in (0, 1], got {local_area}")
        self.preset = preset
        self.copies = int(copies)
        self.size = (size, size) if isinstance(size, int) else size
        self.fill = float(fill)
        self.local_area = float(local_area)
        self.generator = torch.Generator().manual_seed(int(seed))
        self._pipelines: dict[tuple[int, int], nn.Sequential] = {}

    def _pipeline(self, size: tuple[int, int]) -> nn.Sequential:
        if size not in self._pipelines:
            self._pipelines[size] = nn.Sequential(*self._make_pipeline(size, self.local_area))
        return self._pipelines[size]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        size = self.size or (images.shape[-2], images.shape[-1])
        batch = images.repeat(self.copies, 1, 1, 1)
        pipeline = self._pipeline(tuple(size))
        if len(pipeline) == 0:
            if tuple(batch.shape[-2:]) != tuple(size):
                batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
            return batch
        call_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        devices = [images.device] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(call_seed)
            # Warps pad with zeros; shifting by the fill value makes the padding equal ``fill``
            # (resampling is linear with weights summing to one, so the shift commutes).
            return pipeline(batch - self.fill) + self.fill


def paired_warps(
    copies: int,
    size: tuple[int, int],
    generator: torch.Generator,
    distortion: float = 0.5,
    crop_scale: float = 0.8,
) -> torch.Tensor:
    """Random perspective-then-square-crop warps, one per copy, to apply to several images alike.

    Each warp is a RandomPerspective (every corner moved inwards by up to ``distortion / 2`` of
    the side, as kornia and torchvision draw it) followed by a RandomResizedCrop of area
    ``crop_scale`` and aspect 1 resized back to ``size``, composed into one homography (one
    resampling instead of two). CLIPasso warps its sketch and photo together this way, so the
    geometric loss compares the same view of both.

    Args:
        copies: warps to draw.
        size: (h, w) of the images they apply to.
        generator: the random stream (CPU).
        distortion: perspective strength in [0, 1).
        crop_scale: crop area as a fraction of the image, in (0, 1].

    Returns:
        (copies, 3, 3) matrices mapping input pixel coordinates to output ones (float32, CPU).
    """
    from kornia.geometry.transform import get_perspective_transform

    if copies < 1 or not 0.0 <= distortion < 1.0 or not 0.0 < crop_scale <= 1.0:
        raise ValueError(f"expected copies >= 1, distortion in [0, 1), crop_scale in (0, 1], got {copies}, "
                         f"{distortion}, {crop_scale}")  # fmt: skip
    height, width = size
    corners = torch.tensor([[0.0, 0.0], [width - 1, 0.0], [width - 1, height - 1], [0.0, height - 1]])
    inwards = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    reach = torch.tensor([distortion * width / 2, distortion * height / 2])
    moved = corners + inwards * reach * torch.rand(copies, 4, 2, generator=generator)
    perspective = get_perspective_transform(corners.expand(copies, 4, 2).contiguous(), moved)
    side = crop_scale**0.5
    crop_w, crop_h = side * width, side * height
    left = (width - crop_w) * torch.rand(copies, generator=generator)
    top = (height - crop_h) * torch.rand(copies, generator=generator)
    crop = torch.zeros(copies, 3, 3)
    crop[:, 0, 0], crop[:, 1, 1], crop[:, 2, 2] = width / crop_w, height / crop_h, 1.0
    crop[:, 0, 2], crop[:, 1, 2] = -left * width / crop_w, -top * height / crop_h
    return crop @ perspective


def warp_copies(images: torch.Tensor, warps: torch.Tensor, fill: float = 1.0) -> torch.Tensor:
    """Every image under every warp: copy-major, ``(copies * B, 3, H, W)``, out-of-image pixels ``fill``.

    Shape:
        images: (B, 3, H, W); warps: (copies, 3, 3) from :func:`paired_warps`.
    """
    from kornia.geometry.transform import warp_perspective

    check_images(images)
    copies, batch = warps.shape[0], images.shape[0]
    matrices = warps.to(images.device, images.dtype).repeat_interleave(batch, dim=0)
    tiled = images.repeat(copies, 1, 1, 1)
    size = (images.shape[-2], images.shape[-1])
    return warp_perspective(tiled - fill, matrices, size, align_corners=True) + fill
