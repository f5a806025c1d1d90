"""Operators: stylize the selected meshes, draw an SVG as curves, batches, revert, cancel, check.

A run is a :class:`TaskRunner` over tasks (one per selected mesh, or one drawing, or one batch),
one worker job at a time. Invoked from the UI the operator runs modal with a timer that calls
:meth:`TaskRunner.step` (a plain method: tests drive it); executed from a script
(``EXEC_DEFAULT``) it loops over the same step. Jobs go to the session's warm worker
(:data:`WORKER`, one ``python -m stylize worker`` that keeps CLIP loaded) unless the preferences
turn it off (then one process per job).

While a mesh job runs, its newest preview snapshot is shown as temporary layers
(:func:`mesh_data.show_preview`); cancel and failure remove them and leave the mesh as it was;
success replaces them with the result. Each object's result is one undo step.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import batch, jobs, mesh_data, textures, worker
from .preferences import DRAW_PRESETS, MESH_PRESETS, preferences

TIMER_SECONDS = 0.25
PROMPT_PROPERTY = "stylize_prompt"  # an object's own prompt (custom property) in a selection

# The session's warm worker: the one piece of state kept between operator calls. It starts with
# the first job; unregister() closes it, and Blender quitting closes its stdin, so it exits.
WORKER = worker.WarmWorker()


def shutdown_worker() -> None:
    WORKER.close()


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


def start_worker_job(context: bpy.types.Context, command: str, args: list[str], workdir: Path, payload: dict):
    """Start one job on the warm worker (or, with Warm Worker off, in a process of its own)."""
    prefs = preferences(context)
    env = jobs.worker_env(bpy.app.online_access)
    if prefs.warm_worker:
        return WORKER.submit(prefs.python_path, env, command, args, workdir, payload)
    job = jobs.Job([prefs.python_path, "-m", "stylize", command, *args], workdir, env=env).start()
    job.payload = payload
    return job


def start_mesh_job(context: bpy.types.Context, obj: bpy.types.Object, settings: jobs.MeshJobSettings, vertex_group: str = ""):
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
        payload = {"object": obj.name, "exchange": exchange, "positions": positions, "triangles": triangles,
                   "displace": settings.displace, "keep": None if weights is None else weights <= 0.0}  # fmt: skip
        args = jobs.mesh_args(workdir / "input.obj", workdir / "run", settings, mask)
        return start_worker_job(context, "mesh", args, workdir, payload)
    except BaseException:
        jobs.Job([], workdir).cleanup()
        raise


def start_draw_job(context: bpy.types.Context, settings: jobs.DrawJobSettings):
    """Start the worker on one drawing.

    Raises:
        jobs.JobError: no prompt, or the Python cannot be run.
    """
    _check_prompt(settings.prompt)
    workdir = jobs.new_workdir()
    try:
        return start_worker_job(context, "draw", jobs.draw_args(workdir / "run", settings), workdir,
                                {"prompt": settings.prompt})  # fmt: skip
    except BaseException:
        jobs.Job([], workdir).cleanup()
        raise


def _show_attribute_colours(context: bpy.types.Context) -> list:
    """Solid-mode viewports show the active colour attribute (the preview) while it runs;
    returns what to put back."""
    changed = []
    for window in getattr(context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                shading = area.spaces.active.shading
                if shading.type == "SOLID" and shading.color_type != "VERTEX":
                    changed.append((shading, shading.color_type))
                    shading.color_type = "VERTEX"
    return changed


# --- tasks -----------------------------------------------------------------------------------


class MeshTask:
    """One object of a Stylize run: its job, its live preview, its result."""

    def __init__(self, name: str, settings: jobs.MeshJobSettings, vertex_group: str = "", preview_shape: bool = True) -> None:
        self.label, self.settings, self.vertex_group = name, settings, vertex_group
        self.preview_shape = preview_shape
        self.preview_state: dict | None = None
        self.shown_step = 0
        self.throttle = jobs.PreviewThrottle(interval=TIMER_SECONDS)
        self._viewports: list = []

    def start(self, context: bpy.types.Context):
        obj = bpy.data.objects.get(self.label)
        if obj is None or obj.type != "MESH":
            raise jobs.JobError(f"the object {self.label!r} is gone")
        return start_mesh_job(context, obj, self.settings, self.vertex_group)

    def show(self, context: bpy.types.Context, job, update: jobs.JobUpdate) -> bool:
        """Show the newest snapshot if there is a new one and Blender has time; True if shown."""
        if update.preview is None or update.preview_step <= self.shown_step or not self.throttle.due():
            return False
        obj = bpy.data.objects.get(self.label)
        if obj is None or obj.type != "MESH":
            return False
        started = time.monotonic()
        info = job.payload
        try:
            result = jobs.read_vertex_file(Path(update.preview), info["exchange"], info["positions"], keep=info["keep"])
            first = self.preview_state is None
            self.preview_state = mesh_data.show_preview(obj, result, self.preview_shape and info["displace"], self.preview_state)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, jobs.JobError):
            return False  # pruned meanwhile, or the mesh changed: the next one (or the result) comes
        if first:
            self._viewports = _show_attribute_colours(context)
        self.shown_step = update.preview_step
        self.throttle.shown(time.monotonic() - started)
        return True

    def discard(self, context: bpy.types.Context, job) -> None:
        """Remove the preview layers: the object is as it was before the run."""
        obj = bpy.data.objects.get(self.label)
        if obj is not None and obj.type == "MESH":
            mesh_data.hide_preview(obj, self.preview_state)
        self.preview_state = None
        for shading, color_type in self._viewports:
            shading.color_type = color_type
        self._viewports = []

    def apply(self, context: bpy.types.Context, job, update: jobs.JobUpdate) -> str:
        info = job.payload
        obj = bpy.data.objects.get(info["object"])
        if obj is None or obj.type != "MESH":
            raise jobs.JobError(f"the object {info['object']!r} is gone")
        run_dir = Path(update.result["out"])
        result = jobs.read_mesh_result(run_dir, info["exchange"], info["positions"], keep=info["keep"])
        surface = textures.read_surface_result(run_dir, info["exchange"], info["triangles"])
        self.discard(context, job)
        mesh_data.apply_mesh_result(obj, result, info["displace"], surface=surface)
        score = update.result.get("scores", {}).get("train_mes")
        suffix = f" (score {score:.1f})" if isinstance(score, (int, float)) else ""
        return f"{obj.name} stylized{suffix}"


class DrawTask:
    """One drawing, imported as curves at the 3D cursor."""

    label = "drawing"

    def __init__(self, settings: jobs.DrawJobSettings) -> None:
        self.settings = settings

    def start(self, context: bpy.types.Context):
        return start_draw_job(context, self.settings)

    def show(self, context, job, update) -> bool:
        return False

    def discard(self, context, job) -> None:
        pass

    def apply(self, context: bpy.types.Context, job, update: jobs.JobUpdate) -> str:
        svg = Path(update.result.get("svg") or Path(update.result["out"]) / "drawing.svg")
        if not svg.is_file():
            raise jobs.JobError(f"the worker wrote no drawing ({svg})")
        empty, curves = mesh_data.import_svg_curves(context, svg, size=context.scene.stylize.draw_size)
        return f"drew {len(curves)} curves under {empty.name!r}"


class BatchTask:
    """``stylize batch`` of a batch folder in its own process, then the results imported."""

    label = "batch"

    def __init__(self, folder: Path, temporary: bool) -> None:
        self.folder, self.temporary = Path(folder), temporary
        self.count = batch.batch_size(folder)

    def start(self, context: bpy.types.Context):
        argv = batch.batch_argv(preferences(context).python_path, self.folder)
        env = jobs.worker_env(bpy.app.online_access)
        # Exit code 1: some jobs failed; the others are imported.
        return jobs.Job(argv, self.folder, env=env, done_exit_codes=(0, 1), keep_workdir=not self.temporary).start()

    def show(self, context, job, update: jobs.JobUpdate) -> bool:
        update.total, update.step = self.count, len(batch.read_manifest(self.folder))
        return False

    def discard(self, context, job) -> None:
        pass

    def apply(self, context: bpy.types.Context, job, update: jobs.JobUpdate) -> str:
        return import_batch(self.folder)


def import_batch(folder: Path) -> str:
    """Apply a batch folder's results to its objects (each its own undo step); a one-line report.

    Raises:
        jobs.JobError: not a batch folder, or no object got a result.
    """
    results = batch.batch_results(folder)
    displace = batch.batch_displaces(folder)
    applied, problems = [], []
    for entry in results:
        obj = bpy.data.objects.get(entry.name)
        try:
            if obj is None or obj.type != "MESH":
                raise jobs.JobError("the object is gone")
            if entry.run_dir is None:
                raise jobs.JobError(entry.error)
            positions, triangles = mesh_data.mesh_arrays(obj.data)
            exchange = batch.check_object(folder, entry.name, positions, triangles, mesh_data.worker_orientation(obj))
            result = jobs.read_mesh_result(entry.run_dir, exchange, positions)
            surface = textures.read_surface_result(entry.run_dir, exchange, triangles)
            mesh_data.apply_mesh_result(obj, result, displace, surface=surface)
        except jobs.JobError as exc:
            problems.append(f"{entry.name}: {exc}")
            continue
        applied.append(entry.name)
        mesh_data.push_undo(f"Stylize {entry.name}")
    if not applied:
        raise jobs.JobError("no results imported: " + "; ".join(problems))
    text = f"imported {len(applied)} of {len(results)} results"
    return text + (f" ({'; '.join(problems)})" if problems else "")


class TaskRunner:
    """Runs tasks one after another, one worker job at a time.

    :meth:`step` is one timer tick: it starts the next task's job when none runs, reads the
    current job (showing its previews), and when the job ends applies or discards its result.
    A task that fails is reported and the next one starts; :meth:`cancel` stops it all.
    """

    def __init__(self, tasks: list) -> None:
        self.tasks = list(tasks)
        self.index = 0
        self.job = None
        self.update: jobs.JobUpdate | None = None
        self.succeeded: list[str] = []
        self.failures: list[str] = []
        self.cancelled = False
        self.last_ok = False

    @property
    def finished(self) -> bool:
        return self.cancelled or self.index >= len(self.tasks)

    @property
    def fraction(self) -> float:
        current = self.update.fraction if self.update is not None and self.job is not None else 0.0
        return min((self.index + current) / max(len(self.tasks), 1), 1.0)

    def describe(self) -> str:
        text = self.update.describe() if self.update is not None and self.job is not None else "starting..."
        if len(self.tasks) > 1 and not self.finished:
            return f"{self.tasks[self.index].label} ({self.index + 1}/{len(self.tasks)})  {text}"
        return text

    def _label(self, message: str) -> str:
        return f"{self.tasks[self.index].label}: {message}" if len(self.tasks) > 1 else message

    def step(self, context: bpy.types.Context) -> None:
        if self.finished:
            return
        task = self.tasks[self.index]
        if self.job is None:
            try:
                self.job = task.start(context)
            except (jobs.JobError, ValueError, OSError) as exc:
                self.failures.append(self._label(str(exc)))
                self._next(ok=False)
                return
            self.update = self.job.update
        update = jobs.poll_job(self.job)
        if not update.finished:
            task.show(context, self.job, update)
            return
        job, ok, message = self.job, False, update.message
        try:
            if update.state == jobs.DONE:
                try:
                    message = task.apply(context, job, update)
                    ok = True
                except jobs.JobError as exc:
                    message = str(exc)
            if not ok:
                task.discard(context, job)
        finally:
            job.cleanup()
        (self.succeeded if ok else self.failures).append(self._label(message) if not ok else message)
        self._next(ok)

    def _next(self, ok: bool) -> None:
        self.job, self.update, self.last_ok = None, None, ok
        self.index += 1
        if ok and self.index < len(self.tasks):
            # This object's result is its own undo step; the last one's is the operator's.
            mesh_data.push_undo(f"Stylize {self.tasks[self.index - 1].label}")

    def cancel(self, context: bpy.types.Context) -> None:
        if self.job is not None:
            job, self.job = self.job, None
            try:
                job.cancel()
                self.tasks[self.index].discard(context, job)
            finally:
                job.cleanup()
        self.cancelled = True

    def outcome(self) -> tuple[str, str]:
        """``(report kind, message)`` for the end of the run."""
        done = len(self.succeeded)
        if self.cancelled:
            extra = f" after {done} of {len(self.tasks)}" if len(self.tasks) > 1 else ""
            return "WARNING", f"Stylize: cancelled{extra}"
        if self.failures:
            prefix = f"{done} of {len(self.tasks)} done; " if len(self.tasks) > 1 else ""
            return "ERROR", f"Stylize: {prefix}{'; '.join(self.failures)}"
        if len(self.succeeded) == 1:
            return "INFO", f"Stylize: {self.succeeded[0]}"
        return "INFO", f"Stylize: {done} done ({'; '.join(self.succeeded)})"


# --- operators -------------------------------------------------------------------------------


class _RunOperator:
    """invoke/modal/execute around a :class:`TaskRunner`; subclasses say which tasks."""

    bl_options = {"REGISTER", "UNDO"}
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
        )
        return settings, _panel_value(self, "vertex_group", panel.vertex_group)

    def tasks(self, context: bpy.types.Context) -> list:
        import dataclasses

        settings, group = self.settings(context)
        tasks = []
        for obj in selected_meshes(context):
            own = dataclasses.replace(settings, prompt=object_prompt(obj, settings.prompt))
            _check_prompt(own.prompt)
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
        _check_prompt(settings.prompt)
        return [DrawTask(settings)]


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
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.mode == "OBJECT" and bool(context.scene.stylize.batch_folder.strip())

    def execute(self, context: bpy.types.Context) -> set[str]:
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


CLASSES = (STYLIZE_OT_stylize_mesh, STYLIZE_OT_draw_svg, STYLIZE_OT_batch_write, STYLIZE_OT_batch_run,
           STYLIZE_OT_batch_import, STYLIZE_OT_revert, STYLIZE_OT_cancel, STYLIZE_OT_check_python)  # fmt: skip
