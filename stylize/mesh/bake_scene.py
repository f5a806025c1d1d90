"""Bake a stylized glTF scene back into its own structure: new textures per material (or per shared atlas).

:func:`bake_loaded` is what every bake path calls (``mesh --bake``, ``stylize bake RUN``,
``stylize bake MESH``, ``stylize apply --bake``): a glTF scene goes through :func:`bake_scene`,
keeping its structure (an explicit re-unwrap too: a new UV set per material); other meshes (PLY,
one-material OBJ, ...) through :func:`~stylize.mesh.bake.bake_mesh`.

A game asset comes as a glTF scene: nodes with transforms, meshes split into primitives, each with
a material whose base-colour texture is laid out in the primitive's own UVs. :func:`bake_scene`
keeps all of that:

1. normals are computed on the run's surface as it is (smoothing groups: hard edges keep split
   normals, UV seams shade smoothly; :mod:`stylize.mesh.seams`), before anything is split;
2. primitives without UVs get new ones, per material, unwrapped once per primitive in its mesh's
   frame so instances share them (:mod:`stylize.mesh.scene_unwrap`; those without a material
   get a new one);
3. each material's layout is chosen (:mod:`stylize.mesh.uv_layout`, ``output.uv``): its
   ``TEXCOORD_0`` reused when clean (moved out of another whole tile), else a new set
   ``TEXCOORD_n`` (overlapping or mirrored UVs, several tiles);
4. materials laid out side by side in one UV set (same ``texCoord``, footprints disjoint) share
   one texture per map, as an artist's atlas does (:func:`~stylize.mesh.uv_layout.shared_atlases`),
   the others get one each;
5. the texels each texture's primitives cover are coloured (by the field at each texel's surface
   point in surface mode, else by interpolating the vertex colours) at a size that follows the
   input's texel density (:func:`material_sizes`), dilated into the gutter;
6. the scene is written again (:func:`~stylize.mesh.gltf.write.write_scene_glb`) with the same
   nodes, names, transforms, primitive split, rig and materials, each material's maps replaced
   by the ones its :class:`~stylize.mesh.material.Material` exports (the base colour for
   ``diffuse``; with a normal-map source, the normal texture too), the old maps around the new
   colour kept or dropped by ``output.keep_maps`` (:mod:`stylize.mesh.gltf.materials`), and
   tangents for every normal map.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stylize.errors import InputError
from stylize.mesh.bake import BakeReport, TexelSource, check_bake_memory, default_padding, export_maps, feature_values
from stylize.mesh.bake_target import BakeTarget, is_run_bake, update_run_bake, write_bake_preview
from stylize.mesh.config import check_texture_size, check_uv_choice, parse_keep_maps
from stylize.mesh.geometry import vertex_tangents
from stylize.mesh.gltf.glb import glb_extras
from stylize.mesh.gltf.scene import MeshMaterial
from stylize.mesh.gltf.write import write_scene_glb
from stylize.mesh.io import LoadedMesh
from stylize.mesh.material import Material, encode_map, get_material
from stylize.mesh.scene_unwrap import NEW_MATERIAL, unwrap_scene
from stylize.mesh.seams import mesh_smoothing_groups, shading_normals
from stylize.mesh.texture import dilate, rasterize_uv_triangles
from stylize.mesh.uv_layout import SceneLayout, plan_layout, shared_atlases
from stylize.utils import write_json

__all__ = ["bake_file", "bake_loaded", "bake_scene", "can_bake_scene", "material_sizes", "tangent_frames"]

logger = logging.getLogger(__name__)


def can_bake_scene(mesh: LoadedMesh) -> bool:
    """Whether ``mesh`` is a glTF scene whose structure can be written back as it is (no faces
    the toolkit added by subdivision)."""
    if mesh.source_scene is None or not mesh.parts:
        return False
    return not (mesh.source_face_index is not None and (np.asarray(mesh.source_face_index) < 0).any())


def _material_faces(mesh: LoadedMesh, faces: np.ndarray) -> dict[int, np.ndarray]:
    """Material index -> the ``faces`` (rows in ``mesh.faces``' order) of every part that uses it."""
    found: dict[int, list[np.ndarray]] = {}
    for part in mesh.parts:
        if part.material is not None:
            found.setdefault(part.material, []).append(faces[part.face_slice])
    return {material: np.concatenate(items) for material, items in found.items()}


#: The smallest texture a material gets when its size follows the input (below the bake size).
SMALLEST_TEXTURE = 256


def _power_of_two(value: float) -> int:
    return 1 << max(int(np.ceil(np.log2(max(value, 1.0)))), 0)


def material_sizes(mesh: LoadedMesh, vertices: np.ndarray, faces: dict[int, np.ndarray], size: int,
                   groups: list[list[int]] | None = None) -> dict[int, int]:  # fmt: skip
    """Texture size per material, following the input's texel density so a bake stays near the
    input's size: ``size`` (the bake size) is the most; a material with a base-colour texture
    gets the power of two at or above that texture's larger side, one without gets ``size`` x the
    square root of its share of the surface area (a material on a ninth of the surface, a third
    of the size); never under :data:`SMALLEST_TEXTURE` (or ``size`` when that is smaller).
    ``groups`` (materials sharing one texture: :func:`~stylize.mesh.uv_layout.shared_atlases`)
    get one size each: the largest their textured members ask for, and their untextured members'
    area shares taken together."""
    corners = np.asarray(vertices, dtype=np.float64)
    areas = {index: 0.5 * float(np.linalg.norm(np.cross(corners[f[:, 1]] - corners[f[:, 0]],
                                                        corners[f[:, 2]] - corners[f[:, 0]]), axis=1).sum())
             for index, f in faces.items()}  # fmt: skip
    total = sum(areas.values()) or 1.0
    sizes = {}
    for group in groups if groups is not None else [[index] for index in faces]:
        textures = [mesh.materials[i].base_color_texture for i in group if i < len(mesh.materials)]
        wanted = [max(texture.shape[:2]) for texture in textures if texture is not None]
        bare = sum(areas[i] for i in group if i >= len(mesh.materials) or mesh.materials[i].base_color_texture is None)
        if bare > 0 or not wanted:
            wanted.append(size * np.sqrt(bare / total))
        sizes.update(dict.fromkeys(group, min(size, max(SMALLEST_TEXTURE, _power_of_two(max(wanted))))))
    return sizes


def _material_name(mesh: LoadedMesh, index: int) -> str:
    return (mesh.materials[index].name if index < len(mesh.materials) else None) or f"material{index}"


def _has_normal_maps(mesh: LoadedMesh) -> bool:
    """Whether any material of the scene has a normal texture (kept ones need tangents too)."""
    return any(isinstance(m.properties, dict) and "normalTexture" in m.properties for m in mesh.materials)


def tangent_frames(
    mesh: LoadedMesh, vertices: np.ndarray, normals: np.ndarray, uv: np.ndarray | None = None
) -> np.ndarray | None:
    """``(V, 4)`` tangents for a scene's kept normal maps (they read ``TEXCOORD_0``: ``uv`` v-up,
    default ``mesh.uv``), or None when no material has a normal map or there are no UVs."""
    uv = mesh.uv if uv is None else uv
    if uv is None or not _has_normal_maps(mesh):
        return None
    uv = np.nan_to_num(np.asarray(uv, dtype=np.float64))
    return vertex_tangents(np.asarray(vertices, dtype=np.float64), mesh.faces, uv, np.asarray(normals, dtype=np.float64))


def _with_new_material(mesh: LoadedMesh, new_material: int | None) -> LoadedMesh:
    """``mesh`` with its parts that have no material pointing at ``new_material``'s index (its
    :data:`~stylize.mesh.scene_unwrap.NEW_MATERIAL`, appended to ``materials`` for names and sizes)."""
    if new_material is None:
        return mesh
    parts = [part if part.material is not None else dataclasses.replace(part, material=new_material) for part in mesh.parts]
    materials = list(mesh.materials)
    if len(materials) == new_material:
        materials.append(MeshMaterial(NEW_MATERIAL["name"], properties=dict(NEW_MATERIAL)))
    return dataclasses.replace(mesh, parts=parts, materials=materials)


def _split_mesh(mesh: LoadedMesh, layout: SceneLayout) -> LoadedMesh:
    """``mesh`` over the layout's output vertices (copies appended where new UVs split a vertex)."""
    vertex_map = layout.vertex_map
    if len(vertex_map) == len(mesh.vertices) and np.array_equal(layout.faces, mesh.faces):
        return mesh
    source = mesh.source_vertex_index if mesh.source_vertex_index is not None else np.arange(len(mesh.vertices))
    return dataclasses.replace(
        mesh, vertices=mesh.vertices[vertex_map], faces=layout.faces,
        colors=None if mesh.colors is None else mesh.colors[vertex_map],
        source_vertex_index=np.asarray(source)[vertex_map], uv=None if mesh.uv is None else mesh.uv[vertex_map],
        file_vertices=None if mesh.file_vertices is None else mesh.file_vertices[vertex_map],
    )  # fmt: skip


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
    uv: str = "auto",
    keep_maps: Any = "auto",
) -> BakeReport:
    """Write ``mesh``'s scene to ``path`` with a new base-colour texture per material (see the
    module docstring) and a ``.json`` sidecar.

    Args:
        mesh: the loaded input scene (its parts, materials, UVs and source document).
        vertices: ``(V, 3)`` the result's positions in the file's world frame (displaced, or the
            input's own with a normal map).
        colors: ``(V, 3)`` sRGB vertex colours (interpolated into the textures unless ``source``).
        path: the ``.glb`` to write.
        size: the largest texture size per material (a power of two); each material's follows
            the input's texel density (:func:`material_sizes`).
        metadata: prompt, seed, model, ... for the extras and the sidecar.
        source: colour every texel by the field at its surface point (surface mode).
        normal_source: also bake a tangent-space normal map per material.
        material: the (stylize) material whose features are baked and whose maps replace each
            glTF material's.
        features: ``(V, C)`` per-vertex features of ``material`` (default: ``colors``).
        uv: where the new maps are laid out (``output.uv``, :mod:`stylize.mesh.uv_layout`):
            ``auto`` (the input's ``TEXCOORD_0`` when clean, else a new set), ``reuse`` or ``new``;
            primitives that had no UVs always get theirs as ``TEXCOORD_0``.
        keep_maps: which old maps survive around the new base colour (``output.keep_maps``,
            :mod:`stylize.mesh.gltf.materials`).

    Returns:
        A :class:`~stylize.mesh.bake.BakeReport` (``texture``: the first material's image).
    """
    size = check_texture_size(size)
    check_uv_choice(uv)
    parse_keep_maps(keep_maps)
    path = Path(path)
    material = get_material(material)
    check_bake_memory(size, source, material.width)
    vertices = np.asarray(vertices, dtype=np.float64)
    colors = np.clip(np.asarray(colors, dtype=np.float64)[:, :3], 0.0, 1.0)
    values = feature_values(material, colors, features)
    start = time.perf_counter()
    # Normals of the surface as the run saw it, before seams are split for new UVs: hard edges
    # keep split normals, UV seams shade smoothly (the copies were displaced together).
    normals = shading_normals(vertices, mesh.faces, mesh_smoothing_groups(mesh))
    # Everything below is per output vertex w, a copy of the run's vertex vertex_map[w]: first
    # the seams of new UVs for primitives that had none, then those of the layout's new sets.
    vertex_map, new_material, fresh = np.arange(len(vertices)), None, []
    unwrapped = unwrap_scene(mesh, size)
    if unwrapped is not None:
        mesh, vertex_map, new_material, fresh = unwrapped.mesh, unwrapped.vertex_map, unwrapped.new_material, unwrapped.unwrapped
    mesh = _with_new_material(mesh, new_material)
    if mesh.uv is None:  # no part has UVs, and none could get them (textured materials are kept)
        mesh = dataclasses.replace(mesh, uv=np.full((len(mesh.vertices), 2), np.nan))
    undisplaced = mesh.file_vertices if mesh.file_vertices is not None else vertices[vertex_map]
    layout = plan_layout(mesh, undisplaced, size, uv, fresh=fresh)
    logger.info("UV layout of %s: %s (output.uv = %s)", path.name, layout.describe() or "nothing to bake", uv)
    written = _split_mesh(mesh, layout)
    vertex_map, faces, bake_uv = vertex_map[layout.vertex_map], layout.faces, layout.bake_uv
    timings = {"unwrap": time.perf_counter() - start}
    start = time.perf_counter()
    tangents = None
    if normal_source is not None or _has_normal_maps(mesh):
        # Every normal map needs TANGENTs in its own UVs: a new one reads the bake's layout, a
        # kept one the input's TEXCOORD_0 (the geometry moved: the file's tangents are redone).
        tangent_uv = np.nan_to_num(bake_uv if normal_source is not None else layout.uv0)
        tangent_uv_up = np.column_stack([tangent_uv[:, 0], 1.0 - tangent_uv[:, 1]])
        tangents = vertex_tangents(vertices[vertex_map], faces, tangent_uv_up, normals[vertex_map])
    maps: dict[str, dict[int, np.ndarray]] = {}
    covered_share = []
    by_material = {m: f for m, f in _material_faces(mesh, faces).items() if m not in layout.skipped}
    atlases = shared_atlases(bake_uv, by_material, layout.tex_coord)
    sizes = material_sizes(mesh, vertices[vertex_map], by_material, size, atlases)
    for group in atlases:
        # one image for the group: its footprints are disjoint, so each material's texels are its own
        items = np.concatenate([by_material[index] for index in group])
        used = np.unique(items)
        fill = values[vertex_map[used]].mean(axis=0)
        own = sizes[group[0]]
        if source is None:
            image, covered = rasterize_uv_triangles(bake_uv, items, values[vertex_map], own, fill=fill)
        else:
            image, covered = source.bake(bake_uv, items, vertex_map, own, fill)
        image, _ = dilate(image, covered, default_padding(own))
        for name, pixels in export_maps(material, image).items():
            maps.setdefault(name, {}).update(dict.fromkeys(group, pixels))
        covered_share.append(float(covered.mean()))
        if normal_source is not None:
            frames = np.concatenate([normals[vertex_map], tangents], axis=1)
            normal_image, normal_covered = normal_source.bake(bake_uv, items, vertex_map, own, (0.0, 0.0, 1.0), frames)
            normal_image, _ = dilate(normal_image, normal_covered, default_padding(own))
            maps.setdefault("normal", {}).update(dict.fromkeys(group, encode_map("normal", normal_image)))
    shared = [group for group in atlases if len(group) > 1]
    if shared:
        logger.info("materials sharing one UV layout share one texture per map: %s",
                    "; ".join(", ".join(_material_name(mesh, index) for index in group) for group in shared))  # fmt: skip
    timings["bake"] = time.perf_counter() - start
    start = time.perf_counter()
    metadata = dict(metadata or {})
    uv_up = np.column_stack([layout.uv0[:, 0], 1.0 - layout.uv0[:, 1]])  # LoadedMesh.uv's v-up
    new_sets = {n: layout.new_uv for n in sorted(set(layout.tex_coord.values()))}
    write_scene_glb(written, path, vertices[vertex_map], normals=normals[vertex_map].astype(np.float32), tangents=tangents,
                    uv=uv_up, uv_sets=new_sets, tex_coords=layout.tex_coord, maps=maps, metadata=metadata,
                    keep_maps=keep_maps, clear=material.clears, new_material=NEW_MATERIAL if new_material is not None else None)  # fmt: skip
    timings["export"] = time.perf_counter() - start
    base_textures = maps.get("base_color", {})
    first = next(iter(base_textures.values()), None)
    report = BakeReport(
        path=path, sidecar=path.with_suffix(".json"), size=size, vertices=len(vertices), faces=len(mesh.faces),
        reused_uvs=unwrapped is None and not layout.tex_coord, charts=None, utilization=None,
        coverage=float(np.mean(covered_share)) if covered_share else 0.0,
        timings=timings, exact=source is not None, texture=first,
        face_uv=bake_uv[faces].astype(np.float32) if first is not None else None,
        normal_texture=next(iter(maps.get("normal", {}).values()), None),
        maps={name: next(iter(images.values())) for name, images in maps.items()},
    )  # fmt: skip
    atlas_names = [[_material_name(mesh, index) for index in group] for group in shared]
    write_json(report.sidecar, {**metadata, "bake": {**report.to_dict(), "materials": sorted(base_textures),
                                                     "shared_atlases": atlas_names}})  # fmt: skip
    logger.info("baked the scene %s: %d material(s) in %d texture(s), at most %d px", path, len(base_textures),
                len(atlases), size)  # fmt: skip
    return report


