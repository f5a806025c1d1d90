"""Sketch from Image in the add-on (PyPI ``bpy``): the worker request the panel makes (an image
file, or the active camera's square render), the sketch imported as curves or Grease Pencil, in
front of the camera or at the 3D cursor, Cancel leaving the scene as it was, and one run with the
real worker and a tiny test CLIP (slow). The fast tests stand in a fabricated job for the worker."""

from __future__ import annotations

import struct
import types
from pathlib import Path

import numpy as np
import pytest

from .helpers import addon_module
from .test_addon import TIMER, _drive, _installed, _Operator

jobs = addon_module("jobs")
sketch_job = addon_module("sketch_job")

S = 64
# A sketch as `stylize sketch` writes it: an S x S canvas, open cubic strokes (one with two C
# triples), full widths in px, colours, round caps, in drawing order.
SKETCH = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{S}" height="{S}" viewBox="0 0 {S} {S}">
<path d="M 8 8 C 16 4 24 4 32 8" fill="none" stroke="#000000" stroke-width="1.5" stroke-linecap="round"/>
<path d="M 0 0 C 10 20 20 30 32 32 C 44 34 54 44 64 64" fill="none" stroke="#ff0000" stroke-width="3" stroke-linecap="round"/>
<path d="M 40 56 C 44 50 50 50 56 40" fill="none" stroke="#000000" stroke-width="1.5" stroke-linecap="round"/>
</svg>
"""


class FakeJob:
    """A worker job that answers ``done`` with a fabricated sketch (or runs until cancelled)."""

    def __init__(self, workdir: Path, payload: dict, svg_text: str | None) -> None:
        self.workdir, self.payload, self.update = workdir, payload, jobs.JobUpdate(total=8)
        self.svg_text, self.cancelled = svg_text, False

    def poll(self):
        if self.svg_text is not None and not self.update.finished:
            run = self.workdir / "run"
            run.mkdir(parents=True, exist_ok=True)
            (run / "sketch.svg").write_text(self.svg_text)
            self.update.result = {"out": str(run), "svg": str(run / "sketch.svg"), "scores": {"trainer": {"mean": 71.0}}}
            self.update.state, self.update.step = jobs.DONE, 8
        elif self.svg_text is None:
            self.update.step = min(self.update.step + 1, 7)
        return self.update

    def cancel(self, grace: float = 0.0) -> None:
        self.cancelled = True
        self.update.state = jobs.CANCELLED

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def requests(blender, monkeypatch):
    """The worker's requests (command, args, workdir, payload, the picture's size) answered by
    :class:`FakeJob`s; ``requests.svg`` is what they answer (None: they run until cancelled)."""
    sketch = _installed(blender, "sketch")
    sent = types.SimpleNamespace(calls=[], svg=SKETCH, jobs=[])

    def start(context, command, args, workdir, payload):
        picture = Path(args[0])
        header = picture.read_bytes()[:24]
        size = struct.unpack(">II", header[16:24]) if header[:8] == b"\x89PNG\r\n\x1a\n" else None
        sent.calls.append(types.SimpleNamespace(command=command, args=args, workdir=workdir, payload=payload, size=size))
        sent.jobs.append(FakeJob(workdir, payload, sent.svg))
        return sent.jobs[-1]

    monkeypatch.setattr(sketch, "start_worker_job", start)
    return sent


def _pairs(args):
    return list(zip(args, args[1:], strict=False))


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "photo.png"
    from stylize.images import save_image
    from stylize.testing.restyle_check import disc_picture

    save_image(path, disc_picture(48))
    return path


@pytest.fixture
def camera_scene(blender, scene):
    """A camera looking down -Y at the sphere, active, a 300 x 200 render in Workbench."""
    bpy = blender.bpy
    data = bpy.data.cameras.new("Cam")
    camera = bpy.data.objects.new("Cam", data)
    bpy.context.scene.collection.objects.link(camera)
    camera.location, camera.rotation_euler = (0.5, -6.0, 0.3), (np.pi / 2, 0.0, 0.0)
    scene_data = bpy.context.scene
    scene_data.camera = camera
    render = scene_data.render
    render.engine, render.resolution_x, render.resolution_y, render.resolution_percentage = "BLENDER_WORKBENCH", 300, 200, 50
    render.filepath = "//frames/"
    yield camera
    bpy.data.objects.remove(camera)
    bpy.data.cameras.remove(data)


# --- the request ---------------------------------------------------------------------------------------


def test_sketch_args_parse_with_the_toolkits_parser(tmp_path):
    from stylize.cli import build_parser
    from stylize.sketching.config import SKETCH_PRESETS

    assert sorted(item[0] for item in sketch_job.SKETCH_PRESETS) == sorted(SKETCH_PRESETS)
    settings = sketch_job.SketchJobSettings(prompt="a cat, in ink", preset="smoke", strokes="32, 4,8,16,8", seed=2,
                                            size=224, best_of=2, iterations=5, device="cpu", clip=["A:x", "B:y"])  # fmt: skip
    argv = sketch_job.sketch_args(tmp_path / "p.png", tmp_path / "run", settings)
    args = build_parser().parse_args(["sketch", *argv])
    assert (args.image, args.out, args.strokes, args.preset) == (
        str(tmp_path / "p.png"),
        str(tmp_path / "run"),
        "4,8,16,32",
        "smoke",
    )
    assert (args.prompts, args.size, args.best_of, args.iters, args.seed) == (["a cat, in ink"], 224, 2, 5, 2)
    assert (args.device, args.clip, args.progress) == ("cpu", ["A:x"], "json")  # sketching optimises with one CLIP
    plain = sketch_job.sketch_args(tmp_path / "p.png", tmp_path / "run", sketch_job.SketchJobSettings(prompt=""))
    for option in ("--prompt", "--size", "--best-of", "--iters", "--device", "--clip"):
        assert option not in plain
    for bad in ("", "0,4", "four", "3000"):
        with pytest.raises(jobs.JobError, match="strokes"):
            sketch_job.parse_strokes(bad)
    levels = {"4": "/r/levels/sketch-4.svg", "16": "/r/levels/sketch-16.svg", "8": "/r/levels/sketch-8.svg"}
    assert sketch_job.sketch_svg({"out": "/r", "levels": levels}) == Path("/r/levels/sketch-16.svg")
    assert sketch_job.sketch_svg({"out": "/r", "svg": "/r/sketch.svg", "levels": levels}) == Path("/r/sketch.svg")


def test_sketch_from_a_file_sends_the_panel_settings_and_imports_at_the_cursor(blender, scene, requests, picture):
    bpy = blender.bpy
    settings = bpy.context.scene.stylize
    settings.sketch_source, settings.sketch_image = "FILE", str(picture)
    settings.sketch_strokes, settings.sketch_prompt, settings.sketch_preset = "4,8,16,32", "a cat, in ink", "smoke"
    settings.seed, settings.draw_size = 5, 3.0
    bpy.context.scene.cursor.location = (1.0, 2.0, 3.0)
    before = set(bpy.data.objects)
    assert bpy.ops.stylize.sketch("EXEC_DEFAULT") == {"FINISHED"}
    (call,) = requests.calls
    assert call.command == "sketch" and call.args[0] == str(picture) and call.payload == {"frame": None}
    pairs = _pairs(call.args)
    for pair in [("--strokes", "4,8,16,32"), ("--preset", "smoke"), ("--prompt", "a cat, in ink"), ("--seed", "5"),
                 ("--out", str(call.workdir / "run")), ("--device", "cpu"), ("--clip", blender.prefs.clip_spec)]:  # fmt: skip
        assert pair in pairs, pair
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the input is read, never touched
    new = [obj for obj in bpy.data.objects if obj not in before]
    (anchor,) = [obj for obj in new if obj.type == "EMPTY"]
    curves = [obj for obj in new if obj.type == "CURVE"]
    assert anchor.name == "Stylize Sketch" and len(curves) == 3 and all(c.parent is anchor for c in curves)
    # The canvas (not the strokes' bounds) spans draw_size, centred at the cursor.
    assert tuple(anchor.location) == pytest.approx((1.0, 2.0, 3.0)) and anchor.scale[0] == pytest.approx(3.0 / S)
    red = curves[1]
    assert [round(c.data.bevel_depth, 3) for c in curves] == [0.75, 1.5, 0.75]
    first = red.data.splines[0].bezier_points[0].co
    assert (first.x, first.y) == pytest.approx((-S / 2, S / 2))  # the canvas corner (0, 0), y up
    status = bpy.context.window_manager.stylize_job
    assert not status.running and "sketched 3 strokes" in status.message and status.score == pytest.approx(71.0)
    assert not requests.jobs[0].workdir.exists()


def test_sketch_from_the_camera_renders_square_and_lies_over_what_it_draws(blender, scene, camera_scene, requests):
    bpy = blender.bpy
    from bpy_extras.object_utils import world_to_camera_view

    context = bpy.context
    render = context.scene.render
    settings = context.scene.stylize
    settings.sketch_source, settings.sketch_distance, settings.sketch_image = "CAMERA", 2.0, "/no/such/file.png"
    assert bpy.ops.stylize.sketch("EXEC_DEFAULT", strokes="16", preset="fast", output="CURVES") == {"FINISHED"}
    (call,) = requests.calls
    assert Path(call.args[0]) == call.workdir / "camera.png" and call.size == (512, 512)  # square, at 100 %
    assert ("--strokes", "16") in _pairs(call.args) and "--prompt" not in call.args
    # The render settings are the artist's again.
    assert (render.resolution_x, render.resolution_y, render.resolution_percentage) == (300, 200, 50)
    assert render.filepath == "//frames/" and render.image_settings.file_format == "PNG"
    anchor = bpy.data.objects["Stylize Sketch"]
    curves = [obj for obj in anchor.children if obj.type == "CURVE"]
    assert len(curves) == 3
    context.view_layer.update()
    # 2 m in front of the camera, facing it: the canvas centre on its axis.
    forward = np.array(camera_scene.matrix_world.to_3x3().col[2]) * -1.0
    assert np.array(anchor.matrix_world.translation) == pytest.approx(np.array(camera_scene.location) + 2.0 * forward)
    # Each anchor point shows in the (square) camera view where it is in the sketch's canvas.
    render.resolution_x = render.resolution_y = 512
    # (The first stroke lies on the frame's plane; later ones a little nearer, as SVG paints them
    # over, so they show a hair larger: 0.2 % of the frame per stroke.)
    for index, expected in ((0, [(8, 8), (32, 8)]), (1, [(0, 0), (32, 32), (64, 64)]), (2, [(40, 56), (56, 40)])):
        points = [curves[index].matrix_world @ p.co for p in curves[index].data.splines[0].bezier_points]
        view = np.array([tuple(world_to_camera_view(context.scene, camera_scene, co))[:2] for co in points])
        np.testing.assert_allclose(view, [(x / S, 1 - y / S) for x, y in expected], atol=1e-5 + 2e-3 * index)


def test_sketch_refuses_without_a_camera_or_an_image_and_changes_nothing(blender, scene, requests):
    bpy = blender.bpy
    settings = bpy.context.scene.stylize
    before = set(bpy.data.objects)
    settings.sketch_source, settings.sketch_image = "FILE", ""
    with pytest.raises(RuntimeError, match="no image"):
        bpy.ops.stylize.sketch("EXEC_DEFAULT")
    settings.sketch_source = "CAMERA"
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.stylize.sketch("EXEC_DEFAULT")
    with pytest.raises(RuntimeError, match="strokes"):
        bpy.ops.stylize.sketch("EXEC_DEFAULT", strokes="4,many")
    assert set(bpy.data.objects) == before and not requests.calls


def test_cancel_leaves_the_scene_as_it_was(blender, scene, camera_scene, requests):
    """The modal operator's timer step, driven by hand, on a job that runs until cancelled."""
    bpy = blender.bpy
    operators, sketch = _installed(blender, "operators"), _installed(blender, "sketch")
    context = bpy.context
    render = context.scene.render
    requests.svg = None

    def snapshot():
        return ({o.name for o in bpy.data.objects}, {m.name for m in bpy.data.materials}, len(bpy.data.curves),
                len(bpy.data.grease_pencils), (render.resolution_x, render.resolution_y, render.filepath))  # fmt: skip

    before = snapshot()
    settings = sketch_job.SketchJobSettings(prompt="", preset="smoke", device="cpu")
    runner = operators.TaskRunner([sketch.SketchTask(settings, "", "CURVES")])
    status = context.window_manager.stylize_job
    status.begin("sketch")
    operator = _Operator(runner)
    _drive(blender, operator, lambda: runner.update is not None and runner.update.step >= 3)
    assert runner.update.describe().startswith("step ")
    bpy.ops.stylize.cancel()
    assert operators.modal_step(operator, context, TIMER) == {"CANCELLED"}
    assert requests.jobs[0].cancelled and not requests.jobs[0].workdir.exists()
    assert operator.reports == [({"WARNING"}, "Stylize: cancelled")]
    assert snapshot() == before


