"""Operators: stylize the selected meshes, draw an SVG as curves, sketch a picture, batches, revert, cancel, check.

They are thin: the work is in :mod:`tasks`. A run is a :class:`~tasks.TaskRunner`; invoked from
the UI the operator runs modal with a timer that calls its ``step`` (through :func:`modal_step`,
a plain function tests drive); executed from a script (``EXEC_DEFAULT``) it loops over the same
step.

While a mesh job runs, its newest preview snapshot is shown as temporary layers
(:func:`mesh_data.show_preview`); cancel and failure remove them and leave the mesh as it was;
success replaces them with the result. Each object's result is one undo step.

The operators that run the worker are ``UNDO`` but not ``REGISTER``: no "Adjust Last Operation"
panel (changing a value there would run the whole job again synchronously, with Blender frozen
and no Cancel) and no Repeat Last; their values are the panel's, which stay in sight.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import batch, grease_pencil, jobs, mesh_data
from . import tasks as tasks_module
from .preferences import DRAW_PRESETS, MESH_PRESETS, online_access, preferences
from .sketch import SketchTask
from .sketch_job import SKETCH_OUTPUTS, SKETCH_PRESETS, SKETCH_SOURCES, SketchJobSettings, parse_strokes
from .tasks import TIMER_SECONDS, WORKER, BatchTask, DrawTask, MeshTask, TaskRunner, import_batch, shutdown_worker  # noqa: F401

PROMPT_PROPERTY = "stylize_prompt"  # an object's own prompt (custom property) in a selection


def _panel_value(operator: bpy.types.Operator, name: str, fallback):
    """The operator's own value if a caller set it, else the panel's."""
    return getattr(operator, name) if operator.properties.is_property_set(name) else fallback


def _common_settings(operator: bpy.types.Operator, context: bpy.types.Context, panel_preset: str) -> dict:
    """The :class:`jobs.JobSettings` fields: the operator's values where set, else the panel's."""
    panel, prefs = context.scene.stylize, preferences(context)
    return {
        "prompt": _panel_value(operator, "prompt", panel.prompt),
        "negative_prompt": _panel_value(operator, "negative_prompt", panel.negative_prompt),
        "preset": _panel_value(operator, "preset", panel_preset),
        "iterations": _panel_value(operator, "iterations", panel.iterations),
        "seed": _panel_value(operator, "seed", panel.seed),
        "device": prefs.device,
        "clip": jobs.parse_clip_specs(prefs.clip_spec),
    }


def _redraw(context: bpy.types.Context) -> None:
    for window in getattr(context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()


# --- operators -------------------------------------------------------------------------------


class _RunOperator:
    """invoke/modal/execute around a :class:`TaskRunner`; subclasses say which tasks."""

    bl_options = {"UNDO"}  # no REGISTER: no redo panel re-running the job (see the module docstring)
    kind = "job"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.window_manager.stylize_job.running

    def tasks(self, context: bpy.types.Context) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin(self, context: bpy.types.Context) -> TaskRunner | None:
        status = context.window_manager.stylize_job
        try:
            runner = TaskRunner(self.tasks(context))
        except (jobs.JobError, ValueError, OSError) as exc:
            status.end(None, f"Stylize: {exc}")
            self.report({"ERROR"}, f"Stylize: {exc}")
            return None
        status.begin(self.kind)
        return runner

    def execute(self, context: bpy.types.Context) -> set[str]:
        runner = self._begin(context)
        if runner is None:
            return {"CANCELLED"}
        status = context.window_manager.stylize_job
        try:
            while not runner.finished:
                runner.step(context)
                status.show(runner)
                if not runner.finished and runner.job is not None and not runner.update.finished:
                    time.sleep(0.05)
        except BaseException:
            runner.cancel(context)
            status.end(None, "Stylize: interrupted")
            raise
        return self.finish(context, runner)

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        runner = self._begin(context)
        if runner is None:
            return {"CANCELLED"}
        self._runner = runner
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event) -> set[str]:
        return modal_step(self, context, event)

    def finish(self, context: bpy.types.Context, runner: TaskRunner) -> set[str]:
        kind, message = runner.outcome()
        status = context.window_manager.stylize_job
        status.end(None, message, failed=kind == "ERROR", progress=runner.fraction)
        status.score = runner.score if runner.score is not None and not runner.cancelled else -1.0
        self.report({kind}, message)
        _redraw(context)
        return {"FINISHED"} if runner.last_ok and not runner.cancelled else {"CANCELLED"}


def modal_step(operator, context: bpy.types.Context, event) -> set[str]:
    """The modal handler's body (a plain function: headless tests call it with a fake event)."""
    status = context.window_manager.stylize_job
    runner: TaskRunner = operator._runner
    if status.cancel_requested or event.type == "ESC":
        runner.cancel(context)
    elif event.type == "TIMER":
        runner.step(context)
    else:
        return {"PASS_THROUGH"}
    status.show(runner)
    _redraw(context)
    if not runner.finished:
        return {"PASS_THROUGH"}
    if operator._timer is not None:
        context.window_manager.event_timer_remove(operator._timer)
        operator._timer = None
    return _RunOperator.finish(operator, context, runner)


