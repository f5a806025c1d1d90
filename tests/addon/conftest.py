"""Fixtures of the add-on's tests inside PyPI ``bpy``: the add-on installed once per session."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

from .helpers import TRAINER_CLIP, build_tool


def _steady(worker_env):
    def steady_worker_env(*args, **kwargs) -> dict[str, str]:
        env = worker_env(*args, **kwargs)
        env.pop("PYTEST_CURRENT_TEST", None)
        return env

    return steady_worker_env


@pytest.fixture(scope="session")
def blender(tmp_path_factory):
    """bpy with the add-on installed from its zip into a temporary user folder; yields its module name."""
    user = tmp_path_factory.mktemp("blender_user")
    with pytest.MonkeyPatch.context() as patch:
        # Blender reads this whenever it needs a user path: nothing may touch ~/.config/blender.
        patch.setenv("BLENDER_USER_RESOURCES", str(user))
        bpy = pytest.importorskip("bpy")
        if Path(bpy.utils.user_resource("EXTENSIONS")).resolve().parent != user.resolve():
            pytest.fail(f"bpy ignored BLENDER_USER_RESOURCES: {bpy.utils.user_resource('EXTENSIONS')}")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        archive = build_tool().build(tmp_path_factory.mktemp("dist"))
        result = bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default", enable_on_install=True)
        assert result == {"FINISHED"}
        module = "bl_ext.user_default.stylize"
        assert module in bpy.context.preferences.addons
        prefs = bpy.context.preferences.addons[module].preferences
        prefs.python_path, prefs.device, prefs.clip_spec = sys.executable, "cpu", TRAINER_CLIP
        # The warm worker restarts when its environment changes. pytest changes one variable at
        # every test (PYTEST_CURRENT_TEST), which Blender's never does: without it, the tests of a
        # file share one worker, as an artist's jobs do (the tests about restarts close it first).
        jobs = importlib.import_module(f"{module}.jobs")
        patch.setattr(jobs, "worker_env", _steady(jobs.worker_env))
        yield types.SimpleNamespace(bpy=bpy, module=module, archive=archive, prefs=prefs, user=user)
        import addon_utils

        addon_utils.disable(module)


@pytest.fixture
def scene(blender, tmp_path, monkeypatch):
    """An empty scene with one icosphere selected; job folders go to ``tmp_path``."""
    import tempfile

    bpy = blender.bpy
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for collection in list(bpy.data.collections):
        bpy.data.collections.remove(collection)
    for data in (bpy.data.meshes, bpy.data.materials, bpy.data.images):
        for block in list(data):
            data.remove(block)
    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=2, radius=1.0)
    obj = bpy.context.active_object
    settings = bpy.context.scene.stylize
    for name in settings.bl_rna.properties.keys():  # every panel value back to its default
        if name != "rna_type":
            settings.property_unset(name)
    settings.prompt, settings.preset, settings.iterations, settings.seed = "", "smoke", 0, 0
    blender.prefs.python_path, blender.prefs.clip_spec = sys.executable, TRAINER_CLIP
    yield obj
    # A cancelled job's folder goes once the warm worker has stopped it (at its next step).
    assert importlib.import_module(f"{blender.module}.tasks").WORKER.wait_idle(120), "the worker never ended a job"
    assert not list(tmp_path.glob("stylize-blender-*")), "a job folder was left behind"