def bake_loaded(
    mesh: LoadedMesh,
    vertices: np.ndarray,
    colors: np.ndarray,
    path: str | Path,
    *,
    unwrap: bool = False,
    uv: np.ndarray | None = None,
    uv_choice: str = "auto",
    keep_maps: Any = "auto",
    **options: Any,
) -> BakeReport:
    """Bake a loaded mesh's result, keeping its scene where it has one.

    Args:
        mesh: the loaded input (a glTF scene keeps its nodes, meshes, materials and rig).
        vertices, colors: ``(V, 3)`` the result in the file's frame (see :func:`bake_scene`).
        path: the ``.glb`` to write.
        unwrap: new UVs (the explicit re-unwrap: ``output.bake_unwrap``, ``bake --unwrap``): a
            scene keeps its structure and every material gets a new unwrap as a new UV set
            (``uv_choice`` ``new``); any other mesh one new xatlas atlas.
        uv: the UVs a one-mesh bake keeps (None: unwrap); scenes use their own.
        uv_choice: a scene's layout (``output.uv``: ``auto``, ``reuse`` or ``new``; :func:`bake_scene`'s ``uv``).
        keep_maps: a scene's kept maps around the new base colour (``output.keep_maps``).
        options: ``size``, ``metadata``, ``source``, ``normal_source``, ``material``, ``features``.
    """
    from stylize.mesh.bake import bake_mesh

    if can_bake_scene(mesh):
        if unwrap:  # the explicit re-unwrap keeps the scene: every material gets a new UV set
            logger.info(
                "%s: new UVs for every material (output.bake_unwrap), as a new TEXCOORD_n beside the input's", Path(path).name
            )
        return bake_scene(mesh, vertices, colors, path, uv="new" if unwrap else uv_choice, keep_maps=keep_maps, **options)
    if mesh.source_scene is not None:
        logger.warning("%s: the run added vertices (subdivision), so the scene cannot be written back as it was: "
                       "the textured GLB is one mesh", mesh.path)  # fmt: skip
    return bake_mesh(vertices, mesh.faces, colors, path, uv=None if unwrap else uv, **options)


