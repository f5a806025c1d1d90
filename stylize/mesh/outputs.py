"""The run folder of a Text2Mesh run: meshes, field, pictures, config and run metadata.

Written by :func:`save_text2mesh_outputs` (each file atomically; see ARCHITECTURE.md section 4):
``mesh.glb``, ``mesh.ply``, ``mesh.obj`` (coloured, displaced, in the input file's frame),
``vertex_data.npz`` (the same vertices and colours at full precision, with each vertex's index in
the input file, for programs that map results back onto their own mesh: the Blender add-on),
``field.pt``, ``preview.png``, ``turntable.gif``, ``config.toml`` and ``run.json``;
``metrics.jsonl`` is appended during the run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylize.config import to_dict
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.io import save_mesh
from stylize.mesh.text2mesh import Text2MeshConfig, Text2MeshRun
from stylize.runs import RunFolder, image_grid, save_gif, save_image

logger = logging.getLogger(__name__)

__all__ = ["MESH_FORMATS", "Text2MeshResult", "save_text2mesh_outputs", "save_vertex_data"]

MESH_FORMATS = ("glb", "ply", "obj")


@dataclass
class Text2MeshResult:
    """What :func:`stylize.stylize_mesh` returns.

    Attributes:
        vertices: displaced vertices in the input file's frame, ``(V, 3)`` float64.
        faces: ``(F, 3)`` int64.
        colors: per-vertex sRGB in ``[0, 1]``, ``(V, 3)`` float32.
        field: the trained :class:`NeuralStyleField` (on the CPU).
        scores: final scores (training CLIP over the 24-view grid, x 100).
        status: ``finished``, ``diverged`` or ``interrupted``.
        iterations: iterations run.
        out_dir: the run folder, if one was written.
        config: the resolved config.
        files: name -> path of each output written.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    field: NeuralStyleField
    scores: dict[str, float]
    status: str
    iterations: int
    out_dir: Path | None
    config: Text2MeshConfig
    files: dict[str, Path] = field(default_factory=dict)


def collect_result(run: Text2MeshRun, scores: dict[str, float] | None = None) -> Text2MeshResult:
    """The stylized mesh of ``run`` in the input's frame, without writing anything."""
    vertices, colors = run.stylized()
    original = np.asarray(run.mesh.normalization.invert(vertices.double().cpu().numpy()), dtype=np.float64)
    colors = colors.float().cpu().numpy()
    if run.weights is not None:
        # Unmasked vertices are written back exactly as read, not through the float32 frame.
        keep = (run.weights.reshape(-1) == 0).cpu().numpy()
        file_vertices = run.mesh.file_vertices if run.mesh.file_vertices is not None else run.mesh.original_vertices()
        original[keep] = file_vertices[keep]
        if run.mesh.colors is not None:
            colors[keep] = run.mesh.colors[keep]
    return Text2MeshResult(
        vertices=original,
        faces=run.faces.cpu().numpy().astype(np.int64),
        colors=colors,
        field=run.field.cpu() if run.device.type == "cpu" else _cpu_copy(run.field),
        scores=dict(scores or {}),
        status=run.status,
        iterations=run.iteration,
        out_dir=None,
        config=run.config,
    )


def _cpu_copy(field_module: NeuralStyleField) -> NeuralStyleField:
    return NeuralStyleField.from_checkpoint(field_module.checkpoint())


def save_vertex_data(path: Path, result: Text2MeshResult, source_index: np.ndarray | None) -> Path:
    """Write ``vertex_data.npz`` atomically: ``vertices`` ``(V, 3)`` float64 (input frame),
    ``colors`` ``(V, 3)`` float32 sRGB, ``source_index`` ``(V,)`` int64 (the vertex's index in the
    input file; -1 for vertices that subdivision added). Vertices the loader dropped (used by no
    usable face) are absent, so map by ``source_index``, not by position in the array.

    trimesh's OBJ reader already skips vertices that no face references, and ``source_index``
    counts the vertices it kept: write OBJ files without loose vertices to get file indices."""
    from stylize.utils import atomic_write

    if source_index is None:
        source_index = np.arange(len(result.vertices))
    with atomic_write(path, "wb") as handle:
        np.savez(
            handle,
            vertices=result.vertices.astype(np.float64),
            colors=result.colors.astype(np.float32),
            source_index=np.asarray(source_index, dtype=np.int64),
        )
    return path


def save_text2mesh_outputs(run: Text2MeshRun, folder: RunFolder, started: float) -> Text2MeshResult:
    """Score the result, write every output of the run folder and return the result."""
    cfg = run.config
    train_seconds = time.time() - started
    scores = run.final_scores() if run.iteration > 0 or run.status != "diverged" else {}
    result = collect_result(run, scores)
    result.out_dir = folder.path
    metadata = {"generator": "stylize text2mesh", "prompt": cfg.prompt, "seed": cfg.seed, "iterations": run.iteration}
    for fmt in MESH_FORMATS:
        result.files[f"mesh.{fmt}"] = save_mesh(folder.file(f"mesh.{fmt}"), result.vertices, result.faces, result.colors, metadata=metadata)
    result.files["vertex_data.npz"] = save_vertex_data(folder.file("vertex_data.npz"), result, run.mesh.source_vertex_index)
    result.files["field.pt"] = run.field.save(folder.file("field.pt"), prompt=cfg.prompt, iterations=run.iteration)
    preview = run.render_views(run.preview_views(), cfg.output.preview_size)
    columns = min(4, len(preview))
    result.files["preview.png"] = save_image(folder.file("preview.png"), image_grid(list(preview), columns=columns))
    frames = run.render_views(run.turntable(), cfg.output.turntable_size)
    result.files["turntable.gif"] = save_gif(folder.file("turntable.gif"), list(frames), duration_ms=60)
    result.files["config.toml"] = folder.write_config(to_dict(cfg))
    iterations = max(run.iteration, 1)
    result.files["run.json"] = folder.write_run_json(
        status=run.status,
        prompt=cfg.prompt,
        seed=cfg.seed,
        device=str(run.device),
        clip=list(run.engine.model_names),
        input={
            "path": str(run.mesh.path) if run.mesh.path else None,
            "vertices": int(len(run.mesh.vertices)),
            "faces": int(len(run.mesh.faces)),
            "normalization": run.mesh.normalization.to_dict(),
        },
        iterations=run.iteration,
        skipped_steps=run.skipped_steps,
        timings={
            "train_seconds": round(train_seconds, 3),
            "seconds_per_iteration": round(train_seconds / iterations, 4),
            **{f"{k}_seconds": round(v, 3) for k, v in run.timings.items()},
        },
        scores=scores,
    )
    logger.info("wrote run folder %s (%s after %d iterations)", folder.path, run.status, run.iteration)
    return result
