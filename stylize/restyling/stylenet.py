"""CLIPstyler's StyleNet: a small fully convolutional U-Net from a content image to its restyling.

The network (Kwon & Ye 2022, Sec. 3 and the authors' ``StyleNet.py``): a 1x1 stem, then three
down blocks (two 3x3 conv + instance norm + ReLU with a 1x1 residual, then a stride-2 4x4 conv),
a bottleneck, three up blocks (bilinear x2, concatenation with the skip, the same double conv
with a residual), a last block over the stem's features and a 1x1 conv with a sigmoid. With
``width`` 16 (the paper's) it has about 0.6 M parameters. Being fully convolutional it applies
to any picture whose sides are multiples of 8 (:func:`stylize_image` pads to that).

A trained net is saved as ``net.pt``: a plain dict of tensors, numbers and strings that
``torch.load(path, weights_only=True)`` reads (:func:`save_stylenet`, :func:`load_stylenet`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize.errors import InputError, first_line
from stylize.utils import save_torch

__all__ = ["NET_FORMAT", "StyleNet", "load_stylenet", "save_stylenet", "stylize_image"]

NET_FORMAT = "stylize-stylenet/1"
_MULTIPLE = 8  # three stride-2 stages


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.InstanceNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.InstanceNorm2d(out_channels), nn.ReLU(),
    )  # fmt: skip


class ResidualBlock(nn.Module):
    """Double 3x3 conv (instance norm, ReLU) plus a 1x1 projection of the input.

    Shape:
        (B, C_in, H, W) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _double_conv(in_channels, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.skip(x)


class DownBlock(nn.Module):
    """A residual block, then a stride-2 4x4 conv; returns (downsampled, pre-downsampling skip).

    Shape:
        (B, C_in, H, W) -> ((B, C_out, H/2, W/2), (B, C_out, H, W)).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = ResidualBlock(in_channels, out_channels)
        self.down = nn.Conv2d(out_channels, out_channels, 4, 2, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.block(x)
        return self.down(features), features


class UpBlock(nn.Module):
    """Bilinear x2, concatenate the skip, residual block.

    Shape:
        (B, C_in, H, W), skip (B, C_out, 2H, 2W) -> (B, C_out, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = ResidualBlock(in_channels + out_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], dim=1))


