"""``stylize batch`` for a selection of objects: write the jobs file, follow it, read it back (no bpy).

A batch folder holds::

    stylize_jobs.toml           [defaults] + one [[jobs]] entry per object (kind "mesh")
    meshes/NNN_<name>.obj       each object's mesh, written as a single Stylize job writes it
    stylize_blender.json        object name -> OBJ file, its SHA-256 and vertex count
    runs/                       what `stylize batch stylize_jobs.toml --out runs` writes
                                (manifest.jsonl and one folder per job)

The folder can be run here (the Batch panel's Run) or anywhere else with ``stylize batch``
(another machine, a Ray cluster); Import maps the results back onto the objects, if each object
is still the mesh that was sent (same OBJ bytes).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exchange import MeshExchange, obj_text, write_atomic
from .jobs import JobError, MeshJobSettings

JOBS_FILE = "stylize_jobs.toml"
SIDECAR = "stylize_blender.json"
RUNS = "runs"
MANIFEST = "manifest.jsonl"
# The same settings a single Stylize job sets (see jobs.mesh_args).
ADDON_SETTINGS = {"target_vertices": 0, "output.turntable_frames": 1, "output.preview_views": 1}


@dataclass
class BatchObject:
    """One object of a batch: its name, prompt and mesh arrays (Blender's local frame)."""

    name: str
    prompt: str
    positions: np.ndarray
    triangles: np.ndarray
    orientation: np.ndarray


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string (\uXXXX escapes) is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _file_name(index: int, name: str) -> str:
    return f"{index:03d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('._') or 'object'}.obj"


def write_batch(folder: Path, objects: list[BatchObject], settings: MeshJobSettings) -> Path:
    """Write the jobs file, the meshes and the sidecar into ``folder``; returns the jobs file.

    ``settings`` gives preset, iterations, seed (the batch's base seed), device, CLIPs, negative
    prompt and colour-only; each object's own prompt is in its :class:`BatchObject`.

    Raises:
        JobError: no objects, or one without a prompt.
    """
    if not objects:
        raise JobError("no mesh objects selected for the batch")
    for obj in objects:
        if not obj.prompt.strip():
            raise JobError(f"no prompt for {obj.name!r}: type one in the panel or set its stylize_prompt property")
    folder = Path(folder)
    (folder / "meshes").mkdir(parents=True, exist_ok=True)
    defaults: dict = {"kind": "mesh", "preset": settings.preset, "seed": int(settings.seed)}
    if settings.iterations > 0:
        defaults["iters"] = int(settings.iterations)
    if settings.device != "auto":
        defaults["device"] = settings.device
    if settings.clip:
        defaults["clip"] = list(settings.clip)
    if settings.negative_prompt.strip():
        defaults["negative"] = settings.negative_prompt.strip()
    overrides = dict(ADDON_SETTINGS)
    if not settings.displace:
        overrides["field.geometry"] = False
    defaults["set"] = overrides
    lines = ["# Written by the stylize Blender add-on: stylize batch stylize_jobs.toml --out runs", "", "[defaults]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in defaults.items()]
    sidecar = {}
    for index, obj in enumerate(objects, start=1):
        name = _file_name(index, obj.name)
        text, exchange = obj_text(obj.positions, obj.triangles, obj.orientation)
        write_atomic(folder / "meshes" / name, text)
        sidecar[obj.name] = {"file": f"meshes/{name}", "sha256": hashlib.sha256(text.encode()).hexdigest(),
                             "vertices": int(exchange.vertex_count), "prompt": obj.prompt}  # fmt: skip
        lines += ["", "[[jobs]]", f"name = {_toml_value(obj.name)}", f"input = {_toml_value('meshes/' + name)}",
                  f"prompt = {_toml_value(obj.prompt.strip())}"]  # fmt: skip
    write_atomic(folder / SIDECAR, json.dumps({"objects": sidecar, "displace": bool(settings.displace)}, indent=2) + "\n")
    write_atomic(folder / JOBS_FILE, "\n".join(lines) + "\n")
    return folder / JOBS_FILE


def batch_argv(python: str, folder: Path) -> list[str]:
    """``stylize batch`` of a batch folder (argv list)."""
    folder = Path(folder)
    return [python, "-m", "stylize", "batch", str(folder / JOBS_FILE), "--out", str(folder / RUNS), "--progress", "none"]


def read_manifest(folder: Path) -> list[dict]:
    """The entries of ``runs/manifest.jsonl`` so far (empty before the first job finished)."""
    path = Path(folder) / RUNS / MANIFEST
    entries = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return entries
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def batch_size(folder: Path) -> int:
    """Objects in the batch folder's sidecar."""
    return len(_sidecar(folder))


def batch_displaces(folder: Path) -> bool:
    """Whether the batch learnt displacements (else colours only)."""
    return bool(_read_sidecar(folder).get("displace", True))


def _sidecar(folder: Path) -> dict:
    return _read_sidecar(folder)["objects"]


def _read_sidecar(folder: Path) -> dict:
    path = Path(folder) / SIDECAR
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["objects"]
        return data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JobError(f"{path} is missing or unreadable: write the batch from Blender first") from exc


@dataclass
class BatchResult:
    """Where one object's result is: its run folder, or why there is none."""

    name: str
    run_dir: Path | None
    error: str = ""


def batch_results(folder: Path) -> list[BatchResult]:
    """Each object of the batch with its run folder (``done`` or ``skipped`` jobs) or its error.

    Jobs are matched by input file; an object whose job the batch ran once for an identical one
    (same mesh bytes and prompt) shares that job's folder.

    Raises:
        JobError: no sidecar (not a batch folder written by the add-on).
    """
    folder = Path(folder).resolve()
    objects = _sidecar(folder)
    runs = folder / RUNS
    by_input = {}
    for entry in read_manifest(folder):
        if entry.get("kind") == "mesh" and entry.get("input"):
            by_input[str(_manifest_path(runs, entry["input"]))] = entry
    results = []
    for name, info in objects.items():
        mesh_file = folder / info["file"]
        entry = by_input.get(str(mesh_file.resolve()))
        if entry is None:  # run elsewhere (the manifest names that machine's path), or an identical object's job
            entry = next((e for e in by_input.values() if e.get("prompt") == info.get("prompt")
                          and (_same_file(_manifest_path(runs, e["input"]), info["sha256"])
                               or _same_file(mesh_file.parent / Path(e["input"]).name, info["sha256"]))),
                         None)  # fmt: skip
        if entry is None:
            results.append(BatchResult(name, None, "no result in the manifest (not run yet?)"))
        elif entry.get("status") not in ("done", "skipped"):
            results.append(BatchResult(name, None, str(entry.get("error") or entry.get("status"))))
        else:
            results.append(BatchResult(name, run_folder(runs, entry)))
    return results


def _manifest_path(runs: Path, path: str) -> Path:
    """A path the manifest names: absolute as it is; relative ones were relative to the folder
    `stylize batch` ran in, which the add-on cannot know, so they are taken beside the batch
    folder (``runs/..``), where the add-on's own command line runs it."""
    path = Path(path)
    return path.resolve() if path.is_absolute() else (runs.parent / path).resolve()


def run_folder(runs: Path, entry: dict) -> Path:
    """The run folder of a manifest entry. Its ``out`` is the job folder as the batch's command
    line named it (``runs/mesh-...`` when run with ``--out runs``: relative to the folder it ran
    in); every job folder lies beside the manifest, so a relative ``out``, or an absolute one
    that is not there (the batch ran on another machine), is taken as ``runs/<its name>``."""
    out = Path(str(entry.get("out") or entry.get("id") or ""))
    if out.is_absolute() and out.is_dir():
        return out
    return runs / out.name


def _same_file(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def check_object(folder: Path, name: str, positions: np.ndarray, triangles: np.ndarray, orientation: np.ndarray) -> MeshExchange:
    """The exchange of an object that is still the mesh the batch sent.

    Raises:
        JobError: the object is not in the batch or its mesh changed since.
    """
    info = _sidecar(folder).get(name)
    if info is None:
        raise JobError(f"{name!r} is not in the batch in {folder}")
    text, exchange = obj_text(positions, triangles, orientation)
    if hashlib.sha256(text.encode()).hexdigest() != info["sha256"]:
        raise JobError(f"{name!r} changed since the batch was written (its mesh or transform differs)")
    return exchange
