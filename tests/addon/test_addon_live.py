"""The add-on's live preview, warm worker, selections, batches and material hookup, inside PyPI
``bpy`` (skipped where bpy is not installed). Headless bpy runs no modal operators or timers, so
the tests call the modal handler's body (``operators.modal_step``) on fake timer events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .helpers import TRAINER_CLIP, addon_jobs
from .test_addon import PROMPT, SEED, TIMER, _colors, _drive, _installed, _key_positions, _mesh_task, _Operator, _positions

jobs = addon_jobs()


# --- what "exactly as it was" means -------------------------------------------------------------


_ATTRIBUTE_VALUE = {"FLOAT": "value", "INT": "value", "BOOLEAN": "value", "INT8": "value", "FLOAT_VECTOR": "vector",
                    "FLOAT2": "vector", "FLOAT_COLOR": "color", "BYTE_COLOR": "color", "QUATERNION": "value",
                    "INT32_2D": "value", "STRING": None, "FLOAT4X4": None}  # fmt: skip


def _attribute_bytes(attribute) -> bytes:
    prop = _ATTRIBUTE_VALUE.get(attribute.data_type)
    if prop is None or len(attribute.data) == 0:
        return b""
    first = getattr(attribute.data[0], prop)
    width = len(first) if hasattr(first, "__len__") else 1
    values = np.empty(len(attribute.data) * width, dtype=np.float64)
    attribute.data.foreach_get(prop, values)
    return values.tobytes()


def mesh_fingerprint(obj) -> dict:
    """Everything of ``obj``'s mesh data an add-on could touch, as comparable values."""
    bpy = __import__("bpy")
    mesh = obj.data
    colors = mesh.color_attributes
    keys = None
    if mesh.shape_keys is not None:
        keys = [(k.name, k.value, k.relative_key.name, k.mute, _key_positions(k).tobytes()) for k in mesh.shape_keys.key_blocks]
    return {
        "attributes": [(a.name, a.domain, a.data_type, _attribute_bytes(a)) for a in mesh.attributes],
        "active_attribute": mesh.attributes.active_index,
        "colors": (colors.active_color_name, colors.render_color_index, colors.active_color_index),
        "uv_layers": [(uv.name, uv.active, uv.active_render) for uv in mesh.uv_layers],
        "shape_keys": keys,
        "active_shape_key": obj.active_shape_key_index,
        "materials": [m.name if m else None for m in mesh.materials],
        "custom": sorted(mesh.keys()),
        "data": (len(bpy.data.shape_keys), len(bpy.data.materials), len(bpy.data.images), len(bpy.data.meshes)),
    }


def material_fingerprint(material) -> dict:
    tree = material.node_tree

    def value(socket):
        v = getattr(socket, "default_value", None)
        return tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v

    return {
        "nodes": sorted(
            (n.name, n.bl_idname, n.label, tuple(n.location), n.mute, tuple((s.identifier, value(s)) for s in n.inputs))
            for n in tree.nodes
        ),  # fmt: skip
        "links": sorted(
            (link.from_node.name, link.from_socket.identifier, link.to_node.name, link.to_socket.identifier)
            for link in tree.links
        ),
        "custom": sorted(material.keys()),
        "active": tree.nodes.active.name if tree.nodes.active else None,
    }


def _user_layers(obj) -> None:
    """Give the mesh what a user's mesh has: a corner colour attribute (active), a UV map, shape
    keys of its own (one muted) and a custom property."""
    mesh = obj.data
    painted = mesh.color_attributes.new("Paint", "BYTE_COLOR", "CORNER")
    painted.data.foreach_set("color", np.linspace(0, 1, len(painted.data) * 4, dtype=np.float32))
    mesh.color_attributes.active_color = painted
    mesh.uv_layers.new(name="UVMap")
    obj.shape_key_add(name="Basis", from_mix=False)
    smile = obj.shape_key_add(name="Smile", from_mix=False)
    co = _key_positions(smile) * 1.1
    smile.data.foreach_set("co", co.ravel())
    smile.value, smile.mute = 0.3, True
    obj.active_shape_key_index = 0
    mesh["rig_version"] = 3