class StyleNet(nn.Module):
    """CLIPstyler's U-Net: content image -> stylized image.

    Args:
        width: channels of the first stage (16 in the paper; stages use 1, 1, 2, 4 and 8 times it).

    Shape:
        (B, 3, H, W) in [0, 1] with H, W multiples of 8 -> (B, 3, H, W) in (0, 1).

    Example:
        >>> net = StyleNet()
        >>> net(torch.rand(1, 3, 64, 96)).shape
        torch.Size([1, 3, 64, 96])
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"expected a positive integer width, got {width!r}")
        self.width = width
        w = width
        self.stem = nn.Conv2d(3, w, 1)
        self.head = ResidualBlock(w, w)
        self.down1, self.down2, self.down3 = DownBlock(w, w), DownBlock(w, 2 * w), DownBlock(2 * w, 4 * w)
        self.bottleneck = ResidualBlock(4 * w, 8 * w)
        self.up3, self.up2, self.up1 = UpBlock(8 * w, 4 * w), UpBlock(4 * w, 2 * w), UpBlock(2 * w, w)
        self.tail = ResidualBlock(2 * w, w)
        self.to_rgb = nn.Conv2d(w, 3, 1)

    def forward(self, image: Tensor) -> Tensor:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(image.shape)}")
        if image.shape[-2] % _MULTIPLE or image.shape[-1] % _MULTIPLE:
            raise ValueError(f"expected image sides that are multiples of {_MULTIPLE}, got {tuple(image.shape[-2:])}")
        x = self.head(self.stem(image))
        d1, skip1 = self.down1(x)
        d2, skip2 = self.down2(d1)
        d3, skip3 = self.down3(d2)
        h = self.up1(self.up2(self.up3(self.bottleneck(d3), skip3), skip2), skip1)
        return torch.sigmoid(self.to_rgb(self.tail(torch.cat([h, x], dim=1))))


def stylize_image(net: StyleNet, image: Tensor) -> Tensor:
    """Run ``net`` once over a picture of any size (edge-padded to multiples of 8, then cropped).

    Args:
        net: a trained :class:`StyleNet` (its device is used).
        image: (3, H, W) or (1, 3, H, W) in [0, 1].

    Returns:
        (3, H, W) in (0, 1) on the CPU, computed without gradients.
    """
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected an image of shape (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % _MULTIPLE, -width % _MULTIPLE
    device = next(net.parameters()).device
    with torch.inference_mode():
        x = image.to(device, torch.float32)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        out = net.eval()(x)[0, :, :height, :width]
    return out.cpu()


def save_stylenet(path: str | Path, net: StyleNet, **metadata: Any) -> Path:
    """Write ``net`` as a ``weights_only``-loadable dict (atomically).

    Args:
        path: the file (``net.pt``).
        net: the network.
        **metadata: plain values (str, int, float, bool, lists and dicts of them) stored beside the
            weights: the prompt, the source text, the training size, the resolved config.
    """
    data = {"format": NET_FORMAT, "width": net.width, "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    data.update(metadata)
    return save_torch(path, data)


def _check_state_shapes(width: Any, state: Any) -> None:
    """Check a stored ``width`` and ``state_dict`` against each other before any weight is
    allocated: the shapes of a ``StyleNet(width)`` (built on the meta device, costing nothing)
    must be those stored, so a tampered ``width`` cannot make the net gigabytes large.

    Raises:
        InputError: the width is not a positive integer, or a tensor is missing, extra or of
            another shape than the width implies.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("its 'state_dict' is not a dict of tensors")
    stem = state.get("stem.weight")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise InputError(f"its 'width' {width!r} is not a positive integer")
    if stem is None or tuple(stem.shape) != (width, 3, 1, 1):
        raise InputError(f"its 'width' {width} does not match its weights (stem.weight {tuple(getattr(stem, 'shape', ()))})")
    with torch.device("meta"):
        expected = {name: tuple(value.shape) for name, value in StyleNet(width).state_dict().items()}
    stored = {name: tuple(value.shape) for name, value in state.items()}
    if stored != expected:
        wrong = sorted(set(expected) ^ set(stored)) or [n for n in expected if expected[n] != stored[n]]
        raise InputError(f"its weights are not a width-{width} StyleNet's ({wrong[0]}, ...)")


def load_stylenet(path: str | Path, device: str | torch.device = "cpu") -> tuple[StyleNet, dict]:
    """Read a ``net.pt`` (or the one in a run folder) written by :func:`save_stylenet`.

    Returns:
        ``(net, metadata)``: the network in eval mode on ``device``, and the other stored fields.

    Raises:
        InputError: the file is missing, is not a torch file, or holds no StyleNet (one line).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "net.pt"
    if not path.is_file():
        raise InputError(f"StyleNet file {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        raise InputError(f"cannot read StyleNet file {path}: {first_line(exc)}") from None
    if not isinstance(data, dict) or data.get("format") != NET_FORMAT:
        raise InputError(f"{path} is not a StyleNet file (expected 'format': {NET_FORMAT!r}, as `stylize restyle` writes)")
    try:
        _check_state_shapes(data.get("width"), data.get("state_dict"))
        net = StyleNet(int(data["width"]))
        net.load_state_dict(data["state_dict"])
    except InputError as exc:
        raise InputError(f"StyleNet file {path} is damaged: {exc}") from None
    except Exception as exc:  # a missing key, mismatched shapes
        raise InputError(f"StyleNet file {path} is damaged: {first_line(exc)}") from None
    metadata = {k: v for k, v in data.items() if k not in ("format", "width", "state_dict")}
    return net.to(device).eval(), metadata
