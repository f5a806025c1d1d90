"""Textures on the CPU, vectorised in numpy: sample an image at UVs, rasterize UV triangles, dilate.

UV convention: glTF's, ``(0, 0)`` is the top-left corner of the image and texel ``(column, row)``
covers ``[column, column + 1) x [row, row + 1)`` in pixel units ``(u W, v H)``, so its centre is at
``((column + 0.5) / W, (row + 0.5) / H)``. trimesh (like OBJ) keeps ``v`` pointing up and flips on
GLB import/export; :func:`material_colors` converts.

- :func:`srgb_to_linear`, :func:`linear_to_srgb`: the sRGB transfer function (IEC 61966-2-1);
  colours are sRGB in memory, glTF's ``COLOR_0`` and ``baseColorFactor`` are linear.
- :func:`sample_texture`: bilinear lookup, clamped at the borders; :func:`wrap_uv` tiles UVs
  outside ``[0, 1]``.
- :func:`rasterize_uv_triangles`: every texel whose centre lies in a UV triangle gets the
  barycentric interpolation of that triangle's corner values (a texture bake of vertex colours).
- :func:`dilate`: grows the filled region a few texels into the empty gutter, so bilinear
  filtering and mip-mapping at chart borders do not pick up the background.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "dilate", "linear_to_srgb", "material_colors", "rasterize_uv_triangles", "sample_texture", "srgb_to_linear",
    "texture_transform", "transform_uv", "uv_coverage_counts", "wrap_uv",
]  # fmt: skip

# Texel-pairs tested per chunk in the rasterizer: bounds memory (~100 bytes each) independently of size.
_PAIRS_PER_CHUNK = 2_000_000


def srgb_to_linear(colors: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in ``[0, 1]`` to linear light (IEC 61966-2-1)."""
    colors = np.clip(np.asarray(colors, dtype=np.float64), 0.0, 1.0)
    return np.where(colors <= 0.04045, colors / 12.92, ((colors + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(colors: np.ndarray) -> np.ndarray:
    """Linear-light values in ``[0, 1]`` to sRGB encoding (inverse of :func:`srgb_to_linear`)."""
    colors = np.clip(np.asarray(colors, dtype=np.float64), 0.0, 1.0)
    return np.where(colors <= 0.0031308, colors * 12.92, 1.055 * colors ** (1 / 2.4) - 0.055)


def sample_texture(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at glTF UVs (clamped to the border).

    Args:
        image: ``(H, W, C)`` float or uint8 (uint8 is scaled to ``[0, 1]``).
        uv: ``(N, 2)`` glTF texture coordinates (``v`` down).

    Returns:
        ``(N, C)`` float64.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W, C), got {image.shape}")
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"expected uv of shape (N, 2), got {uv.shape}")
    values = image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    height, width = values.shape[:2]
    x = np.clip(uv[:, 0] * width - 0.5, 0.0, width - 1.0)
    y = np.clip(uv[:, 1] * height - 0.5, 0.0, height - 1.0)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = values[y0, x0] * (1 - fx) + values[y0, x1] * fx
    bottom = values[y1, x0] * (1 - fx) + values[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def wrap_uv(uv: np.ndarray) -> np.ndarray:
    """UVs outside ``[0, 1]`` wrapped into it, as the default REPEAT sampler tiles; UVs inside,
    including the edges 0 and 1, are kept (a vertex on ``v = 1`` takes the bottom row's colour,
    the colour the surface has there, not the top row's).

    Shape:
        - uv: ``(N, 2)``; output ``(N, 2)`` float64.
    """
    uv = np.asarray(uv, dtype=np.float64)
    return np.where((uv < 0.0) | (uv > 1.0), uv - np.floor(uv), uv)


def texture_transform(info: Any) -> np.ndarray | None:
    """The ``(3, 3)`` matrix of a texture info's ``KHR_texture_transform`` (``T * R * S`` as the
    extension defines it: ``uv' = M (u, v, 1)``), or None without one."""
    extension = ((info or {}).get("extensions") or {}).get("KHR_texture_transform") if isinstance(info, dict) else None
    if not isinstance(extension, dict):
        return None
    offset = np.asarray(extension.get("offset", [0.0, 0.0]), dtype=np.float64).reshape(2)
    scale = np.asarray(extension.get("scale", [1.0, 1.0]), dtype=np.float64).reshape(2)
    angle = float(extension.get("rotation", 0.0))
    cos, sin = np.cos(angle), np.sin(angle)
    translation = np.array([[1.0, 0.0, offset[0]], [0.0, 1.0, offset[1]], [0.0, 0.0, 1.0]])
    rotation = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    return translation @ rotation @ np.diag([scale[0], scale[1], 1.0])


def transform_uv(uv: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """glTF UVs ``(N, 2)`` through a :func:`texture_transform` matrix (unchanged for None)."""
    uv = np.asarray(uv, dtype=np.float64)
    return uv if matrix is None else uv @ matrix[:2, :2].T + matrix[:2, 2]


def material_colors(material: Any, uv_trimesh: np.ndarray) -> np.ndarray | None:
    """Per-vertex sRGB colours ``(N, 3)`` of a trimesh material at trimesh UVs (v up), or None.

    Uses the base-colour texture (PBR) or the diffuse image (OBJ/MTL), times the base colour
    factor when there is one; a material with only a factor gives that flat colour.
    """
    if material is None:
        return None
    image = getattr(material, "baseColorTexture", None)
    if image is None:
        image = getattr(material, "image", None)
    factor = getattr(material, "baseColorFactor", None)
    n = len(uv_trimesh)
    colors = None
    if image is not None:
        pixels = np.asarray(image.convert("RGB"))
        uv = np.asarray(uv_trimesh, dtype=np.float64).copy()
        uv[:, 1] = 1.0 - uv[:, 1]
        colors = sample_texture(pixels, wrap_uv(uv))
    if factor is not None:
        factor = np.asarray(factor, dtype=np.float64).reshape(-1)[:3]
        factor = factor / 255.0 if factor.max() > 1.0 else factor
        colors = np.broadcast_to(factor, (n, 3)).copy() if colors is None else colors * factor
    return colors


def rasterize_uv_triangles(
    uv: np.ndarray, faces: np.ndarray, values: np.ndarray, size: int, fill: float | np.ndarray = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Rasterize triangles given in UV space into a square texture, interpolating vertex values.

    Args:
        uv: ``(V, 2)`` glTF UVs in ``[0, 1]``.
        faces: ``(F, 3)`` vertex indices.
        values: ``(V, C)`` per-vertex values (colours).
        size: texture width and height in texels.
        fill: value of texels no triangle covers.

    Returns:
        ``(image (size, size, C) float32, covered (size, size) bool)``; a layout that covers no
        texel at all (all-zero or collinear UVs) is warned about in one line.
    """
    uv = np.asarray(uv, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2 or values.ndim != 2 or len(values) != len(uv):
        raise ValueError(f"expected uv (V, 2) and values (V, C) for the same V, got {uv.shape} and {values.shape}")
    channels = values.shape[1]
    image = np.empty((size * size, channels), dtype=np.float32)
    image[:] = fill
    covered = np.zeros(size * size, dtype=bool)
    corners = uv[faces] * size  # (F, 3, 2) in texel units; texel centres at k + 0.5
    low = np.clip(np.floor(corners.min(axis=1) - 0.5).astype(np.int64) + 1, 0, size - 1)
    high = np.clip(np.floor(corners.max(axis=1) - 0.5).astype(np.int64), -1, size - 1)
    extent = np.maximum(high - low + 1, 0)  # (F, 2) texel columns and rows each box spans
    counts = extent[:, 0] * extent[:, 1]
    order_end = np.cumsum(counts)
    start = 0
    while start < len(faces):
        # Faces [start, stop) whose boxes together hold about _PAIRS_PER_CHUNK texels.
        base = order_end[start - 1] if start else 0
        stop = max(int(np.searchsorted(order_end, base + _PAIRS_PER_CHUNK, side="right")), start + 1)
        _rasterize_chunk(corners[start:stop], faces[start:stop], low[start:stop], extent[start:stop],
                         counts[start:stop], values, size, image, covered)  # fmt: skip
        start = stop
    if len(faces) and not covered.any():  # a flat texture would otherwise be baked without a word
        logger.warning("the UV layout covers no texel of the %d x %d texture (all-zero or collinear UVs?): "
                       "the baked texture is the fill colour only; unwrap the mesh again", size, size)  # fmt: skip
    return image.reshape(size, size, channels), covered.reshape(size, size)


def uv_coverage_counts(uv: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """How many triangles cover each texel centre of a ``size`` x ``size`` texture: ``(size, size)``
    int32 (2 or more: texels that several surface places claim, an overlapping or mirrored layout).

    Shape:
        - uv: ``(V, 2)`` glTF UVs; faces: ``(F, 3)``.
    """
    corners = np.asarray(uv, dtype=np.float64)[np.asarray(faces, dtype=np.int64)] * size
    # Sample a hair off the texel centres, where the edges of tidy layouts (diagonals, halves) do
    # not pass: a texel on an edge two neighbours share would otherwise count for both.
    corners = corners + np.array([np.sqrt(2.0), np.sqrt(3.0)]) * 1e-4
    low = np.clip(np.floor(corners.min(axis=1) - 0.5).astype(np.int64) + 1, 0, size - 1)
    high = np.clip(np.floor(corners.max(axis=1) - 0.5).astype(np.int64), -1, size - 1)
    extent = np.maximum(high - low + 1, 0)
    counts = extent[:, 0] * extent[:, 1]
    found = np.zeros(size * size, dtype=np.int32)
    order_end = np.cumsum(counts)
    start = 0
    while start < len(corners):
        base = order_end[start - 1] if start else 0
        stop = max(int(np.searchsorted(order_end, base + _PAIRS_PER_CHUNK, side="right")), start + 1)
        hit = _covered_texels(corners[start:stop], low[start:stop], extent[start:stop], counts[start:stop], size)
        if hit is not None:
            np.add.at(found, hit[1], 1)
        start = stop
    return found.reshape(size, size)


def _covered_texels(corners, low, extent, counts, size):
    """``(face, texel, barycentric weights (N, 3))`` of every texel centre inside a triangle of
    ``corners`` ``(F, 3, 2)`` (texel units), or None when the boxes hold no texel."""
    total = int(counts.sum())
    if total == 0:
        return None
    face = np.repeat(np.arange(len(corners)), counts)
    # Position of each pair inside its face's box, then the texel it names.
    local = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    columns = extent[face, 0]
    x = low[face, 0] + local % columns
    y = low[face, 1] + local // columns
    px, py = x + 0.5, y + 0.5
    a, b, c = corners[face, 0], corners[face, 1], corners[face, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    safe = np.where(np.abs(area) > 1e-12, area, 1.0)
    w1 = ((px - a[:, 0]) * (c[:, 1] - a[:, 1]) - (py - a[:, 1]) * (c[:, 0] - a[:, 0])) / safe
    w2 = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (b[:, 1] - a[:, 1]) * (px - a[:, 0])) / safe
    w0 = 1.0 - w1 - w2
    eps = -1e-9  # texel centres exactly on a shared edge belong to both triangles; either value is right
    inside = (np.abs(area) > 1e-12) & (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
    weights = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)
    return face[inside], y[inside] * size + x[inside], weights


def _rasterize_chunk(corners, faces, low, extent, counts, values, size, image, covered) -> None:
    hit = _covered_texels(corners, low, extent, counts, size)
    if hit is None:
        return
    face, texel, weights = hit
    corner_values = values[faces[face]]  # (N, 3, C)
    image[texel] = np.einsum("nk,nkc->nc", weights, corner_values)
    covered[texel] = True


def dilate(image: np.ndarray, covered: np.ndarray, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Grow the covered region by ``pixels`` texels: each new texel is the mean of its covered
    8-neighbours, one ring per pass (the usual seam padding of texture bakers).

    Shape:
        - image: ``(H, W, C)``; covered: ``(H, W)`` bool. Outputs have the same shapes.
    """
    image = np.array(image, dtype=np.float32, copy=True)
    covered = np.array(covered, dtype=bool, copy=True)
    height, width = covered.shape
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for _ in range(max(int(pixels), 0)):
        weight = covered.astype(np.float32)
        padded_values = np.pad(image * weight[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_weight = np.pad(weight, 1)
        total = np.zeros_like(image)
        count = np.zeros((height, width), dtype=np.float32)
        for dy, dx in shifts:
            total += padded_values[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            count += padded_weight[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        grow = (~covered) & (count > 0)
        if not grow.any():
            break
        image[grow] = total[grow] / count[grow][:, None]
        covered |= grow
    return image, covered