def bake_file(
    mesh_path: str | Path,
    out: str | Path | None = None,
    size: int = 1024,
    reunwrap: bool = False,
    metadata: Mapping[str, Any] | None = None,
    uv: str = "auto",
    keep_maps: Any = "auto",
) -> BakeReport:
    """``stylize bake``: bake a coloured mesh file (GLB, PLY, OBJ, ...) into ``out`` (default:
    ``NAME_textured.glb`` beside it). The input's UVs are kept unless ``reunwrap`` (a glTF
    scene's layout and kept maps follow ``uv`` and ``keep_maps``, see :func:`bake_scene`); its metadata
    (GLB extras, or the ``run.json`` of the run folder it sits in) is carried over. ``out`` is
    checked first (:class:`~stylize.mesh.bake_target.BakeTarget`: never an input, a file another
    writer made, or a run's own output; a run folder's lock is held while writing)."""
    from stylize import __version__
    from stylize.mesh.io import load_mesh

    size = check_texture_size(size)
    check_uv_choice(uv, "uv")
    parse_keep_maps(keep_maps, "keep_maps")
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
        report = bake_loaded(mesh, mesh.file_vertices, mesh.colors, out, unwrap=reunwrap, uv=mesh.uv, uv_choice=uv,
                             keep_maps=keep_maps, size=size, metadata=info)  # fmt: skip
        write_bake_preview(report)
        if is_run_bake(out, mesh_path.parent):  # the run's own bake: its textures/ follow
            update_run_bake(mesh_path.parent, report)
    return report
