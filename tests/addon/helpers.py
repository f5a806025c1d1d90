"""Load the add-on's bpy-free modules and the build tool by file path (neither is a package here)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "blender_addon"
TRAINER_CLIP = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"


def load_module(name: str, path: Path):
    """Import ``path`` as module ``name`` (cached in sys.modules)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ADDON_PACKAGE = "stylize_addon"


def addon_module(name: str):
    """``blender_addon/<name>.py`` (a bpy-free one: jobs, exchange, worker, batch, textures), imported as
    ``stylize_addon.<name>`` without running the package's ``__init__`` (which imports bpy)."""
    if ADDON_PACKAGE not in sys.modules:
        package = types.ModuleType(ADDON_PACKAGE)
        package.__path__ = [str(ADDON)]
        sys.modules[ADDON_PACKAGE] = package
    return importlib.import_module(f"{ADDON_PACKAGE}.{name}")


def addon_jobs():
    """``blender_addon/jobs.py``: imports neither bpy nor torch."""
    return addon_module("jobs")


def build_tool():
    return load_module("stylize_build_blender_addon", ROOT / "tools" / "build_blender_addon.py")
