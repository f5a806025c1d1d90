"""Settings of a CLIPDraw / StyleCLIPDraw run (``stylize draw``), its presets and their checks.

This module does not import torch, so the command line can list presets instantly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from stylize.config import check_limits, check_seed
from stylize.errors import InputError
from stylize.generation import GenerationConfig, check_generation_limits
from stylize.registry import check_names

__all__ = ["DRAW_PRESETS", "DrawConfig", "check_draw_config"]


@dataclass
class DrawConfig(GenerationConfig):
    """Everything one ``stylize draw`` run needs (defaults: the CLIPDraw reference settings).

    The references' settings, with their sources:

    - CLIPDraw (Frans et al. 2021, kvfrans/clipdraw): 224 px canvas, 256 open paths of 1-3 cubic
      segments, random start points and control points within about 11 px of the previous one;
      stroke half-widths clamped to [1, 50] (``stroke-width`` in SVG is twice the half-width);
      random RGBA colours; three Adam optimisers (points lr 1.0, x0.4 at 50 % and x0.1 at 75 %
      of the run; widths lr 0.1; colours lr 0.01); 1000 iterations; 4 augmented copies per step
      (RandomPerspective then RandomResizedCrop 0.7-0.9); loss summed over copies; optional
      negative prompts with weight 0.3.
    - StyleCLIPDraw (Schaldenbrand et al. 2022): the same strokes plus a STROTSS-like style loss
      (weight 2.0), 500 iterations, 10 copies, CLIP loss for the first 90 % of the steps and
      style alone for the last 10 %, final render at 4x.
    """

    # Keys older versions wrote into config.toml; accepted and ignored.
    LEGACY_KEYS: ClassVar[tuple[str, ...]] = ("progress",)
    #: settings naming files, recorded absolute (see :func:`stylize.config.absolute_paths`)
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("init", "style", "palette")

    iters: int = 1000
    paths: int = 256
    segments: int = 3
    shapes: Literal["strokes", "fills", "both"] = "strokes"
    fill_fraction: float = 0.5
    fills: Literal["solid", "gradient"] = "solid"
    min_width: float = 1.0
    max_width: float = 50.0
    init: str = ""
    palette: str = ""
    palette_colors: int = 8
    background: str = "#ffffff"
    lr_points: float = 1.0
    lr_widths: float = 0.1
    lr_colors: float = 0.01
    lr_palette: float = 0.1
    lr_milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])
    lr_factors: list[float] = field(default_factory=lambda: [0.4, 0.1])
    style: str = ""
    style_weight: float = 2.0
    style_features: str = "vgg16"
    style_samples: int = 1024
    style_only_fraction: float = 0.1
    final_scale: int = 1
    best_of: int = 1
    renderer: str = "torch"


DRAW_PRESETS: dict[str, dict] = {
    "clipdraw": {},
    "styleclipdraw": {"iters": 500, "copies": 10, "style_weight": 2.0, "style_only_fraction": 0.1, "final_scale": 4},
    "smoke": {"size": 64, "paths": 16, "iters": 8, "copies": 2, "log_every": 2, "frame_every": 2, "style_samples": 256},
    "test": {"size": 64, "paths": 24, "iters": 40, "copies": 2, "log_every": 5, "frame_every": 5, "style_samples": 256},
}  # fmt: skip


def check_draw_config(config: DrawConfig) -> None:
    """Raise :class:`InputError` naming the first unusable setting, including unknown names of
    renderers, augmentations, style features and shapes (before any model loads)."""
    if not config.prompts or not all(isinstance(p, str) and p.strip() for p in config.prompts):
        raise InputError("no prompt given: draw needs at least one non-empty text prompt")
    check_generation_limits(config)
    positive = {"size": config.size, "iters": config.iters, "copies": config.copies, "segments": config.segments,
                "best_of": config.best_of, "final_scale": config.final_scale, "style_samples": config.style_samples}  # fmt: skip
    for name, value in positive.items():
        if value < 1:
            raise InputError(f"config key {name!r}: expected a positive integer, got {value}")
    check_seed(config.seed)
    check_limits({"size": config.size, "copies": config.copies, "paths": config.paths, "best_of": config.best_of,
                  "size * final_scale": config.size * config.final_scale, "segments": config.segments},
                 {"size": (8, 4096), "copies": (1, 256), "paths": (0, 20_000), "best_of": (1, 64),
                  "size * final_scale": (8, 16384), "segments": (1, 64)})  # fmt: skip
    if config.paths < 0 or (config.paths == 0 and not config.init):
        raise InputError(f"config key 'paths': expected at least 1 path (or an --init SVG), got {config.paths}")
    if not 0 < config.min_width <= config.max_width:
        raise InputError(f"expected 0 < min_width <= max_width, got {config.min_width} and {config.max_width}")
    if not 0.0 <= config.style_only_fraction < 1.0:
        raise InputError(f"config key 'style_only_fraction': expected a value in [0, 1), got {config.style_only_fraction}")
    if not 0.0 <= config.fill_fraction <= 1.0:
        raise InputError(f"config key 'fill_fraction': expected a value in [0, 1], got {config.fill_fraction}")
    if len(config.lr_milestones) != len(config.lr_factors):
        raise InputError("config keys 'lr_milestones' and 'lr_factors' must have the same length")
    check_names(config, {"renderer": "stylize.vector.renderer:VECTOR_RENDERERS",
                         "augment": "stylize.engine.augment:AUGMENT_PRESETS",
                         "style_features": "stylize.vector.style:STYLE_FEATURES",
                         "shapes": "stylize.vector.initial:SCENE_INITIALISERS",
                         "fills": "stylize.vector.initial:FILL_PAINTS"})  # fmt: skip
