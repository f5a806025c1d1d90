"""Check the add-on in a real Blender (any version, background mode): what PyPI ``bpy`` cannot show.

Usage (Blender runs this file; ``BLENDER_USER_RESOURCES`` keeps your own settings out of it)::

    python tools/build_blender_addon.py --out /tmp/dist            # and --legacy for the add-on zip
    BLENDER_USER_RESOURCES=/tmp/blender-user PYTHONPATH=$PWD blender --background --factory-startup \\
        --python tools/dev/check_blender_addon.py -- --zip /tmp/dist/stylize-0.1.0.zip \\
        --python-path .venv/bin/python

It installs and enables the zip (``--legacy``: a legacy add-on zip) and prints one line per check:

- ``enable``: whether it enabled, or the one line Blender reported (a Blender older than 4.2, or
  one whose Python has no numpy, must refuse with one line and register nothing);
- then, if it enabled and ``--python-path`` is given, as an artist would: ``batch``: Write Jobs
  File, ``stylize batch stylize_jobs.toml --out runs`` run in the batch folder as from a shell,
  Import Results from another working folder; ``draw``: Draw SVG as Curves gives curves with a
  bevel (stroke widths), paint materials and faces; ``redo``: the worker operators have no
  REGISTER (no redo panel).

The worker optimises with ``--clip`` (default: the trainer test CLIP), 2 iterations of ``smoke``.
Exit code 0 when every check passed (a refusal passes with ``--expect-refusal``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import addon_utils
import bpy

ROOT = Path(__file__).resolve().parents[2]
TRAINER_CLIP = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", required=True)
    parser.add_argument("--legacy", action="store_true", help="the zip is a legacy add-on zip")
    parser.add_argument("--python-path", default="", help="a Python with stylize installed (the artist checks)")
    parser.add_argument("--clip", default=TRAINER_CLIP)
    parser.add_argument("--expect-refusal", action="store_true", help="enabling must fail with one line")
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else [])


def _enable(args) -> tuple[str | None, list[str]]:
    """The add-on's module name if it enabled, and the errors Blender reported."""
    errors: list[str] = []
    if args.legacy:
        bpy.ops.preferences.addon_install(filepath=args.zip)
        module = addon_utils.enable("stylize_blender", default_set=True, handle_error=lambda exc: errors.append(str(exc)))
        return ("stylize_blender" if module is not None else None), errors
    try:
        bpy.ops.extensions.package_install_files(filepath=args.zip, repo="user_default", enable_on_install=True)
    except RuntimeError as exc:
        errors.append(str(exc).removeprefix("Error: ").strip())
    name = "bl_ext.user_default.stylize"
    return (name if name in bpy.context.preferences.addons else None), errors


def _artist_checks(args, module: str) -> list[tuple[str, bool, str]]:
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.python_path, prefs.device, prefs.clip_spec = args.python_path, "cpu", args.clip
    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=2)
    obj = bpy.context.active_object
    settings = bpy.context.scene.stylize
    settings.prompt, settings.preset, settings.iterations = "a red circle", "smoke", 2
    results = []
    folder = Path(tempfile.mkdtemp(prefix="stylize-check-"))
    try:
        settings.batch_folder = str(folder)
        bpy.ops.stylize.batch_write()
        done = subprocess.run([args.python_path, "-m", "stylize", "batch", "stylize_jobs.toml", "--out", "runs"],
                              cwd=folder, capture_output=True, text=True)  # fmt: skip
        os.chdir(tempfile.gettempdir())  # Blender's working folder is not the batch folder
        imported = bpy.ops.stylize.batch_import() == {"FINISHED"} and "Stylize Color" in obj.data.color_attributes
        results.append(("batch", done.returncode == 0 and imported, f"stylize batch exit {done.returncode}, imported {imported}"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    before = set(bpy.data.objects)
    bpy.ops.stylize.draw_svg("EXEC_DEFAULT", prompt="a red circle", preset="smoke", iterations=2, paths=4)
    curves = [o for o in bpy.data.objects if o not in before and o.type == "CURVE"]
    depsgraph = bpy.context.evaluated_depsgraph_get()
    faces = [len(c.evaluated_get(depsgraph).to_mesh().polygons) for c in curves]
    painted = all(c.data.materials and c.data.materials[0].name.startswith("Stylize Paint") for c in curves)
    widths = all(c.data.bevel_depth > 0 for c in curves if c.data.dimensions == "3D")
    results.append(("draw", bool(curves) and painted and widths and all(faces),
                    f"{len(curves)} curves, faces {faces}, painted {painted}, widths {widths}"))  # fmt: skip
    options = {name: sorted(getattr(bpy.types, name).bl_options) for name in ("STYLIZE_OT_stylize_mesh", "STYLIZE_OT_draw_svg")}
    results.append(("redo", all("REGISTER" not in o and "UNDO" in o for o in options.values()), str(options)))
    return results


def main() -> int:
    args = _args()
    print(f"blender {bpy.app.version_string}", flush=True)
    module, errors = _enable(args)
    refused = module is None
    one_line = len(errors) == 1 and "\n" not in errors[0].strip() and not hasattr(bpy.types, "STYLIZE_PT_main")
    ok = (refused and one_line) if args.expect_refusal else not refused
    print(f"enable: {'PASS' if ok else 'FAIL'} {'refused: ' + '; '.join(errors) if refused else 'enabled'}", flush=True)
    failures = 0 if ok else 1
    if not refused and args.python_path:
        for name, passed, detail in _artist_checks(args, module):
            print(f"{name}: {'PASS' if passed else 'FAIL'} {detail}", flush=True)
            failures += not passed
    return 1 if failures else 0


code = main()
sys.stdout.flush()
os._exit(code)  # Blender's own exit code is 0 whatever a script returns
