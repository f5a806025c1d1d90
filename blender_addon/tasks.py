"""The work behind the operators: start jobs, follow them, show previews, apply results.

A run is a :class:`TaskRunner` over tasks (one per selected mesh, or one drawing, or one batch),
one worker job at a time; :meth:`TaskRunner.step` is one timer tick, a plain method that the
modal operator, a blocking loop and the tests call. Jobs go to the session's warm worker
(:data:`WORKER`, one ``python -m stylize worker`` that keeps CLIP loaded) unless the preferences
turn it off (then one process per job).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import bpy

from . import batch, jobs, mesh_data, source_look, textures, worker
from . import exchange as mesh_exchange
from .curves import import_drawing
from .preferences import online_access, preferences

TIMER_SECONDS = 0.25

# The session's warm worker: the one piece of state kept between operator calls. It starts with
# the first job; unregister() closes it, and Blender quitting closes its stdin, so it exits.
WORKER = worker.WarmWorker()


def shutdown_worker() -> None:
    WORKER.close()


def check_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise jobs.JobError("no prompt: type what it should look like in the Stylize panel")


def start_worker_job(context: bpy.types.Context, command: str, args: list[str], workdir: Path, payload: dict):
    """Start one job on the warm worker (or, with Warm Worker off, in a process of its own)."""
    prefs = preferences(context)
    env = jobs.worker_env(online_access())
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
    check_prompt(settings.prompt)
    positions, triangles = mesh_data.mesh_arrays(obj.data)
    if len(triangles) == 0:
        raise jobs.JobError(f"{obj.name!r} has no faces to stylize")
    weights = mesh_data.group_weights(obj, vertex_group) if vertex_group else None
    # A restyle sends what the object looks like now (its texture or colours) with the mesh.
    look = source_look.object_look(obj) if settings.source.strip() else None
    workdir = jobs.new_workdir()
    try:
        exchange = mesh_exchange.write_obj(workdir / "input.obj", positions, triangles, mesh_data.worker_orientation(obj), look)
        mask = mesh_exchange.write_mask(workdir / "mask.npy", weights, exchange) if weights is not None else None
        payload = {"object": obj.name, "exchange": exchange, "positions": positions, "triangles": triangles,
                   "displace": settings.shape_key, "keep": None if weights is None else weights <= 0.0,
                   "look": None if look is None else look.origin}  # fmt: skip
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
    check_prompt(settings.prompt)
    workdir = jobs.new_workdir()
    try:
        return start_worker_job(context, "draw", jobs.draw_args(workdir / "run", settings), workdir,
                                {"prompt": settings.prompt})  # fmt: skip
    except BaseException:
        jobs.Job([], workdir).cleanup()
        raise


def window_screens(context: bpy.types.Context) -> list:
    """The screens the artist sees (one per open window)."""
    return [window.screen for window in getattr(context.window_manager, "windows", [])]


def show_attribute_colours(screens) -> list:
    """Solid viewports of ``screens`` show the active colour attribute: the live preview while it
    runs, then the result (Solid's Material colour is each material's viewport colour, not its
    nodes, so the result would look grey there). Material Preview and Rendered viewports show it
    through the materials. Returns what to put back after a cancel or a failure."""
    changed = []
    for screen in screens:
        for area in screen.areas:
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
        self.score: float | None = None

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
            result = mesh_exchange.read_vertex_file(Path(update.preview), info["exchange"], info["positions"], keep=info["keep"])
            first = self.preview_state is None
            self.preview_state = mesh_data.show_preview(obj, result, self.preview_shape and info["displace"], self.preview_state)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, jobs.JobError):
            return False  # pruned meanwhile, or the mesh changed: the next one (or the result) comes
        if first:
            self._viewports = show_attribute_colours(window_screens(context))
        self.shown_step = update.preview_step
        self.throttle.shown(time.monotonic() - started)
        return True

    def _hide_preview(self) -> None:
        obj = bpy.data.objects.get(self.label)
        if obj is not None and obj.type == "MESH":
            mesh_data.hide_preview(obj, self.preview_state)
        self.preview_state = None

    def discard(self, context: bpy.types.Context, job) -> None:
        """Remove the preview layers and put the viewports back: the object is as it was before the run."""
        self._hide_preview()
        for shading, color_type in self._viewports:
            shading.color_type = color_type
        self._viewports = []

    def apply(self, context: bpy.types.Context, job, update: jobs.JobUpdate) -> str:
        info = job.payload
        obj = bpy.data.objects.get(info["object"])
        if obj is None or obj.type != "MESH":
            raise jobs.JobError(f"the object {info['object']!r} is gone")
        run_dir = Path(update.result["out"])
        result = mesh_exchange.read_mesh_result(run_dir, info["exchange"], info["positions"], keep=info["keep"])
        surface = textures.read_surface_result(run_dir, info["exchange"], info["triangles"])
        self._hide_preview()
        mesh_data.apply_mesh_result(obj, result, info["displace"], surface=surface)
        # The result stays in sight in the viewport mode the artist is in (Solid: its colours).
        show_attribute_colours(window_screens(context))
        self._viewports = []
        score = update.result.get("scores", {}).get("trainer", {}).get("mean")
        self.score = float(score) if isinstance(score, (int, float)) else None
        suffix = f" ({jobs.score_text(score)})" if self.score is not None else ""
        if info.get("look"):
            return f"{obj.name} restyled from {info['look']}{suffix}"
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
        empty, curves = import_drawing(context, svg, size=context.scene.stylize.draw_size)
        return f"drew {len(curves)} curves under {empty.name!r}"


class BatchTask:
    """``stylize batch`` of a batch folder in its own process, then the results imported."""

    label = "batch"

    def __init__(self, folder: Path, temporary: bool) -> None:
        self.folder, self.temporary = Path(folder), temporary
        self.count = batch.batch_size(folder)

    def start(self, context: bpy.types.Context):
        argv = batch.batch_argv(preferences(context).python_path, self.folder)
        env = jobs.worker_env(online_access())
        # Exit code 1: some jobs failed; the others are imported.
        return jobs.Job(argv, self.folder, env=env, done_exit_codes=(0, 1), keep_workdir=not self.temporary).start()

    def show(self, context, job, update: jobs.JobUpdate) -> bool:
        update.total, update.step, update.counting = self.count, len(batch.read_manifest(self.folder)), "jobs"
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
            result = mesh_exchange.read_mesh_result(entry.run_dir, exchange, positions)
            surface = textures.read_surface_result(entry.run_dir, exchange, triangles)
            if applied:  # the previous object's result is its own undo step; the last one's is the operator's
                mesh_data.push_undo(f"Stylize {applied[-1]}")
            mesh_data.apply_mesh_result(obj, result, displace, surface=surface)
        except jobs.JobError as exc:
            problems.append(f"{entry.name}: {exc}")
            continue
        applied.append(entry.name)
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
        self.score: float | None = None  # the last result's score (100 x cosine), if it has one

    @property
    def finished(self) -> bool:
        return self.cancelled or self.index >= len(self.tasks)

    @property
    def fraction(self) -> float:
        current = self.update.fraction if self.update is not None and self.job is not None else 0.0
        return min((self.index + current) / max(len(self.tasks), 1), 1.0)

    def describe(self) -> str:
        """The progress bar's line; for a selection ``2/3 Crate: step 12/300`` (the object's name
        cut short and no score, so it fits the sidebar)."""
        several = len(self.tasks) > 1 and not self.finished
        running = self.update is not None and self.job is not None
        text = self.update.describe(score=not several) if running else "starting..."
        if several:
            label = self.tasks[self.index].label
            label = label if len(label) <= 12 else label[:11] + "~"
            return f"{self.index + 1}/{len(self.tasks)} {label}: {text}"
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
                    self.score = getattr(task, "score", None)
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
