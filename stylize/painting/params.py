"""Differentiable image parameterisations, picked by name from :data:`IMAGE_PARAMETERISATIONS`.

- ``pixel``: one logit per pixel and channel, image = sigmoid(logits).
- ``fft``: Aphantasia / Lucid's decorrelated parameterisation: a half spectrum (rFFT) scaled by
  ``1 / max(f, 4 / max(H, W)) ** decay`` so that low frequencies move first, inverse real FFT
  (ortho), a fixed colour-decorrelation matrix (Lucid's ImageNet colour correlation square root),
  then a sigmoid.

Both can start from an image (``init``, (3, H, W) in [0, 1]): the parameters are set so the
first output equals it (up to clamping to [0.001, 0.999]).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from stylize.registry import Registry

# Square root of ImageNet's colour correlation (Lucid, Aphantasia), columns normalised below.
_COLOR_CORRELATION_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))


def _logit(image: Tensor) -> Tensor:
    image = image.clamp(0.001, 0.999)
    return torch.log(image) - torch.log1p(-image)


def _check_init(init: Tensor | None, height: int, width: int) -> None:
    if init is not None and tuple(init.shape) != (3, height, width):
        raise ValueError(f"expected an init image of shape (3, {height}, {width}), got {tuple(init.shape)}")


class PixelImage(nn.Module):
    """Pixels through a sigmoid, optionally as a coarse grid of ``cell`` x ``cell`` blocks
    (Pixray's pixel-art drawer: fewer, larger pixels resist adversarial high frequencies).

    Args:
        height, width: image size.
        init: optional (3, H, W) start image in [0, 1] (area-averaged onto the grid); otherwise
            grey plus small noise.
        generator: CPU generator for the random start.
        cell: block size in pixels (1: one parameter per pixel).
        base: RGB in (0, 1) of the random start (a light canvas by default).

    Shape:
        ``forward()`` -> (1, 3, H, W) in (0, 1).
    """

    default_lr = 0.05

    def __init__(
        self,
        height: int,
        width: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
        cell: int = 1,
        base: tuple[float, float, float] = (0.9, 0.9, 0.9),
        **_: float,
    ) -> None:
        super().__init__()
        _check_init(init, height, width)
        if cell < 1:
            raise ValueError(f"expected cell >= 1, got {cell}")
        self.size = (height, width)
        grid = (-(-height // cell), -(-width // cell))
        if init is not None:
            init = init.float()[None]
            if cell > 1:
                init = torch.nn.functional.interpolate(init, size=grid, mode="area")
            start = _logit(init[0])
        else:
            start = _logit(torch.tensor(base).view(3, 1, 1)) + 0.1 * torch.randn(3, *grid, generator=generator)
        self.logits = nn.Parameter(start[None].clone())

    def forward(self) -> Tensor:
        image = torch.sigmoid(self.logits)
        if tuple(image.shape[-2:]) != self.size:
            image = image.repeat_interleave(-(-self.size[0] // image.shape[-2]), -2).repeat_interleave(
                -(-self.size[1] // image.shape[-1]), -1
            )
            image = image[..., : self.size[0], : self.size[1]]
        return image


class FFTImage(nn.Module):
    """Aphantasia's decorrelated FFT image.

    Args:
        height, width: image size.
        init: optional (3, H, W) start image in [0, 1]; otherwise a random spectrum (std 0.01).
        decay: spectrum decay exponent (1.5 in Aphantasia).
        generator: CPU generator for the random start.
        base: RGB in (0, 1) that a zero spectrum shows (a constant added before the sigmoid).

    Shape:
        ``forward()`` -> (1, 3, H, W) in (0, 1).
    """

    default_lr = 0.05

    def __init__(
        self,
        height: int,
        width: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
        decay: float = 1.5,
        base: tuple[float, float, float] = (0.9, 0.9, 0.9),
        **_: float,
    ) -> None:
        super().__init__()
        _check_init(init, height, width)
        self.size = (height, width)
        fy = torch.fft.fftfreq(height)[:, None]
        fx = torch.fft.rfftfreq(width)[None, :]
        frequencies = torch.sqrt(fy * fy + fx * fx)
        scale = 1.0 / torch.clamp(frequencies, min=4.0 / max(height, width)) ** decay
        self.register_buffer("scale", scale[None, None])
        color = torch.tensor(_COLOR_CORRELATION_SQRT)
        color = color / color.norm(dim=0).max()
        self.register_buffer("color", color)
        self.register_buffer("bias", _logit(torch.tensor(base, dtype=torch.float32)).view(1, 3, 1, 1))
        if init is None:
            spectrum = 0.01 * torch.randn(1, 3, height, width // 2 + 1, 2, generator=generator)
        else:
            spectrum = self._spectrum_of(init.float())
        self.spectrum = nn.Parameter(spectrum)

    def _spectrum_of(self, image: Tensor) -> Tensor:
        """Invert :meth:`forward` for an image (3, H, W)."""
        decorrelated = torch.einsum("ij,jhw->ihw", torch.linalg.inv(self.color), _logit(image) - self.bias[0])
        spectrum = torch.fft.rfft2(decorrelated[None], norm="ortho") / self.scale
        return torch.view_as_real(spectrum).contiguous()

    def forward(self) -> Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        image = torch.einsum("ij,bjhw->bihw", self.color, image)
        return torch.sigmoid(image + self.bias)


IMAGE_PARAMETERISATIONS: Registry[Callable[..., nn.Module]] = Registry(
    "image parameterisation", {"pixel": PixelImage, "fft": FFTImage}
)


def get_image(name: str, height: int, width: int, **options) -> nn.Module:
    """Build the parameterisation registered as ``name`` (options: ``init``, ``generator``, ``decay``)."""
    build = IMAGE_PARAMETERISATIONS.lookup(name)
    if height < 1 or width < 1:
        raise ValueError(f"expected a positive image size, got {height} x {width}")
    return build(height, width, **options)
