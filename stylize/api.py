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


def _overrides(prompt: str | Sequence[str], options: dict, overrides: dict | None) -> dict:
    """Keyword options (None = not given) then explicit ``--set`` style overrides."""
    merged = {"prompts": [prompt] if isinstance(prompt, str) else list(prompt)}
    merged.update({key: value for key, value in options.items() if value is not None})
    merged.update(overrides or {})
    return merged


def draw(
    prompt: str | Sequence[str],
    out: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    **options,
):
    """Draw a vector illustration of ``prompt`` with CLIPDraw / StyleCLIPDraw.

    Args:
        prompt: one or more text prompts.
        out: run folder to write (``drawing.svg``, ``drawing.png``, ...); None writes nothing.
        preset: ``clipdraw`` (reference), ``styleclipdraw``, ``smoke``, ``test``.
        config_file: a TOML file of config keys.
        overrides: dotted config keys and values applied last (``--set``).
        **options: any :class:`~stylize.vector.clipdraw.DrawConfig` field, e.g. ``paths=64``,
            ``style="style.png"``, ``palette="#aa3300,#ffffff"``, ``clip=[...]``, ``seed=1``.

    Returns:
        :class:`~stylize.vector.clipdraw.DrawResult` (scene, image, scores, candidates).

    Raises:
        InputError: unknown keys, bad values or unusable input files.
    """
    from stylize.config import resolve_config
    from stylize.vector.clipdraw import DRAW_PRESETS, ClipDraw, DrawConfig

    config = resolve_config(DrawConfig, DRAW_PRESETS, preset, config_file, _overrides(prompt, options, overrides))
    return ClipDraw(config).run(out)


def paint(
    prompt: str | Sequence[str],
    out: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    **options,
):
    """Paint a raster image of ``prompt`` (``param="pixel"`` or ``"fft"``, optional ``init`` image).

    Args, Raises: as :func:`draw`; options are :class:`~stylize.raster.paint.PaintConfig` fields.

    Returns:
        :class:`~stylize.raster.paint.PaintResult` (image (3, H, W), scores before and after).
    """
    from stylize.config import resolve_config
    from stylize.raster.paint import PAINT_PRESETS, PaintConfig, Painter

    config = resolve_config(PaintConfig, PAINT_PRESETS, preset, config_file, _overrides(prompt, options, overrides))
    return Painter(config).run(out)
