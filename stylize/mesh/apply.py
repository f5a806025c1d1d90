"""Apply a trained style field to another mesh of the same object (``stylize apply``).

The field works in the normalised frame of the mesh it was trained on (``field.pt`` keeps that
normalisation). A denser remesh, a cleaned-up export, or the other LOD of the same object, in
the same file frame, maps into that frame with the *training* normalisation (not its own), so
each surface point gets the colour and displacement it had in the training run: at vertices the
two meshes share, the colours are the run's.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.config import absolute_path
from stylize.errors import InputError
from stylize.mesh.controls import load_mask, mask_for_loaded
from stylize.mesh.field import NeuralStyleField, load_field
from stylize.mesh.io import LoadedMesh, load_mesh
from stylize.mesh.renderer import get_renderer
from stylize.mesh.seams import weld_surface
from stylize.mesh.surface import StyledMesh, TextureSet

__all__ = ["apply_field", "bake_run", "evaluate_field", "resolve_field_source"]

logger = logging.getLogger(__name__)

_CHUNK = 65536  # vertices per field evaluation: bounds memory on big meshes


def resolve_field_source(source: str | Path) -> tuple[Path, Path | None]:
    """``(field.pt, config.toml or None)`` of a run folder or a ``field.pt`` file."""
    source = Path(source)
    if source.is_dir():
        from stylize.runs import read_run

        field_path = source / "field.pt"
        if not field_path.is_file():
            raise InputError(f"{source}: no field.pt in this folder (expected a run folder or a field.pt file)")
        read_run(source, "write field.pt")  # a killed run's folder is not a result to reuse
        config = source / "config.toml"
        return field_path, config if config.is_file() else None
    if not source.is_file():
        raise InputError(f"{source}: not found (expected a run folder or a field.pt file)")
    config = source.parent / "config.toml"
    return source, config if config.is_file() else None


@torch.no_grad()
def evaluate_field(
    field: NeuralStyleField, mesh: LoadedMesh, weights: np.ndarray | None = None, device: Any = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, StyledMesh]:
    """The stylized mesh in the field's normalised frame, as a run computes it, in chunks:
    displaced vertices ``(V, 3)``, the material's features ``(V, C)`` (colours first) and the
    :class:`StyledMesh` (to render or bake it in the field's mode)."""
    vertices, faces, base = mesh.to_torch(device)
    mask = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device).reshape(-1, 1)
    surface_base = field.config.mode == "surface" and (field.config.input_colours or mask is not None)
    textures = TextureSet.from_mesh(mesh, device) if surface_base else None
    weld, normals, mask = weld_surface(vertices, faces, mask)
    styled = StyledMesh(field.to(device).eval(), vertices, faces, normals, base, mask, textures, weld)
    features, displacement = [], []
    for start in range(0, len(vertices), _CHUNK):
        part = slice(start, start + _CHUNK)
        chunk = StyledMesh(styled.field, vertices[part], faces, styled.normals[part],
                           None if base is None else base[part], None if mask is None else mask[part])  # fmt: skip
        feature, disp = chunk.vertex_features_and_displacement()
        features.append(feature)
        displacement.append(disp)
    return styled.displaced(torch.cat(displacement)), torch.cat(features), styled


#: The training mesh lies in the unit ball of its normalised frame, touching it. Another mesh of
#: the same object in the same file frame reaches about radius 1 there too; outside this range it
#: is bigger, smaller or elsewhere, and the field paints it as if it were the training object.
SAME_OBJECT_RADIUS = (0.8, 1.15)


def warn_if_other_object(normalized: np.ndarray, mesh: str | Path) -> bool:
    """Log a warning when ``normalized`` (the target's vertices in the training frame) is not where
    the training mesh was; returns whether it warned."""
    radius = float(np.linalg.norm(normalized, axis=1).max()) if len(normalized) else 0.0
    low, high = SAME_OBJECT_RADIUS
    if low <= radius <= high:
        return False
    logger.warning("%s does not look like the mesh the field was trained on: in the training mesh's frame it reaches "
                   "radius %.2f, the training mesh 1.00 (bigger, smaller or moved); the field is applied as if it were "
                   "the same object in the same file frame", Path(mesh).name, radius)  # fmt: skip
    return True


