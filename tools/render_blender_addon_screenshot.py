"""Render ``docs/images/blender_addon.png``: a mesh stylized by the Blender add-on, headless.

Runs inside PyPI ``bpy`` (Python 3.11): builds and installs the add-on zip into a temporary
Blender user folder, stylizes an icosphere with ``bpy.ops.stylize.stylize_mesh`` (worker: this
interpreter, CLIP: the trainer test CLIP, so the picture shows the mechanics, not real-CLIP
quality), then renders it with Workbench showing the "Stylize Color" attribute and the shape key.

Usage::

    python tools/render_blender_addon_screenshot.py [--out docs/images/blender_addon.png] [--iters 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "blender_addon.png"))
    parser.add_argument("--prompt", default="a blue circle")
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    user = tempfile.mkdtemp(prefix="stylize-blender-user-")
    os.environ["BLENDER_USER_RESOURCES"] = user  # never touch ~/.config/blender
    import bpy

    sys.path.insert(0, str(ROOT / "tools"))
    from build_blender_addon import build

    bpy.ops.wm.read_factory_settings(use_empty=True)
    archive = build(Path(user) / "dist")
    bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default", enable_on_install=True)
    prefs = bpy.context.preferences.addons["bl_ext.user_default.stylize"].preferences
    prefs.python_path, prefs.device = sys.executable, "cpu"
    prefs.clip_spec = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"

    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=4, radius=1.0)
    sphere = bpy.context.active_object
    bpy.ops.object.shade_smooth()
    result = bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=args.prompt, preset="smoke", iterations=args.iters,
                                          seed=args.seed)  # fmt: skip
    if result != {"FINISHED"}:
        raise SystemExit(f"stylize failed: {result}")
    sphere.data.color_attributes.active_color = sphere.data.color_attributes["Stylize Color"]

    scene = bpy.context.scene
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location = (0.0, -4.2, 1.4)
    camera.rotation_euler = (1.26, 0.0, 0.0)
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "VERTEX"  # the active colour attribute
    scene.display.shading.show_shadows = True
    scene.render.resolution_x, scene.render.resolution_y = 480, 360
    scene.render.film_transparent = False
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.9, 0.9, 0.9)
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.png")
    scene.render.filepath = str(tmp)
    bpy.ops.render.render(write_still=True)
    os.replace(tmp, out)
    print(out, out.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
