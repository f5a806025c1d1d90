"""Where ``stylize bake`` may write: the checks made before a bake writes anything.

A bake writes three files: the GLB ``NAME.glb``, its sidecar ``NAME.json`` (the metadata and the
bake's figures under a ``"bake"`` key) and its picture ``NAME_preview.png``. :class:`BakeTarget`
refuses, with one line, before anything is written:

- a path that is one of the bake's inputs (the mesh it reads, the run's input mesh, its field);
- a sidecar that exists and is not an earlier bake's (a JSON object without the ``"bake"`` key):
  the name ``NAME.json`` is kept, as ``mesh_textured.json`` is a documented run output, and its
  content tells a bake's sidecar from a file the bake did not write;
- a GLB that exists and is not an earlier bake's (no bake sidecar beside it);
- inside a run folder (a folder with ``run.json`` or the lock): any of the run's own outputs
  (``run.json``, ``config.toml``, ``mesh.glb``, ... :data:`~stylize.runs.OUTPUT_NAMES`) other
  than ``mesh_textured.glb`` and its sidecar.

While it writes into a run folder it holds the folder's lock (a live run there is refused), and
it removes the temporaries that killed writers left there. Each file is written atomically (a
temporary beside it, then a rename) by the writers themselves. A bake that replaces a run's own
``mesh_textured.glb`` brings the rest of that bake along (:func:`update_run_bake`): the run's
``textures/``, the face UVs of ``vertex_data.npz`` and ``run.json``'s ``bake``.

Bakes inside a run (``stylize mesh --bake``, ``stylize apply --bake``, surface-mode runs) write
through their :class:`~stylize.runs.RunFolder`, which applies the run folder's own rules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylize.errors import InputError

__all__ = [
    "BakeTarget",
    "field_run_of",
    "is_bake_sidecar",
    "is_run_bake",
    "preview_path",
    "sidecar_path",
    "update_run_bake",
    "write_bake_preview",
]

logger = logging.getLogger(__name__)

#: A run folder's own bake (GLB, sidecar, picture): the only run outputs a bake may replace.
RUN_BAKE_NAMES = ("mesh_textured.glb", "mesh_textured.json", "mesh_textured_preview.png")
#: The meshes a mesh run writes; baking one of them from an exact (per-texel) run bakes the field.
RUN_MESH_NAMES = ("mesh.glb", "mesh.ply", "mesh.obj")


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of a baked GLB: ``NAME.json`` beside ``NAME.glb``."""
    return Path(path).with_suffix(".json")


def preview_path(path: str | Path) -> Path:
    """The picture of a baked GLB: ``NAME_preview.png`` beside ``NAME.glb``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_preview.png")


def write_bake_preview(report: Any) -> Path:
    """Write ``NAME_preview.png`` beside a baked GLB (four views of it as a viewer shows it, the
    texture sampled through its UVs) and record it in the :class:`~stylize.mesh.bake.BakeReport`."""
    from stylize.mesh.evaluate import save_mesh_preview

    report.preview = save_mesh_preview(report.path, preview_path(report.path))
    return report.preview


def is_bake_sidecar(path: str | Path) -> bool:
    """Whether ``path`` is a bake's sidecar (a JSON object with a ``"bake"`` key)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("bake"), dict)


