"""Render ``docs/images/blender_addon.png``: a vase before and after the Blender add-on, headless.

Runs inside PyPI ``bpy`` (Python 3.11): builds and installs the add-on zip into a temporary
Blender user folder, imports ``examples/meshes/vase.obj`` twice and stylizes the right-hand copy
with ``bpy.ops.stylize.stylize_mesh`` (colour + displacement, region: a vertex group ``Top`` over
the upper half, so the lower half keeps its grey and shape; worker: this interpreter with one
torch thread, CLIP: the trainer test CLIP, so the picture shows the mechanics, not real-CLIP
quality). The left-hand copy is the untouched mesh, given the field's grey. Both are rendered with
Workbench (studio light, cavity, light background) showing each mesh's colour attribute and the
``Stylize Displacement`` shape key.

With ``--live-preview`` it renders ``docs/images/blender_addon_preview.png`` instead: the same
run started the way the panel's button starts it (the modal operator's timer step, driven by
hand as headless Blender has no event loop) with a snapshot every 5 steps, rendered when the
preview of step ``--preview-step`` is on the mesh (the temporary ``Stylize Preview`` colour
attribute and shape key), then cancelled, which leaves the mesh as it was.

Usage::

    python tools/docs/render_blender_addon.py [--out docs/images/blender_addon.png]
        [--prompt "a red circle"] [--iters 60] [--seed 2]
    python tools/docs/render_blender_addon.py --live-preview [--preview-step 40]

About 30 s on two CPU cores. With the trainer test CLIP the colour depends on prompt and seed
(with test-CLIP v2, "a purple circle" seed 2 came out blue; "a red circle" is red for every
seed of the seed-robustness figure); pick a pair whose colour matches its prompt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MESH = ROOT / "examples" / "meshes" / "vase.obj"
GREY_LINEAR = ((0.5 + 0.055) / 1.055) ** 2.4  # the field's grey (sRGB 0.5) as Blender stores it


def _import_vase(bpy, name: str, x: float):
    """Import the vase at ``x``, smooth-shaded. The importer stands it up with the object's rotation
    and keeps the mesh data Y-up; the add-on sends it upright (object rotation, then Z-up -> Y-up)."""
    bpy.ops.wm.obj_import(filepath=str(MESH), forward_axis="NEGATIVE_Z", up_axis="Y")
    obj = bpy.context.selected_objects[0]
    obj.name = obj.data.name = name
    obj.location.x = x
    obj.data.materials.clear()
    for polygon in obj.data.polygons:
        polygon.use_smooth = True
    return obj


def _fill_colour(mesh, name: str, rgb: tuple[float, float, float]) -> None:
    """A point-domain colour attribute of one (linear) colour, made the active one."""
    attribute = mesh.color_attributes.new(name, "FLOAT_COLOR", "POINT")
    attribute.data.foreach_set("color", [*rgb, 1.0] * len(mesh.vertices))
    mesh.color_attributes.active_color = attribute


def _run_until_preview(bpy, prefs, obj, args):
    """Start Stylize on ``obj`` as the panel does and drive its modal timer step until the
    preview of ``args.preview_step`` (or a later one) is shown; returns the running runner."""
    import importlib
    import types

    addon = "bl_ext.user_default.stylize"
    operators, jobs = importlib.import_module(f"{addon}.operators"), importlib.import_module(f"{addon}.jobs")
    settings = jobs.MeshJobSettings(prompt=args.prompt, preset="smoke", iterations=args.iters, seed=args.seed,
                                    device="cpu", clip=[prefs.clip_spec], displace=True, preview_every=5)  # fmt: skip
    task = operators.MeshTask(obj.name, settings, "Top", preview_shape=True)
    task.throttle = jobs.PreviewThrottle(interval=0.0)
    runner = operators.TaskRunner([task])
    operator = types.SimpleNamespace(_runner=runner, _timer=None, report=lambda kind, text: print(text))
    bpy.context.window_manager.stylize_job.begin("mesh")
    timer = types.SimpleNamespace(type="TIMER")
    while task.shown_step < args.preview_step:
        if operators.modal_step(operator, bpy.context, timer) != {"PASS_THROUGH"}:
            raise SystemExit(f"the run ended before the preview of step {args.preview_step}: {runner.outcome()}")
        time.sleep(0.05)
    return runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="default: docs/images/blender_addon.png (_preview.png with --live-preview)")
    parser.add_argument("--prompt", default="a red circle")
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--live-preview", action="store_true", help="render a live preview mid-run instead of the result")
    parser.add_argument("--preview-step", type=int, default=40, help="with --live-preview: render the preview of this step")
    args = parser.parse_args(argv)
    name = "blender_addon_preview.png" if args.live_preview else "blender_addon.png"
    args.out = args.out or str(ROOT / "docs" / "images" / name)

    user = tempfile.mkdtemp(prefix="stylize-blender-user-")
    try:
        os.environ["BLENDER_USER_RESOURCES"] = user  # never touch ~/.config/blender
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the worker inherits these: one torch thread
            os.environ.setdefault(variable, "1")
        import bpy
        from mathutils import Vector

        sys.path.insert(0, str(ROOT / "tools"))
        from build_blender_addon import build

        bpy.ops.wm.read_factory_settings(use_empty=True)
        archive = build(Path(user) / "dist")
        bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default", enable_on_install=True)
        prefs = bpy.context.preferences.addons["bl_ext.user_default.stylize"].preferences
        prefs.python_path, prefs.device = sys.executable, "cpu"
        prefs.clip_spec = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"

        original = _import_vase(bpy, "Vase", -1.05)
        _fill_colour(original.data, "Grey", (GREY_LINEAR,) * 3)
        styled = _import_vase(bpy, "Vase Stylized", 1.05)
        # Region: the upper half (local y > 0 of the vase's -1..1), with a short ramp so the seam blends.
        group = styled.vertex_groups.new(name="Top")
        for vertex in styled.data.vertices:
            weight = min(1.0, max(0.0, (vertex.co.y + 0.05) / 0.1))
            if weight > 0.0:
                group.add([vertex.index], weight, "REPLACE")

        bpy.ops.object.select_all(action="DESELECT")
        styled.select_set(True)
        bpy.context.view_layer.objects.active = styled
        start = time.perf_counter()
        runner = None
        if args.live_preview:
            runner = _run_until_preview(bpy, prefs, styled, args)
            print(f"preview of step {runner.tasks[0].shown_step} on the mesh after {time.perf_counter() - start:.0f} s")
        else:
            result = bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=args.prompt, preset="smoke", iterations=args.iters,
                                                  seed=args.seed, displace=True, vertex_group="Top")  # fmt: skip
            if result != {"FINISHED"}:
                raise SystemExit(f"stylize failed: {result}")
            print(f"stylized in {time.perf_counter() - start:.0f} s:", bpy.context.window_manager.stylize_job.message)

        scene = bpy.context.scene
        camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
        scene.collection.objects.link(camera)
        camera.data.lens = 50
        camera.location = (0.0, -7.6, 2.7)
        camera.rotation_euler = (Vector((0.0, 0.0, -0.05)) - camera.location).to_track_quat("-Z", "Y").to_euler()
        scene.camera = camera
        scene.render.engine = "BLENDER_WORKBENCH"
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "VERTEX"  # each mesh's active colour attribute
        shading.show_shadows = True
        shading.show_cavity = True
        shading.cavity_type = "BOTH"
        scene.display.render_aa = "16"
        scene.render.resolution_x, scene.render.resolution_y = 640, 360
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = False
        scene.world = bpy.data.worlds.new("World")
        scene.world.color = (0.85, 0.85, 0.85)
        scene.view_settings.view_transform = "Standard"
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGB"
        scene.render.image_settings.compression = 100
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp.png")
        scene.render.filepath = str(tmp)
        bpy.ops.render.render(write_still=True)
        os.replace(tmp, out)
        print(out, out.stat().st_size, "bytes")
        if runner is not None:
            runner.cancel(bpy.context)  # the preview layers go; the mesh is as it was
            assert "Stylize Preview" not in styled.data.color_attributes
    finally:
        shutil.rmtree(user, ignore_errors=True)  # the temporary Blender user folder
    return 0


if __name__ == "__main__":
    sys.exit(main())