# --- live preview --------------------------------------------------------------------------------


@pytest.mark.slow
def test_preview_snapshots_arrive_and_are_shown_during_a_modal_run(blender, scene, monkeypatch):
    bpy = blender.bpy
    operators, mesh_data = _installed(blender, "operators"), _installed(blender, "mesh_data")
    mesh = scene.data
    before = _positions(mesh)
    shown = []
    original_show = mesh_data.show_preview

    def show_preview(obj, result, shape, state=None):
        shown.append(result)
        return original_show(obj, result, shape, state)

    monkeypatch.setattr(mesh_data, "show_preview", show_preview)
    task = _mesh_task(blender, scene, iterations=8, preview_every=1)
    task.throttle = _installed(blender, "jobs").PreviewThrottle(interval=0.0)  # every new one, for the test
    runner = operators.TaskRunner([task])
    bpy.context.window_manager.stylize_job.begin("mesh")
    operator = _Operator(runner)
    _drive(blender, operator, lambda: len(shown) >= 2)
    # Mid-run: the snapshot is on the mesh as temporary layers, the mesh itself untouched.
    assert runner.update.state == jobs.RUNNING and 0 < task.shown_step < 8
    preview = mesh.color_attributes["Stylize Preview"]
    assert mesh.color_attributes.active_color_name == "Stylize Preview"
    np.testing.assert_allclose(_colors(preview)[:, :3], mesh_data.srgb_to_linear(shown[-1].colors), atol=1e-6)
    key = mesh.shape_keys.key_blocks["Stylize Preview"]
    np.testing.assert_array_equal(_key_positions(key), shown[-1].positions.astype(np.float32))
    assert key.value == 1.0 and "Stylize Color" not in mesh.color_attributes
    assert np.array_equal(_positions(mesh), before)
    # Snapshots differ as the field learns.
    assert not np.array_equal(shown[0].colors, shown[-1].colors)

    result = _drive(blender, operator, lambda: False)
    assert result == {"FINISHED"}, operator.reports
    assert "Stylize Preview" not in mesh.color_attributes and list(mesh.shape_keys.key_blocks.keys()) == [
        "Basis", "Stylize Displacement"]  # fmt: skip
    assert mesh.color_attributes.active_color_name == "Stylize Color"
    assert operator.reports[0][0] == {"INFO"} and "stylized" in operator.reports[0][1]


@pytest.mark.slow
@pytest.mark.parametrize("user_layers", [False, True], ids=["plain", "user-layers"])
def test_cancel_mid_preview_leaves_the_mesh_data_identical(blender, scene, user_layers):
    bpy = blender.bpy
    operators = _installed(blender, "operators")
    if user_layers:
        _user_layers(scene)
    before = mesh_fingerprint(scene)
    task = _mesh_task(blender, scene, iterations=10_000, preview_every=1)
    runner = operators.TaskRunner([task])
    status = bpy.context.window_manager.stylize_job
    status.begin("mesh")
    operator = _Operator(runner)
    _drive(blender, operator, lambda: task.shown_step >= 2)
    assert "Stylize Preview" in scene.data.color_attributes and mesh_fingerprint(scene) != before
    bpy.ops.stylize.cancel()
    assert operators.modal_step(operator, bpy.context, TIMER) == {"CANCELLED"}
    assert mesh_fingerprint(scene) == before
    assert operator.reports == [({"WARNING"}, "Stylize: cancelled")]


@pytest.mark.slow
def test_failure_after_previews_leaves_the_mesh_data_identical(blender, scene, monkeypatch):
    operators = _installed(blender, "operators")
    _user_layers(scene)
    before = mesh_fingerprint(scene)
    task = _mesh_task(blender, scene, iterations=4, preview_every=1)

    def broken(*args, **kwargs):
        raise jobs_module.JobError("the result does not fit")

    jobs_module, exchange_module = _installed(blender, "jobs"), _installed(blender, "exchange")
    runner = operators.TaskRunner([task])
    blender.bpy.context.window_manager.stylize_job.begin("mesh")
    operator = _Operator(runner)
    _drive(blender, operator, lambda: task.shown_step >= 1)
    monkeypatch.setattr(exchange_module, "read_mesh_result", broken)
    assert _drive(blender, operator, lambda: False) == {"CANCELLED"}
    assert operator.reports == [({"ERROR"}, "Stylize: the result does not fit")]
    assert mesh_fingerprint(scene) == before


