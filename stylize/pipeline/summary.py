"""The end of a batch: a text table of the jobs and a contact sheet of their previews."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.images import image_grid, save_image

logger = logging.getLogger(__name__)

__all__ = ["CONTACT_SHEET_NAME", "contact_sheet", "format_table"]

CONTACT_SHEET_NAME = "contact_sheet.png"
_FAILED_TILE = (0.96, 0.82, 0.82)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


#: An absolute path in an error message: the table shows its file name only.
_PATH = re.compile(r"(?<![\w:])/[^\s:;,'\"]+")


def format_table(entries: Sequence[dict[str, Any]], error_width: int = 60) -> str:
    """A plain-text table: id, kind, name, status, score (100 x cosine), seconds, which model gave
    the score (judge or trainer) and the error of failed jobs.

    Args:
        entries: manifest entries.
        error_width: errors longer than this are cut to their start and an ellipsis (the
            manifest keeps them whole).
    """
    header = ("id", "kind", "name", "status", "score", "seconds", "by", "error")
    rows = []
    for entry in entries:
        error = entry.get("error") or ""
        if len(error) > error_width:  # the start says what went wrong (the manifest has it whole)
            error = _PATH.sub(lambda match: Path(match.group(0)).name, error)
            if len(error) > error_width:
                error = error[: error_width - 1].rstrip() + "…"
        seconds = entry.get("seconds")
        score = entry.get("score")
        rows.append((entry["id"], entry.get("kind"), entry.get("name"), entry["status"],
                     score, None if seconds is None else round(float(seconds), 1),
                     entry.get("score_by") if score is not None else None, error))  # fmt: skip
    cells = [header, *[tuple(_cell(v) for v in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=False)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _tile(entry: dict[str, Any], size: int) -> torch.Tensor:
    """One (3, size + label, size) tile: the preview fitted on white, the name and score under it."""
    from PIL import Image, ImageDraw

    label_height = 14
    tile = Image.new("RGB", (size, size + label_height), "white")
    preview = Path(entry.get("out") or "") / "preview.png"
    if entry["status"] in ("done", "skipped") and preview.is_file():
        with Image.open(preview) as picture:
            picture = picture.convert("RGB")
            scale = size / max(picture.width, picture.height)
            shape = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            # Small previews are enlarged with hard pixel edges, large ones reduced smoothly.
            picture = picture.resize(shape, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)
            tile.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
        score = entry.get("score")
        by = {"judge": "J", "trainer": "T"}.get(entry.get("score_by"), "")
        label = f"{entry.get('name')} {score:.1f}{by}" if isinstance(score, float) else str(entry.get("name"))
    else:
        tile.paste(tuple(int(255 * v) for v in _FAILED_TILE), (0, 0, size, size))
        label = f"{entry.get('name')} {entry['status']}"
    draw = ImageDraw.Draw(tile)
    draw.text((2, size + 1), label[: size // 6], fill=(0, 0, 0))
    return torch.from_numpy(np.asarray(tile, dtype=np.float32) / 255.0).permute(2, 0, 1)


def contact_sheet(
    entries: Sequence[dict[str, Any]], path: str | Path, tile_size: int = 160, columns: int | None = None
) -> Path | None:
    """Write a PNG grid of every job's preview (failed jobs as pink tiles), atomically.

    Args:
        entries: manifest entries (``out`` is the job's folder holding ``preview.png``).
        path: the PNG to write.
        tile_size: pixels per tile side.
        columns: tiles per row (default: about square).

    Returns:
        ``path``, or None when there are no entries.
    """
    if not entries:
        return None
    tiles = [_tile(entry, tile_size) for entry in entries]
    columns = columns or min(len(tiles), max(1, int(np.ceil(np.sqrt(len(tiles))))))
    return save_image(path, image_grid(tiles, columns=columns))
