"""Sketch from Image: a picture (an image file, or the active camera's render) drawn in a few
strokes by the worker (``stylize sketch``, CLIPasso), imported as curves or Grease Pencil.

From the camera the scene is rendered square (the render settings put back afterwards), and the
sketch is placed in front of the camera on the plane ``distance`` away, spanning exactly the
camera's frame there, so in the camera view its strokes lie over what they draw (later strokes a
little nearer the camera, as SVG paints them over). From a file it lies at the 3D cursor, ``size``
wide, like Draw SVG as Curves.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from mathutils import Matrix, Vector

from . import jobs
from .curves import import_drawing
from .grease_pencil import import_grease_pencil
from .sketch_job import SketchJobSettings, sketch_args, sketch_svg
from .tasks import start_worker_job

NAME = "Stylize Sketch"
RENDER_SIZE = 512  # the camera's render, in pixels a side (the toolkit resizes it to its canvas)


def render_camera(context: bpy.types.Context, path: Path, size: int = RENDER_SIZE, distance: float = 1.0) -> Matrix:
    """Render the scene from its active camera to a square PNG at ``path``; the render settings
    are put back as they were.

    Returns:
        The world matrix of the camera's frame ``distance`` in front of it: the unit square
        centred at the origin of the XY plane maps onto the frame (x right, y up, z toward the camera).

    Raises:
        jobs.JobError: no active camera, or the render wrote nothing.
    """
    scene = context.scene
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        raise jobs.JobError("no active camera: set one (View > Cameras > Set Active Object as Camera) or sketch an image file")
    render = scene.render
    saved = [(render, name, getattr(render, name)) for name in ("resolution_x", "resolution_y", "resolution_percentage",
             "pixel_aspect_x", "pixel_aspect_y", "use_border", "filepath")]  # fmt: skip
    saved += [(render.image_settings, name, getattr(render.image_settings, name)) for name in ("file_format", "color_mode")]
    try:
        render.resolution_x = render.resolution_y = int(size)
        render.resolution_percentage, render.pixel_aspect_x, render.pixel_aspect_y = 100, 1.0, 1.0
        render.use_border, render.filepath = False, str(path)
        render.image_settings.file_format, render.image_settings.color_mode = "PNG", "RGB"
        context.view_layer.update()
        frame = camera_frame(scene, camera, distance)
        bpy.ops.render.render(write_still=True)
    except RuntimeError as exc:
        raise jobs.JobError(f"the camera's render failed: {exc}") from exc
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)
    if not Path(path).is_file():
        raise jobs.JobError("the camera's render wrote no picture")
    return frame


def camera_frame(scene: bpy.types.Scene, camera: bpy.types.Object, distance: float) -> Matrix:
    """The world matrix that maps the unit square (centred, XY) onto the camera's frame at
    ``distance`` (for the scene's current resolution: a square render's frame when it is square)."""
    corners = camera.data.view_frame(scene=scene)
    if camera.data.type == "ORTHO":
        points = [Vector((c.x, c.y, -distance)) for c in corners]
    else:
        points = [c * (distance / -c.z) for c in corners]
    low = Vector((min(p.x for p in points), min(p.y for p in points)))
    high = Vector((max(p.x for p in points), max(p.y for p in points)))
    centre = Vector(((low.x + high.x) / 2.0, (low.y + high.y) / 2.0, -distance))
    width, height = high.x - low.x, high.y - low.y
    return camera.matrix_world @ Matrix.Translation(centre) @ Matrix.Diagonal((width, height, width, 1.0))


class SketchTask:
    """One sketch: the picture (rendered first when it is the camera's), the worker's job, the import.

    Args:
        settings: the job's settings.
        image: the image file; empty: the active camera's render.
        output: ``"CURVES"`` or ``"GREASE_PENCIL"``.
        size: the width at the 3D cursor (from a file).
        distance: how far in front of the camera (from the camera).
    """

    label = "sketch"

    def __init__(self, settings: SketchJobSettings, image: str, output: str = "CURVES", size: float = 2.0,
                 distance: float = 1.0) -> None:  # fmt: skip
        self.settings, self.image, self.output, self.size, self.distance = settings, image, output, size, distance
        self.score: float | None = None

    def start(self, context: bpy.types.Context):
        workdir = jobs.new_workdir()
        try:
            frame = None
            if self.image:
                picture = Path(bpy.path.abspath(self.image))
                if not picture.is_file():
                    raise jobs.JobError(f"no image file {str(picture)!r}")
            else:
                picture = workdir / "camera.png"
                frame = render_camera(context, picture, max(RENDER_SIZE, self.settings.size), self.distance)
            args = sketch_args(picture, workdir / "run", self.settings)
            return start_worker_job(context, "sketch", args, workdir, {"frame": frame})
        except BaseException:
            jobs.Job([], workdir).cleanup()
            raise

    def show(self, context, job, update) -> bool:
        return False

    def discard(self, context, job) -> None:
        pass

    def apply(self, context: bpy.types.Context, job, update: jobs.JobUpdate) -> str:
        svg = sketch_svg(update.result)
        if not svg.is_file():
            raise jobs.JobError(f"the worker wrote no sketch ({svg})")
        frame = job.payload.get("frame")
        size = 1.0 if frame is not None else self.size
        if self.output == "GREASE_PENCIL":
            anchor = import_grease_pencil(context, svg, size, NAME, on_canvas=True)
            count = len(anchor.data.layers[0].frames[0].drawing.strokes)
        else:
            anchor, curves = import_drawing(context, svg, size, NAME, on_canvas=True)
            count = len(curves)
        if frame is not None:
            anchor.matrix_world = frame @ Matrix.Diagonal((*anchor.scale, 1.0))
        score = update.result.get("scores", {}).get("trainer", {}).get("mean")
        self.score = float(score) if isinstance(score, (int, float)) else None
        suffix = f" ({jobs.score_text(score)})" if self.score is not None else ""
        return f"sketched {count} strokes as {anchor.name!r}{suffix}"
