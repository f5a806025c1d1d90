"""Stylize for Blender: stylize the selected mesh from a text prompt, draw SVGs as curves.

Blender's Python never imports torch here: the work runs in a separate Python that has the
``stylize`` toolkit installed (set in the add-on preferences): one warm worker process per
session, started with an argv list, that takes jobs and answers with JSON progress lines. Loads as a Blender 4.2+ extension (``blender_manifest.toml``)
and as a legacy add-on (``bl_info``).
"""

from __future__ import annotations

import bpy

from . import operators, panel, preferences

bl_info = {
    "name": "Stylize",
    "author": "stylize contributors",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "3D Viewport > Sidebar > Stylize",
    "description": "Stylize meshes and draw SVG curves from a text prompt, guided by CLIP",
    "category": "Material",
}

CLASSES = preferences.CLASSES + operators.CLASSES + panel.CLASSES


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.stylize = bpy.props.PointerProperty(type=preferences.STYLIZE_PG_settings)
    bpy.types.WindowManager.stylize_job = bpy.props.PointerProperty(type=preferences.STYLIZE_PG_job)


def unregister() -> None:
    operators.shutdown_worker()
    del bpy.types.WindowManager.stylize_job
    del bpy.types.Scene.stylize
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
