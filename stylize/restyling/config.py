"""Settings of a ``stylize restyle`` run, its presets and their checks (no torch at import).

The defaults are CLIPstyler's (Kwon & Ye, "CLIPstyler: Image Style Transfer with a Single Text
Condition", CVPR 2022, arXiv:2112.00374, Sec. 4 "Experimental settings", and the defaults of
``train_CLIPstyler.py`` in the authors' repository github.com/cyclomon/CLIPstyler):

==============================  =================  ==========================================
setting                         value              key
==============================  =================  ==========================================
content image size              512 x 512 px       ``size`` (here: the longer side)
StyleNet                        U-Net, 16 channels ``width``
iterations                      200                ``iters``
optimiser                       Adam, lr 5e-4      ``lr``
lr schedule                     x0.5 every 100     ``lr_step``, ``lr_gamma``
patch size                      128 px             ``crop_size``
patches per step                64                 ``num_crops``
patch augmentation              perspective 0.5    ``patch_augment``
rejection threshold (tau)       0.7                ``threshold``
patch loss weight (lambda_p)    9000               ``lambda_patch``
global directional (lambda_d)   500                ``lambda_dir``
content loss (lambda_c)         150                ``lambda_content``
TV loss (lambda_tv)             2e-3               ``lambda_tv``
content features                VGG-19 conv4_2,    ``content_features = "vgg"``
                                conv5_2
source text                     "a Photo"          ``source``
prompt engineering              ImageNet templates ``templates = "imagenet"``
CLIP                            ViT-B/32           ``clip``
==============================  =================  ==========================================

Two departures, both for the toolkit's sake: the content image keeps its aspect ratio (its
longer side becomes ``size``, both sides rounded down to a multiple of 8, which the U-Net
needs) where the reference squashes it to a square; and the result is saved as it comes out of
the network, without the reference's extra ``adjust_contrast(1.5)`` on the saved picture.

``smoke`` is a small CPU setting for the project's tiny test CLIPs: a 128 px picture, 16 patches
of 64 px, bare-caption templates (the test CLIPs know "a red circle", not "a sculpture of a red
circle."), 8 iterations unless ``--iters`` says otherwise, and four settings moved because the
test CLIPs are not real CLIP:

- ``threshold = 0.2``: their directional cosines are far higher than real CLIP's, so with the
  paper's 0.7 every patch is rejected after two or three steps and the patch loss switches off;
  at 0.2 it keeps working (a red disc then turns into a blue one instead of a red one with a
  blue blob);
- ``lambda_dir = 100`` (paper 500) and ``lambda_content = 1000`` (paper 150): the feature maps
  of a 64 px CLIP are a weaker content term than VGG-19's at 512 px, so the disc drifted and
  bled into the background with the paper's balance (IoU 0.74 against 0.9);
- ``lr = 2e-3`` (paper 5e-4): 200 steps from a random StyleNet at 5e-4 left the disc purple or
  orange.

Figures: ``tools/bench/restyle_check.py`` and ``tests/restyling/test_semantic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from stylize.engine.specs import DEFAULT_CLIP
from stylize.errors import InputError
from stylize.generation import check_generation_limits
from stylize.registry import check_names

__all__ = ["MAX_APPLY_PIXELS", "MAX_INPUT_PIXELS", "RESTYLE_PRESETS", "RestyleConfig", "check_restyle_config"]

#: The largest picture (width x height) ``--apply`` stylizes in one forward pass (4096 x 2048):
#: the U-Net's full-resolution activations (instance norm needs the whole picture at once) took
#: the process to 4.0 GB peak at 2048 x 2048 on the CPU (tools/bench/bench_restyle.py), so this bound
#: needs about 8 GB.
MAX_APPLY_PIXELS = 4096 * 2048
#: The largest content image a training run reads (it is resized to ``size`` afterwards); both
#: bounds stay under PIL's decompression-bomb limit (89 MP), which would otherwise warn first.
MAX_INPUT_PIXELS = 8192 * 8192


@dataclass
class RestyleConfig:
    """Everything one ``stylize restyle`` run needs (defaults: the paper's, see the module doc).

    Attributes:
        image: the content image file (never modified).
        prompt: the target style text ("a watercolour painting", "a blue circle").
        source: the text that describes the content image as it is (the direction's start).
        content_features: ``vgg`` (VGG-19 conv4_2 and conv5_2, ImageNet weights downloaded once
            by torchvision), ``clip`` (the first training CLIP's intermediate feature maps; no
            download) or ``vgg-random`` (random weights, for tests).
        templates: ``imagenet`` (CLIP's prompt-engineering templates) or ``none``.
        judge: CLIP specs that score the result (never used for training).
    """

    # Keys older versions wrote into config.toml; accepted and ignored.
    LEGACY_KEYS: ClassVar[tuple[str, ...]] = ("progress",)
    #: settings naming files, recorded absolute (see :func:`stylize.config.absolute_paths`)
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("image",)

    image: str = ""
    prompt: str = ""
    source: str = "a Photo"
    clip: list[str] = field(default_factory=lambda: [DEFAULT_CLIP])
    judge: list[str] = field(default_factory=list)
    templates: str = "imagenet"
    size: int = 512
    width: int = 16
    iters: int = 200
    lr: float = 5e-4
    lr_step: int = 100
    lr_gamma: float = 0.5
    crop_size: int = 128
    num_crops: int = 64
    patch_augment: str = "perspective"
    patch_fill: float = 0.0
    threshold: float = 0.7
    lambda_patch: float = 9000.0
    lambda_dir: float = 500.0
    lambda_content: float = 150.0
    lambda_tv: float = 2e-3
    content_features: str = "vgg"
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    frame_every: int = 10


RESTYLE_PRESETS: dict[str, dict] = {
    "clipstyler": {
        "size": 512, "width": 16, "iters": 200, "lr": 5e-4, "lr_step": 100, "lr_gamma": 0.5, "crop_size": 128,
        "num_crops": 64, "threshold": 0.7, "lambda_patch": 9000.0, "lambda_dir": 500.0, "lambda_content": 150.0,
        "lambda_tv": 2e-3, "content_features": "vgg", "templates": "imagenet", "source": "a Photo",
    },
    "smoke": {
        "size": 128, "crop_size": 64, "num_crops": 16, "iters": 8, "lr": 2e-3, "lr_step": 100, "templates": "none",
        "threshold": 0.2, "lambda_dir": 100.0, "lambda_content": 1000.0, "log_every": 2, "frame_every": 10,
    },
}  # fmt: skip


def check_restyle_config(config: RestyleConfig) -> None:
    """Raise :class:`InputError` naming the first unusable setting (texts, sizes, names)."""
    for key in ("prompt", "source"):
        value = getattr(config, key)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"no {key} text given: restyle needs a non-empty {key} (config key {key!r})")
    if not config.image:
        raise InputError("no content image given: restyle needs the image to restyle")
    check_generation_limits(config)
    for key in ("size", "width", "iters", "crop_size", "num_crops", "lr_step"):
        if getattr(config, key) < 1:
            raise InputError(f"config key {key!r}: expected a positive integer, got {getattr(config, key)}")
    if config.size < 16:
        raise InputError(f"config key 'size': expected at least 16 px, got {config.size}")
    if config.crop_size > config.size:
        raise InputError(f"config key 'crop_size': expected at most size ({config.size}), got {config.crop_size}")
    if not config.lr > 0 or not 0 < config.lr_gamma <= 1:
        raise InputError(
            f"config keys 'lr', 'lr_gamma': expected lr > 0 and 0 < lr_gamma <= 1, got {config.lr}, {config.lr_gamma}"
        )
    if not 0.0 <= config.threshold <= 2.0:
        raise InputError(f"config key 'threshold': expected a directional loss in [0, 2], got {config.threshold}")
    for key in ("lambda_patch", "lambda_dir", "lambda_content", "lambda_tv"):
        if getattr(config, key) < 0:
            raise InputError(f"config key {key!r}: expected a weight >= 0, got {getattr(config, key)}")
    if not config.clip:
        raise InputError("config key 'clip': expected at least one CLIP model spec")
    check_names(config, {"templates": "stylize.restyling.templates:TEXT_TEMPLATES",
                         "patch_augment": "stylize.engine.augment:AUGMENT_PRESETS",
                         "content_features": "stylize.restyling.losses:CONTENT_FEATURES"})  # fmt: skip