class _PromptProperties:
    prompt: StringProperty(name="Prompt", default="")
    negative_prompt: StringProperty(name="Negative Prompt", default="")
    iterations: IntProperty(name="Iterations", description="0: the preset's", default=0, min=0)
    seed: IntProperty(name="Seed", default=0, min=0)


def selected_meshes(context: bpy.types.Context) -> list[bpy.types.Object]:
    """The selected mesh objects, the active one first, then by name."""
    active = context.active_object
    objects = [obj for obj in context.selected_objects if obj.type == "MESH"]
    if active is not None and active.type == "MESH" and active not in objects:
        objects.append(active)
    return sorted(objects, key=lambda obj: (obj is not active, obj.name))


def object_prompt(obj: bpy.types.Object, fallback: str) -> str:
    """The object's own prompt (custom property ``stylize_prompt``), else ``fallback``."""
    own = obj.get(PROMPT_PROPERTY)
    return own.strip() if isinstance(own, str) and own.strip() else fallback


class STYLIZE_OT_stylize_mesh(_PromptProperties, _RunOperator, bpy.types.Operator):
    """Stylize the selected meshes from a text prompt, one after another (Text2Mesh, in the worker's Python)"""

    bl_idname = "stylize.stylize_mesh"
    bl_label = "Stylize"
    kind = "mesh"

    preset: EnumProperty(name="Preset", items=MESH_PRESETS, default="fast")
    displace: BoolProperty(name="Displace", description="Also learn a displacement (shape key)", default=True)
    vertex_group: StringProperty(name="Vertex Group", description="Only stylize this region", default="")
    restyle_source: StringProperty(name="Restyle From", description="Restyle the object's own look, described by "
                                   "this text (empty: the panel's)", default="")  # fmt: skip
    preview_every: IntProperty(name="Preview Every", description="Show the result every N steps (0: no preview)",
                               default=jobs.PREVIEW_EVERY, min=0)  # fmt: skip

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return super().poll(context) and context.mode == "OBJECT" and bool(selected_meshes(context))

    def settings(self, context: bpy.types.Context) -> tuple[jobs.MeshJobSettings, str]:
        panel = context.scene.stylize
        settings = jobs.MeshJobSettings(
            **_common_settings(self, context, panel.preset),
            displace=_panel_value(self, "displace", panel.mode == "COLOR_DISPLACEMENT"),
            preview_every=_panel_value(self, "preview_every", panel.preview_every),
            texture={"VERTEX": "", "BAKE": "bake", "SURFACE": "surface"}[panel.texture],
            normal_map=panel.normal_map,
            texture_size=int(panel.texture_size),
            best_of=int(panel.best_of),
            source=_panel_value(self, "restyle_source", panel.restyle_source),
        )
        return settings, _panel_value(self, "vertex_group", panel.vertex_group)

    def tasks(self, context: bpy.types.Context) -> list:
        context.view_layer.update()  # transforms a script just set reach matrix_world (the worker's frame)
        settings, group = self.settings(context)
        tasks = []
        for obj in selected_meshes(context):
            own = dataclasses.replace(settings, prompt=object_prompt(obj, settings.prompt))
            tasks_module.check_prompt(own.prompt)
            # A region names a vertex group of the objects that have it; the others run whole.
            tasks.append(MeshTask(obj.name, own, group if group in obj.vertex_groups or len(context.selected_objects) <= 1
                                  else "", context.scene.stylize.preview_shape))  # fmt: skip
        return tasks


class STYLIZE_OT_draw_svg(_PromptProperties, _RunOperator, bpy.types.Operator):
    """Draw the prompt as vector strokes (CLIPDraw) and import them as curves at the 3D cursor"""

    bl_idname = "stylize.draw_svg"
    bl_label = "Draw SVG"
    kind = "draw"

    preset: EnumProperty(name="Preset", items=DRAW_PRESETS, default="clipdraw")
    paths: IntProperty(name="Strokes", description="0: the preset's", default=0, min=0)

    def tasks(self, context: bpy.types.Context) -> list:
        panel = context.scene.stylize
        settings = jobs.DrawJobSettings(
            **_common_settings(self, context, panel.draw_preset), paths=_panel_value(self, "paths", panel.draw_paths)
        )
        tasks_module.check_prompt(settings.prompt)
        return [DrawTask(settings)]


