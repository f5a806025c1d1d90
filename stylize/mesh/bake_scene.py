"""Bake a stylized glTF scene back into its own structure: one new texture per material.

A game asset comes as a glTF scene: nodes with transforms, meshes split into primitives, each with
a material whose base-colour texture is laid out in the primitive's own UVs. :func:`bake_scene`
keeps all of that: for every material whose primitives have usable UVs (inside ``[0, 1]``), the
texels its primitives cover are coloured (by the field at each texel's surface point in surface
mode, else by interpolating the vertex colours), dilated into the gutter, and the scene is
written again (:func:`~stylize.mesh.gltf.write.write_scene_glb`) with the same nodes, names,
transforms, primitive split and materials, each material's maps replaced by the ones its
:class:`~stylize.mesh.material.Material` exports (the base colour for ``diffuse``; with a
normal-map source, the normal texture too); materials' other properties are kept.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stylize.mesh.bake import BakeReport, TexelSource, check_bake_memory, default_padding, export_maps, feature_values
from stylize.mesh.config import check_texture_size
from stylize.mesh.geometry import vertex_tangents
from stylize.mesh.gltf.write import write_scene_glb
from stylize.mesh.io import LoadedMesh
from stylize.mesh.material import Material, encode_map, get_material
from stylize.mesh.seams import mesh_smoothing_groups, shading_normals
from stylize.mesh.texture import dilate, rasterize_uv_triangles
from stylize.mesh.uv_layout import SceneLayout, plan_layout
from stylize.utils import write_json

__all__ = ["bake_scene", "can_bake_scene", "material_sizes"]

logger = logging.getLogger(__name__)


def can_bake_scene(mesh: LoadedMesh) -> bool:
    """Whether ``mesh`` is a glTF scene whose structure can be written back as it is (no faces
    the toolkit added by subdivision; some part has a material)."""
    if mesh.source_scene is None or not mesh.parts or mesh.uv is None:
        return False
    if mesh.source_face_index is not None and (np.asarray(mesh.source_face_index) < 0).any():
        return False
    return any(part.material is not None for part in mesh.parts)


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


def material_sizes(mesh: LoadedMesh, vertices: np.ndarray, faces: dict[int, np.ndarray], size: int) -> dict[int, int]:
    """Texture size per material, following the input's texel density so a bake stays near the
    input's size: ``size`` (the bake size) is the most; a material with a base-colour texture
    gets the power of two at or above that texture's larger side, one without gets ``size`` x the
    square root of its share of the surface area (a material on a ninth of the surface, a third
    of the size); never under :data:`SMALLEST_TEXTURE` (or ``size`` when that is smaller)."""
    corners = np.asarray(vertices, dtype=np.float64)
    areas = {index: 0.5 * float(np.linalg.norm(np.cross(corners[f[:, 1]] - corners[f[:, 0]],
                                                        corners[f[:, 2]] - corners[f[:, 0]]), axis=1).sum())
             for index, f in faces.items()}  # fmt: skip
    total = sum(areas.values()) or 1.0
    sizes = {}
    for index in faces:
        texture = mesh.materials[index].base_color_texture if index < len(mesh.materials) else None
        wanted = max(texture.shape[:2]) if texture is not None else size * np.sqrt(areas[index] / total)
        sizes[index] = min(size, max(SMALLEST_TEXTURE, _power_of_two(wanted)))
    return sizes


def _has_normal_maps(mesh: LoadedMesh) -> bool:
    """Whether any material of the scene has a normal texture (kept ones need tangents too)."""
    return any(isinstance(m.properties, dict) and "normalTexture" in m.properties for m in mesh.materials)


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
            ``auto`` (the input's ``TEXCOORD_0`` when clean, else a new set), ``reuse`` or ``new``.
        keep_maps: which old maps survive around the new base colour (``output.keep_maps``,
            :mod:`stylize.mesh.gltf.materials`).

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
    # Hard edges keep split normals, UV seams shade smoothly (the copies were displaced together).
    normals = shading_normals(vertices, mesh.faces, mesh_smoothing_groups(mesh))
    undisplaced = mesh.file_vertices if mesh.file_vertices is not None else vertices
    layout = plan_layout(mesh, undisplaced, size, uv)
    logger.info("UV layout of %s: %s (output.uv = %s)", path.name, layout.describe() or "nothing to bake", uv)
    vertex_map, faces = layout.vertex_map, layout.faces
    bake_uv = layout.bake_uv
    tangents = None
    if normal_source is not None or _has_normal_maps(mesh):
        # Every normal map needs TANGENTs in its own UVs: a new one reads the bake's layout, a
        # kept one the input's TEXCOORD_0 (the geometry moved: the file's tangents are redone).
        tangent_uv = bake_uv if normal_source is not None else layout.uv0
        tangents = vertex_tangents(vertices[vertex_map], faces, np.column_stack([tangent_uv[:, 0], 1.0 - tangent_uv[:, 1]]),
                                   normals[vertex_map])  # fmt: skip
    maps: dict[str, dict[int, np.ndarray]] = {}
    covered_share = []
    by_material = _material_faces(mesh, faces)
    sizes = material_sizes(mesh, vertices[vertex_map], by_material, size)
    for index, items in by_material.items():
        if index in layout.skipped:
            continue
        used = np.unique(items)
        fill = values[vertex_map[used]].mean(axis=0)
        own = sizes[index]
        if source is None:
            image, covered = rasterize_uv_triangles(bake_uv, items, values[vertex_map], own, fill=fill)
        else:
            image, covered = source.bake(bake_uv, items, vertex_map, own, fill)
        image, _ = dilate(image, covered, default_padding(own))
        for name, pixels in export_maps(material, image).items():
            maps.setdefault(name, {})[index] = pixels
        covered_share.append(float(covered.mean()))
        if normal_source is not None:
            frames = np.concatenate([normals[vertex_map], tangents], axis=1)
            normal_image, normal_covered = normal_source.bake(bake_uv, items, vertex_map, own, (0.0, 0.0, 1.0), frames)
            normal_image, _ = dilate(normal_image, normal_covered, default_padding(own))
            maps.setdefault("normal", {})[index] = encode_map("normal", normal_image)
    timings = {"bake": time.perf_counter() - start}
    start = time.perf_counter()
    metadata = dict(metadata or {})
    written = _split_mesh(mesh, layout)
    uv_up = np.column_stack([layout.uv0[:, 0], 1.0 - layout.uv0[:, 1]])  # LoadedMesh.uv's v-up
    new_sets = {n: layout.new_uv for n in sorted(set(layout.tex_coord.values()))}
    write_scene_glb(written, path, vertices[vertex_map], normals=normals[vertex_map].astype(np.float32), tangents=tangents,
                    uv=uv_up, uv_sets=new_sets, tex_coords=layout.tex_coord, maps=maps, metadata=metadata,
                    keep_maps=keep_maps)  # fmt: skip
    timings["export"] = time.perf_counter() - start
    base_textures = maps.get("base_color", {})
    first = next(iter(base_textures.values()), None)
    report = BakeReport(
        path=path, sidecar=path.with_suffix(".json"), size=size, vertices=len(vertices), faces=len(mesh.faces),
        reused_uvs=True, charts=None, utilization=None, coverage=float(np.mean(covered_share)) if covered_share else 0.0,
        timings=timings, exact=source is not None, texture=first,
        face_uv=bake_uv[faces].astype(np.float32) if first is not None else None,
        normal_texture=next(iter(maps.get("normal", {}).values()), None),
        maps={name: next(iter(images.values())) for name, images in maps.items()},
    )  # fmt: skip
    write_json(report.sidecar, {**metadata, "bake": {**report.to_dict(), "materials": sorted(base_textures)}})
    logger.info("baked the scene %s: %d material texture(s) at %d px", path, len(base_textures), size)
    return report