# --- the import ----------------------------------------------------------------------------------------


def test_grease_pencil_output_has_the_strokes_widths_colours_and_order(blender, scene, tmp_path):
    bpy = blender.bpy
    grease_pencil = _installed(blender, "grease_pencil")
    assert grease_pencil.available()
    svg = tmp_path / "sketch.svg"
    svg.write_text(SKETCH)
    bpy.context.scene.cursor.location = (0.0, 0.0, 1.0)
    obj = grease_pencil.import_grease_pencil(bpy.context, svg, size=2.0, name="Stylize Sketch", on_canvas=True)
    assert obj.type == "GREASEPENCIL" and obj.scale[0] == pytest.approx(2.0 / S)
    drawing = obj.data.layers[0].frames[0].drawing
    strokes = list(drawing.strokes)
    assert len(strokes) == 3 and [len(s.points) for s in strokes] == [2, 3, 2]
    assert [round(s.points[0].radius, 3) for s in strokes] == [0.75, 1.5, 0.75]  # half the width
    assert [s.curve_type for s in strokes] == [2, 2, 2]  # Bezier: the SVG's control points as handles
    colours = [tuple(obj.data.materials[s.material_index].grease_pencil.color)[:3] for s in strokes]
    assert colours[0] == colours[2] == pytest.approx((0.0, 0.0, 0.0)) and colours[1] == pytest.approx((1.0, 0.0, 0.0))
    assert len(obj.data.materials) == 2 and not any(s.cyclic for s in strokes)
    red = strokes[1]
    assert tuple(red.points[1].position)[:2] == pytest.approx((0.0, 0.0))  # (32, 32): the canvas centre
    assert tuple(red.points[2].position)[:2] == pytest.approx((S / 2, -S / 2))

    def handles(side):
        values = np.empty(len(drawing.attributes[f"handle_{side}"].data) * 3, dtype=np.float32)
        drawing.attributes[f"handle_{side}"].data.foreach_get("vector", values)
        return values.reshape(-1, 3)[:, :2]

    # Red's points are 2-4: its first anchor's right handle (10, 20), its middle anchor's left (20, 30).
    assert tuple(handles("right")[2]) == pytest.approx((10 - S / 2, S / 2 - 20))
    assert tuple(handles("left")[3]) == pytest.approx((20 - S / 2, S / 2 - 30))
    if "handle_type_left" in drawing.attributes:  # absent: free handles, kept where they are
        types_left = np.empty(len(drawing.attributes["handle_type_left"].data), dtype=np.int8)
        drawing.attributes["handle_type_left"].data.foreach_get("value", types_left)
        assert not types_left.any()