def apply_field(
    source: str | Path,
    mesh: str | Path,
    out: str | Path | None = None,
    *,
    mask: Any = None,
    overrides: Mapping[str, Any] | None = None,
    device: str = "auto",
    overwrite: bool = False,
):
    """Evaluate a saved field on ``mesh`` and (optionally) write a run folder like ``stylize mesh``'s.

    Args:
        source: a run folder (``field.pt`` and ``config.toml``) or a ``field.pt`` file.
        mesh: the mesh to stylize, in the same file frame as the training mesh; never modified.
        out: folder for ``mesh.glb/ply/obj``, ``field.pt``, ``preview.png``, ``turntable.gif``,
            ``config.toml``, ``run.json`` (and ``mesh_textured.glb`` with ``output.bake``); None
            writes nothing.
        mask: per-vertex weights or indices for ``mesh`` (as :func:`stylize.stylize_mesh`).
        overrides: config keys for the outputs, e.g. ``{"output.bake": True}``.
        device: ``auto``, ``cpu`` or ``cuda``.
        overwrite: replace an earlier run's outputs in ``out`` (a training run's folder is refused:
            its field is this run's input).

    Returns:
        :class:`~stylize.mesh.outputs.Text2MeshResult` with status ``applied`` and no scores.
    """
    from stylize.runs import RunFolder

    started = time.time()
    field_path, config_path = resolve_field_source(source)
    inputs = [field_path, mesh, *([mask] if isinstance(mask, (str, Path)) else [])]
    folder = RunFolder(out, "apply", inputs=inputs, overwrite=overwrite) if out is not None else None
    try:
        return _apply(field_path, config_path, mesh, folder, mask, overrides, device, started)
    finally:
        if folder is not None:
            folder.close()


def _apply(field_path, config_path, mesh, folder, mask, overrides, device, started):
    from stylize.config import apply_overrides, resolve_config, to_dict
    from stylize.mesh.config import TEXT2MESH_PRESETS, Text2MeshConfig
    from stylize.mesh.outputs import (
        Text2MeshResult,
        file_features,
        output_metadata,
        to_file_frame,
        write_meshes,
        write_pictures,
    )
    from stylize.utils import resolve_device

    field = load_field(field_path)
    extra = field.extra
    config = resolve_config(Text2MeshConfig, TEXT2MESH_PRESETS, config_file=config_path) if config_path else Text2MeshConfig()
    config = apply_overrides(dataclasses.replace(config, field=field.config, material=field.material.name),
                             dict(overrides or {}))  # fmt: skip
    config.check()
    loaded = load_mesh(mesh, normalize=False, max_faces=config.max_faces)
    # The training run's frame, not this mesh's own: shared surface points map to the same inputs.
    normalized = field.normalization.apply(loaded.file_vertices).astype(np.float32)
    loaded = dataclasses.replace(loaded, vertices=normalized, normalization=field.normalization)
    warn_if_other_object(normalized, mesh)
    weights = None
    if mask is not None:
        weights = mask_for_loaded(load_mask(mask, loaded.source_vertex_count or len(loaded.vertices)), loaded)
    if field.config.input_colours and loaded.colors is None:
        logger.warning("the field starts from the mesh's colours but %s has none: starting from grey", mesh)
    target = resolve_device(device)
    vertices, features, styled = evaluate_field(field, loaded, weights, target)
    file_vertices, file_colors = to_file_frame(loaded, vertices, features[:, :3], styled.weights)
    result = Text2MeshResult(
        vertices=file_vertices, faces=loaded.faces.astype(np.int64), colors=file_colors, scores={},
        field=field if target.type == "cpu" else NeuralStyleField.from_checkpoint(field.checkpoint()),
        status="applied", iterations=int(extra.get("iterations", 0)), out_dir=None, config=config,
        styled=styled, source=loaded, features=file_features(file_colors, features),
    )  # fmt: skip
    if folder is None:
        return result
    with folder:
        result.out_dir = folder.path
        metadata = output_metadata(config, result.iterations, [], applied_to=str(Path(mesh).name), field=str(field_path))
        metadata["model"] = extra.get("model", [])
        bake = write_meshes(folder, result, metadata, loaded.uv, styled=styled, undisplaced=loaded.file_vertices)
        result.files["field.pt"] = field.save(folder.file("field.pt"), **extra)

        def render(views, size):
            renderer = get_renderer(config.renderer, height=size)
            return styled.render(renderer, views, config.background, displaced=vertices, colors=features)

        write_pictures(folder, result, render, extent=float(vertices.norm(dim=-1).max()))
        result.files["config.toml"] = folder.write_config(to_dict(config))
        result.files["run.json"] = folder.write_run_json(
            status="applied", prompt=config.prompt, seed=config.seed, device=str(target), field=absolute_path(str(field_path)),
            input={"path": absolute_path(str(mesh)), "vertices": int(len(loaded.vertices)), "faces": int(len(loaded.faces))},
            timings={"apply_seconds": round(time.time() - started, 3)}, **({"bake": bake.to_dict()} if bake else {}),
        )  # fmt: skip
    logger.info("applied %s to %s", field_path, mesh)
    return result


