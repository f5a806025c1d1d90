"""The SVG import corpus (tests/assets/svg): every file imports as resvg draws it, or says why not.

Each file is imported with read_svg, rendered with the torch rasterizer at the document's size
over white and compared with resvg's render of the same file (or of its spec-equivalent twin
where resvg itself departs from the specifications; see corpus.toml).

The bound: the rasterizer draws scenes it exported itself to a mean absolute error of about
0.0018 against resvg on simple files, all of it antialiasing of edges (tests/vector/test_svg.py,
test_stroke.py). The corpus files are small (100-200 px) and dense in edges, which raises that
floor per file; the worst faithful file (fill-rule.svg: two stars) measures 0.0027. 0.004 leaves room for
platform differences while staying far below what any import mistake costs (a wrong colour on a
40 x 40 px square of a 160 x 60 canvas is already 0.02; a missing stroke 0.005 or more).

Files that state an unsupported feature must say so in a warning (and meet their own bound
where one is given); all other files must import without any warning. tools/dev/svg_corpus_sweep.py
prints the same comparison as a table.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import resvg_py
import tomllib
import torch
from PIL import Image

from stylize.vector.raster import render
from stylize.vector.svg import read_svg

CORPUS = Path(__file__).resolve().parent.parent / "assets" / "svg"
MANIFEST = tomllib.loads((CORPUS / "corpus.toml").read_text(encoding="utf-8"))
FILES = sorted(path.name for path in CORPUS.glob("*.svg"))
CATEGORIES = ("path", "shape", "stroke", "fill", "transform", "group", "style", "colour")


def _resvg(path: Path) -> np.ndarray:
    png = resvg_py.svg_to_bytes(svg_string=path.read_text(encoding="utf-8"), background="#ffffff", dpi=96)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"), dtype=np.float64) / 255.0


def _mean_error(ours: np.ndarray, reference: np.ndarray, block: int) -> float:
    if block > 1:
        height, width = (ours.shape[0] // block) * block, (ours.shape[1] // block) * block
        ours, reference = (
            image[:height, :width].reshape(height // block, block, width // block, block, 3).mean((1, 3))
            for image in (ours, reference)
        )
    return float(np.abs(ours - reference).mean())


def test_corpus_covers_every_category_and_its_manifest_is_consistent():
    categories = {name.split("-", 1)[0] for name in FILES}
    assert categories == set(CATEGORIES)
    assert all(sum(name.startswith(f"{category}-") for name in FILES) >= 4 for category in CATEGORIES)
    for name, entry in MANIFEST.items():
        if name == "defaults":
            continue
        assert name in FILES, f"corpus.toml lists {name}, which is not in the corpus"
        assert set(entry) <= {"reference", "warns", "max_error", "block", "note"}, name
        if "reference" in entry:
            assert (CORPUS / entry["reference"]).is_file() and "note" in entry, name


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_imports_like_resvg(name, caplog):
    entry = MANIFEST.get(name, {})
    reference = _resvg(CORPUS / entry.get("reference", name))
    with caplog.at_level(logging.WARNING, logger="stylize"):
        document = read_svg(CORPUS / name)
    messages = [record.getMessage() for record in caplog.records]
    width, height = round(document.width), round(document.height)
    assert (height, width) == reference.shape[:2]
    ours = render(document.scene.to(dtype=torch.float64), width, height).numpy()
    error = _mean_error(ours, reference, entry.get("block", 1))
    if "warns" in entry:
        assert any(entry["warns"] in message for message in messages), (
            f"expected a warning about {entry['warns']!r}, got {messages}"
        )
        assert len(messages) == len(set(messages)), "each feature must be said once per file"
        if "max_error" in entry:
            assert error <= entry["max_error"], f"mean absolute error {error:.5f} > {entry['max_error']}"
    else:
        assert messages == []
        bound = entry.get("max_error", MANIFEST["defaults"]["max_error"])
        assert error <= bound, f"mean absolute error {error:.5f} > {bound}"
