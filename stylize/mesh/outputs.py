"""The run folder of a Text2Mesh run: meshes, field, pictures, config and run metadata.

Written by :func:`save_text2mesh_outputs` (each file atomically):
``mesh.glb`` (the input's scene written back with the displaced positions and the colours as
``COLOR_0``: nodes, instancing, primitives, materials, cameras, lights, skins, morphs, animations),
``mesh.ply``, ``mesh.obj`` (one coloured mesh, displaced, in the input file's frame),
``vertex_data.npz`` (the same vertices and colours at full precision, with each vertex's index in
the input file, for programs that map results back onto their own mesh: the Blender add-on),
``field.pt``, ``preview.png``, ``turntable.gif``, ``config.toml`` and ``run.json``;
``metrics.jsonl`` is appended during the run, and with ``preview_every`` set,
:class:`PreviewSnapshots` writes ``preview/step_NNNNNN.npz`` (the newest few) while it goes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylize.config import to_dict
from stylize.generation import RunOutcome
from stylize.images import image_grid, save_gif, save_image
from stylize.mesh.camera import CameraViews, framing_distance
from stylize.mesh.config import Text2MeshConfig
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.io import LoadedMesh, save_mesh
from stylize.mesh.surface import StyledMesh
from stylize.mesh.text2mesh import Text2MeshRun, preview_views, turntable_camera_views
from stylize.runs import RunFolder

logger = logging.getLogger(__name__)

__all__ = [
    "MESH_FORMATS",
    "OUTPUT_PHASES",
    "PreviewSnapshots",
    "Text2MeshResult",
    "bake_sources",
    "save_text2mesh_outputs",
    "save_vertex_data",
]

MESH_FORMATS = ("glb", "ply", "obj")

#: What writing a run's outputs goes through after its last step, in order (``on_phase``):
#: the final scores, the meshes and field, the texture bake (when there is one), the pictures.
OUTPUT_PHASES = ("scoring", "writing", "baking", "rendering")


@dataclass(kw_only=True)
class Text2MeshResult(RunOutcome):
    """What :func:`stylize.stylize_mesh` returns.

    Attributes:
        vertices: displaced vertices in the input file's frame, ``(V, 3)`` float64.
        faces: ``(F, 3)`` int64.
        colors: per-vertex sRGB in ``[0, 1]``, ``(V, 3)`` float32.
        field: the trained :class:`NeuralStyleField` (on the CPU).
        scores: final scores over the 24-view grid, 100 x cosine, by role:
            ``{"trainer": {prompt: score, ..., "mean": score}, "judge": {...}}``.
        status: ``finished``, ``diverged`` or ``interrupted``.
        iterations: iterations run.
        out_dir: the run folder, if one was written.
        config: the resolved config.
        files: name -> path of each output written.
        styled: the field on the mesh (:class:`~stylize.mesh.surface.StyledMesh`, on the run's
            device), for renders and exact bakes.
        source: the loaded input mesh the result was computed on.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    field: NeuralStyleField
    iterations: int
    config: Text2MeshConfig
    styled: Any = field(default=None, repr=False)
    source: Any = field(default=None, repr=False)
    # The material's per-vertex features (V, C), colours first; None when they are just ``colors``.
    features: np.ndarray | None = field(default=None, repr=False)


def collect_result(run: Text2MeshRun, scores: dict[str, dict[str, float]] | None = None, stylized=None) -> Text2MeshResult:
    """The stylized mesh of ``run`` in the input's frame, without writing anything.

    ``stylized``: ``run.stylized_features()`` if the caller already has it (it evaluates the field).
    """
    if stylized is None:
        vertices, features = run.stylized_features()
    else:
        vertices, features = stylized
    original, colors = to_file_frame(run.mesh, vertices, features[:, :3], run.weights)
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
        styled=run.styled,
        source=run.mesh,
        features=file_features(colors, features),
    )


def file_features(colors: np.ndarray, features) -> np.ndarray | None:
    """A result's per-vertex features ``(V, C)`` as numpy: its file-frame ``colors`` followed by the
    material's other channels of ``features`` ``(V, C)`` (a tensor); None when there are none."""
    if features.shape[1] <= 3:
        return None
    return np.concatenate([colors, features[:, 3:].float().cpu().numpy()], axis=1)


