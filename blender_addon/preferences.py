"""Add-on preferences (the worker's Python, device, CLIP specs) and the property groups the panel
and the running job use."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import jobs
from .jobs import DRAW_PRESETS, MESH_PRESETS  # noqa: F401  (the panel and operators use them)
from .sketch_job import SKETCH_OUTPUTS, SKETCH_PRESETS, SKETCH_SOURCES

# The add-on's module name: "stylize_blender" as a legacy add-on, "bl_ext.<repo>.stylize" as an
# extension. Preferences are registered under it.
ADDON_ID = __package__

DEVICES = [
    ("auto", "Auto", "CUDA when the worker's torch sees a GPU, else the CPU"),
    ("cpu", "CPU", "Always the CPU"),
    ("cuda", "CUDA", "An NVIDIA GPU (fails if the worker's torch has no CUDA)"),
]
MODES = [
    ("COLOR", "Colour", "Colours only: the shape is kept"),
    ("COLOR_DISPLACEMENT", "+ Displacement", "Colours and a displacement along the normals (a shape key)"),
]


def online_access() -> bool:
    """Blender's "Allow Online Access" (4.2+; older Blenders have no such setting: allowed)."""
    return bool(getattr(bpy.app, "online_access", True))


def preferences(context: bpy.types.Context) -> STYLIZE_AddonPreferences:
    """This add-on's preferences."""
    return context.preferences.addons[ADDON_ID].preferences


class STYLIZE_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    python_path: StringProperty(
        name="Python",
        description="A Python interpreter that has the stylize toolkit installed (pip install stylize); "
        "it runs the work in its own process",
        subtype="FILE_PATH",
        default="",
    )
    device: EnumProperty(name="Device", items=DEVICES, default="auto", description="Where the worker runs")
    clip_spec: StringProperty(
        name="CLIP",
        description="CLIP model spec(s), comma-separated for an ensemble: ViT-B-32:openai, "
        "ARCH:/path/weights.pt, local-dir:/path, hf-hub:org/name (append @W for a weight)",
        default="ViT-B-32:openai",
    )
    warm_worker: BoolProperty(
        name="Warm Worker",
        description="Keep one worker process running for this Blender session, with the CLIP models loaded, so "
        "the next Stylize starts at once (off: a fresh process, torch import and model load for every job)",
        default=True,
    )
    check_result: StringProperty(name="Check", default="", options={"SKIP_SAVE"})

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "python_path")
        row = layout.row()
        row.operator("stylize.check_python", icon="CHECKMARK")
        if self.check_result:
            row.label(text=self.check_result)
        layout.prop(self, "device")
        layout.prop(self, "clip_spec")
        layout.prop(self, "warm_worker")
        if not online_access():
            layout.label(text="Online access is off: the worker will not download CLIP weights", icon="INFO")