# --- the warm worker -------------------------------------------------------------------------------


def _record_results(blender, monkeypatch) -> list[dict]:
    operators = _installed(blender, "operators")
    results = []
    original = operators.MeshTask.apply

    def apply(self, context, job, update):
        results.append(dict(update.result))
        return original(self, context, job, update)

    monkeypatch.setattr(operators.MeshTask, "apply", apply)
    return results


@pytest.mark.slow
def test_warm_worker_serves_two_stylizes_with_one_model_load_and_survives_its_death(blender, scene, monkeypatch):
    bpy = blender.bpy
    operators = _installed(blender, "operators")
    worker = operators.WORKER
    worker.close()
    results = _record_results(blender, monkeypatch)
    starts = worker.starts
    for _ in range(2):
        assert bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=PROMPT, iterations=1, seed=SEED) == {"FINISHED"}
    assert worker.starts == starts + 1 and worker.alive
    assert [r["models_loaded"] for r in results] == [1, 1]  # the second job found CLIP loaded
    pid = worker.process.pid
    worker.process.kill()  # it dies between jobs: the next Stylize starts another, unnoticed
    worker.process.wait()
    assert bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=PROMPT, iterations=1, seed=SEED) == {"FINISHED"}
    assert worker.starts == starts + 2 and worker.process.pid != pid and results[-1]["models_loaded"] == 1


@pytest.mark.slow
def test_one_process_per_job_when_the_warm_worker_is_off(blender, scene):
    bpy = blender.bpy
    operators = _installed(blender, "operators")
    starts = operators.WORKER.starts
    blender.prefs.warm_worker = False
    try:
        assert bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=PROMPT, iterations=1, seed=SEED) == {"FINISHED"}
    finally:
        blender.prefs.warm_worker = True
    assert operators.WORKER.starts == starts and "Stylize Color" in scene.data.color_attributes


# --- selections ---------------------------------------------------------------------------------


def _three_objects(bpy, scene):
    bpy.ops.mesh.primitive_cube_add(size=1.5, location=(3, 0, 0))
    cube = bpy.context.active_object
    bpy.ops.mesh.primitive_uv_sphere_add(segments=12, ring_count=6, location=(-3, 0, 0))
    sphere = bpy.context.active_object
    sphere["stylize_prompt"] = "a blue square"
    for obj in (scene, cube, sphere):
        obj.select_set(True)
    bpy.context.view_layer.objects.active = scene
    return [scene, cube, sphere]


@pytest.mark.slow
def test_a_three_object_selection_yields_three_results_each_its_own_undo_step(blender, scene, monkeypatch):
    bpy = blender.bpy
    mesh_data = _installed(blender, "mesh_data")
    objects = _three_objects(bpy, scene)
    pushed, prompts = [], {}
    monkeypatch.setattr(mesh_data, "push_undo", pushed.append)
    tasks = _installed(blender, "tasks")
    original = tasks.start_mesh_job

    def start(context, obj, settings, vertex_group=""):
        prompts[obj.name] = settings.prompt
        return original(context, obj, settings, vertex_group)

    monkeypatch.setattr(tasks, "start_mesh_job", start)
    result = bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=PROMPT, iterations=1, seed=SEED)
    assert result == {"FINISHED"}
    for obj in objects:
        assert "Stylize Color" in obj.data.color_attributes and obj.material_slots[0].material is not None, obj.name
    assert prompts == {objects[0].name: PROMPT, objects[1].name: PROMPT, objects[2].name: "a blue square"}
    # One undo step per object: the first two pushed, the last one is the operator's own.
    assert pushed == [f"Stylize {objects[0].name}", f"Stylize {objects[1].name}"]
    status = bpy.context.window_manager.stylize_job
    assert "3 done" in status.message and status.progress == pytest.approx(1.0)


