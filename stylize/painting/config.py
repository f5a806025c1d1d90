"""Settings of a ``stylize paint`` run, its presets and their checks (no torch at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from stylize.config import check_limits, check_seed
from stylize.errors import InputError
from stylize.generation import GenerationConfig, check_generation_limits
from stylize.registry import check_names

__all__ = ["PAINT_PRESETS", "PaintConfig", "check_paint_config"]


@dataclass
class PaintConfig(GenerationConfig):
    """Everything one ``stylize paint`` run needs.

    ``aphantasia`` follows Aphantasia's FFT parameterisation (a spectrum scaled by
    ``1 / max(f, 4 / max(H, W)) ** decay`` with decay 1.5, inverse real FFT, colour
    decorrelation, sigmoid); ``pixels`` optimises one logit per pixel.
    """

    # Keys older versions wrote into config.toml; accepted and ignored.
    LEGACY_KEYS: ClassVar[tuple[str, ...]] = ("progress",)
    #: settings naming files, recorded absolute (see :func:`stylize.config.absolute_paths`)
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("init",)

    param: Literal["pixel", "fft"] = "fft"
    init: str = ""
    content_weight: float = 20.0
    copies: int = 8
    lr: float | None = None
    decay: float = 1.5
    pixel_size: int = 1
    canvas: str = "#e6e6e6"


PAINT_PRESETS: dict[str, dict] = {
    "aphantasia": {"param": "fft", "iters": 300, "copies": 8},
    "pixels": {"param": "pixel", "iters": 300, "copies": 8},
    "smoke": {"size": 48, "iters": 6, "copies": 2, "log_every": 2, "frame_every": 2},
    "test": {"size": 64, "iters": 24, "copies": 4, "pixel_size": 8, "log_every": 5, "frame_every": 5},
}


def check_paint_config(config: PaintConfig) -> None:
    """Raise :class:`InputError` naming the first unusable setting (prompts, sizes, names)."""
    if not config.prompts or not all(isinstance(p, str) and p.strip() for p in config.prompts):
        raise InputError("no prompt given: paint needs at least one non-empty text prompt")
    check_generation_limits(config)
    for name in ("size", "iters", "copies"):
        if getattr(config, name) < 1:
            raise InputError(f"config key {name!r}: expected a positive integer, got {getattr(config, name)}")
    check_seed(config.seed)
    check_limits({"size": config.size, "copies": config.copies}, {"size": (8, 4096), "copies": (1, 256)})
    check_names(config, {"param": "stylize.painting.params:IMAGE_PARAMETERISATIONS",
                         "augment": "stylize.engine.augment:AUGMENT_PRESETS"})  # fmt: skip
