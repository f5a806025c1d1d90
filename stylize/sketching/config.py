"""Settings of a photo-to-sketch run (``stylize sketch``, CLIPasso), its presets and their checks.

This module does not import torch, so the command line can list presets instantly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from stylize.config import check_limits, check_seed
from stylize.errors import InputError
from stylize.generation import GenerationConfig, check_generation_limits
from stylize.registry import check_names

__all__ = ["MAX_PASS_IMAGES", "MAX_SKETCHES", "SKETCH_PRESETS", "SketchConfig", "check_sketch_config", "parse_strokes"]

#: Sketches optimised side by side in one batch (stroke levels x seeds): each adds
#: ``copies + 1`` images to every CLIP pass.
MAX_SKETCHES = 64
#: Images one CLIP pass of a step may encode (the loss pass is one batch, not chunked by
#: ``clip_batch``, which applies to scoring).
MAX_PASS_IMAGES = 1024


@dataclass
class SketchConfig(GenerationConfig):
    """Everything one ``stylize sketch`` run needs (defaults: the CLIPasso reference settings).

    The reference is CLIPasso (Vinker et al., SIGGRAPH 2022, arXiv 2202.05822, code
    yael-vinker/CLIPasso: ``config.py``, ``models/painter_params.py``, ``models/loss.py``,
    ``run_object_sketching.py``). Its settings and where each comes from:

    - ``strokes = [16]``: 16 strokes by default (paper, Sec. 4; ``num_paths``); the stroke count
      is the abstraction level (the paper shows 4, 8, 16, 32).
    - ``segments = 1``: each stroke one open cubic Bézier, 4 control points
      (``num_segments = 1``, ``control_points_per_seg = 4``).
    - ``width = 1.5``: black strokes of width 1.5 at 224 px (``width``, passed to diffvg as its
      stroke width, which is a half-width: SVG ``stroke-width`` 3 at 224 px). Scaled with ``size``.
    - ``lr_points = 1.0``, Adam, points only (``lr``; widths and colours are not optimised).
    - Initialisation (``painter_params.py``): a saliency map = the CLIP ViT image tower's attention
      relevance (``saliency_clip``, ViT-B/32 there) times an XDoG edge map (``xdog_intersec``),
      softmax at ``softmax_temperature = 0.3`` (``softmax_temp``), ``N`` start points drawn
      without replacement; each further control point a random step of up to ``walk_radius =
      0.05`` of the canvas (``radius``) from the previous one. Here the relevance is the CLS
      row of the attention, averaged over heads and blocks; for a ResNet saliency CLIP (which has
      no attention rows) the map is the XDoG edges alone.
    - Loss (``models/loss.py``): a geometric term, the L2 distance between intermediate
      activations of the CLIP image tower for sketch and photo (``clip_conv_loss``; RN101, stages
      layer2 and layer3: ``clip_conv_layer_weights = 0,0,1,1,0``), here ``geometric_layers``
      as relative depths (0.5 and 0.75 are layer2 and layer3 of a ResNet, blocks 6 and 9 of a
      12-block ViT); plus ``semantic_weight = 0.1`` x (1 - cosine) between the image embeddings
      (``clip_fc_loss_weight``); the photo's features are detached.
    - Augmentation: sketch and photo warped *together* by the same RandomPerspective
      (``distortion = 0.5``) and RandomResizedCrop (``crop_scale = 0.8``, square), ``copies = 4``
      of them plus the unaugmented pair (``num_aug_clip``). The reference fills outside pixels
      with black; here with white, as the sketch's paper is white (no false border edge).
    - ``eval_every = 10`` steps the loss of the unaugmented pair (``eval_interval``); the run
      stops when two evaluations in a row move the best by at most ``min_delta = 1e-5``; the best
      evaluated iteration is kept (``best_iter``). ``iters = 2000`` at most (``num_iter = 2001``
      in ``run_object_sketching.py``).
    - ``best_of = 3`` seeds, the lowest evaluation loss kept (``run_object_sketching.py``, seeds
      0, 1000, 2000 in three processes); here all seeds (and all stroke levels) are optimised side
      by side in one batch: one rasterizer call and one CLIP pass per step.
    - ``clip = ["RN101:openai"]`` for the loss, ``saliency_clip = "ViT-B-32:openai"``.

    Beyond the reference: ``prompts`` adds ``prompt_weight`` x (1 - cosine to the text) per prompt
    (the reference has ``clip_text_guide`` in its config but never wires it); ``optimise_width`` /
    ``optimise_color`` (CLIPDraw's learning rates); several ``strokes`` levels in one run (the
    abstraction ladder); ``mask`` (an image whose dark pixels are background: the photo is made
    white there and no stroke starts there).
    """

    LEGACY_KEYS: ClassVar[tuple[str, ...]] = ()
    #: settings naming files, recorded absolute (see :func:`stylize.config.absolute_paths`)
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("image", "mask")

    image: str = ""
    mask: str = ""
    clip: list[str] = field(default_factory=lambda: ["RN101:openai"])
    saliency_clip: str = "ViT-B-32:openai"
    strokes: list[int] = field(default_factory=lambda: [16])
    segments: int = 1
    width: float = 1.5
    color: str = "#000000"
    background: str = "#ffffff"
    iters: int = 2000
    copies: int = 4
    distortion: float = 0.5
    crop_scale: float = 0.8
    lr_points: float = 1.0
    lr_widths: float = 0.1
    lr_colors: float = 0.01
    optimise_width: bool = False
    optimise_color: bool = False
    min_width: float = 0.5
    max_width: float = 8.0
    geometric_layers: list[float] = field(default_factory=lambda: [0.5, 0.75])
    geometric_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    semantic_weight: float = 0.1
    prompt_weight: float = 0.1
    softmax_temperature: float = 0.3
    walk_radius: float = 0.05
    eval_every: int = 10
    min_delta: float = 1e-5
    early_stop: bool = True
    best_of: int = 3
    renderer: str = "torch"
    augment: str = "paired"  # sketch and photo warped together (see stylize.engine.augment.paired_warps)


SKETCH_PRESETS: dict[str, dict] = {
    "clipasso": {},
    # One ViT-B/32 for loss and saliency, one seed, a quarter of the steps: minutes on a CPU.
    "fast": {"clip": ["ViT-B-32:openai"], "saliency_clip": "", "iters": 500, "best_of": 1},
    "smoke": {"size": 64, "iters": 8, "copies": 2, "best_of": 1, "strokes": [8], "eval_every": 4, "log_every": 2,
              "frame_every": 2, "saliency_clip": ""},
    "test": {"size": 96, "iters": 60, "copies": 2, "best_of": 2, "eval_every": 5, "log_every": 5, "frame_every": 5,
             "saliency_clip": ""},
}  # fmt: skip


def parse_strokes(value) -> list[int]:
    """Stroke levels from ``16``, ``"4,8,16,32"`` or ``[4, 8]``, as a sorted list without repeats."""
    if isinstance(value, bool):
        raise InputError(f"strokes: expected a number of strokes or a list such as 4,8,16,32, got {value!r}")
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, str):
        try:
            items = [int(part) for part in value.replace(" ", "").split(",") if part]
        except ValueError:
            raise InputError(f"strokes: expected a number of strokes or a list such as 4,8,16,32, got {value!r}") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        items = list(value)
    else:
        raise InputError(f"strokes: expected a number of strokes or a list such as 4,8,16,32, got {value!r}")
    if not items:
        raise InputError("strokes: expected at least one stroke count")
    return sorted(set(items))


def check_sketch_config(config: SketchConfig) -> None:
    """Raise :class:`InputError` naming the first unusable setting (before any model loads)."""
    if not config.image:
        raise InputError("no image given: sketch needs a photo or picture to draw")
    if any(not isinstance(p, str) or not p.strip() for p in config.prompts):
        raise InputError("expected non-empty text prompts")
    check_generation_limits(config)
    config.strokes = parse_strokes(config.strokes)
    check_seed(config.seed)
    for name in ("copies", "segments", "best_of", "eval_every"):
        if getattr(config, name) < 1:
            raise InputError(f"config key {name!r}: expected a positive integer, got {getattr(config, name)}")
    check_limits({"size": config.size, "copies": config.copies, "segments": config.segments, "best_of": config.best_of,
                  "strokes": max(config.strokes), "fewest strokes": min(config.strokes),
                  "sketches (stroke levels x best_of)": len(config.strokes) * config.best_of},
                 {"size": (16, 2048), "copies": (1, 64), "segments": (1, 16), "best_of": (1, MAX_SKETCHES),
                  "strokes": (1, 2000), "fewest strokes": (1, 2000),
                  "sketches (stroke levels x best_of)": (1, MAX_SKETCHES)})  # fmt: skip
    images = (config.copies + 1) * (1 + len(config.strokes) * config.best_of)
    if images > MAX_PASS_IMAGES:
        raise InputError(f"one step would encode {images} images ((copies + 1) x (1 + stroke levels x best_of)), "
                         f"more than {MAX_PASS_IMAGES}: lower copies, best_of or the number of stroke levels")  # fmt: skip
    if len(config.clip) != 1:
        raise InputError(f"sketch optimises with one CLIP (its layers are the geometric loss), got {len(config.clip)}")
    if not 0 < config.min_width <= config.width <= config.max_width:
        raise InputError(f"expected 0 < min_width <= width <= max_width, got {config.min_width}, {config.width}, "
                         f"{config.max_width}")  # fmt: skip
    if not 0.0 <= config.distortion < 1.0 or not 0.05 <= config.crop_scale <= 1.0:
        raise InputError(f"expected distortion in [0, 1) and crop_scale in [0.05, 1], got {config.distortion}, "
                         f"{config.crop_scale}")  # fmt: skip
    if config.softmax_temperature <= 0 or config.walk_radius < 0:
        raise InputError(f"expected softmax_temperature > 0 and walk_radius >= 0, got {config.softmax_temperature}, "
                         f"{config.walk_radius}")  # fmt: skip
    if len(config.geometric_layers) != len(config.geometric_weights) or not config.geometric_layers:
        raise InputError("config keys 'geometric_layers' and 'geometric_weights' need the same, non-zero length")
    if not all(0.0 < depth <= 1.0 for depth in config.geometric_layers):
        raise InputError(f"geometric_layers: expected relative depths in (0, 1], got {config.geometric_layers}")
    if min(config.semantic_weight, config.prompt_weight, min(config.geometric_weights)) < 0:
        raise InputError("loss weights must not be negative")
    if config.augment != "paired":
        raise InputError(f"sketch augments sketch and photo together: augment must be 'paired', got {config.augment!r}")
    check_names(config, {"renderer": "stylize.vector.renderer:VECTOR_RENDERERS"})