@pytest.mark.slow
def test_selection_progress_counts_objects_and_cancel_keeps_finished_ones(blender, scene):
    bpy = blender.bpy
    operators = _installed(blender, "operators")
    objects = _three_objects(bpy, scene)
    fast, slow = _mesh_task(blender, objects[0], iterations=1), _mesh_task(blender, objects[1], iterations=10_000)
    runner = operators.TaskRunner([fast, slow, _mesh_task(blender, objects[2], iterations=1)])
    bpy.context.window_manager.stylize_job.begin("mesh")
    operator = _Operator(runner)
    _drive(blender, operator, lambda: runner.index == 1 and runner.update is not None and runner.update.step > 0)
    assert 1 / 3 < runner.fraction < 2 / 3 and runner.describe().startswith(f"2/3 {objects[1].name[:11]}")
    bpy.ops.stylize.cancel()
    assert operators.modal_step(operator, bpy.context, TIMER) == {"CANCELLED"}
    assert operator.reports == [({"WARNING"}, "Stylize: cancelled after 1 of 3")]
    assert "Stylize Color" in objects[0].data.color_attributes
    assert not objects[1].data.color_attributes and not objects[2].data.color_attributes


# --- batch ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_batch_panel_writes_runs_and_imports_the_selection(blender, scene, tmp_path):
    from stylize.pipeline.jobs import load_jobs

    bpy = blender.bpy
    *objects, left_out = _three_objects(bpy, scene)
    left_out.select_set(False)
    settings = bpy.context.scene.stylize
    settings.prompt, settings.preset, settings.iterations = PROMPT, "smoke", 1
    settings.batch_folder = str(tmp_path / "batch")
    assert bpy.ops.stylize.batch_write() == {"FINISHED"}
    parsed = load_jobs(tmp_path / "batch" / "stylize_jobs.toml")  # the toolkit reads what the add-on wrote
    assert sorted(job.name for job in parsed) == sorted(obj.name for obj in objects)
    assert all(job.config["target_vertices"] == 0 and job.config["clip"] == [TRAINER_CLIP] for job in parsed)
    assert bpy.ops.stylize.batch_run("EXEC_DEFAULT") == {"FINISHED"}
    for obj in objects:
        assert "Stylize Color" in obj.data.color_attributes, obj.name
    manifest = [json.loads(line) for line in (tmp_path / "batch" / "runs" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(entry["status"] for entry in manifest) == ["done", "done"]
    assert "Stylize Color" not in left_out.data.color_attributes
    # The folder stays (the user chose it): importing again works, and an object changed since is refused.
    mesh_data, operators = _installed(blender, "mesh_data"), _installed(blender, "operators")
    mesh_data.revert(objects[1])
    objects[1].scale = (2.0, 2.0, 2.0)
    bpy.context.view_layer.update()
    message = operators.import_batch(tmp_path / "batch")
    assert message.startswith("imported 1 of 2") and "changed since the batch was written" in message
    assert "Stylize Color" not in objects[1].data.color_attributes
    assert bpy.ops.stylize.batch_import() == {"FINISHED"}


# --- materials, textures, revert --------------------------------------------------------------------


def _user_material(bpy):
    """A user's material: an image texture into Base Color, a bump into Normal, roughness set."""
    material = bpy.data.materials.new("Painted Wood")
    tree = material.node_tree
    shader = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
    image = bpy.data.images.new("Wood", 4, 4)
    texture = tree.nodes.new("ShaderNodeTexImage")
    texture.image, texture.location = image, (-400, 200)
    tree.links.new(texture.outputs["Color"], shader.inputs["Base Color"])
    bump = tree.nodes.new("ShaderNodeBump")
    tree.links.new(texture.outputs["Alpha"], bump.inputs["Height"])
    tree.links.new(bump.outputs["Normal"], shader.inputs["Normal"])
    shader.inputs["Roughness"].default_value = 0.8
    tree.nodes.active = texture
    return material


def _synthetic_run(tmp_path, exchange, triangles, normal=True) -> Path:
    """A run folder as the toolkit's texture contract describes it, for the triangles sent."""
    from PIL import Image

    run = tmp_path / "run"
    (run / "textures").mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), (200, 40, 40), np.uint8)).save(run / "textures" / "base_color.png")
    if normal:
        Image.fromarray(np.full((8, 8, 3), (128, 128, 255), np.uint8)).save(run / "textures" / "normal.png")
    file_index = np.full(exchange.vertex_count, -1)
    file_index[exchange.used] = np.arange(len(exchange.used))
    faces = file_index[triangles]
    faces = np.roll(faces, 1, axis=1)  # the toolkit may start a face at another corner
    rng = np.random.default_rng(0)
    face_uv = rng.random((len(faces), 3, 2)).astype(np.float32)
    count = len(exchange.used)
    np.savez(run / "vertex_data.npz", vertices=np.zeros((count, 3)), colors=np.full((count, 3), 0.5, np.float32),
             source_index=np.arange(count), faces=faces, source_face_index=np.arange(len(faces)),
             face_uv=face_uv)  # fmt: skip
    return run


