"""Stylize for Blender: stylize the selected mesh from a text prompt, draw SVGs as curves.

Blender's Python never imports torch here: the work runs in a separate Python that has the
``stylize`` toolkit installed (set in the add-on preferences): one warm worker process per
session, started with an argv list, that takes jobs and answers with JSON progress lines. Loads as a Blender 4.2+ extension (``blender_manifest.toml``)
and as a legacy add-on (``bl_info``).

Enabling it in a Blender it cannot work in (older than :data:`MINIMUM_BLENDER`, or a
distribution's Blender whose Python has no numpy) fails at once with one line that says why and
what to do, before anything is registered: the modules that need numpy are imported by
:func:`register`, after :func:`refusal`.
"""

from __future__ import annotations

import bpy

# The oldest Blender it works in: blender_manifest.toml's blender_version_min and bl_info's
# "blender" (a test keeps the three equal). Blender removes bl_info from an extension's module,
# and reads a legacy add-on's bl_info as a literal (ast), so each spells it out.
MINIMUM_BLENDER = (4, 2, 0)

bl_info = {
    "name": "Stylize",
    "author": "stylize contributors",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "3D Viewport > Sidebar > Stylize",
    "description": "Stylize meshes and draw SVG curves from a text prompt, guided by CLIP",
    "category": "Material",
}

NUMPY_MISSING = (
    "Stylize needs numpy in Blender's Python, and this Blender has none (distribution packages such as "
    "Debian's leave it out): install it (Debian/Ubuntu: sudo apt install python3-numpy) or use a blender.org build"
)


def refusal(version: tuple[int, ...], numpy_available: bool) -> str | None:
    """Why the add-on cannot be enabled in this Blender (one line), or None."""
    minimum = MINIMUM_BLENDER
    if tuple(version[:3]) < minimum:
        return (f"Stylize needs Blender {'.'.join(map(str, minimum[:2]))} or newer; this is "
                f"{'.'.join(map(str, version[:3]))}")  # fmt: skip
    return None if numpy_available else NUMPY_MISSING


def _numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _classes() -> tuple:
    from . import operators, panel, preferences

    return preferences.CLASSES + operators.CLASSES + panel.CLASSES


def register() -> None:
    problem = refusal(tuple(bpy.app.version), _numpy_available())
    if problem is not None:
        raise RuntimeError(problem)
    from . import preferences

    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.stylize = bpy.props.PointerProperty(type=preferences.STYLIZE_PG_settings)
    bpy.types.WindowManager.stylize_job = bpy.props.PointerProperty(type=preferences.STYLIZE_PG_job)


def unregister() -> None:
    from . import operators

    operators.shutdown_worker()
    del bpy.types.WindowManager.stylize_job
    del bpy.types.Scene.stylize
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
