"""The CLIP-loss engine shared by every pipeline.

>>> from stylize.engine import ClipEngine, PromptSet
"""

from stylize.engine.augment import AUGMENT_PRESETS, Augmenter
from stylize.engine.engine import DEFAULT_CLIP, ClipEngine, EngineOutput
from stylize.engine.losses import cosine_loss, directional_loss, spherical_distance_loss
from stylize.engine.models import ClipModel, ModelCache, ModelSpec, load_clip, parse_model_spec
from stylize.engine.prompts import Direction, EmbeddingCache, ImagePrompt, PromptSet, TextPrompt, load_image

__all__ = [
    "AUGMENT_PRESETS",
    "Augmenter",
    "ClipEngine",
    "ClipModel",
    "DEFAULT_CLIP",
    "Direction",
    "EmbeddingCache",
    "EngineOutput",
    "ImagePrompt",
    "ModelCache",
    "ModelSpec",
    "PromptSet",
    "TextPrompt",
    "cosine_loss",
    "directional_loss",
    "load_clip",
    "load_image",
    "parse_model_spec",
    "spherical_distance_loss",
]
