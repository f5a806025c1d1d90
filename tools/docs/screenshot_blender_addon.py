"""Screenshots of the Blender add-on in a real Blender with its user interface (not renders).

Run by Blender itself, with a display (a virtual one is fine)::

    python tools/build_blender_addon.py --out /tmp/dist
    xvfb-run -s "-screen 0 1600x1000x24" blender --factory-startup \\
        --python tools/docs/screenshot_blender_addon.py -- --zip /tmp/dist/stylize-0.1.0.zip \\
        --python-path .venv/bin/python --out docs/images

It installs the zip into a fresh user folder (``BLENDER_USER_RESOURCES``: set it to a temporary
folder so your own Blender settings are left alone), imports ``examples/meshes/vase.obj``, opens
the sidebar on the Stylize tab and, on Blender's own timers, as an artist's clicks would:

1. ``blender_addon_panel.png``: the panel before a run (prompt typed, vertex group as region);
2. ``blender_addon_progress.png``: the run (started as the Stylize button starts it, modal, with
   the live preview every 5 steps) once a preview is on the mesh: the progress bar and Cancel;
3. ``blender_addon_result.png``: the result in the viewport, the message and the score bar.

Each is the 3D viewport (the sidebar included) as the X server shows it, taken with ImageMagick's
``import``; the Stylize tab is opened with ``xdotool`` (Ctrl + wheel over the sidebar). The worker
is ``--python-path`` running ``python -m stylize worker`` (``PYTHONPATH`` passes through), with
``--clip`` (default: the trainer test CLIP, so it shows the interface and the mechanics, not what
real CLIP weights make). Blender quits when done; the exit code is 0 only if all three were taken.
Made with Debian 13's ``blender`` 4.3.2 in a chroot under Xvfb (Mesa's software OpenGL): see the
README's Blender section.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[2]
MESH = ROOT / "examples" / "meshes" / "vase.obj"
TRAINER_CLIP = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"
MODULE = "bl_ext.user_default.stylize"


def _args() -> argparse.Namespace:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", required=True, help="the extension zip (tools/build_blender_addon.py)")
    parser.add_argument("--python-path", required=True, help="a Python with stylize installed")
    parser.add_argument("--clip", default=TRAINER_CLIP)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--prompt", default="a red circle")
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0)
    return parser.parse_args(argv)


ARGS = _args()
OUT = Path(ARGS.out)
TAKEN: list[str] = []
STATE = {"stage": "setup", "since": time.monotonic(), "started": time.monotonic()}


def _view3d():
    window = bpy.context.window_manager.windows[0]
    area = max((a for a in window.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width * a.height)
    region = next(r for r in area.regions if r.type == "WINDOW")
    return window, area, region


def _screen_rect(window, thing) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of an area or region on the X screen (y down)."""
    return (window.x + thing.x, window.y + window.height - thing.y - thing.height, thing.width, thing.height)


def _screenshot(name: str) -> None:
    """The 3D viewport as the X server shows it (ImageMagick's ``import``: Blender's own
    screenshot operators read back black under Xvfb's software OpenGL)."""
    window, area, region = _view3d()
    path = OUT / name
    x, y, width, height = _screen_rect(window, area)
    left = int(width * 0.35)  # the vase (centred) and the sidebar; the toolbar side is empty
    subprocess.run(["import", "-window", "root", "-crop", f"{width - left}x{height}+{x + left}+{y}", "+repage",
                    str(path)], check=True)  # fmt: skip
    TAKEN.append(name)
    print(f"screenshot: {path}", flush=True)


