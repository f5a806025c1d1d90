"""Reuse a trained StyleNet: stylize another picture in one forward pass at its full resolution.

``stylize restyle --apply NET IMAGE`` (and :func:`stylize.api.apply_restyle`) read ``net.pt``
(or a run folder holding it), run the fully convolutional net once over the whole picture and
write ``image.png``, ``preview.png`` (before | after) and ``run.json``. Pictures over
:data:`~stylize.restyling.config.MAX_APPLY_PIXELS` are refused before they are decoded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from stylize.config import absolute_path
from stylize.errors import InputError
from stylize.generation import RunOutcome
from stylize.images import image_grid, save_image
from stylize.restyling.config import MAX_APPLY_PIXELS
from stylize.restyling.io import load_picture
from stylize.restyling.stylenet import load_stylenet, stylize_image
from stylize.runs import RunFolder
from stylize.utils import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["APPLY_OUTPUT_NAMES", "ApplyResult", "apply_stylenet"]

APPLY_OUTPUT_NAMES = ("image.png", "preview.png", "run.json")
_PREVIEW_SIDE = 1024


@dataclass
class ApplyResult(RunOutcome):
    """What :func:`apply_stylenet` returns.

    Attributes:
        image: the stylized picture (3, H, W), the input's size.
        content: the input picture (3, H, W).
        seconds: wall time of the forward pass.
        metadata: what ``net.pt`` records (prompt, source, training size, config).
        out_dir, status (``applied``), files: as every run's result.
    """

    image: Tensor
    content: Tensor
    seconds: float
    metadata: dict = field(default_factory=dict)


#: The smallest picture side a StyleNet restyles (its three stride-2 stages keep 2 x 2 at least).
MIN_APPLY_SIDE = 16


def apply_stylenet(
    net: str | Path, image: str | Path, out: str | Path | None = None, device: str = "auto", overwrite: bool = False
) -> ApplyResult:
    """Stylize ``image`` with the StyleNet saved at ``net``.

    Args:
        net: a ``net.pt`` or a restyle run folder.
        image: the picture (any size up to ``MAX_APPLY_PIXELS``); never modified.
        out: folder for ``image.png``, ``preview.png`` and ``run.json``; None writes nothing.
        device: ``auto``, ``cpu`` or ``cuda``.
        overwrite: replace an earlier run's outputs in ``out`` (else such a folder is refused).

    Raises:
        InputError: a missing, unreadable or oversize picture, a bad net file, or an output that
            would overwrite an input (one-line messages).
    """
    target = resolve_device(device)
    network, metadata = load_stylenet(net, target)
    net_path = Path(net) / "net.pt" if Path(net).is_dir() else Path(net)
    folder = RunFolder(out, "restyle-apply", inputs=[image, net_path], overwrite=overwrite) if out is not None else None
    try:
        return _apply(network, metadata, net_path, image, folder, target)
    finally:
        if folder is not None:
            folder.close()


def _apply(network, metadata, net_path, image, folder, target):
    picture = load_picture(image, MAX_APPLY_PIXELS, "image")
    height, width = picture.shape[-2:]
    if min(height, width) < MIN_APPLY_SIDE:
        # The StyleNet halves the picture three times and normalises each stage per instance: a
        # stage of one pixel has no statistics (a traceback deep in torch, before this check).
        raise InputError(f"image {image} is {width} x {height} px: restyle --apply needs at least {MIN_APPLY_SIDE} px a side")
    started = time.perf_counter()
    stylized = stylize_image(network, picture)
    seconds = time.perf_counter() - started
    result = ApplyResult(stylized, picture, seconds, metadata, out_dir=folder.path if folder is not None else None,
                         status="applied")  # fmt: skip
    if folder is not None:
        result.files["image.png"] = save_image(folder.file("image.png"), stylized)
        result.files["preview.png"] = save_image(folder.file("preview.png"), _side_by_side(picture, stylized))
        height, width = stylized.shape[-2:]
        result.files["run.json"] = folder.write_run_json(
            status="applied", net=absolute_path(str(net_path)), input=absolute_path(str(image)), size=[int(height), int(width)], device=str(target),
            timings={"forward": round(seconds, 4)}, prompt=metadata.get("prompt"), source=metadata.get("source"),
        )  # fmt: skip
    return result


def _side_by_side(before: Tensor, after: Tensor, side: int = _PREVIEW_SIDE) -> Tensor:
    """Before | after, each scaled down to at most ``side`` pixels on its longer side."""
    import torch.nn.functional as F

    scale = min(1.0, side / max(before.shape[-2:]))
    if scale < 1.0:
        size = (max(1, round(before.shape[-2] * scale)), max(1, round(before.shape[-1] * scale)))
        before, after = (F.interpolate(x[None], size=size, mode="area")[0] for x in (before, after))
    return image_grid([before, after], columns=2)