def is_run_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a run (its ``run.json`` or a run's lock)."""
    from stylize.locks import LOCK_NAME

    folder = Path(folder)
    return (folder / "run.json").is_file() or (folder / LOCK_NAME).exists()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def field_run_of(mesh: str | Path) -> Path | None:
    """The run folder whose field should be baked instead of ``mesh``'s vertex colours: when
    ``mesh`` is a run's (or apply folder's) ``mesh.glb/ply/obj`` and the run's field kind bakes
    exactly (per texel: ``surface``, ``texture``), the run baked a normal map or its material has
    maps beyond a base colour (``pbr``: roughness, metallic, normal), which vertex colours cannot
    give; None otherwise (the file's vertex colours are what there is to bake)."""
    from stylize.config import load_toml

    mesh = Path(mesh)
    if mesh.name not in RUN_MESH_NAMES or not (mesh.parent / "field.pt").is_file():
        return None
    try:  # config.toml: a mesh run's and an apply folder's (whose run.json holds no config)
        config = load_toml(mesh.parent / "config.toml")
        mode, normal_map = config["field"]["mode"], config.get("output", {}).get("normal_map", False)
        material = config.get("material", "diffuse")
    except (InputError, OSError, KeyError, TypeError, AttributeError):
        return None
    if mode == "vertex" and normal_map is not True and material == "diffuse":
        return None
    if mode != "vertex":
        why = f"a {mode}-mode field, per texel"
    else:
        why = "a normal map" if normal_map is True else f"the {material} material's maps"
    logger.info("%s is a run's mesh: baking the run's field (%s), as: stylize bake %s", mesh, why, mesh.parent)
    return mesh.parent


def is_run_bake(out: str | Path, run_dir: str | Path) -> bool:
    """Whether ``out`` is the run folder's own ``mesh_textured.glb`` (a finished run's)."""
    run_dir = Path(run_dir)
    return (run_dir / "run.json").is_file() and _same_file(Path(out), run_dir / "mesh_textured.glb")


class BakeTarget:
    """The files one ``stylize bake`` writes, checked before anything is written (see the module
    docstring); use it as a context manager around the writes.

    Args:
        out: the GLB to write (``.glb``).
        inputs: the files the bake reads (never written over).

    Raises:
        InputError: a path the bake must not write (one line saying which and why).
    """

    def __init__(self, out: str | Path, inputs: Sequence[str | Path | None] = ()) -> None:
        self.path = Path(out)
        if self.path.suffix.lower() != ".glb":
            raise InputError(f"{self.path}: the baked mesh is written as GLB; expected a .glb output path")
        self.sidecar = sidecar_path(self.path)
        self.preview = preview_path(self.path)
        self.folder = self.path.parent
        self.run_folder = is_run_folder(self.folder)
        self._lock: Any = None
        written = (self.path, self.sidecar, self.preview)
        for item in inputs:
            if item is None:
                continue
            for path in written:
                if _same_file(path, Path(item)):
                    raise InputError(f"{path}: the bake would write over its input {item}; choose another --out")
        if self.run_folder:
            from stylize.runs import OUTPUT_NAMES

            owned = {name.rstrip("/") for name in OUTPUT_NAMES} - set(RUN_BAKE_NAMES)
            for path in written:
                if path.name in owned:
                    raise InputError(f"{path}: the bake would replace the run's own {path.name} in {self.folder}; "
                                     "choose another --out")  # fmt: skip
        if self.sidecar.exists() and not is_bake_sidecar(self.sidecar):
            raise InputError(f"{self.sidecar}: exists and is not a bake's sidecar (the bake writes its .json beside "
                             f"{self.path.name}); choose another --out")  # fmt: skip
        if self.path.exists() and not is_bake_sidecar(self.sidecar):
            raise InputError(f"{self.path}: exists and is not an earlier bake (no bake sidecar {self.sidecar.name} "
                             "beside it); choose another --out")  # fmt: skip

    def __enter__(self) -> BakeTarget:
        from stylize.utils import sweep_stale_temporaries

        self.folder.mkdir(parents=True, exist_ok=True)
        if self.run_folder:
            from stylize.runs import hold_folder_lock

            self._lock = hold_folder_lock(self.folder)
            self._lock.__enter__()
        sweep_stale_temporaries(self.folder)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(*exc)


def update_run_bake(run_dir: Path, report: Any) -> None:
    """Make a run folder agree with a new bake of its ``mesh_textured.glb``: ``textures/`` holds
    its maps (and no others), ``vertex_data.npz`` its face UVs, ``run.json`` its figures."""
    import numpy as np

    from stylize.images import save_image
    from stylize.utils import atomic_write, sweep_stale_temporaries, write_json

    textures = run_dir / "textures"
    textures.mkdir(exist_ok=True)
    sweep_stale_temporaries(textures)
    for name, pixels in report.maps.items():
        save_image(textures / f"{name}.png", pixels)
    for stale in textures.glob("*.png"):
        if stale.stem not in report.maps:
            stale.unlink()
    data_path = run_dir / "vertex_data.npz"
    if data_path.is_file() and report.face_uv is not None:
        with np.load(data_path) as stored:
            arrays = dict(stored)
        if "face_uv" in arrays and len(arrays["face_uv"]) == len(report.face_uv):
            arrays["face_uv"] = report.face_uv.astype(np.float32)
            with atomic_write(data_path, "wb") as handle:
                np.savez(handle, **arrays)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    run["bake"] = report.to_dict()
    write_json(run_dir / "run.json", run)
