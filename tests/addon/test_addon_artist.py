"""The add-on as an artist meets it (issue 30), inside PyPI ``bpy``: batch results run from a
shell, results that stay visible, the live preview in Material Preview, drawings with colour and
width, no redo panel that re-runs a job, progress that names its phase, labels that fit the
sidebar, Check in the background, the zip's file modes, refusals in Blenders it cannot work in,
PBR maps into the Principled BSDF, and rigs kept. Results come from fabricated run folders where
the worker itself is not the point (fast)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from .helpers import build_tool
from .test_addon import _colors, _installed, _positions
from .test_addon_live import _synthetic_run, material_fingerprint, mesh_fingerprint


def _vertex_data(path: Path, exchange, colors: np.ndarray, vertices: np.ndarray | None = None) -> None:
    count = len(exchange.used)
    vertices = exchange.to_worker(np.zeros((exchange.vertex_count, 3)))[exchange.used] if vertices is None else vertices
    np.savez(path, vertices=vertices.astype(np.float32), colors=colors.astype(np.float32), source_index=np.arange(count))


# --- 1. batch results of a `stylize batch` run from a shell -------------------------------------------


def test_batch_import_reads_a_manifest_with_relative_out_whatever_blenders_folder(blender, scene, tmp_path, monkeypatch):
    """`stylize batch stylize_jobs.toml --out runs` in the batch folder writes ``out`` relative to
    that folder; Blender's working folder is elsewhere."""
    bpy = blender.bpy
    operators, mesh_data, exchange = (_installed(blender, n) for n in ("operators", "mesh_data", "exchange"))
    folder = tmp_path / "batch"
    settings = bpy.context.scene.stylize
    settings.prompt, settings.batch_folder = "a red circle", str(folder)
    assert bpy.ops.stylize.batch_write() == {"FINISHED"}
    sidecar = json.loads((folder / "stylize_blender.json").read_text())["objects"][scene.name]
    positions, triangles = mesh_data.mesh_arrays(scene.data)
    _, sent = exchange.obj_text(positions, triangles, mesh_data.worker_orientation(scene))
    run = folder / "runs" / "mesh-0001-abc"
    run.mkdir(parents=True)
    colors = np.tile(np.array([0.9, 0.1, 0.1], np.float32), (len(sent.used), 1))
    _vertex_data(run / "vertex_data.npz", sent, colors, sent.to_worker(positions))
    # As the command line writes it when run from the batch folder: a relative out, the input absolute.
    entry = {"id": "mesh-0001-abc", "status": "done", "out": "runs/mesh-0001-abc", "kind": "mesh",
             "input": str((folder / sidecar["file"]).resolve()), "prompt": "a red circle"}  # fmt: skip
    (folder / "runs" / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    elsewhere = tmp_path / "blender_cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert operators.import_batch(folder) == "imported 1 of 1 results"
    attribute = scene.data.color_attributes["Stylize Color"]
    np.testing.assert_allclose(_colors(attribute, "color_srgb")[:, :3], colors, atol=2e-3)

    # Run on another machine: its absolute paths do not exist here; the files beside the manifest do.
    mesh_data.revert(scene)
    entry.update(out="/farm/job/runs/mesh-0001-abc", input=f"/farm/job/{sidecar['file']}")
    (folder / "runs" / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    assert operators.import_batch(folder) == "imported 1 of 1 results"
    # A job folder that is gone is named as gone, not blamed on the toolkit's version.
    mesh_data.revert(scene)
    (run / "vertex_data.npz").unlink()
    run.rmdir()
    jobs = _installed(blender, "jobs")
    with pytest.raises(jobs.JobError, match=r"run folder .*mesh-0001-abc does not exist") as error:
        operators.import_batch(folder)
    assert "too old" not in str(error.value)


# --- 2. results that stay visible; the live preview in every viewport mode -----------------------------


def _task_with_fake_job(blender, obj, tmp_path, preview_every=1):
    """A MeshTask with a job stand-in (the payload start_mesh_job builds), for show/apply without a worker."""
    tasks, mesh_data, exchange, jobs = (_installed(blender, n) for n in ("tasks", "mesh_data", "exchange", "jobs"))
    settings = jobs.MeshJobSettings(prompt="a red circle", preview_every=preview_every)
    tmp_path.mkdir(parents=True, exist_ok=True)
    task = tasks.MeshTask(obj.name, settings)
    task.throttle = jobs.PreviewThrottle(interval=0.0)
    positions, triangles = mesh_data.mesh_arrays(obj.data)
    _, sent = exchange.obj_text(positions, triangles, mesh_data.worker_orientation(obj))
    payload = {"object": obj.name, "exchange": sent, "positions": positions, "triangles": triangles,
               "displace": True, "keep": None, "look": None}  # fmt: skip
    job = types.SimpleNamespace(payload=payload)
    colors = np.tile(np.array([0.9, 0.1, 0.1], np.float32), (len(sent.used), 1))
    snapshot = tmp_path / "step_000001.npz"
    _vertex_data(snapshot, sent, colors, sent.to_worker(positions) * 1.02)
    run = tmp_path / "run"
    run.mkdir()
    _vertex_data(run / "vertex_data.npz", sent, colors, sent.to_worker(positions) * 1.05)
    preview = jobs.JobUpdate(preview=str(snapshot), preview_step=1, total=4, step=1)
    done = jobs.JobUpdate(state=jobs.DONE, result={"out": str(run), "scores": {"trainer": {"mean": 27.4}}})
    return task, job, preview, done


def _shadings(bpy):
    screen = bpy.context.window_manager.windows[0].screen
    return [a.spaces.active.shading for a in screen.areas if a.type == "VIEW_3D"]


def test_the_result_stays_visible_in_solid_view_and_cancel_puts_the_viewport_back(blender, scene, tmp_path):
    bpy = blender.bpy
    shadings = _shadings(bpy)
    assert shadings, "the factory screen has a 3D viewport"
    for shading in shadings:
        shading.type, shading.color_type = "SOLID", "MATERIAL"
    try:
        task, job, preview, done = _task_with_fake_job(blender, scene, tmp_path)
        assert task.show(bpy.context, job, preview)
        assert all(s.color_type == "VERTEX" for s in shadings)  # Solid shows the preview's colours
        message = task.apply(bpy.context, job, done)
        # The artist stays in Solid view: it keeps showing the result (the active colour attribute), not grey.
        assert all(s.color_type == "VERTEX" for s in shadings)
        assert scene.data.color_attributes.active_color_name == "Stylize Color"
        assert message == f"{scene.name} stylized (score 27/100)" and task.score == pytest.approx(27.4)

        _installed(blender, "mesh_data").revert(scene)
        for shading in shadings:
            shading.color_type = "MATERIAL"
        task, job, preview, done = _task_with_fake_job(blender, scene, tmp_path / "again")
        assert task.show(bpy.context, job, preview)
        task.discard(bpy.context, job)  # cancel or failure: the viewport as it was
        assert all(s.color_type == "MATERIAL" for s in shadings)
    finally:
        for shading in shadings:
            shading.color_type = "MATERIAL"


def test_live_preview_shows_in_material_preview_through_the_preview_material(blender, scene, tmp_path):
    """Material Preview and Rendered draw materials, not the active colour attribute: the preview
    lends the object a material that shows it, on object-linked slots, and gives them back."""
    bpy = blender.bpy
    user = bpy.data.materials.new("Clay")
    scene.data.materials.append(user)
    before_mesh, before_material = mesh_fingerprint(scene), material_fingerprint(user)
    task, job, preview, _ = _task_with_fake_job(blender, scene, tmp_path)
    assert task.show(bpy.context, job, preview)
    slot = scene.material_slots[0]
    assert slot.link == "OBJECT" and slot.material.name == "Stylize Preview"
    shader = next(n for n in slot.material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    source = shader.inputs["Base Color"].links[0].from_node
    assert source.type == "ATTRIBUTE" and source.attribute_name == "Stylize Preview"
    assert scene.data.materials[0] == user  # the mesh's own material is untouched
    task.discard(bpy.context, job)
    assert slot.link == "DATA" and slot.material == user
    assert mesh_fingerprint(scene) == before_mesh and material_fingerprint(user) == before_material
    assert "Stylize Preview" not in bpy.data.materials

    # An object without materials gets a slot for the preview and loses it again.
    scene.data.materials.clear()
    before_mesh = mesh_fingerprint(scene)
    task, job, preview, _ = _task_with_fake_job(blender, scene, tmp_path / "bare")
    assert task.show(bpy.context, job, preview)
    assert len(scene.material_slots) == 1 and scene.material_slots[0].material.name == "Stylize Preview"
    task.discard(bpy.context, job)
    assert len(scene.material_slots) == 0 and mesh_fingerprint(scene) == before_mesh


# --- 3. drawings with colour, width and fill ---------------------------------------------------------

DRAWING = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50">
<metadata><stylize xmlns="urn:stylize:metadata">{}</stylize></metadata>
<path d="M0 0 C10 0 20 10 30 10 C40 10 50 0 60 0" fill="none" stroke="#ff0000" stroke-opacity="1" stroke-width="4"
 stroke-linecap="round" stroke-linejoin="round"/>
<path d="M40 10 C50 10 60 20 60 30 C60 40 50 50 40 50 C30 50 40 40 40 10 Z" fill="#0000ff" fill-opacity="1"
 fill-rule="nonzero" stroke="none"/>
<path d="M70 0 C80 0 100 0 100 20 C100 40 80 40 70 40 C60 40 60 0 70 0 Z" fill="#00ff00" fill-opacity="0.5"
 stroke="#000000" stroke-opacity="1" stroke-width="2" stroke-linecap="butt" stroke-linejoin="miter" opacity="0.8"/>
</svg>
"""


def test_drawing_arrives_as_curves_with_the_strokes_colours_widths_and_fills(blender, scene, tmp_path):
    bpy = blender.bpy
    curves, mesh_data = _installed(blender, "curves"), _installed(blender, "mesh_data")
    svg = tmp_path / "drawing.svg"
    svg.write_text(DRAWING)
    bpy.context.scene.cursor.location = (1.0, 2.0, 3.0)
    empty, objects = curves.import_drawing(bpy.context, svg, size=2.0)
    assert tuple(empty.location) == pytest.approx((1.0, 2.0, 3.0)) and empty.scale[0] == pytest.approx(2.0 / 100.0)
    assert [o.name.rsplit(" ", 1)[-1].split(".")[0] for o in objects] == ["Stroke", "Fill", "Fill", "Stroke"]
    red, blue_fill, green_fill, black = objects
    assert all(o.parent is empty for o in objects)
    # Widths: a bevel of half the stroke width (SVG units, scaled with the drawing), caps filled.
    assert red.data.bevel_depth == pytest.approx(2.0) and black.data.bevel_depth == pytest.approx(1.0)
    assert red.data.dimensions == "3D" and red.data.use_fill_caps
    # Fills: flat, filled, closed.
    assert blue_fill.data.dimensions == "2D" and blue_fill.data.fill_mode == "BOTH"
    assert all(s.use_cyclic_u for s in blue_fill.data.splines) and not red.data.splines[0].use_cyclic_u

    def paint(obj):
        material = obj.data.materials[0]
        shader = next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        return material, tuple(shader.inputs["Base Color"].default_value)[:3], shader.inputs["Alpha"].default_value

    material, base, alpha = paint(red)
    assert base == pytest.approx((1.0, 0.0, 0.0)) and alpha == 1.0
    assert tuple(material.diffuse_color) == pytest.approx((1.0, 0.0, 0.0, 1.0))  # Solid view's Material colour
    _, base, _ = paint(blue_fill)
    assert base == pytest.approx((0.0, 0.0, 1.0))
    material, base, alpha = paint(green_fill)
    assert base == pytest.approx((0.0, 1.0, 0.0)) and alpha == pytest.approx(0.4)  # fill-opacity x opacity
    assert material.surface_render_method == "BLENDED"
    _, base, alpha = paint(black)
    assert base == pytest.approx((0.0, 0.0, 0.0)) and alpha == pytest.approx(0.8)
    # The red stroke: its anchors and handles where the SVG has them (centred, y up).
    points = red.data.splines[0].bezier_points
    assert len(points) == 3
    assert tuple(points[1].co)[:2] == pytest.approx((30 - 50, 25 - 10))
    assert tuple(points[0].handle_right)[:2] == pytest.approx((10 - 50, 25 - 0))
    assert tuple(points[1].handle_left)[:2] == pytest.approx((20 - 50, 25 - 10))
    # Later paths above earlier ones, as SVG paints them over.
    assert red.location.z < blue_fill.location.z < green_fill.location.z == black.location.z
    # It renders as something: the stroke's evaluated mesh has faces, the fill's too.
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for obj in (red, blue_fill):
        evaluated = obj.evaluated_get(depsgraph)
        assert len(evaluated.to_mesh().polygons) > 0, obj.name
        evaluated.to_mesh_clear()
    # The same colour twice shares one material.
    _, again = curves.import_drawing(bpy.context, svg, size=2.0)
    assert again[0].data.materials[0] == red.data.materials[0]
    assert mesh_data is not None


def test_path_data_reader_and_its_fallback(blender):
    drawing = _installed(blender, "drawing")
    (contour,) = drawing.parse_path_data("m10 10 l10 0 c0 5 -5 10 -10 10 z")
    assert contour.closed and contour.points == [(10, 10), (20, 10), (10, 20)]
    assert contour.right[1] == (20, 15) and contour.left[2] == (15, 20)
    with pytest.raises(drawing.UnsupportedSvg, match="'A'"):
        drawing.parse_path_data("M0 0 A 5 5 0 0 1 10 10")


# --- 4. no redo panel that re-runs a job ----------------------------------------------------------------


def test_operators_that_run_the_worker_have_no_redo_panel_and_one_undo_step(blender):
    bpy = blender.bpy
    for name in (
        "STYLIZE_OT_stylize_mesh",
        "STYLIZE_OT_draw_svg",
        "STYLIZE_OT_sketch",
        "STYLIZE_OT_batch_run",
        "STYLIZE_OT_batch_import",
    ):
        options = getattr(bpy.types, name).bl_options
        # No REGISTER: Blender shows no "Adjust Last Operation" (whose edits would re-run the job
        # synchronously, frozen, without Cancel) and Repeat Last cannot pick it; UNDO: one undo step.
        assert "REGISTER" not in options and "UNDO" in options, (name, options)


# --- 6. progress with phases; labels that fit; Check in the background; the zip's modes; the score --------


class LayoutModel:
    """A stub layout that records what each line shows and how many items share it."""

    def __init__(self, lines, kind="column"):
        self.lines, self.kind, self.enabled = lines, kind, True
        self.items: list = []
        if kind == "row":
            lines.append(self.items)

    def _item(self, text: str, icon: bool = False, expand_items=None):
        target = self.items if self.kind == "row" else None
        entry = {"text": text, "icon": icon, "expand": expand_items}
        if target is None:
            self.lines.append([entry])
        else:
            target.append(entry)

    def row(self, **_):
        return LayoutModel(self.lines, "row")

    def column(self, **_):
        return LayoutModel(self.lines)

    box = column

    def label(self, text="", icon="NONE"):
        self._item(text, icon not in ("NONE", "BLANK1"))

    def prop(self, data, name, text=None, icon="NONE", expand=False, **_):
        prop = data.bl_rna.properties[name]
        label = prop.name if text is None else text
        if expand and prop.type == "ENUM":
            for item in prop.enum_items:
                self._item(item.name)
            return
        kind = "toggle" if prop.type == "BOOLEAN" else ("number" if prop.type in ("INT", "FLOAT") else "field")
        self._item(label, icon != "NONE", kind)

    def prop_search(self, data, name, *args, text=None, **_):
        self._item(text if text is not None else data.bl_rna.properties[name].name, False, "field")

    def operator(self, idname, text=None, icon="NONE", **_):
        if text is None:
            category, name = idname.split(".")
            text = getattr(__import__("bpy").types, f"{category.upper()}_OT_{name}").bl_label
        self._item(text, icon != "NONE")

    def progress(self, text="", **_):
        self._item(text)


def _overflows(lines, width: int) -> list[str]:
    """What does not fit: a line of ``width`` characters shared by its items; a labelled text or
    enum field's label gets 40% of its share, a number field's label shares it with 4 digits, an
    icon takes 3 characters."""
    problems = []
    for items in lines:
        share = width // max(len(items), 1) - (1 if len(items) > 1 else 0)
        for item in items:
            room = share - (3 if item["icon"] else 0)
            if item["expand"] == "field" and item["text"]:
                room = int(share * 0.4)
            elif item["expand"] == "number":
                room = share - 4
            if len(item["text"]) > room:
                problems.append(f"{item['text']!r} ({len(item['text'])} > {room})")
    return problems


def test_every_label_fits_the_sidebar_at_its_default_width(blender, scene):
    bpy = blender.bpy
    panel = _installed(blender, "panel")
    scene.vertex_groups.new(name="Top")
    bpy.context.scene.stylize.texture = "BAKE"  # the texture row shows
    status = bpy.context.window_manager.stylize_job
    try:
        for state in ("idle", "running", "done"):
            if state == "running":
                status.begin("mesh")
                status.show(_installed(blender, "jobs").JobUpdate(step=120, total=300, score=27.4))
            elif state == "done":
                status.end(None, f"Stylize: {scene.name} stylized (score 27/100) with a long message that wraps")
                status.score = 27.4
            for panel_class in (panel.STYLIZE_PT_main, panel.STYLIZE_PT_batch):
                lines: list = []
                panel_class.draw(types.SimpleNamespace(layout=LayoutModel(lines)), bpy.context)
                assert not _overflows(lines, panel.LINE_CHARACTERS), (state, panel_class.__name__, _overflows(lines, 34))
                texts = [item["text"] for items in lines for item in items]
                if panel_class is panel.STYLIZE_PT_main:  # the texture drop-down and the preview toggle say what they are
                    assert "Texture" in texts and "Shape" in texts and "Restyle from (optional):" in texts
                    assert any(t.startswith("prompt match 27/100") for t in texts) == (state == "done")
    finally:
        status.end(None, "")
        status.score = -1.0
        bpy.context.scene.stylize.texture = "VERTEX"
    # The progress of a selection names the object and its step within the same width.
    tasks, jobs = _installed(blender, "tasks"), _installed(blender, "jobs")
    runner = tasks.TaskRunner([types.SimpleNamespace(label="Crate_with_a_long_name.001"), types.SimpleNamespace(label="B")])
    runner.job, runner.update = object(), jobs.JobUpdate(step=120, total=300, score=27.4)
    assert len(runner.describe()) <= panel.LINE_CHARACTERS, runner.describe()
    batch = jobs.JobUpdate(step=1, total=3, counting="jobs")
    assert batch.describe() == "1 of 3 jobs done" and "step" not in batch.describe()


def test_check_runs_in_the_background(blender, tmp_path):
    bpy = blender.bpy
    operators = _installed(blender, "operators")
    slow = tmp_path / "slow-python"
    slow.write_text(f'#!/bin/sh\nsleep 2\nexec {sys.executable} "$@"\n')
    slow.chmod(0o755)
    blender.prefs.python_path = str(slow)
    try:
        started = time.monotonic()
        assert bpy.ops.stylize.check_python() == {"FINISHED"}
        assert time.monotonic() - started < 1.0  # Blender goes on at once
        assert blender.prefs.check_result == "checking..."
        assert not bpy.ops.stylize.check_python.poll()  # one check at a time
        deadline = time.monotonic() + 120
        while operators.poll_check(bpy.context) is not None and time.monotonic() < deadline:
            time.sleep(0.1)  # what Blender's timer does
        assert blender.prefs.check_result.startswith("stylize ") and "torch" in blender.prefs.check_result
        blender.prefs.python_path = str(tmp_path / "python-missing")
        assert bpy.ops.stylize.check_python() == {"FINISHED"}
        while operators.poll_check(bpy.context) is not None:
            time.sleep(0.05)
        assert blender.prefs.check_result.startswith("not usable: cannot run the Python")
    finally:
        blender.prefs.python_path = sys.executable


def test_built_zips_have_the_usual_file_modes(tmp_path):
    import zipfile

    umask = os.umask(0)
    os.umask(umask)
    for legacy in (False, True):
        archive = build_tool().build(tmp_path, legacy=legacy)
        assert stat.S_IMODE(archive.stat().st_mode) == 0o666 & ~umask  # 0644 under the usual umask 022
        assert {info.external_attr >> 16 for info in zipfile.ZipFile(archive).infolist()} == {0o644}


def test_score_is_explained_on_the_clis_scale(blender):
    jobs = _installed(blender, "jobs")
    assert jobs.score_text(27.44) == "score 27/100"
    assert "0-100 match between the pictures and the prompt" in jobs.SCORE_MEANING
    from stylize.generation import SCORE_SCALE

    assert SCORE_SCALE == 100.0  # the CLI's scores are 100 x cosine too


# --- 5. Blenders it cannot work in ----------------------------------------------------------------


def test_enabling_refuses_old_blenders_and_a_missing_numpy_with_one_line(blender, tmp_path, monkeypatch):
    import ast

    import addon_utils

    bpy = blender.bpy
    addon = sys.modules[blender.module]
    # One minimum in three places; Blender reads a legacy add-on's bl_info as a literal.
    source = (Path(__file__).resolve().parents[2] / "blender_addon" / "__init__.py").read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.Assign) and n.targets[0].id == "bl_info")
    manifest = build_tool().manifest()["blender_version_min"]
    assert ast.literal_eval(node.value)["blender"] == addon.MINIMUM_BLENDER == tuple(map(int, manifest.split(".")))
    assert addon.refusal((4, 2, 0), True) is None and addon.refusal((5, 0, 1), True) is None
    assert addon.refusal((3, 4, 1), True) == "Stylize needs Blender 4.2 or newer; this is 3.4.1"
    assert addon.refusal((4, 3, 2), False) == addon.NUMPY_MISSING and "\n" not in addon.NUMPY_MISSING
    assert "apt install python3-numpy" in addon.NUMPY_MISSING

    # The legacy zip in a Blender whose Python has no numpy: enabling fails with that line, nothing registered.
    legacy = build_tool().build(tmp_path, legacy=True)
    addon_utils.disable(blender.module)
    errors = []
    try:
        assert bpy.ops.preferences.addon_install(filepath=str(legacy)) == {"FINISHED"}
        monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` raises ImportError
        assert addon_utils.enable("stylize_blender", default_set=True, handle_error=errors.append) is None
        monkeypatch.delitem(sys.modules, "numpy")
        monkeypatch.undo()
        assert [str(e) for e in errors] == [addon.NUMPY_MISSING]
        assert not hasattr(bpy.types, "STYLIZE_PT_main")
    finally:
        import shutil

        addon_utils.disable("stylize_blender", default_set=True)
        shutil.rmtree(Path(bpy.utils.user_resource("SCRIPTS", path="addons")) / "stylize_blender", ignore_errors=True)
        addon_utils.enable(blender.module, default_set=True)
        blender.prefs = bpy.context.preferences.addons[blender.module].preferences
        from .helpers import TRAINER_CLIP

        blender.prefs.python_path, blender.prefs.device, blender.prefs.clip_spec = sys.executable, "cpu", TRAINER_CLIP


# --- PBR maps and rigs ---------------------------------------------------------------------------------


def test_pbr_maps_go_into_the_principled_bsdf_and_revert_removes_them(blender, scene, tmp_path):
    from PIL import Image

    bpy = blender.bpy
    mesh_data, textures, exchange = (_installed(blender, n) for n in ("mesh_data", "textures", "exchange"))
    material = bpy.data.materials.new("Metal")
    shader = next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    shader.inputs["Roughness"].default_value, shader.inputs["Metallic"].default_value = 0.7, 0.1
    scene.data.materials.append(material)
    before_mesh, before_material = mesh_fingerprint(scene), material_fingerprint(material)
    positions, triangles = mesh_data.mesh_arrays(scene.data)
    _, sent = exchange.obj_text(positions, triangles, mesh_data.worker_orientation(scene))
    run = _synthetic_run(tmp_path, sent, triangles)  # base_color.png and normal.png
    Image.fromarray(np.full((8, 8, 3), (255, 60, 230), np.uint8)).save(run / "textures" / "metallic_roughness.png")
    surface = textures.read_surface_result(run, sent, triangles)
    assert surface.metallic_roughness == run / "textures" / "metallic_roughness.png"
    mesh_data.apply_mesh_result(scene, exchange.read_mesh_result(run, sent, positions), displace=False, surface=surface)

    tree = material.node_tree
    assert shader.inputs["Base Color"].links[0].from_node.name == "Stylize Mix Color"
    assert shader.inputs["Normal"].links[0].from_node.name == "Stylize Mix Normal"
    for name, channel, user in (("Roughness", "Green", 0.7), ("Metallic", "Blue", 0.1)):
        mix = shader.inputs[name].links[0].from_node
        assert mix.name == f"Stylize Mix {name}" and mix.data_type == "FLOAT"
        a = next(s for s in mix.inputs if s.identifier == "A_Float")
        b = next(s for s in mix.inputs if s.identifier == "B_Float")
        assert a.default_value == pytest.approx(user)  # objects sharing the material keep its value
        separate = b.links[0].from_node
        assert separate.type == "SEPARATE_COLOR" and separate.mode == "RGB" and b.links[0].from_socket.name == channel
        image_node = separate.inputs["Color"].links[0].from_node
        assert image_node.image.colorspace_settings.name == "Non-Color" and image_node.image.packed_file is not None
        assert image_node.inputs["Vector"].links[0].from_node.uv_map == "Stylize UV"
    assert tree.nodes["Stylize Normal Map"].inputs["Color"].links[0].from_node.image.colorspace_settings.name == "Non-Color"
    # One Revert (as one undo step) takes it all out again.
    assert bpy.ops.stylize.revert() == {"FINISHED"}
    assert material_fingerprint(material) == before_material and mesh_fingerprint(scene) == before_mesh
    assert not [image for image in bpy.data.images if image.name.startswith("Stylize")]


def test_a_rigged_mesh_keeps_its_armature_vertex_groups_and_shape_keys(blender, scene, tmp_path):
    bpy = blender.bpy
    mesh_data = _installed(blender, "mesh_data")
    armature = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    bpy.context.scene.collection.objects.link(armature)
    scene.parent = armature
    group = scene.vertex_groups.new(name="Bone")
    group.add(list(range(len(scene.data.vertices))), 0.5, "REPLACE")
    modifier = scene.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    scene.shape_key_add(name="Basis", from_mix=False)
    smile = scene.shape_key_add(name="Smile", from_mix=False)
    smile.data.foreach_set("co", (_positions(scene.data) * 1.1).ravel())
    smile.value = 0.4
    smile.keyframe_insert("value", frame=1)
    smile_co = np.array([tuple(p.co) for p in smile.data])

    task, job, preview, done = _task_with_fake_job(blender, scene, tmp_path)
    assert task.show(bpy.context, job, preview)
    task.apply(bpy.context, job, done)

    assert [m.type for m in scene.modifiers] == ["ARMATURE"] and scene.modifiers[0].object == armature
    assert scene.parent == armature and [g.name for g in scene.vertex_groups] == ["Bone"]
    assert {scene.data.vertices[0].groups[0].weight} == {0.5}
    keys = scene.data.shape_keys.key_blocks
    assert list(keys.keys()) == ["Basis", "Smile", "Stylize Displacement"]
    assert keys["Smile"].value == pytest.approx(0.4)
    assert np.array_equal(np.array([tuple(p.co) for p in keys["Smile"].data]), smile_co)
    assert scene.data.shape_keys.animation_data.action is not None  # its animation too
    assert keys["Stylize Displacement"].relative_key == keys["Basis"]
    mesh_data.revert(scene)
    assert list(scene.data.shape_keys.key_blocks.keys()) == ["Basis", "Smile"] and len(scene.modifiers) == 1


@pytest.mark.slow
def test_best_of_candidates_are_previewed_during_the_warm_up_and_phases_reach_the_bar(blender, scene):
    """A real worker: Best of 2 over 4 iterations is all warm-up, and its snapshots still show;
    after the last step the progress names the output phases."""
    from .test_addon import TIMER, _drive, _mesh_task, _Operator

    bpy = blender.bpy
    operators = _installed(blender, "operators")
    task = _mesh_task(blender, scene, iterations=4, preview_every=1)
    task.settings.best_of = 2
    task.throttle = _installed(blender, "jobs").PreviewThrottle(interval=0.0)
    runner = operators.TaskRunner([task])
    bpy.context.window_manager.stylize_job.begin("mesh")
    operator = _Operator(runner)
    assert operators.modal_step(operator, bpy.context, TIMER) == {"PASS_THROUGH"}
    update = runner.update
    _drive(blender, operator, lambda: task.shown_step >= 1)
    assert update.state == "running" and task.shown_step < 4  # shown while the candidates warm up
    assert "Stylize Preview" in scene.data.color_attributes
    phases = []
    _drive(blender, operator, lambda: bool(phases.append(update.phase)) and False)
    assert {"scoring", "writing", "rendering"} & set(phases) and update.phase == "rendering"
    assert "Stylize Color" in scene.data.color_attributes