def _close_splash() -> None:
    """A fresh user folder opens the Quick Setup splash, which takes the input: Escape closes it."""
    window, area, _ = _view3d()
    x, y, width, height = _screen_rect(window, area)
    subprocess.run(["xdotool", "mousemove", str(x + width // 2), str(y + height // 2), "key", "Escape"], check=True)


def _open_stylize_tab() -> None:
    """Ctrl + mouse wheel over the sidebar's tab strip (its right edge; over a number field it
    would change the number) steps through its tabs (Item, Tool, View, ... Stylize last): the
    region's active tab cannot be set from Python in Blender 4.x."""
    window, area, _ = _view3d()
    sidebar = next(r for r in area.regions if r.type == "UI")
    x, y, width, height = _screen_rect(window, sidebar)
    subprocess.run(["xdotool", "mousemove", str(x + width - 8), str(y + 40)], check=True)
    subprocess.run(["xdotool", "keydown", "ctrl", "click", "--repeat", "8", "--delay", "80", "5", "keyup", "ctrl"], check=True)


def _setup() -> None:
    result = bpy.ops.extensions.package_install_files(filepath=ARGS.zip, repo="user_default", enable_on_install=True)
    if result != {"FINISHED"} or MODULE not in bpy.context.preferences.addons:
        raise SystemExit(f"the add-on did not install: {result}")
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.python_path, prefs.device, prefs.clip_spec = ARGS.python_path, "cpu", ARGS.clip
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.wm.obj_import(filepath=str(MESH), forward_axis="NEGATIVE_Z", up_axis="Y")
    obj = bpy.context.selected_objects[0]
    obj.name = "Vase"
    for polygon in obj.data.polygons:
        polygon.use_smooth = True
    bpy.context.view_layer.objects.active = obj
    bpy.context.view_layer.update()
    heights = [(obj.matrix_world @ v.co).z for v in obj.data.vertices]  # the importer stands the Y-up mesh up
    middle = (min(heights) + max(heights)) / 2.0
    group = obj.vertex_groups.new(name="Top")
    group.add([v.index for v, height in zip(obj.data.vertices, heights, strict=True) if height > middle], 1.0, "REPLACE")
    settings = bpy.context.scene.stylize
    settings.prompt, settings.preset, settings.iterations, settings.seed = ARGS.prompt, "smoke", ARGS.iters, ARGS.seed
    settings.vertex_group, settings.preview_every = "Top", 5
    window, area, region = _view3d()
    space = area.spaces.active
    space.show_region_ui = True
    space.shading.type = "SOLID"
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.view3d.view_selected()
    space.region_3d.view_distance *= 1.8  # room around the vase beside the sidebar


def _start_run() -> None:
    window, area, region = _view3d()
    with bpy.context.temp_override(window=window, area=area, region=region):
        result = bpy.ops.stylize.stylize_mesh("INVOKE_DEFAULT")
    print(f"stylize: {result}", flush=True)


def _tick() -> float | None:
    job = bpy.context.window_manager.stylize_job if hasattr(bpy.context.window_manager, "stylize_job") else None
    stage, waited = STATE["stage"], time.monotonic() - STATE["since"]
    if time.monotonic() - STATE["started"] > ARGS.timeout:
        print(f"timed out at {stage}", flush=True)
        os._exit(1)

    def go(next_stage: str) -> None:
        STATE["stage"], STATE["since"] = next_stage, time.monotonic()

    try:
        if stage == "setup":
            _setup()
            go("tab")
        elif stage == "tab" and waited > 2.0:  # the sidebar is drawn: its tabs exist
            _close_splash()
            go("splash")
        elif stage == "splash" and waited > 1.0:
            _open_stylize_tab()
            go("panel")
        elif stage == "panel" and waited > 2.0:  # a few redraws on the Stylize tab
            _screenshot("blender_addon_panel.png")
            _start_run()
            go("running")
        elif stage == "running":
            obj = bpy.data.objects["Vase"]
            if "Stylize Preview" in obj.data.color_attributes and job.running and job.progress > 0.2:
                go("progress")
            elif not job.running:
                go("result")
        elif stage == "progress" and waited > 1.0:
            _screenshot("blender_addon_progress.png")
            go("waiting")
        elif stage == "waiting" and not job.running:
            go("result")
        elif stage == "result" and waited > 2.0:
            print(f"message: {job.message}", flush=True)
            _screenshot("blender_addon_result.png")
            go("done")
        elif stage == "done":
            print(f"taken: {TAKEN}", flush=True)
            if len(TAKEN) != 3:
                os._exit(1)
            bpy.ops.wm.quit_blender()
            return None
    except Exception as exc:  # the screenshots say nothing then: quit with the reason
        print(f"failed at {stage}: {exc}", flush=True)
        import traceback

        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
    return 0.25


bpy.app.timers.register(_tick, first_interval=1.0)