def test_panel_shows_the_sketch_box(blender, scene):
    from .test_addon import StubLayout

    bpy = blender.bpy
    layout = StubLayout()
    bpy.types.STYLIZE_PT_main.draw(types.SimpleNamespace(layout=layout), bpy.context)
    props = [args[1] for name, args, _ in layout.calls if name == "prop"]
    for name in ("sketch_source", "sketch_image", "sketch_strokes", "sketch_preset", "sketch_prompt", "sketch_output"):
        assert name in props, name
    assert "stylize.sketch" in [args[0] for name, args, _ in layout.calls if name == "operator"]
    bpy.context.scene.stylize.sketch_source = "CAMERA"
    layout = StubLayout()
    bpy.types.STYLIZE_PT_main.draw(types.SimpleNamespace(layout=layout), bpy.context)
    props = [args[1] for name, args, _ in layout.calls if name == "prop"]
    assert "sketch_distance" in props and "sketch_image" not in props


# --- the real worker ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sketch_with_the_real_worker_and_a_tiny_clip(blender, scene, picture, tiny_clip_spec):
    bpy = blender.bpy
    blender.prefs.clip_spec = tiny_clip_spec
    before = set(bpy.data.objects)
    result = bpy.ops.stylize.sketch("EXEC_DEFAULT", source="FILE", image=str(picture), strokes="3", preset="smoke",
                                    iterations=2, size=32, output="GREASE_PENCIL")  # fmt: skip
    assert result == {"FINISHED"}
    (obj,) = [obj for obj in bpy.data.objects if obj not in before]
    strokes = obj.data.layers[0].frames[0].drawing.strokes
    assert obj.type == "GREASEPENCIL" and len(strokes) == 3
    # CLIPasso's black strokes: half-width 1.5 px at 224 px, scaled to the 32 px canvas (SVG
    # stroke-width twice that); a Grease Pencil radius is the half-width, the canvas spans draw_size.
    radii = [p.radius for s in strokes for p in s.points]
    assert radii == pytest.approx([1.5 * 32 / 224] * len(radii), rel=1e-3)
    assert obj.scale[0] == pytest.approx(bpy.context.scene.stylize.draw_size / 32)
    assert all(tuple(obj.data.materials[s.material_index].grease_pencil.color)[:3] == pytest.approx((0, 0, 0)) for s in strokes)
