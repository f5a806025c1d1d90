"""Operators: stylize the active mesh, draw an SVG as curves, cancel, check the worker's Python.

Both worker operators share :class:`_WorkerOperator`: invoked from the UI they run modal with a
timer that calls :func:`jobs.poll_job`; executed from a script (``EXEC_DEFAULT``) they block in
:func:`jobs.wait_job`. Nothing touches the scene until the worker has finished successfully, and
the result is applied in one go (one undo step); failure and cancel leave the scene as it was and
report why.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import jobs, mesh_data
from .preferences import DRAW_PRESETS, MESH_PRESETS, preferences

TIMER_SECONDS = 0.25


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


def _check_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise jobs.JobError("no prompt: type what it should look like in the Stylize panel")


def start_mesh_job(
    context: bpy.types.Context, obj: bpy.types.Object, settings: jobs.MeshJobSettings, vertex_group: str = ""
) -> jobs.Job:
    """Write ``obj``'s mesh (and region mask) to a job folder and start the worker on it.

    Raises:
        jobs.JobError: no prompt, no faces, unknown vertex group, or the Python cannot be run.
    """
    _check_prompt(settings.prompt)
    positions, triangles = mesh_data.mesh_arrays(obj.data)
    if len(triangles) == 0:
        raise jobs.JobError(f"{obj.name!r} has no faces to stylize")
    weights = mesh_data.group_weights(obj, vertex_group) if vertex_group else None
    workdir = jobs.new_workdir()
    try:
        exchange = jobs.write_obj(workdir / "input.obj", positions, triangles, mesh_data.worker_orientation(obj))
        mask = jobs.write_mask(workdir / "mask.npy", weights, exchange) if weights is not None else None
        argv = jobs.mesh_argv(preferences(context).python_path, workdir / "input.obj", workdir / "run", settings, mask)
        job = jobs.Job(argv, workdir, env=jobs.worker_env(bpy.app.online_access)).start()
    except BaseException:
        jobs.Job([], workdir).cleanup()
        raise
    keep = None if weights is None else weights <= 0.0
    job.payload = {"object": obj.name, "exchange": exchange, "positions": positions, "displace": settings.displace,
                   "keep": keep}  # fmt: skip
    return job


def start_draw_job(context: bpy.types.Context, settings: jobs.DrawJobSettings) -> jobs.Job:
    """Start the worker on one drawing.

    Raises:
        jobs.JobError: no prompt, or the Python cannot be run.
    """
    _check_prompt(settings.prompt)
    workdir = jobs.new_workdir()
    try:
        argv = jobs.draw_argv(preferences(context).python_path, workdir / "run", settings)
        job = jobs.Job(argv, workdir, env=jobs.worker_env(bpy.app.online_access)).start()
    except BaseException:
        jobs.Job([], workdir).cleanup()
        raise
    job.payload = {"prompt": settings.prompt}
    return job


class _WorkerOperator:
    """invoke/modal/execute around a worker job; subclasses say how to start it and what to apply.

    The properties every job takes live here; a subclass adds ``preset`` and its own ones.
    """

    bl_options = {"REGISTER", "UNDO"}
    kind = "job"

    prompt: StringProperty(name="Prompt", default="")
    negative_prompt: StringProperty(name="Negative Prompt", default="")
    iterations: IntProperty(name="Iterations", description="0: the preset's", default=0, min=0)
    seed: IntProperty(name="Seed", default=0, min=0)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.window_manager.stylize_job.running

    # -- what a subclass provides
    def start_job(self, context: bpy.types.Context) -> jobs.Job:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, context: bpy.types.Context, job: jobs.Job, update: jobs.JobUpdate) -> str:  # pragma: no cover
        raise NotImplementedError

    # -- shared flow
    def _start(self, context: bpy.types.Context) -> jobs.Job | None:
        status = context.window_manager.stylize_job
        try:
            job = self.start_job(context)
        except (jobs.JobError, ValueError, OSError) as exc:
            status.end(None, f"Stylize: {exc}")
            self.report({"ERROR"}, f"Stylize: {exc}")
            return None
        status.begin(self.kind)
        return job

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        status = context.window_manager.stylize_job
        try:
            update = jobs.wait_job(job, on_update=status.show)
        except BaseException:
            job.cleanup()
            status.end(job.update, "Stylize: interrupted")
            raise
        return self.finish(context, job, update)

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        self._job = job
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event) -> set[str]:
        status = context.window_manager.stylize_job
        job = self._job
        if status.cancel_requested or event.type == "ESC":
            job.cancel()
            update = job.update
        elif event.type == "TIMER":
            update = jobs.poll_job(job)
        else:
            return {"PASS_THROUGH"}
        status.show(update)
        _redraw(context)
        if not update.finished:
            return {"PASS_THROUGH"}
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        return self.finish(context, job, update)

    def finish(self, context: bpy.types.Context, job: jobs.Job, update: jobs.JobUpdate) -> set[str]:
        """Apply a successful result or report why there is none; always removes the job folder."""
        status = context.window_manager.stylize_job
        try:
            if update.state == jobs.DONE:
                try:
                    message = self.apply(context, job, update)
                except jobs.JobError as exc:
                    update.state, update.message = jobs.FAILED, str(exc)
                else:
                    status.end(update, message)
                    self.report({"INFO"}, message)
                    return {"FINISHED"}
            if update.state == jobs.CANCELLED:
                status.end(update, "Stylize: cancelled")
                self.report({"WARNING"}, "Stylize: cancelled")
            else:
                status.end(update, f"Stylize: {update.message}")
                self.report({"ERROR"}, f"Stylize: {update.message}")
            return {"CANCELLED"}
        finally:
            job.cleanup()
            _redraw(context)


class STYLIZE_OT_stylize_mesh(_WorkerOperator, bpy.types.Operator):
    """Stylize the active mesh from a text prompt (Text2Mesh, in the worker's Python)"""

    bl_idname = "stylize.stylize_mesh"
    bl_label = "Stylize"
    kind = "mesh"

    preset: EnumProperty(name="Preset", items=MESH_PRESETS, default="fast")
    displace: BoolProperty(name="Displace", description="Also learn a displacement (shape key)", default=True)
    vertex_group: StringProperty(name="Vertex Group", description="Only stylize this region", default="")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return super().poll(context) and obj is not None and obj.type == "MESH" and context.mode == "OBJECT"

    def settings(self, context: bpy.types.Context) -> tuple[jobs.MeshJobSettings, str]:
        panel = context.scene.stylize
        settings = jobs.MeshJobSettings(
            **_common_settings(self, context, panel.preset),
            displace=_panel_value(self, "displace", panel.mode == "COLOR_DISPLACEMENT"),
        )
        return settings, _panel_value(self, "vertex_group", panel.vertex_group)

    def start_job(self, context: bpy.types.Context) -> jobs.Job:
        settings, group = self.settings(context)
        return start_mesh_job(context, context.active_object, settings, group)

    def apply(self, context: bpy.types.Context, job: jobs.Job, update: jobs.JobUpdate) -> str:
        info = job.payload
        obj = bpy.data.objects.get(info["object"])
        if obj is None or obj.type != "MESH":
            raise jobs.JobError(f"the object {info['object']!r} is gone")
        result = jobs.read_mesh_result(Path(update.result["out"]), info["exchange"], info["positions"], keep=info["keep"])
        mesh_data.apply_mesh_result(obj, result, info["displace"])
        score = update.result.get("scores", {}).get("train_mes")
        suffix = f" (score {score:.1f})" if isinstance(score, (int, float)) else ""
        return f"Stylize: {obj.name} stylized{suffix}"


class STYLIZE_OT_draw_svg(_WorkerOperator, bpy.types.Operator):
    """Draw the prompt as vector strokes (CLIPDraw) and import them as curves at the 3D cursor"""

    bl_idname = "stylize.draw_svg"
    bl_label = "Draw SVG"
    kind = "draw"

    preset: EnumProperty(name="Preset", items=DRAW_PRESETS, default="clipdraw")
    paths: IntProperty(name="Strokes", description="0: the preset's", default=0, min=0)

    def start_job(self, context: bpy.types.Context) -> jobs.Job:
        panel = context.scene.stylize
        settings = jobs.DrawJobSettings(
            **_common_settings(self, context, panel.draw_preset), paths=_panel_value(self, "paths", panel.draw_paths)
        )
        return start_draw_job(context, settings)

    def apply(self, context: bpy.types.Context, job: jobs.Job, update: jobs.JobUpdate) -> str:
        svg = Path(update.result.get("svg") or Path(update.result["out"]) / "drawing.svg")
        if not svg.is_file():
            raise jobs.JobError(f"the worker wrote no drawing ({svg})")
        empty, curves = mesh_data.import_svg_curves(context, svg, size=context.scene.stylize.draw_size)
        return f"Stylize: drew {len(curves)} curves under {empty.name!r}"


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


class STYLIZE_OT_check_python(bpy.types.Operator):
    """Check that the chosen Python runs stylize; report its version and whether CUDA is available"""

    bl_idname = "stylize.check_python"
    bl_label = "Check"

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences(context)
        try:
            info = jobs.check_python(prefs.python_path, env=jobs.worker_env(bpy.app.online_access))
        except jobs.JobError as exc:
            prefs.check_result = f"not usable: {exc}"
            self.report({"ERROR"}, f"Stylize: {exc}")
            return {"CANCELLED"}
        cuda = f"CUDA available ({info.get('gpu')})" if info.get("cuda") else "no CUDA (CPU only)"
        prefs.check_result = f"stylize {info.get('stylize')}, torch {info.get('torch')}, {cuda}"
        self.report({"INFO"}, f"Stylize: {prefs.check_result}")
        return {"FINISHED"}


CLASSES = (STYLIZE_OT_stylize_mesh, STYLIZE_OT_draw_svg, STYLIZE_OT_cancel, STYLIZE_OT_check_python)
