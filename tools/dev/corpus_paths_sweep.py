"""Run every glTF corpus asset through ``stylize mesh --bake`` (smoke settings, a random tiny CLIP)
and print, per asset and output GLB, what its structure kept, changed, added and dropped (keys of
:func:`stylize.testing.gltf_structure.gltf_structure`), the sizes in and out and the run's seconds.

Usage (from the repository root)::

    python tools/dev/corpus_paths_sweep.py [--corpus tests/assets/gltf_corpus] [--out /tmp/corpus_sweep]

Prints a Markdown table; ``--show-diff`` also prints every changed, added or dropped key.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SMALL = {"iters": 2, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
         "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.score_size": 32,
         "output.bake_size": 64, "output.bake": True}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "assets" / "gltf_corpus")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "corpus_sweep")
    parser.add_argument("--show-diff", action="store_true")
    args = parser.parse_args(argv)
    from conftest import write_tiny_clip

    from stylize import api
    from stylize.testing.gltf_structure import gltf_structure, structure_diff

    clip = write_tiny_clip(args.out / "clip")
    print("| asset | output | kept | changed | added | dropped | size in | size out | seconds |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for source in sorted(args.corpus.glob("*.glb")):
        folder = args.out / source.stem
        start = time.perf_counter()
        api.stylize_mesh(source, "a red square", out=folder, preset="smoke", overwrite=True,
                         overrides={"clip": [f"local-dir:{clip}"], **SMALL})  # fmt: skip
        seconds = time.perf_counter() - start
        before = gltf_structure(source)
        for name in ("mesh.glb", "mesh_textured.glb"):
            after = gltf_structure(folder / name)
            lines = structure_diff(before, after)
            counts = {word: sum(line.startswith(word) for line in lines) for word in ("changed", "added", "removed")}
            kept = len(set(before) & set(after)) - counts["changed"]
            print(f"| {source.name} | {name} | {kept} | {counts['changed']} | {counts['added']} | {counts['removed']} | "
                  f"{source.stat().st_size / 1024:.1f} kB | {(folder / name).stat().st_size / 1024:.1f} kB | {seconds:.1f} |")  # fmt: skip
            if args.show_diff:
                for line in lines:
                    print(f"|  | {line[:160]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
