"""The sidebar panel (3D viewport, tab "Stylize")."""

from __future__ import annotations

import bpy


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
        column.prop(settings, "restyle_source", icon="BRUSH_DATA")
        column.prop(settings, "preset")
        row = column.row(align=True)
        row.prop(settings, "iterations")
        row.prop(settings, "seed")
        column.row().prop(settings, "mode", expand=True)
        if obj is not None and obj.type == "MESH":
            column.prop_search(settings, "vertex_group", obj, "vertex_groups", text="Region")
        row = column.row(align=True)
        row.prop(settings, "texture", text="")
        if settings.texture != "VERTEX":
            row.prop(settings, "texture_size", text="")
            row.prop(settings, "normal_map", text="", icon="NORMALS_FACE")
        column.prop(settings, "best_of")
        row = column.row(align=True)
        row.prop(settings, "preview_every")
        row.prop(settings, "preview_shape", text="", icon="SHAPEKEY_DATA")
        meshes = [o for o in context.selected_objects if o.type == "MESH"]
        label = f"Stylize {len(meshes)} Objects" if len(meshes) > 1 else "Stylize"
        row = column.row(align=True)
        row.operator("stylize.stylize_mesh", text=label, icon="SHADING_TEXTURE")
        row.operator("stylize.revert", text="", icon="LOOP_BACK")

        box = column.box()
        box.label(text="Drawing", icon="CURVE_BEZCURVE")
        row = box.row(align=True)
        row.prop(settings, "draw_preset", text="")
        row.prop(settings, "draw_paths")
        box.prop(settings, "draw_size")
        box.operator("stylize.draw_svg", text="Draw SVG as Curves", icon="GREASEPENCIL")

        if job.running:
            layout.progress(factor=job.progress, type="BAR", text=job.text or "running...")
            layout.operator("stylize.cancel", text="Cancel", icon="CANCEL")
        elif job.message:
            layout.label(text=job.message, icon="ERROR" if job.failed else "INFO")


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
        layout.label(text="Prompt: the panel's, or each object's stylize_prompt property", icon="INFO")
        row = layout.row(align=True)
        row.operator("stylize.batch_write", icon="FILE_NEW")
        row.operator("stylize.batch_run", icon="PLAY")
        layout.operator("stylize.batch_import", icon="IMPORT")


CLASSES = (STYLIZE_PT_main, STYLIZE_PT_batch)
