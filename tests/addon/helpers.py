"""Load the add-on's bpy-free modules and the build tool by file path (neither is a package here)."""

from __future__ import annotations

import importlib.util
import sys
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


def addon_jobs():
    """``blender_addon/jobs.py``: imports neither bpy nor torch."""
    return load_module("stylize_addon_jobs", ADDON / "jobs.py")


def build_tool():
    return load_module("stylize_build_blender_addon", ROOT / "tools" / "build_blender_addon.py")
