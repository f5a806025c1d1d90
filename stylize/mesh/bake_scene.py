"""Bake a stylized glTF scene back into its own structure: one new texture per material.

:func:`bake_loaded` is what every bake path calls (``mesh --bake``, ``stylize bake RUN``,
``stylize bake MESH``, ``stylize apply --bake``): a glTF scene goes through :func:`bake_scene`,
keeping its structure; other meshes (OBJ, PLY, ...) and explicit re-unwraps through
:func:`~stylize.mesh.bake.bake_mesh`.

A game asset comes as a glTF scene: nodes with transforms, meshes split into primitives, each with
a material whose base-colour texture is laid out in the primitive's own UVs. :func:`bake_scene`
keeps all of that: primitives without UVs get new ones first, per material, unwrapped once per
primitive in its mesh's frame so instances share them (:mod:`stylize.mesh.scene_unwrap`; those
without a material get a new one); then for every material whose primitives' UVs sit in one tile, the
texels its primitives cover are coloured (by the field at each texel's surface point in surface
mode, else by interpolating the vertex colours), dilated into the gutter, and the scene is
written again (:func:`~stylize.mesh.gltf.write.write_scene_glb`) with the same nodes, names,
transforms, primitive split and materials, each material's maps replaced by the ones its
:class:`~stylize.mesh.material.Material` exports (the base colour for ``diffuse``; with a
normal-map source, the normal texture too); materials' other properties are kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.errors import InputError
from stylize.mesh.bake import BakeReport, TexelSource, check_bake_memory, default_padding, export_maps, feature_values
from stylize.mesh.bake_target import BakeTarget, is_run_bake, update_run_bake, write_bake_preview
from stylize.mesh.config import check_texture_size
from stylize.mesh.geometry import vertex_normals, vertex_tangents
from stylize.mesh.gltf.glb import glb_extras
from stylize.mesh.gltf.write import write_scene_glb
from stylize.mesh.io import LoadedMesh
from stylize.mesh.material import Material, encode_map, get_material
from stylize.mesh.scene_unwrap import NEW_MATERIAL, unwrap_scene
from stylize.mesh.texture import dilate, rasterize_uv_triangles
from stylize.utils import write_json

__all__ = ["bake_file", "bake_loaded", "bake_scene", "can_bake_scene"]

logger = logging.getLogger(__name__)


def can_bake_scene(mesh: LoadedMesh) -> bool:
    """Whether ``mesh`` is a glTF scene whose structure can be written back as it is (no faces
    the toolkit added by subdivision)."""
    if mesh.source_scene is None or not mesh.parts:
        return False
    return not (mesh.source_face_index is not None and (np.asarray(mesh.source_face_index) < 0).any())


def _single_tile(corners: np.ndarray) -> np.ndarray | None:
    """The whole-number tile ``(du, dv)`` that every UV of ``corners`` ``(F, 3, 2)`` lies in (its
    edges included), or None when they are missing or span several tiles."""
    if corners.size == 0 or not np.isfinite(corners).all():
        return None
    flat = corners.reshape(-1, 2)
    low = np.floor(flat.min(axis=0))
    # A UV exactly on the tile's far edge (1.0 of tile 0) belongs to the tile below it.
    high = np.maximum(np.ceil(flat.max(axis=0)) - 1.0, low)
    if (low != high).any():
        return None
    return low


def _material_faces(mesh: LoadedMesh, new_material: int | None = None) -> dict[int, np.ndarray]:
    """Material index -> the faces of every part that uses it (``new_material``: the index of
    parts without one, or None to leave them out)."""
    faces: dict[int, list[np.ndarray]] = {}
    for part in mesh.parts:
        material = part.material if part.material is not None else new_material
        if material is not None:
            faces.setdefault(material, []).append(mesh.faces[part.face_slice])
    return {material: np.concatenate(items) for material, items in faces.items()}


def bake_scene(
    mesh: LoadedMesh,
    vertices: np.ndarray,
    colors: np.ndarray,
    path: str | Path,
    size: int = 1024,
    metadata: Mapping[str, Any] | None = None,
    source: TexelSource | None = None,
    normal_source: TexelSource | None = None,
    material: str | Material = "diffuse",
    features: np.ndarray | None = None,
) -> BakeReport:
    """Write ``mesh``'s scene to ``path`` with a new base-colour texture per material (see the
    module docstring) and a ``.json`` sidecar.

    Args:
        mesh: the loaded input scene (its parts, materials, UVs and source document).
        vertices: ``(V, 3)`` the result's positions in the file's world frame (displaced, or the
            input's own with a normal map).
        colors: ``(V, 3)`` sRGB vertex colours (interpolated into the textures unless ``source``).
        path: the ``.glb`` to write.
        size: texture size per material (a power of two).
        metadata: prompt, seed, model, ... for the extras and the sidecar.
        source: colour every texel by the field at its surface point (surface mode).
        normal_source: also bake a tangent-space normal map per material.
        material: the (stylize) material whose features are baked and whose maps replace each
            glTF material's.
        features: ``(V, C)`` per-vertex features of ``material`` (default: ``colors``).

    Returns:
        A :class:`~stylize.mesh.bake.BakeReport` (``texture``: the first material's image).
    """
    size = check_texture_size(size)
    path = Path(path)
    material = get_material(material)
    check_bake_memory(size, source, material.width)
    vertices = np.asarray(vertices, dtype=np.float64)
    colors = np.clip(np.asarray(colors, dtype=np.float64)[:, :3], 0.0, 1.0)
    values = feature_values(material, colors, features)
    start = time.perf_counter()
    # Normals of the surface as the run saw it, before seams are split for new UVs.
    normals = vertex_normals(torch.from_numpy(vertices), torch.from_numpy(mesh.faces)).numpy()
    unwrapped = unwrap_scene(mesh, size)
    vertex_map, new_material = np.arange(len(vertices)), None
    if unwrapped is not None:
        mesh, vertex_map, new_material = unwrapped.mesh, unwrapped.vertex_map, unwrapped.new_material
        vertices, values, normals = vertices[vertex_map], values[vertex_map], normals[vertex_map]
    timings = {"unwrap": time.perf_counter() - start}
    start = time.perf_counter()
    uv_up = np.asarray(mesh.uv, dtype=np.float64)
    gltf_uv = np.column_stack([uv_up[:, 0], 1.0 - uv_up[:, 1]])
    tangents = None
    if normal_source is not None:
        tangents = vertex_tangents(vertices, mesh.faces, np.nan_to_num(uv_up), normals)
    maps: dict[str, dict[int, np.ndarray]] = {}
    covered_share = []
    shifted = False
    for index, faces in _material_faces(mesh, new_material).items():
        corners = gltf_uv[faces]
        name = mesh.materials[index].name if index < len(mesh.materials) else index
        tile = _single_tile(corners)
        if tile is None:
            logger.warning("material %s: its UVs span several tiles or are missing; its texture is kept as it was", name)
            continue
        if tile.any():  # all in one other tile (legal with REPEAT): baked into [0, 1], UVs moved there
            used = np.unique(faces)
            gltf_uv[used] -= tile
            shifted = True
            logger.info("material %s: its UVs sit in tile (%d, %d); baked and written in tile (0, 0)", name, *tile)
        fill = values[np.unique(faces)].mean(axis=0)
        if source is None:
            image, covered = rasterize_uv_triangles(gltf_uv, faces, values, size, fill=fill)
        else:
            image, covered = source.bake(gltf_uv, faces, vertex_map, size, fill)
        image, _ = dilate(image, covered, default_padding(size))
        for name, pixels in export_maps(material, image).items():
            maps.setdefault(name, {})[index] = pixels
        covered_share.append(float(covered.mean()))
        if normal_source is not None:
            frames = np.concatenate([normals, tangents], axis=1)
            normal_image, normal_covered = normal_source.bake(gltf_uv, faces, vertex_map, size, (0.0, 0.0, 1.0), frames)
            normal_image, _ = dilate(normal_image, normal_covered, default_padding(size))
            maps.setdefault("normal", {})[index] = encode_map("normal", normal_image)
    timings["bake"] = time.perf_counter() - start
    start = time.perf_counter()
    metadata = dict(metadata or {})
    uv = np.column_stack([gltf_uv[:, 0], 1.0 - gltf_uv[:, 1]]) if shifted else None  # back to LoadedMesh.uv's v-up
    write_scene_glb(mesh, path, vertices, normals=normals.astype(np.float32), tangents=tangents, uv=uv, maps=maps,
                    metadata=metadata, new_material=NEW_MATERIAL if new_material is not None else None)  # fmt: skip
    timings["export"] = time.perf_counter() - start
    base_textures = maps.get("base_color", {})
    first = next(iter(base_textures.values()), None)
    report = BakeReport(
        path=path, sidecar=path.with_suffix(".json"), size=size, vertices=len(vertices), faces=len(mesh.faces),
        reused_uvs=unwrapped is None, charts=None, utilization=None, coverage=float(np.mean(covered_share)) if covered_share else 0.0,
        timings=timings, exact=source is not None, texture=first,
        face_uv=gltf_uv[mesh.faces].astype(np.float32) if first is not None else None,
        normal_texture=next(iter(maps.get("normal", {}).values()), None),
        maps={name: next(iter(images.values())) for name, images in maps.items()},
    )  # fmt: skip
    write_json(report.sidecar, {**metadata, "bake": {**report.to_dict(), "materials": sorted(base_textures)}})
    logger.info("baked the scene %s: %d material texture(s) at %d px", path, len(base_textures), size)
    return report


def bake_loaded(
    mesh: LoadedMesh,
    vertices: np.ndarray,
    colors: np.ndarray,
    path: str | Path,
    *,
    unwrap: bool = False,
    uv: np.ndarray | None = None,
    **options: Any,
) -> BakeReport:
    """Bake a loaded mesh's result, keeping its scene where it has one.

    Args:
        mesh: the loaded input (a glTF scene keeps its nodes, meshes, materials and rig).
        vertices, colors: ``(V, 3)`` the result in the file's frame (see :func:`bake_scene`).
        path: the ``.glb`` to write.
        unwrap: one new xatlas atlas for the whole surface, written as one mesh (the explicit
            re-unwrap: ``output.bake_unwrap``, ``bake --unwrap``), instead of the scene's layout.
        uv: the UVs a one-mesh bake keeps (None: unwrap); scenes use their own.
        options: ``size``, ``metadata``, ``source``, ``normal_source``, ``material``, ``features``.
    """
    from stylize.mesh.bake import bake_mesh

    if not unwrap and can_bake_scene(mesh):
        return bake_scene(mesh, vertices, colors, path, **options)
    if mesh.source_scene is not None and not unwrap:
        logger.warning("%s: the run added vertices (subdivision), so the scene cannot be written back as it was: "
                       "the textured GLB is one mesh", mesh.path)  # fmt: skip
    return bake_mesh(vertices, mesh.faces, colors, path, uv=None if unwrap else uv, **options)


def bake_file(
    mesh_path: str | Path,
    out: str | Path | None = None,
    size: int = 1024,
    reunwrap: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> BakeReport:
    """``stylize bake``: bake a coloured mesh file (GLB, PLY, OBJ, ...) into ``out`` (default:
    ``NAME_textured.glb`` beside it). The input's UVs are kept unless ``reunwrap``; its metadata
    (GLB extras, or the ``run.json`` of the run folder it sits in) is carried over. ``out`` is
    checked first (:class:`~stylize.mesh.bake_target.BakeTarget`: never an input, a file another
    writer made, or a run's own output; a run folder's lock is held while writing)."""
    from stylize import __version__
    from stylize.mesh.io import load_mesh

    size = check_texture_size(size)
    mesh_path = Path(mesh_path)
    out = Path(out) if out is not None else mesh_path.with_name(f"{mesh_path.stem}_textured.glb")
    target = BakeTarget(out, inputs=[mesh_path])  # checked before the mesh is read
    mesh = load_mesh(mesh_path, normalize=False)
    if mesh.colors is None:
        raise InputError(f"{mesh_path}: has no vertex colours or texture to bake")
    info: dict[str, Any] = {}
    run_json = mesh_path.parent / "run.json"
    if run_json.is_file():
        try:
            run = json.loads(run_json.read_text(encoding="utf-8"))
            info = {"prompt": run.get("prompt"), "seed": run.get("seed"), "model": run.get("clip")}
        except (OSError, ValueError):
            info = {}
    if mesh_path.suffix.lower() == ".glb":
        info.update(glb_extras(mesh_path))
    info = {k: v for k, v in info.items() if v is not None}
    info.update({"source": mesh_path.name, "version": __version__, **dict(metadata or {})})
    info.setdefault("generator", "stylize bake")
    with target:  # a glTF scene keeps its structure
        report = bake_loaded(mesh, mesh.file_vertices, mesh.colors, out, unwrap=reunwrap, uv=mesh.uv, size=size,
                             metadata=info)  # fmt: skip
        write_bake_preview(report)
        if is_run_bake(out, mesh_path.parent):  # the run's own bake: its textures/ follow
            update_run_bake(mesh_path.parent, report)
    return report
