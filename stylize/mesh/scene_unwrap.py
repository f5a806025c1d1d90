"""New UVs for the parts of a glTF scene that have none, unwrapped per primitive, instancing kept.

A scene bake (:func:`~stylize.mesh.bake_scene.bake_scene`) writes one texture per material into
the material's own UV layout. Primitives without ``TEXCOORD_0`` have no layout, so
:func:`unwrap_scene` makes one: for each material whose primitives have no UVs (and no texture
that would need them), and for the primitives that have no material (they get one new material),
one xatlas atlas packs every source primitive once, in its mesh's own frame. Instances of a
primitive (the same mesh under several nodes) share its charts, so the written mesh stays
instanced and the texture has one place per surface point of the mesh.

xatlas cuts seams by duplicating vertices; the result is the scene's mesh with those vertices
split (:class:`SceneUnwrap`: the new :class:`~stylize.mesh.io.LoadedMesh` and, for each of its
vertices, the vertex it copies), faces in the same order, so everything per vertex (colours,
features, skin weights and morph deltas, through ``source_vertex_index``) follows.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from stylize.mesh.bake import default_padding
from stylize.mesh.gltf.scene import MeshPart, SceneSource, texture_sets
from stylize.mesh.io import LoadedMesh

__all__ = ["NEW_MATERIAL", "SceneUnwrap", "unwrap_scene"]

logger = logging.getLogger(__name__)

#: the material given to primitives that had none, to carry their baked texture
NEW_MATERIAL = {"name": "stylized", "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0,
                                                            "roughnessFactor": 1.0}}  # fmt: skip


@dataclass
class SceneUnwrap:
    """A scene mesh with new UVs where it had none.

    Attributes:
        mesh: the mesh with seam vertices split; ``uv`` set on the unwrapped parts.
        vertex_map: ``(W,)`` int64: the input mesh's vertex each vertex of ``mesh`` copies.
        new_material: index of the material added for primitives that had none (None: none added).
        unwrapped: the material indices whose parts got new UVs (``new_material`` included).
    """

    mesh: LoadedMesh
    vertex_map: np.ndarray
    new_material: int | None
    unwrapped: list[int]


def _has_uv(mesh: LoadedMesh, part: MeshPart) -> bool:
    return mesh.uv is not None and bool(np.isfinite(mesh.uv[part.vertex_slice]).all())


def _groups_to_unwrap(mesh: LoadedMesh, source: SceneSource) -> dict[int, list[int]]:
    """Material index (``len(materials)`` for "no material") -> the parts to unwrap."""
    materials = source.document.get("materials") or []
    by_material: dict[int, list[int]] = {}
    for number, part in enumerate(mesh.parts):
        by_material.setdefault(len(materials) if part.material is None else part.material, []).append(number)
    groups = {}
    for material, numbers in by_material.items():
        if material == len(materials):
            groups[material] = numbers
            continue
        if all(_has_uv(mesh, mesh.parts[n]) for n in numbers):
            continue
        if texture_sets(materials[material]):  # its textures need the UVs it lacks: kept (the layout says so)
            continue
        groups[material] = numbers
    return groups


def _local_positions(mesh: LoadedMesh, part: MeshPart, source: SceneSource, number: int) -> np.ndarray:
    """The part's vertices in its mesh's own frame (the world positions moved back by its node)."""
    world = source.instances[number].world
    points = np.asarray(mesh.file_vertices[part.vertex_slice], dtype=np.float64)
    inverse = np.linalg.pinv(world)
    return points @ inverse[:3, :3].T + inverse[:3, 3]


def unwrap_scene(mesh: LoadedMesh, size: int) -> SceneUnwrap | None:
    """New UVs for ``mesh``'s parts that need them (see the module docstring); None when every
    material's primitives have UVs already.

    Args:
        mesh: a glTF scene loaded by :func:`~stylize.mesh.io.load_mesh` (not subdivided).
        size: the texture size the atlas is packed for (its gutter follows it).
    """
    import xatlas

    source = mesh.source_scene
    if not isinstance(source, SceneSource) or mesh.file_vertices is None:
        return None
    groups = _groups_to_unwrap(mesh, source)
    if not groups:
        return None
    materials = source.document.get("materials") or []
    # (part number) -> (vertex_map into the part's vertices, faces local to the new vertices, gltf uv)
    charts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for numbers in groups.values():
        atlas = xatlas.Atlas()
        owners: dict[tuple, int] = {}  # (mesh, primitive, local faces) -> atlas mesh
        order: list[int] = []
        for number in numbers:
            part = mesh.parts[number]
            local_faces = np.asarray(mesh.faces[part.face_slice], dtype=np.int64) - part.vertex_range[0]
            key = (part.mesh, part.primitive, local_faces.tobytes())
            if key not in owners:
                owners[key] = len(order)
                order.append(number)
                positions = _local_positions(mesh, part, source, number)
                atlas.add_mesh(
                    np.ascontiguousarray(positions, dtype=np.float32), np.ascontiguousarray(local_faces, dtype=np.uint32)
                )
        pack = xatlas.PackOptions()
        pack.resolution, pack.padding, pack.bilinear = size, default_padding(size), True
        atlas.generate(xatlas.ChartOptions(), pack)
        for number in numbers:
            part = mesh.parts[number]
            local_faces = np.asarray(mesh.faces[part.face_slice], dtype=np.int64) - part.vertex_range[0]
            vertex_map, faces, uv = atlas[owners[(part.mesh, part.primitive, local_faces.tobytes())]]
            charts[number] = (np.asarray(vertex_map, np.int64), np.asarray(faces, np.int64), np.asarray(uv, np.float64))
    return _split(mesh, charts, len(materials) if len(materials) in groups else None, sorted(groups))


def _split(mesh: LoadedMesh, charts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], new_material: int | None,
           unwrapped: list[int]) -> SceneUnwrap:  # fmt: skip
    """``mesh`` with each charted part's vertices replaced by its charts' (seams split)."""
    maps, faces, uvs, parts = [], [], [], []
    start = face_start = 0
    for number, part in enumerate(mesh.parts):
        first = part.vertex_range[0]
        if number in charts:
            local_map, local_faces, gltf_uv = charts[number]
            vertex_map = first + local_map
            uv = np.column_stack([gltf_uv[:, 0], 1.0 - gltf_uv[:, 1]])  # LoadedMesh.uv's v-up
        else:
            vertex_map = np.arange(*part.vertex_range)
            local_faces = np.asarray(mesh.faces[part.face_slice], dtype=np.int64) - first
            uv = mesh.uv[part.vertex_slice] if mesh.uv is not None else np.full((len(vertex_map), 2), np.nan)
        maps.append(vertex_map)
        faces.append(local_faces + start)
        uvs.append(uv)
        parts.append(dataclasses.replace(part, vertex_range=(start, start + len(vertex_map)),
                                         face_range=(face_start, face_start + len(local_faces))))  # fmt: skip
        start += len(vertex_map)
        face_start += len(local_faces)
    vertex_map = np.concatenate(maps)

    def take(values):
        return None if values is None else np.asarray(values)[vertex_map]

    split = dataclasses.replace(
        mesh, vertices=mesh.vertices[vertex_map], faces=np.concatenate(faces), colors=take(mesh.colors),
        source_vertex_index=vertex_map if mesh.source_vertex_index is None else take(mesh.source_vertex_index), file_vertices=take(mesh.file_vertices),
        uv=np.concatenate(uvs), parts=parts,
    )  # fmt: skip
    logger.info("unwrapped new UVs for %d material(s) whose primitives had none (instances share their charts)",
                len(unwrapped))  # fmt: skip
    return SceneUnwrap(split, vertex_map, new_material, unwrapped)
