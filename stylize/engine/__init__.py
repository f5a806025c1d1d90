"""The CLIP-loss engine shared by every pipeline.

>>> from stylize.engine import ClipEngine, PromptSet

Names are imported on first use, so ``from stylize.engine import DEFAULT_CLIP`` (or the spec
parser) does not load torch and open_clip.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AUGMENT_PRESETS": "augment", "Augmenter": "augment",
    "ClipEngine": "engine", "EngineOutput": "engine",
    "cosine_loss": "losses", "directional_loss": "losses", "spherical_distance_loss": "losses", "LOSSES": "losses",
    "ClipModel": "models", "ModelCache": "models", "load_clip": "models",
    "Direction": "prompts", "EmbeddingCache": "prompts", "ImagePrompt": "prompts", "PromptSet": "prompts",
    "TextPrompt": "prompts", "load_image": "prompts",
    "DEFAULT_CLIP": "specs", "ModelSpec": "specs", "parse_model_spec": "specs",
}  # fmt: skip


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stylize.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"stylize.engine.{module}"), name)


__all__ = sorted(_EXPORTS)