class STYLIZE_OT_sketch(_RunOperator, bpy.types.Operator):
    """Draw a picture in a few strokes (CLIPasso): an image file, or the active camera's render; import them as curves or Grease Pencil"""

    bl_idname = "stylize.sketch"
    bl_label = "Stylize Sketch"  # also the undo step's name
    kind = "sketch"

    source: EnumProperty(name="Source", items=SKETCH_SOURCES, default="FILE")
    image: StringProperty(name="Image", subtype="FILE_PATH", default="")
    strokes: StringProperty(name="Strokes", description="How many strokes, or levels such as 4,8,16,32 (the largest "
                            "is imported)", default="16")  # fmt: skip
    prompt: StringProperty(name="Prompt", description="Optional text that steers the style", default="")
    preset: EnumProperty(name="Preset", items=SKETCH_PRESETS, default="fast")
    output: EnumProperty(name="Output", items=SKETCH_OUTPUTS, default="CURVES")
    iterations: IntProperty(name="Iterations", description="0: the preset's", default=0, min=0)
    seed: IntProperty(name="Seed", default=0, min=0)
    size: IntProperty(name="Canvas", description="The sketch's canvas in pixels (0: the preset's)", default=0, min=0)

    def settings(self, context: bpy.types.Context) -> SketchJobSettings:
        panel, prefs = context.scene.stylize, preferences(context)
        settings = SketchJobSettings(
            prompt=_panel_value(self, "prompt", panel.sketch_prompt), preset=_panel_value(self, "preset", panel.sketch_preset),
            iterations=_panel_value(self, "iterations", 0), seed=_panel_value(self, "seed", panel.seed),
            device=prefs.device, clip=jobs.parse_clip_specs(prefs.clip_spec),
            strokes=_panel_value(self, "strokes", panel.sketch_strokes), size=self.size,
        )  # fmt: skip
        parse_strokes(settings.strokes)  # a bad ladder fails here, before anything renders
        return settings

    def tasks(self, context: bpy.types.Context) -> list:
        panel = context.scene.stylize
        settings = self.settings(context)
        image = ""
        if _panel_value(self, "source", panel.sketch_source) == "FILE":
            image = _panel_value(self, "image", panel.sketch_image).strip()
            if not image:
                raise jobs.JobError("no image: choose an image file in the Sketch box, or the camera")
        output = _panel_value(self, "output", panel.sketch_output)
        if output == "GREASE_PENCIL" and not grease_pencil.available():
            raise jobs.JobError("Grease Pencil output needs Blender 4.3 or newer: choose Curves")
        return [SketchTask(settings, image, output, size=panel.draw_size, distance=panel.sketch_distance)]


def _batch_objects(context: bpy.types.Context, prompt: str) -> list[batch.BatchObject]:
    objects = []
    for obj in selected_meshes(context):
        positions, triangles = mesh_data.mesh_arrays(obj.data)
        if len(triangles) == 0:
            raise jobs.JobError(f"{obj.name!r} has no faces to stylize")
        objects.append(batch.BatchObject(obj.name, object_prompt(obj, prompt), positions, triangles,
                                         mesh_data.worker_orientation(obj)))  # fmt: skip
    return objects


def write_selection_batch(context: bpy.types.Context, folder: Path) -> Path:
    """Write the batch folder of the selected meshes with the panel's settings; its jobs file."""
    panel, prefs = context.scene.stylize, preferences(context)
    settings = jobs.MeshJobSettings(prompt=panel.prompt, negative_prompt=panel.negative_prompt, preset=panel.preset,
                                    iterations=panel.iterations, seed=panel.seed, device=prefs.device,
                                    clip=jobs.parse_clip_specs(prefs.clip_spec),
                                    displace=panel.mode == "COLOR_DISPLACEMENT")  # fmt: skip
    return batch.write_batch(folder, _batch_objects(context, panel.prompt), settings)


def _batch_folder(context: bpy.types.Context) -> Path | None:
    folder = context.scene.stylize.batch_folder
    return Path(bpy.path.abspath(folder)) if folder.strip() else None


class STYLIZE_OT_batch_write(bpy.types.Operator):
    """Write a `stylize batch` jobs file and the meshes of the selected objects into the batch folder"""

    bl_idname = "stylize.batch_write"
    bl_label = "Write Jobs File"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bool(selected_meshes(context)) and bool(context.scene.stylize.batch_folder.strip())

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.view_layer.update()
        try:
            path = write_selection_batch(context, _batch_folder(context))
        except (jobs.JobError, OSError) as exc:
            self.report({"ERROR"}, f"Stylize: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Stylize: wrote {path} (run it with: stylize batch {path.name} --out runs)")
        return {"FINISHED"}