def to_file_frame(mesh: LoadedMesh, vertices, colors, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Stylized vertices (normalised frame) and colours as numpy in ``mesh``'s file frame.

    Vertices of mask weight 0 are written back exactly as read (and keep the mesh's own colours),
    not through the float32 normalised frame.

    Shape:
        - vertices, colors: ``(V, 3)`` tensors; weights: ``(V, 1)`` or None.
        - Output: ``(V, 3)`` float64 and ``(V, 3)`` float32.
    """
    original = np.asarray(mesh.normalization.invert(vertices.double().cpu().numpy()), dtype=np.float64)
    colors = colors.float().cpu().numpy()
    if weights is not None:
        keep = (weights.reshape(-1) == 0).cpu().numpy()
        file_vertices = mesh.file_vertices if mesh.file_vertices is not None else mesh.original_vertices()
        original[keep] = file_vertices[keep]
        if mesh.colors is not None:
            colors[keep] = mesh.colors[keep]
    return original, colors


def output_metadata(config: Text2MeshConfig, iterations: int, models: list[str], **extra: Any) -> dict[str, Any]:
    """What the GLBs' extras and the bake sidecar record: prompt, seed, model, version, ..."""
    from stylize import __version__

    return {"generator": "stylize text2mesh", "prompt": config.prompt, "seed": config.seed, "iterations": iterations,
            "model": models, "version": __version__, **extra}  # fmt: skip


def write_meshes(
    folder: RunFolder,
    result: Text2MeshResult,
    metadata: dict[str, Any],
    uv: np.ndarray | None = None,
    styled: StyledMesh | None = None,
    undisplaced: np.ndarray | None = None,
    on_phase: Callable[[str], None] | None = None,
):
    """``mesh.glb``, ``mesh.ply``, ``mesh.obj`` and, with ``output.bake``, a surface-mode field or
    a material with maps beyond the base colour (pbr), ``mesh_textured.glb``, its ``.json`` sidecar, its picture ``mesh_textured_preview.png`` and
    ``textures/base_color.png`` (keeping ``uv``,
    the input's UVs, unless ``output.bake_unwrap``).

    In surface mode (``styled`` given and its field's mode ``surface``) the bake is exact: every
    texel is coloured by the field at its own surface point, not interpolated from the vertices.
    With ``output.normal_map`` the textured GLB keeps ``undisplaced`` (the input's positions in
    its frame) and carries the displacement as ``textures/normal.png`` / ``normalTexture``.

    ``on_phase("baking")`` is called before the bake (see :data:`OUTPUT_PHASES`).

    Returns:
        The bake's :class:`~stylize.mesh.bake.BakeReport`, or None when nothing was baked.
    """
    for fmt in MESH_FORMATS:
        name = f"mesh.{fmt}"
        if fmt == "glb" and result.source is not None:
            result.files[name] = write_scene_mesh(folder.file(name), result, metadata)
        else:
            result.files[name] = save_mesh(folder.file(name), result.vertices, result.faces, result.colors, metadata=metadata)
    out = result.config.output
    surface = styled is not None and styled.surface
    maps = bool(result.field.material.extra_channels)  # roughness, ...: only a bake carries them
    if not (out.bake or surface or out.normal_map or maps):
        return None
    from stylize.mesh.bake_scene import bake_loaded

    enter_phase(on_phase, "baking")
    source, normal_source = bake_sources(styled, out.normal_map, result.features)
    vertices = result.vertices
    if normal_source is not None and undisplaced is not None:
        vertices = undisplaced  # the relief goes into the normal map
    report = bake_loaded(result.source, vertices, result.colors, folder.file("mesh_textured.glb"), unwrap=out.bake_unwrap,
                         uv=uv, uv_choice=out.uv, keep_maps=out.keep_maps, size=out.bake_size, metadata=metadata,
                         source=source, normal_source=normal_source, material=result.field.material,
                         features=result.features)  # fmt: skip
    result.files["mesh_textured.glb"], result.files["mesh_textured.json"] = report.path, report.sidecar
    write_map_images(folder, result.files, report.maps)
    from stylize.mesh.bake_target import write_bake_preview

    result.files["mesh_textured_preview.png"] = write_bake_preview(report)
    return report


def write_scene_mesh(path: Path, result: Text2MeshResult, metadata: dict[str, Any]) -> Path:
    """``mesh.glb``: the input's scene (nodes, meshes and instancing, primitives, materials, cameras,
    lights, skins, morph targets, animations) with the result's positions, normals and colours
    (``COLOR_0``, the whole base colour: the maps around it follow ``output.keep_maps`` and
    specular-glossiness materials are written as metallic-roughness, as in a bake; tangents for
    kept normal maps); primitives without a material get a white rough one."""
    from stylize.mesh.bake_scene import tangent_frames
    from stylize.mesh.gltf.write import write_scene_glb
    from stylize.mesh.scene_unwrap import NEW_MATERIAL
    from stylize.mesh.seams import mesh_smoothing_groups, shading_normals, surface_smoothing_groups

    mesh = result.source
    vertices = np.asarray(result.vertices, dtype=np.float64)
    # Smoothing groups of the input (hard edges split, UV seams smooth) while it has the same vertices.
    same = len(mesh.vertices) == len(vertices) and np.array_equal(mesh.faces, result.faces)
    groups = mesh_smoothing_groups(mesh) if same else surface_smoothing_groups(vertices, result.faces)
    normals = shading_normals(vertices, result.faces, groups)
    tangents = tangent_frames(mesh, vertices, normals) if same else None  # kept normal maps need them
    bare = not mesh.parts or any(part.material is None for part in mesh.parts)
    return write_scene_glb(mesh, path, vertices, normals=normals, tangents=tangents, vertex_colors=result.colors,
                           metadata=metadata, keep_maps=result.config.output.keep_maps,
                           new_material=NEW_MATERIAL if bare else None)  # fmt: skip


def enter_phase(on_phase: Callable[[str], None] | None, name: str) -> None:
    """Log that writing the outputs entered the phase ``name`` and tell ``on_phase``."""
    logger.info("%s", {"scoring": "scoring the result", "writing": "writing the outputs", "baking": "baking the texture",
                       "rendering": "rendering the pictures"}[name])  # fmt: skip
    if on_phase is not None:
        on_phase(name)


def write_map_images(folder: RunFolder, files: dict[str, Path], maps: dict[str, np.ndarray]) -> None:
    """``textures/NAME.png`` for every baked map (``base_color``, ``normal``, the material's others)."""
    for name, pixels in maps.items():
        files[f"textures/{name}.png"] = save_image(folder.file("textures") / f"{name}.png", pixels)


def bake_sources(styled: StyledMesh | None, normal_map: bool, features: np.ndarray | None = None):
    """The exact-bake sources of a styled mesh: ``(colours or None, normal map or None)``.

    The material's features come from the field per texel when the field kind evaluates per
    point (surface mode; None in vertex mode: the vertices' features are interpolated); the normal
    map from the field's displacement when asked (``normal_map``), and always for a material
    that tilts normals (pbr: its tilt, with the relief when ``normal_map``), which in vertex mode
    interpolates the vertices' ``features`` ``(V, C)`` (default: the field at the vertices)."""
    import torch

    from stylize.mesh.bake import TexelSource

    if styled is None:
        return None, None
    attributes, device = styled.attributes().detach().cpu().numpy(), styled.vertices.device
    per_texel = styled.kind.texel_function(styled)  # None: the vertices' features are interpolated
    source = TexelSource(attributes, per_texel, device) if per_texel is not None else None
    normal_source = None
    if normal_map or styled.material.normal_detail:
        vertex_features = None if features is None else torch.as_tensor(np.asarray(features), dtype=torch.float32)
        normal_attributes, evaluate = styled.normal_map_texels(normal_map, vertex_features)
        normal_source = TexelSource(normal_attributes.cpu().numpy(), evaluate, device, needs_grad=normal_map)
    return source, normal_source


def write_pictures(folder: RunFolder, result: Text2MeshResult, render: Callable[[CameraViews, int], Any],
                   extent: float = 0.0) -> None:  # fmt: skip
    """``preview.png`` and ``turntable.gif`` of the stylized mesh.

    Args:
        render: ``render(views, size) -> (B, 3, size, size)`` images of the result, in its field's
            mode (e.g. :meth:`Text2MeshRun.render_views`).
        extent: the displaced mesh's largest distance from the centre (the normalised frame the
            cameras look at): a result grown past the configured views is framed whole, the
            cameras moved back as far as it needs.
    """
    import torch

    cfg = result.config
    radius = max(cfg.views.radius, framing_distance(extent, cfg.views.fov))
    with torch.no_grad():
        preview = render(preview_views(cfg, radius=radius), cfg.output.preview_size)
        columns = min(4, len(preview))
        result.files["preview.png"] = save_image(folder.file("preview.png"), image_grid(list(preview), columns=columns))
        frames = render(turntable_camera_views(cfg, radius=radius), cfg.output.turntable_size)
        result.files["turntable.gif"] = save_gif(folder.file("turntable.gif"), list(frames), duration_ms=60)


def _cpu_copy(field_module: NeuralStyleField) -> NeuralStyleField:
    return NeuralStyleField.from_checkpoint(field_module.checkpoint())


def save_vertex_data(path: Path, result: Text2MeshResult, mesh: LoadedMesh, bake: Any = None) -> Path:
    """Write ``vertex_data.npz`` atomically, for programs that map results back onto their own mesh:

    - ``vertices`` ``(V, 3)`` float64 (input frame), ``colors`` ``(V, 3)`` float32 sRGB,
      ``source_index`` ``(V,)`` int64: the vertex's index in the input file (-1 for vertices
      subdivision added). Vertices the loader dropped (used by no usable face) are absent, so map
      by ``source_index``, not by position in the array;
    - when a texture was baked: ``faces`` ``(F, 3)`` int64 into ``vertices``,
      ``source_face_index`` ``(F,)`` int64 (the face's index in the input file, -1 for faces the
      toolkit made) and ``face_uv`` ``(F, 3, 2)`` float32: each face corner's glTF UV (v down) in
      ``textures/base_color.png``;
    - for a material with channels beyond the base colour: ``channel_NAME`` ``(V, width)`` float32
      per extra channel (e.g. ``channel_roughness``), and ``material`` (its name).

    trimesh's OBJ reader already skips vertices that no face references, and ``source_index``
    counts the vertices it kept: write OBJ files without loose vertices to get file indices."""
    from stylize.utils import atomic_write

    source_index = mesh.source_vertex_index if mesh.source_vertex_index is not None else np.arange(len(result.vertices))
    arrays = {"vertices": result.vertices.astype(np.float64), "colors": result.colors.astype(np.float32),
              "source_index": np.asarray(source_index, dtype=np.int64)}  # fmt: skip
    material = result.field.material
    if result.features is not None:
        arrays["material"] = np.asarray(material.name)
        offset = 3
        for channel in material.extra_channels:
            arrays[f"channel_{channel.name}"] = result.features[:, offset : offset + channel.width].astype(np.float32)
            offset += channel.width
    if bake is not None and bake.face_uv is not None and len(bake.face_uv) == len(result.faces):
        face_index = mesh.source_face_index if mesh.source_face_index is not None else np.arange(len(result.faces))
        arrays.update(faces=result.faces.astype(np.int64), source_face_index=np.asarray(face_index, dtype=np.int64),
                      face_uv=bake.face_uv.astype(np.float32))  # fmt: skip
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


class PreviewSnapshots:
    """Snapshots of a run's per-vertex result while it goes: ``FOLDER/step_NNNNNN.npz``.

    Each holds what ``vertex_data.npz`` holds, smaller: ``vertices`` ``(V, 3)`` float32 in the
    input file's frame, ``colors`` ``(V, 3)`` float32 sRGB and ``source_index`` ``(V,)`` int64.
    A file appears complete or not at all (written beside, then renamed), and only the newest
    ``keep`` stay, so a reader that takes the newest one announced finds it for ``keep - 1``
    more snapshots. Snapshots read the field without changing it (no gradient, no random
    numbers), so the run's result is the same with or without them.

    Args:
        folder: where the snapshots go (created; stale ones of an earlier run are removed).
        every: write a snapshot after every ``every``-th step (never after the last: the run's
            own outputs follow).
        keep: how many to keep.
    """

    def __init__(self, folder: str | Path, every: int, keep: int = 3) -> None:
        if every < 1 or keep < 1:
            raise ValueError(f"expected every >= 1 and keep >= 1, got every={every}, keep={keep}")
        self.folder = Path(folder)
        self.every, self.keep = int(every), int(keep)
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("step_*.npz"):
            stale.unlink(missing_ok=True)
        self.written: deque[Path] = deque()

    def due(self, step: int, total: int) -> bool:
        """Whether ``step`` (counting from 1) of ``total`` gets a snapshot."""
        return step % self.every == 0 and step < total

    def write(self, run: Text2MeshRun, step: int) -> Path | None:
        """Write the snapshot of ``run``'s current field; None when it gives non-finite values
        (the run deals with those; a preview just skips them)."""
        import torch

        with torch.no_grad():
            colors, displacement = run.field_colors_and_displacement()
            if not (torch.isfinite(colors).all() and torch.isfinite(displacement).all()):
                return None
            vertices, colors = to_file_frame(run.mesh, run.styled.displaced(displacement), colors, run.weights)
        source = run.mesh.source_vertex_index
        path = self.folder / f"step_{step:06d}.npz"
        # No fsync (unlike the run's outputs): a snapshot is worthless after a crash, and the
        # rename alone is what keeps readers from seeing half a file.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle, vertices=vertices.astype(np.float32), colors=colors.astype(np.float32),
                    source_index=np.arange(len(vertices), dtype=np.int64) if source is None else np.asarray(source, np.int64),
                )  # fmt: skip
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.written.append(path)
        while len(self.written) > self.keep:
            self.written.popleft().unlink(missing_ok=True)
        return path


def save_text2mesh_outputs(
    run: Text2MeshRun,
    folder: RunFolder,
    started: float,
    config: Text2MeshConfig | None = None,
    on_phase: Callable[[str], None] | None = None,
    **run_info: Any,
) -> Text2MeshResult:
    """Score the result, write every output of the run folder and return the result.

    ``config`` is the run's config as the user gave it, for ``config.toml`` (default:
    ``run.config``; best-of-N passes its own, whose chosen candidate has its own seed);
    ``on_phase(name)`` is called as each of :data:`OUTPUT_PHASES` begins; ``run_info`` goes into
    ``run.json`` (e.g. the best-of candidates)."""
    cfg = run.config
    train_seconds = time.time() - started
    enter_phase(on_phase, "scoring")
    scores = run.final_scores() if run.iteration > 0 or run.status != "diverged" else {}
    result = collect_result(run, scores, run.stylized_features())
    result.out_dir = folder.path
    enter_phase(on_phase, "writing")
    metadata = output_metadata(cfg, run.iteration, list(run.engine.model_names))
    uv = run.mesh.uv if run.mesh.uv is not None and len(run.mesh.uv) == len(result.vertices) else None
    bake = write_meshes(folder, result, metadata, uv, styled=run.styled, undisplaced=run.mesh.file_vertices,
                        on_phase=on_phase)  # fmt: skip
    result.files["vertex_data.npz"] = save_vertex_data(folder.file("vertex_data.npz"), result, run.mesh, bake)
    result.files["field.pt"] = run.field.save(
        folder.file("field.pt"), prompt=cfg.prompt, iterations=run.iteration, model=list(run.engine.model_names)
    )
    enter_phase(on_phase, "rendering")
    write_pictures(folder, result, run.render_views, extent=float(run.stylized()[0].norm(dim=-1).max()))
    result.files["config.toml"] = folder.write_config(to_dict(config or cfg))
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
        steps=run.iteration,
        skipped_steps=run.skipped_steps,
        timings={
            "train_seconds": round(train_seconds, 3),
            "seconds_per_iteration": round(train_seconds / iterations, 4),
            **{f"{k}_seconds": round(v, 3) for k, v in run.timings.items()},
        },
        scores=scores,
        config=to_dict(config or cfg),
        **run_info,
        **({"bake": bake.to_dict()} if bake else {}),
    )
    logger.info("wrote run folder %s (%s after %d iterations)", folder.path, run.status, run.iteration)
    return result
