"""The vector renderer contract: request checks, background compositing and the registry.

A vector renderer is a callable ``renderer(scenes, width, height, background=WHITE) -> image``:

- ``scenes``: one :class:`~stylize.vector.scene.Scene` or a sequence rendered as a batch (all on
  one device and dtype);
- ``width``, ``height``: canvas size in pixels (positive integers);
- ``background``: RGB in ``[0, 1]`` as 3 values, an image ``(H, W, 3)`` or a batch
  ``(B, H, W, 3)``; ``None`` returns straight (not premultiplied) RGBA instead;
- returns ``(H, W, 3)`` for one scene, ``(B, H, W, 3)`` for a batch (4 channels without a
  background), differentiable w.r.t. control points, half-widths and colours.

Backends (:data:`VECTOR_RENDERERS`) import this module, never each other: ``"torch"``
(:mod:`stylize.vector.raster`, the default, pure PyTorch) and ``"diffvg"``
(:mod:`stylize.vector.diffvg_backend`, only where ``pydiffvg`` is built). Pick one with
:func:`get_renderer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from stylize.registry import Registry
from stylize.vector.scene import Scene

__all__ = [
    "VECTOR_RENDERERS", "WHITE", "VectorRenderer", "available_renderers", "background_tensor", "check_request",
    "composite", "get_renderer",
]  # fmt: skip

WHITE = (1.0, 1.0, 1.0)


@runtime_checkable
class VectorRenderer(Protocol):
    """What every vector backend is: ``renderer(scenes, width, height, background) -> image``."""

    name: str

    def __call__(self, scenes: Scene | Sequence[Scene], width: int, height: int, background=WHITE) -> Tensor: ...


def check_request(scenes, width: int, height: int) -> tuple[list[Scene], bool]:
    """Validate a render request: ``(list of scenes, whether one scene was given)``.

    Raises:
        TypeError: something other than scenes. ValueError: an empty batch, a non-positive or
            non-integer size, or scenes on different devices / dtypes.
    """
    single = isinstance(scenes, Scene)
    scene_list = [scenes] if single else list(scenes)
    if not scene_list:
        raise ValueError("expected a Scene or a non-empty sequence of Scenes, got an empty sequence")
    for index, scene in enumerate(scene_list):
        if not isinstance(scene, Scene):
            raise TypeError(f"expected Scene objects, got {type(scene).__name__} at index {index}")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError(f"expected a positive integer canvas size, got {width!r} x {height!r}")
    devices = {scene.device for scene in scene_list}
    dtypes = {scene.dtype for scene in scene_list}
    if len(devices) > 1 or len(dtypes) > 1:
        raise ValueError(f"expected all scenes on one device and dtype, got {devices} and {dtypes}")
    return scene_list, single


def background_tensor(background, batch: int, height: int, width: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A background as one RGB row per pixel of the batch: ``(B * H * W, 3)``."""
    value = torch.as_tensor(background, dtype=dtype, device=device)
    if value.ndim == 0:
        value = value.expand(3)
    if value.shape == (3,):
        return value.expand(batch * height * width, 3)
    if value.shape == (height, width, 3):
        return value.reshape(1, height * width, 3).expand(batch, -1, -1).reshape(-1, 3)
    if value.shape == (batch, height, width, 3):
        return value.reshape(-1, 3)
    raise ValueError(
        f"expected a background of shape (3,), ({height}, {width}, 3) or ({batch}, {height}, {width}, 3), got {tuple(value.shape)}"
    )


def composite(rgba: Tensor, background) -> Tensor:
    """Straight RGBA ``(B, H, W, 4)`` over ``background`` -> ``(B, H, W, 3)``; ``None`` keeps RGBA."""
    if background is None:
        return rgba
    batch, height, width, _ = rgba.shape
    bg = background_tensor(background, batch, height, width, rgba.dtype, rgba.device).reshape(batch, height, width, 3)
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + bg * (1 - alpha)


# name -> "module:Class" (imported on first lookup, so optional backends never load early)
VECTOR_RENDERERS: Registry[Callable[..., VectorRenderer]] = Registry(
    "vector renderer",
    {"torch": "stylize.vector.raster:TorchVectorRenderer", "diffvg": "stylize.vector.diffvg_backend:DiffvgVectorRenderer"},
)


def get_renderer(name: str = "torch", **options) -> VectorRenderer:
    """Build the vector renderer registered as ``name`` with ``options``.

    Raises:
        InputError (a ValueError): an unknown name. ImportError: its optional package is missing.
    """
    return VECTOR_RENDERERS.lookup(name)(**options)


def available_renderers() -> list[str]:
    """Names of the renderers whose dependencies import here."""
    names = []
    for name in VECTOR_RENDERERS:
        try:
            get_renderer(name)
        except ImportError:
            continue
        names.append(name)
    return names