class STYLIZE_OT_batch_run(_RunOperator, bpy.types.Operator):
    """Run `stylize batch` on the selected objects (in the batch folder, else a temporary one) and import the results"""

    bl_idname = "stylize.batch_run"
    bl_label = "Run Batch"
    kind = "batch"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return super().poll(context) and context.mode == "OBJECT" and bool(selected_meshes(context))

    def tasks(self, context: bpy.types.Context) -> list:
        context.view_layer.update()
        folder = _batch_folder(context)
        temporary = folder is None
        folder = jobs.new_workdir() if temporary else folder
        try:
            write_selection_batch(context, folder)
        except BaseException:
            if temporary:
                jobs.Job([], folder).cleanup()
            raise
        return [BatchTask(folder, temporary)]


class STYLIZE_OT_batch_import(bpy.types.Operator):
    """Import the results of the batch folder's `stylize batch` run onto its objects"""

    bl_idname = "stylize.batch_import"
    bl_label = "Import Results"
    bl_options = {"UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.mode == "OBJECT" and bool(context.scene.stylize.batch_folder.strip())

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.view_layer.update()
        try:
            message = import_batch(_batch_folder(context))
        except jobs.JobError as exc:
            self.report({"ERROR"}, f"Stylize: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Stylize: {message}")
        return {"FINISHED"}


class STYLIZE_OT_revert(bpy.types.Operator):
    """Remove everything Stylize added to the selected meshes: attributes, shape keys, UV map, material nodes, images"""

    bl_idname = "stylize.revert"
    bl_label = "Revert"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.window_manager.stylize_job.running and context.mode == "OBJECT" and bool(selected_meshes(context))

    def execute(self, context: bpy.types.Context) -> set[str]:
        reverted = [obj.name for obj in selected_meshes(context) if mesh_data.revert(obj)]
        if not reverted:
            self.report({"INFO"}, "Stylize: nothing to revert")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Stylize: reverted {', '.join(reverted)}")
        return {"FINISHED"}


class STYLIZE_OT_cancel(bpy.types.Operator):
    """Stop the running stylize job (the scene stays as it was)"""

    bl_idname = "stylize.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.window_manager.stylize_job.running

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.window_manager.stylize_job.cancel_requested = True
        return {"FINISHED"}


# The Check button's run (one at a time), polled by a timer on Blender's main thread.
CHECK: dict = {"run": None}
CHECK_POLL_SECONDS = 0.2


def poll_check(context: bpy.types.Context | None = None) -> float | None:
    """Put a finished check's answer into the preferences; the timer's body (returns when to call
    again, None when done)."""
    run: jobs.BackgroundCheck | None = CHECK["run"]
    if run is None:
        return None
    outcome = run.poll()
    if outcome is None:
        return CHECK_POLL_SECONDS
    CHECK["run"] = None
    ok, answer = outcome
    prefs = preferences(context or bpy.context)
    prefs.check_result = jobs.BackgroundCheck.describe(answer) if ok else f"not usable: {answer}"
    for window in getattr((context or bpy.context).window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()
    return None


class STYLIZE_OT_check_python(bpy.types.Operator):
    """Check, in the background, that the chosen Python runs stylize; report its version and whether CUDA is available"""

    bl_idname = "stylize.check_python"
    bl_label = "Check"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return CHECK["run"] is None

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences(context)
        if not prefs.python_path:
            prefs.check_result = "not usable: no Python set"
            self.report({"ERROR"}, "Stylize: no Python set: choose a Python that has stylize installed")
            return {"CANCELLED"}
        # The Python imports torch to answer (seconds): Blender goes on meanwhile.
        CHECK["run"] = jobs.BackgroundCheck(prefs.python_path, env=jobs.worker_env(online_access()))
        prefs.check_result = "checking..."
        if not bpy.app.timers.is_registered(poll_check):
            bpy.app.timers.register(poll_check, first_interval=CHECK_POLL_SECONDS)
        return {"FINISHED"}


CLASSES = (STYLIZE_OT_stylize_mesh, STYLIZE_OT_draw_svg, STYLIZE_OT_sketch, STYLIZE_OT_batch_write, STYLIZE_OT_batch_run,
           STYLIZE_OT_batch_import, STYLIZE_OT_revert, STYLIZE_OT_cancel, STYLIZE_OT_check_python)  # fmt: skip