class STYLIZE_PG_settings(bpy.types.PropertyGroup):
    """The panel's values (saved with the .blend file); operators fall back to them."""

    prompt: StringProperty(name="Prompt", description="What the mesh should look like", default="")
    negative_prompt: StringProperty(name="Negative", description="What it should not look like", default="")
    preset: EnumProperty(name="Preset", items=MESH_PRESETS, default="fast")
    iterations: IntProperty(name="Iterations", description="0: the preset's", default=0, min=0, soft_max=3000)
    seed: IntProperty(name="Seed", default=0, min=0)
    mode: EnumProperty(name="Mode", items=MODES, default="COLOR_DISPLACEMENT")
    vertex_group: StringProperty(
        name="Region", description="Only stylize this vertex group (weights blend); empty: the whole mesh", default=""
    )
    restyle_source: StringProperty(
        name="Restyle From", default="",
        description="Describe the object as it looks now (e.g. 'a red wooden crate') to restyle its own texture or "
        "colours toward the prompt, keeping what the prompt does not change; empty: stylize from grey",
    )  # fmt: skip
    best_of: IntProperty(
        name="Best of", default=1, min=1, soft_max=8,
        description="Train N candidates side by side for a short warm-up, finish the one the training CLIP likes best",
    )  # fmt: skip
    preview_every: IntProperty(
        name="Preview Every", default=jobs.PREVIEW_EVERY, min=0, soft_max=100,
        description="Show the result in the viewport every N steps while it runs (0: no live preview)",
    )  # fmt: skip
    texture: EnumProperty(
        name="Texture", default="VERTEX",
        items=[("VERTEX", "Vertex Colours", "Colours per vertex only (Text2Mesh)"),
               ("BAKE", "Baked Texture", "Also bake the colours into a UV texture (an image in the material)"),
               ("SURFACE", "Surface", "The field per pixel and texel: detail finer than the mesh, an exact texture")],
    )  # fmt: skip
    normal_map: BoolProperty(
        name="Normal Map", default=False,
        description="With a texture: the relief as a tangent-space normal map in the material, the mesh's shape kept",
    )  # fmt: skip
    texture_size: EnumProperty(
        name="Size", default="1024",
        items=[(str(n), f"{n} px", f"{n} x {n} texture") for n in (256, 512, 1024, 2048, 4096)],
    )  # fmt: skip
    preview_shape: BoolProperty(
        name="Preview Displacement", default=True,
        description="The live preview also shows the displacement (a temporary shape key), not only the colours",
    )  # fmt: skip
    batch_folder: StringProperty(
        name="Folder", subtype="DIR_PATH", default="",
        description="Where Write Jobs File puts stylize_jobs.toml and the meshes (and Run Batch its results); "
        "empty: Run Batch uses a temporary folder",
    )  # fmt: skip
    draw_preset: EnumProperty(name="Preset", items=DRAW_PRESETS, default="clipdraw")
    draw_paths: IntProperty(name="Strokes", description="0: the preset's", default=0, min=0, soft_max=1024)
    draw_size: FloatProperty(name="Size", description="Width of the imported drawing", default=2.0, min=0.001,
                             subtype="DISTANCE")  # fmt: skip
    sketch_source: EnumProperty(name="Source", items=SKETCH_SOURCES, default="FILE")
    sketch_image: StringProperty(name="Image", subtype="FILE_PATH", default="", description="The picture to sketch")
    sketch_strokes: StringProperty(
        name="Strokes", default="16",
        description="How many strokes (fewer: more abstract), or levels such as 4,8,16,32 (one run; the largest is imported)",
    )  # fmt: skip
    sketch_prompt: StringProperty(name="Prompt", default="", description="Optional text that steers the style, "
                                  "e.g. 'a sketch of a cat, in ink'")  # fmt: skip
    sketch_preset: EnumProperty(name="Preset", items=SKETCH_PRESETS, default="fast")
    sketch_output: EnumProperty(name="Output", items=SKETCH_OUTPUTS, default="CURVES")
    sketch_distance: FloatProperty(name="Distance", default=1.0, min=0.001, subtype="DISTANCE",
                                   description="How far in front of the camera the sketch is placed")  # fmt: skip


class STYLIZE_PG_job(bpy.types.PropertyGroup):
    """The running job as the UI sees it (on the window manager: never saved)."""

    running: BoolProperty(default=False)
    kind: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0)
    text: StringProperty(default="")
    message: StringProperty(default="")
    failed: BoolProperty(default=False)
    score: FloatProperty(default=-1.0, description=jobs.SCORE_MEANING)  # the last result's (-1: none)
    cancel_requested: BoolProperty(default=False)

    def begin(self, kind: str) -> None:
        self.running, self.kind, self.progress, self.failed, self.cancel_requested = True, kind, 0.0, False, False
        self.score = -1.0
        self.text, self.message = "starting the worker...", ""

    def show(self, progress) -> None:
        """``progress``: a :class:`jobs.JobUpdate` or a run of several (anything with
        ``fraction`` and ``describe()``)."""
        self.progress, self.text = progress.fraction, progress.describe()

    def end(self, update: jobs.JobUpdate | None, message: str, failed: bool | None = None, progress: float | None = None) -> None:
        self.running, self.cancel_requested = False, False
        self.failed = (update is None or update.state == jobs.FAILED) if failed is None else failed
        self.message = message
        if update is not None:
            self.progress = update.fraction
        if progress is not None:
            self.progress = progress


CLASSES = (STYLIZE_AddonPreferences, STYLIZE_PG_settings, STYLIZE_PG_job)
