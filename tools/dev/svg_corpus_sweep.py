"""Sweep the SVG import corpus: import each file, render it, compare with resvg, print a table.

For every ``tests/assets/svg/*.svg`` the file is imported with :func:`stylize.vector.svg.read_svg`,
rendered with :func:`stylize.vector.raster.render` at the document size over white, and compared
with resvg's render of the same file (or of its spec-equivalent twin, see ``corpus.toml``): the
mean absolute error per pixel and channel in [0, 1] (of ``block`` x ``block`` pixel averages where
the manifest gives a block size, e.g. for a pattern drawn as its average colour). Each file is

- *faithful*: imported at resvg's size, within the default error bound, with the warning the
  manifest expects if any (broken input is drawn as SVG says, and said);
- *approximated*: the manifest states an unsupported feature, the import says so in a warning,
  and the error is within the file's own ``max_error`` where one is given;
- *wrong*: anything else (an exception, a wrong size, an error above the bound, a missing warning).

    python tools/dev/svg_corpus_sweep.py [--json OUT.json] [--before BEFORE.json] [--files GLOB]

``--before`` adds the columns of an earlier sweep (e.g. one run with ``PYTHONPATH`` pointing at
an older checkout of the package) and a per-category summary of both.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import tomllib

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "assets" / "svg"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _resvg(path: Path) -> np.ndarray:
    import resvg_py
    from PIL import Image

    png = resvg_py.svg_to_bytes(svg_string=path.read_text(encoding="utf-8"), background="#ffffff", dpi=96)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"), dtype=np.float64) / 255.0


def mean_error(ours: np.ndarray, reference: np.ndarray, block: int = 1) -> float:
    """Mean absolute difference of two (H, W, 3) images, of block averages when block > 1."""
    if block > 1:
        height, width = (ours.shape[0] // block) * block, (ours.shape[1] // block) * block
        ours, reference = (
            image[:height, :width].reshape(height // block, block, width // block, block, 3).mean((1, 3))
            for image in (ours, reference)
        )
    return float(np.abs(ours - reference).mean())


def sweep_file(path: Path, entry: dict, default_bound: float) -> dict:
    """Import, render and compare one corpus file; returns one table row as a dict."""
    import torch

    from stylize.vector.raster import render
    from stylize.vector.svg import read_svg

    reference = _resvg(CORPUS / entry.get("reference", path.name))
    handler = _Collect()
    logging.getLogger("stylize").addHandler(handler)
    row = {"file": path.name, "category": path.name.split("-", 1)[0], "error": None, "status": "", "warnings": []}
    start = time.perf_counter()
    try:
        document = read_svg(path)
        width, height = int(round(document.width)), int(round(document.height))
        if (height, width) != reference.shape[:2]:
            row["status"] = f"size {width}x{height}, resvg {reference.shape[1]}x{reference.shape[0]}"
        else:
            ours = render(document.scene.to(dtype=torch.float64), width, height).numpy()
            row["error"] = mean_error(ours, reference, entry.get("block", 1))
    except Exception as exc:  # the old importer raises on some files: a row, not a crash
        row["status"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:70]
    finally:
        logging.getLogger("stylize").removeHandler(handler)
    row["seconds"] = time.perf_counter() - start
    row["warnings"] = handler.messages
    bound = entry.get("max_error", None if "warns" in entry else default_bound)
    warned = "warns" not in entry or any(entry["warns"] in message for message in handler.messages)
    within = row["error"] is not None and (bound is None or row["error"] <= bound)
    # A warned file within the default bound draws what SVG says (broken input, said); one that
    # needs a looser bound of its own is an approximation of an unsupported feature.
    exact = row["error"] is not None and row["error"] <= default_bound and "block" not in entry
    row["verdict"] = ("faithful" if exact else "approximated") if within and warned else "wrong"
    row["faithful"] = row["verdict"] == "faithful"
    if not row["status"]:
        row["status"] = "ok" if within and warned else ("warning missing" if not warned else "error above bound")
    return row


def _summary(rows: list[dict], label: str) -> None:
    categories = sorted({row["category"] for row in rows})
    count = {verdict: sum(row["verdict"] == verdict for row in rows) for verdict in ("faithful", "approximated", "wrong")}
    print(
        f"\n{label}: {len(rows)} files: {count['faithful']} faithful, {count['approximated']} approximated with a warning, {count['wrong']} wrong"
    )
    for category in categories:
        mine = [row for row in rows if row["category"] == category]
        errors = [row["error"] for row in mine if row["error"] is not None]
        mean = f"{statistics.mean(errors):.5f}" if errors else "-"
        median = f"{statistics.median(errors):.5f}" if errors else "-"
        verdicts = " ".join(f"{sum(r['verdict'] == v for r in mine)} {v}" for v in ("faithful", "approximated", "wrong"))
        print(
            f"  {category:10s} {len(mine):3d} files: {verdicts}; mean error {mean} (median {median}) over {len(errors)} imported"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--before", type=Path, help="JSON of an earlier sweep to compare with")
    parser.add_argument("--files", default="*.svg", help="glob within the corpus folder")
    args = parser.parse_args()
    manifest = tomllib.loads((CORPUS / "corpus.toml").read_text(encoding="utf-8"))
    default_bound = manifest["defaults"]["max_error"]
    before = {row["file"]: row for row in json.loads(args.before.read_text())} if args.before else {}
    rows = [sweep_file(path, manifest.get(path.name, {}), default_bound) for path in sorted(CORPUS.glob(args.files))]

    def cell(row: dict | None) -> str:
        if row is None:
            return f"{'':>9s} {'':4s}"
        error = f"{row['error']:.5f}" if row["error"] is not None else "failed"
        verdict = {"faithful": "yes", "approximated": "appr", "wrong": "NO"}[row.get("verdict", "wrong")]
        return f"{error:>9s} {verdict:4s}"

    header = (
        f"{'file':40s} {'category':10s} " + (f"{'before':>9s} {'ok':4s} " if before else "") + f"{'after':>9s} {'ok':4s} note"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        old = cell(before.get(row["file"])) + " " if before else ""
        note = row["status"] if row["status"] != "ok" else ""
        if row["warnings"]:
            note = (note + "; " if note else "") + f"{len(row['warnings'])} warning(s): {row['warnings'][0][:60]}"
        print(f"{row['file']:40s} {row['category']:10s} {old}{cell(row)} {note}")
    if before:
        _summary([before[row["file"]] for row in rows if row["file"] in before], "before")
    _summary(rows, "after" if before else "sweep")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
