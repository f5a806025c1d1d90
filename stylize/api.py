"""The public Python API. Each function is what the CLI command of the same name calls."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from stylize.engine import DEFAULT_CLIP, ClipEngine, EngineOutput, PromptSet, load_image
from stylize.errors import InputError


def score(
    image: str | Path | torch.Tensor,
    prompt: str | Sequence[str],
    clip: Sequence[str] | str = (DEFAULT_CLIP,),
    negatives: Sequence[str] = (),
    device: str = "auto",
) -> EngineOutput:
    """Score an image against prompts with one or more CLIP models.

    Args:
        image: a path, or a tensor (3, H, W) / (B, 3, H, W) in [0, 1].
        prompt: one or more positive prompts.
        clip: model specs (``ViT-B-32:openai``, ``local-dir:/path``, ...).
        negatives: negative prompts.
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        :class:`~stylize.engine.EngineOutput` with the loss and per-model, per-prompt similarities.
    """
    if isinstance(image, (str, Path)):
        pixels = load_image(image).unsqueeze(0)
    elif isinstance(image, torch.Tensor):
        pixels = image.unsqueeze(0) if image.ndim == 3 else image
    else:
        raise InputError(f"expected an image path or tensor, got {type(image).__name__}")
    engine = ClipEngine(clip, PromptSet.build(prompt, list(negatives)), device=device)
    with torch.no_grad():
        return engine(pixels.to(engine.device))
