"""Build the Blender add-on's installable zip from ``blender_addon/`` into ``dist/``.

Usage::

    python tools/build_blender_addon.py                # dist/stylize-<version>.zip (extension, Blender 4.2+)
    python tools/build_blender_addon.py --legacy       # dist/stylize_blender-<version>-legacy.zip (add-on zip)

The extension zip holds ``blender_manifest.toml`` and the modules at its root, as Blender's own
``blender --command extension build`` lays it out: install it with Edit > Preferences > Get
Extensions > Install from Disk. The legacy zip holds one folder ``stylize_blender/`` for
Edit > Preferences > Add-ons > Install from Disk in Blender versions before 4.2 or for
``scripts/addons``. Both are byte-for-byte reproducible (fixed timestamps, sorted entries).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "blender_addon"
LEGACY_FOLDER = "stylize_blender"
_EXCLUDED_PARTS = {"__pycache__", ".git"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".zip"}
_FIXED_TIME = (2024, 7, 16, 0, 0, 0)  # Blender 4.2's release day: any constant keeps builds identical


def manifest(source: Path = SOURCE) -> dict:
    """The parsed ``blender_manifest.toml``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    with open(source / "blender_manifest.toml", "rb") as handle:
        return tomllib.load(handle)


def addon_files(source: Path = SOURCE) -> list[Path]:
    """The files that go into the zip, relative to ``source``, sorted."""
    files = []
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if path.is_file() and not _EXCLUDED_PARTS.intersection(relative.parts) and path.suffix not in _EXCLUDED_SUFFIXES:
            files.append(relative)
    return sorted(files, key=lambda p: p.as_posix())


def build(out_dir: Path = ROOT / "dist", legacy: bool = False, source: Path = SOURCE) -> Path:
    """Write the zip (atomically) and return its path."""
    version = manifest(source)["version"]
    name = f"{LEGACY_FOLDER}-{version}-legacy.zip" if legacy else f"{manifest(source)['id']}-{version}.zip"
    prefix = f"{LEGACY_FOLDER}/" if legacy else ""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative in addon_files(source):
                info = zipfile.ZipInfo(prefix + relative.as_posix(), date_time=_FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, (source / relative).read_bytes())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a built file gets the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--legacy", action="store_true", help="a legacy add-on zip (one top-level folder)")
    args = parser.parse_args(argv)
    path = build(Path(args.out), legacy=args.legacy)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
