"""Multiresolution tri-plane encoding of 3D points, in pure PyTorch (CPU and CUDA).

A style field evaluated at every covered pixel (about 100,000 points a step at 224 px and 5
views) spends most of its time in the MLP behind Fourier features (``3 + 2 n`` inputs, 256 wide,
about 600k multiply-adds a point). A tri-plane encoding (as EG3D, Chan et al. 2022, and K-Planes,
Fridovich-Keil et al. 2023) moves the detail into learned images: a point is projected onto the
three axis planes (xy, xz, yz) of ``[-1, 1]^3`` and each plane, at each of a few resolutions, is
sampled bilinearly (``grid_sample``: one fused kernel forward and backward); the concatenated
values feed a small MLP. Detail is bounded by the finest plane's resolution, not by a mesh's
tessellation, and a step costs a small fraction of the Fourier MLP's.

Measured (100k points, forward + backward, one thread, a loaded 2-core machine; ratios only): the default
field's Fourier MLP 9.6 s, a multiresolution hash grid (Instant-NGP style, written in PyTorch
ops) 4.7 s, dense 3D volumes through ``grid_sample`` 1.0 s, this encoding with its MLP 0.5 s.

Example:
    >>> encoding = TriplaneEncoding((32, 128), features=4)
    >>> encoding(torch.rand(100, 3) * 2 - 1).shape
    torch.Size([100, 24])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["TriplaneEncoding", "triplane_encode"]

# Coordinates each plane keeps: xy, xz, yz.
_PLANE_AXES = ((0, 1), (0, 2), (1, 2))


def triplane_encode(points: torch.Tensor, planes: Sequence[torch.Tensor], weights: torch.Tensor | None = None) -> torch.Tensor:
    """Bilinear samples of each level's three planes at the projections of ``points``.

    Args:
        points: ``(P, 3)`` in ``[-1, 1]`` (outside, the border texel is repeated).
        planes: per level ``(3, F, R, R)``: the xy, xz and yz planes of ``F`` channels.
        weights: optional ``(L,)`` per-level factors (progressive coarse-to-fine training).

    Returns:
        ``(P, 3 * F * L)`` features, level-major then plane-major.
    """
    if points.dim() != 2 or points.shape[1] != 3:
        raise ValueError(f"expected points of shape (P, 3), got {tuple(points.shape)}")
    count = points.shape[0]
    grid = torch.stack([points[:, list(axes)] for axes in _PLANE_AXES]).reshape(3, count, 1, 2)
    out = []
    for level, plane in enumerate(planes):
        if plane.dim() != 4 or plane.shape[0] != 3:
            raise ValueError(f"expected planes of shape (3, F, R, R), got {tuple(plane.shape)}")
        sampled = torch.nn.functional.grid_sample(plane, grid.to(plane.dtype), mode="bilinear", padding_mode="border",
                                                  align_corners=True)  # (3, F, P, 1)  # fmt: skip
        values = sampled[..., 0].permute(2, 0, 1).reshape(count, -1)
        out.append(values if weights is None else values * weights[level])
    return torch.cat(out, dim=1)


class TriplaneEncoding(nn.Module):
    """:func:`triplane_encode` with learned planes.

    Args:
        resolutions: texels across ``[-1, 1]`` per level (e.g. ``(64, 256)``).
        features: channels per plane ``F``.
        generator: draws the initial values, uniform in ``+-1e-2`` (small, so the field starts
            near its bias; its heads' last layers start at zero anyway).

    Shape:
        - Input: ``(P, 3)`` in ``[-1, 1]``.
        - Output: ``(P, 3 * F * L)``.
    """

    def __init__(self, resolutions: Sequence[int] = (64, 256), features: int = 8,
                 generator: torch.Generator | None = None) -> None:  # fmt: skip
        super().__init__()
        if not resolutions or any(int(r) < 2 or int(r) > 4096 for r in resolutions) or features < 1:
            raise ValueError(f"expected plane resolutions in [2, 4096] and features >= 1, got {list(resolutions)}, {features}")
        self.planes = nn.ParameterList(
            [nn.Parameter(torch.rand(3, features, int(r), int(r), generator=generator) * 2e-2 - 1e-2) for r in resolutions]
        )

    @property
    def output_width(self) -> int:
        return sum(3 * plane.shape[1] for plane in self.planes)

    def forward(self, points: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return triplane_encode(points, list(self.planes), weights)