def test_material_hookup_keeps_the_users_nodes_and_revert_restores_it_exactly(blender, scene, tmp_path):
    bpy = blender.bpy
    mesh_data, textures = _installed(blender, "mesh_data"), _installed(blender, "textures")
    installed_exchange = _installed(blender, "exchange")
    material = _user_material(bpy)
    scene.data.materials.append(material)
    _user_layers(scene)
    before_mesh, before_material = mesh_fingerprint(scene), material_fingerprint(material)

    positions, triangles = mesh_data.mesh_arrays(scene.data)
    _, exchange = installed_exchange.obj_text(positions, triangles, mesh_data.worker_orientation(scene))
    run = _synthetic_run(tmp_path, exchange, triangles)
    surface = textures.read_surface_result(run, exchange, triangles)
    result = installed_exchange.read_mesh_result(run, exchange, positions)
    mesh_data.apply_mesh_result(scene, result, displace=False, surface=surface)

    tree = material.node_tree
    shader = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
    # The user's nodes are all still there, with their own links into the mix.
    assert all(node[0] in tree.nodes for node in before_material["nodes"])
    assert scene.material_slots[0].material == material and len(bpy.data.materials) == before_mesh["data"][1]
    mix = shader.inputs["Base Color"].links[0].from_node
    assert mix.name == "Stylize Mix Color"
    assert next(s for s in mix.inputs if s.identifier == "A_Color").links[0].from_node.name == "Image Texture"
    base = next(s for s in mix.inputs if s.identifier == "B_Color").links[0].from_node
    assert base.type == "TEX_IMAGE" and base.image.packed_file is not None and base.image.colorspace_settings.name == "sRGB"
    assert base.inputs["Vector"].links[0].from_node.uv_map == "Stylize UV"
    normal_mix = shader.inputs["Normal"].links[0].from_node
    assert next(s for s in normal_mix.inputs if s.identifier == "A_Vector").links[0].from_node.type == "BUMP"
    normal_map = next(s for s in normal_mix.inputs if s.identifier == "B_Vector").links[0].from_node
    assert normal_map.type == "NORMAL_MAP" and normal_map.space == "TANGENT" and normal_map.uv_map == "Stylize UV"
    assert normal_map.inputs["Color"].links[0].from_node.image.colorspace_settings.name == "Non-Color"
    assert shader.inputs["Roughness"].default_value == pytest.approx(0.8)
    # The UVs are the run's, flipped to Blender's v, on each loop triangle's loops.
    uv_layer = scene.data.uv_layers["Stylize UV"]
    assert scene.data.uv_layers.active.name == "UVMap"  # the user's stays active
    uv = np.empty(len(scene.data.loops) * 2, np.float32)
    uv_layer.data.foreach_get("uv", uv)
    loops = np.empty(len(scene.data.loop_triangles) * 3, np.int32)
    scene.data.loop_triangles.foreach_get("loops", loops)
    with np.load(run / "vertex_data.npz") as data:
        face_uv = np.roll(data["face_uv"], -1, axis=1)  # back to the triangle's own corner order
    # An icosphere is all triangles: each loop belongs to one of them.
    np.testing.assert_allclose(uv.reshape(-1, 2)[loops.reshape(-1, 3)], np.stack([face_uv[..., 0], 1 - face_uv[..., 1]], -1),
                               atol=1e-6)  # fmt: skip

    assert bpy.ops.stylize.revert() == {"FINISHED"}
    assert material_fingerprint(material) == before_material
    assert mesh_fingerprint(scene) == before_mesh


