"""The sidebar panel (3D viewport, tab "Stylize").

Everything it draws fits the sidebar at its default width (about 34 characters of the interface
font in a full-width line; the add-on's tests check every label against that): labels above the
text fields whose names are long, one operator a line, long messages wrapped.
"""

from __future__ import annotations

import textwrap

import bpy

LINE_CHARACTERS = 34  # a full-width line of the sidebar at its default width
MESSAGE_LINES = 4


def draw_message(layout, text: str, icon: str) -> None:
    """``text`` as wrapped labels (the first with ``icon``), at most :data:`MESSAGE_LINES`."""
    text = text.removeprefix("Stylize: ")
    lines = textwrap.wrap(text, LINE_CHARACTERS - 4) or [""]
    if len(lines) > MESSAGE_LINES:
        lines = lines[: MESSAGE_LINES - 1] + [textwrap.shorten(" ".join(lines[MESSAGE_LINES - 1 :]), LINE_CHARACTERS - 4)]
    column = layout.column(align=True)
    for index, line in enumerate(lines):
        column.label(text=line, icon=icon if index == 0 else "BLANK1")


class STYLIZE_PT_main(bpy.types.Panel):
    bl_label = "Stylize"
    bl_idname = "STYLIZE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Stylize"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.stylize
        job = context.window_manager.stylize_job
        obj = context.active_object

        column = layout.column()
        column.enabled = not job.running
        column.prop(settings, "prompt")
        column.prop(settings, "negative_prompt")
        column.label(text="Restyle from (optional):")
        column.prop(settings, "restyle_source", text="")
        column.prop(settings, "preset")
        row = column.row(align=True)
        row.prop(settings, "iterations")
        row.prop(settings, "seed")
        column.row().prop(settings, "mode", expand=True)
        if obj is not None and obj.type == "MESH":
            column.prop_search(settings, "vertex_group", obj, "vertex_groups", text="Region")
        column.prop(settings, "texture")
        if settings.texture != "VERTEX":
            row = column.row(align=True)
            row.prop(settings, "texture_size", text="")
            row.prop(settings, "normal_map", toggle=True, icon="NORMALS_FACE")
        column.prop(settings, "best_of")
        row = column.row(align=True)
        row.prop(settings, "preview_every", text="Preview")
        row.prop(settings, "preview_shape", text="Shape", toggle=True, icon="SHAPEKEY_DATA")
        meshes = [o for o in context.selected_objects if o.type == "MESH"]
        label = f"Stylize {len(meshes)} Objects" if len(meshes) > 1 else "Stylize"
        row = column.row(align=True)
        row.operator("stylize.stylize_mesh", text=label, icon="SHADING_TEXTURE")
        row.operator("stylize.revert", text="", icon="LOOP_BACK")

        box = column.box()
        box.label(text="Drawing", icon="CURVE_BEZCURVE")
        box.prop(settings, "draw_preset")
        row = box.row(align=True)
        row.prop(settings, "draw_paths")
        row.prop(settings, "draw_size")
        box.operator("stylize.draw_svg", text="Draw SVG as Curves", icon="GREASEPENCIL")

        box = column.box()
        box.label(text="Sketch", icon="OUTLINER_OB_GREASEPENCIL")
        box.row().prop(settings, "sketch_source", expand=True)
        if settings.sketch_source == "FILE":
            box.prop(settings, "sketch_image", text="")
        else:
            box.prop(settings, "sketch_distance")
        box.prop(settings, "sketch_strokes")
        box.prop(settings, "sketch_preset")
        box.label(text="Prompt (optional):")
        box.prop(settings, "sketch_prompt", text="")
        box.row().prop(settings, "sketch_output", expand=True)
        box.operator("stylize.sketch", text="Sketch from Image", icon="IMAGE_DATA")

        if job.running:
            layout.progress(factor=job.progress, type="BAR", text=job.text or "running...")
            layout.operator("stylize.cancel", text="Cancel", icon="CANCEL")
            return
        if job.message:
            draw_message(layout, job.message, "ERROR" if job.failed else "INFO")
        if job.score >= 0:
            # The CLI's score: 100 x CLIP's cosine similarity between the renders and the prompt.
            layout.progress(factor=min(job.score / 100.0, 1.0), type="BAR", text=f"prompt match {job.score:.0f}/100")


class STYLIZE_PT_batch(bpy.types.Panel):
    """Write the selection as a `stylize batch` jobs file, run it, import its results."""

    bl_label = "Batch"
    bl_idname = "STYLIZE_PT_batch"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Stylize"
    bl_parent_id = "STYLIZE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.stylize
        layout.enabled = not context.window_manager.stylize_job.running
        layout.prop(settings, "batch_folder")
        layout.label(text="Object prompt: stylize_prompt")
        layout.operator("stylize.batch_write", icon="FILE_NEW")
        layout.operator("stylize.batch_run", icon="PLAY")
        layout.operator("stylize.batch_import", icon="IMPORT")


CLASSES = (STYLIZE_PT_main, STYLIZE_PT_batch)