def bake_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    size: int = 1024,
    unwrap: bool = False,
    normal_map: bool = False,
    device: str = "auto",
    uv: str | None = None,
    keep_maps: Any = None,
):
    """``stylize bake RUN_DIR``: bake a run's field (not its vertex colours) into a textured GLB.

    The field is evaluated on the run's input mesh (its path is in ``run.json``; the mask comes
    from ``checkpoint.pt`` when the run had one). A surface-mode field colours every texel at
    its own surface point (an exact bake); a vertex-mode field's vertex colours are interpolated.
    With ``normal_map``, or when the run had ``output.normal_map``, the GLB keeps the input's
    geometry and carries the displacement as a tangent-space normal map. A glTF scene keeps its
    structure (:func:`~stylize.mesh.bake_scene.bake_loaded`); its layout and kept maps follow
    ``uv`` and ``keep_maps`` (None: the run's ``output.uv`` / ``output.keep_maps``).

    ``out`` is checked first (:class:`~stylize.mesh.bake_target.BakeTarget`); writing into the run
    folder holds its lock. Replacing the run's own ``mesh_textured.glb`` (the default) rewrites
    what belongs to it too: ``textures/NAME.png``, ``vertex_data.npz``'s ``face_uv`` and
    ``run.json``'s ``bake``, so the folder stays one consistent bake. Elsewhere the maps are in
    the GLB only (the run's ``textures/`` stay those of its own ``mesh_textured.glb``).

    Returns:
        The :class:`~stylize.mesh.bake.BakeReport` (default output ``RUN_DIR/mesh_textured.glb``).
    """
    from stylize.mesh.bake_scene import bake_loaded
    from stylize.mesh.bake_target import BakeTarget, is_run_bake, update_run_bake, write_bake_preview
    from stylize.mesh.config import check_texture_size, check_uv_choice, parse_keep_maps
    from stylize.mesh.outputs import bake_sources, output_metadata
    from stylize.runs import read_run

    run_dir = Path(run_dir)
    size = check_texture_size(size)
    if uv is not None:
        check_uv_choice(uv, "uv")
    if keep_maps is not None:
        parse_keep_maps(keep_maps, "keep_maps")
    info = read_run(run_dir, "bake")
    try:
        input_path = Path(info["input"]["path"])
    except (KeyError, TypeError):
        raise InputError(f"{run_dir}: run.json names no input mesh (is it a stylize mesh run folder?)") from None
    if not input_path.is_file():
        raise InputError(f"{run_dir}: the run's input mesh {input_path} is gone; use: stylize apply {run_dir} MESH --bake")
    out = Path(out) if out is not None else run_dir / "mesh_textured.glb"
    target = BakeTarget(out, inputs=[input_path, run_dir / "field.pt", run_dir / "checkpoint.pt"])
    own = is_run_bake(out, run_dir)
    mask = None
    if (run_dir / "checkpoint.pt").is_file():
        from stylize.mesh.resume import load_checkpoint

        stored = load_checkpoint(run_dir).get("mask")
        mask = None if stored is None else stored.numpy()
    result = apply_field(run_dir, input_path, None, mask=mask, device=device)
    if not normal_map and result.config.output.normal_map:
        logger.info("the run baked a normal map (output.normal_map): baking it again at %d px", size)
        normal_map = True
    source, normal_source = bake_sources(result.styled, normal_map, result.features)
    vertices = result.source.file_vertices if normal_map else result.vertices
    metadata = output_metadata(result.config, result.iterations, list(result.field.extra.get("model", [])),
                               baked_from=str(run_dir))  # fmt: skip
    with target:
        report = bake_loaded(result.source, vertices, result.colors, out, unwrap=unwrap, uv=result.source.uv,
                             uv_choice=uv if uv is not None else result.config.output.uv,
                             keep_maps=keep_maps if keep_maps is not None else result.config.output.keep_maps,
                             size=size, metadata=metadata, source=source, normal_source=normal_source,
                             material=result.field.material, features=result.features)  # fmt: skip
        write_bake_preview(report)
        if own:
            update_run_bake(run_dir, report)
        elif (run_dir / "textures").is_dir():
            logger.info("the maps of %s are inside it; %s/textures stays the run's own mesh_textured.glb's", out, run_dir)
    return report