def test_an_object_without_material_gets_one_and_revert_removes_it(blender, scene):
    bpy = blender.bpy
    mesh_data, installed_exchange = _installed(blender, "mesh_data"), _installed(blender, "exchange")
    before = mesh_fingerprint(scene)
    count = len(scene.data.vertices)
    colors = np.linspace(0, 1, count * 3, dtype=np.float32).reshape(count, 3)
    result = installed_exchange.MeshResult(colors=colors, positions=_positions(scene.data) * 1.05, changed=np.ones(count, bool))
    mesh_data.apply_mesh_result(scene, result, displace=True)
    material = scene.material_slots[0].material
    assert material.name == f"Stylize {scene.name}" and "Stylize Mask" in scene.data.attributes
    # A second object sharing the material but without a result keeps the material's own colour.
    tree = material.node_tree
    mask = tree.nodes["Stylize Mask"]
    assert mask.attribute_name == "Stylize Mask" and mask.outputs["Fac"].is_linked
    mesh_data.apply_mesh_result(scene, result, displace=True)  # a second run hooks once, not twice
    assert len([n for n in tree.nodes if n.name.startswith("Stylize Mix")]) == 1
    name = material.name
    assert mesh_data.revert(scene)
    assert mesh_fingerprint(scene) == before and name not in bpy.data.materials


def test_surface_result_refuses_faces_that_do_not_fit(blender, scene, tmp_path):
    mesh_data, textures = _installed(blender, "mesh_data"), _installed(blender, "textures")
    installed_jobs, installed_exchange = _installed(blender, "jobs"), _installed(blender, "exchange")
    positions, triangles = mesh_data.mesh_arrays(scene.data)
    _, exchange = installed_exchange.obj_text(positions, triangles)
    run = _synthetic_run(tmp_path, exchange, triangles, normal=False)
    assert textures.read_surface_result(run, exchange, triangles).normal is None
    with np.load(run / "vertex_data.npz") as data:
        fields = dict(data)
    fields["source_face_index"] = np.roll(fields["source_face_index"], 1)  # faces name the wrong triangles
    np.savez(run / "vertex_data.npz", **fields)
    with pytest.raises(installed_jobs.JobError, match="not the vertices of the triangle"):
        textures.read_surface_result(run, exchange, triangles)
    assert textures.read_surface_result(tmp_path, exchange, triangles) is None  # no textures: colours only


@pytest.mark.slow
def test_surface_texture_with_normal_map_end_to_end(blender, scene):
    """The toolkit's texture contract read back: surface mode, a normal map, 256 px."""
    bpy = blender.bpy
    settings = bpy.context.scene.stylize
    settings.texture, settings.normal_map, settings.texture_size = "SURFACE", True, "256"
    try:
        assert bpy.ops.stylize.stylize_mesh("EXEC_DEFAULT", prompt=PROMPT, preset="smoke", iterations=1, seed=SEED) == {
            "FINISHED"
        }
    finally:
        settings.texture, settings.normal_map = "VERTEX", False
    mesh = scene.data
    assert "Stylize UV" in mesh.uv_layers and "Stylize Color" in mesh.color_attributes
    # The relief is in the normal map: no displacement shape key.
    assert mesh.shape_keys is None
    uv = np.empty(len(mesh.loops) * 2, np.float32)
    mesh.uv_layers["Stylize UV"].data.foreach_get("uv", uv)
    assert uv.min() >= 0.0 and uv.max() <= 1.0 and np.ptp(uv) > 0.5
    tree = scene.material_slots[0].material.node_tree
    base, normal = tree.nodes["Stylize Base Color"].image, tree.nodes["Stylize Normal Image"].image
    assert base.packed_file is not None and tuple(base.size) == (256, 256)
    assert normal.packed_file is not None and normal.colorspace_settings.name == "Non-Color"
    assert tree.nodes["Stylize Normal Map"].uv_map == "Stylize UV"
