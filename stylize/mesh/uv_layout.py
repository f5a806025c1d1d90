"""Where a scene bake writes each material's texels: the UV layout, as artists make them.

A material's primitives come with ``TEXCOORD_0`` laid out by an artist, and that layout is not
always one the stylized texture can reuse:

- **tiles**: UVs sit in another whole tile (``v`` in ``[1, 2]``: legal with REPEAT) or spread
  over several (UDIM-style: tile ``1001``, ``1002``, ... each a texture in the DCC tool). glTF
  has no UDIM: one texture per slot, repeated over every tile. A layout in *one* other tile is
  baked in tile ``(0, 0)`` and its UVs moved there (whole tiles: what REPEAT samples stays the
  same). Several tiles are laid side by side in one texture (a grid of ``n x n`` cells, tile
  order by ``(v, u)``) as a new UV set, unless they must be reused (then they share, as REPEAT
  shows them);
- **overlap**: mirrored halves and stacked islands let two surface places claim one texel
  (:func:`overlap_share`), so one would show the other's pattern. Such a material's stylized
  maps go to a *new* UV set (xatlas, non-overlapping), written as ``TEXCOORD_n`` (``n`` the
  first free set, 1 for most files) with the new texture infos' ``texCoord`` set to ``n``; the
  input's ``TEXCOORD_0`` and the maps that read it are kept as they were.

The choice (``output.uv`` / ``--uv``): ``auto`` (the default) reuses a layout that is clean
(overlap under :data:`OVERLAP_LIMIT` in one tile) and writes a new set otherwise; ``reuse``
always bakes into ``TEXCOORD_0`` (overlapping places share texels; several tiles share one);
``new`` always writes a new set. One log line says what was chosen per material. Materials
whose primitives had no UVs and were just unwrapped (``fresh``: :mod:`stylize.mesh.scene_unwrap`)
bake into that new ``TEXCOORD_0`` whatever the choice.

Instances of one mesh (several nodes) are one surface place: they share their texels, and get
the same new UVs so the instancing can be kept.

**Shared atlases**: materials laid out side by side in one UV set (an artist's atlas: their
charts do not overlap each other) share one texture per map, as they usually shared one image in
the input, instead of one texture each (:func:`shared_atlases`): their maps read the same
``TEXCOORD_n``, and their footprints in it are disjoint (at most :data:`OVERLAP_LIMIT` of the
smaller one's covered texels also claimed by the other). Materials given new unwraps never share
(each unwrap fills the whole square).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from stylize.mesh.config import UV_CHOICES, check_uv_choice
from stylize.mesh.texture import uv_coverage_counts

__all__ = ["OVERLAP_LIMIT", "UV_CHOICES", "SceneLayout", "check_uv_choice", "overlap_share", "plan_layout", "shared_atlases"]

logger = logging.getLogger(__name__)

#: Share of a layout's covered texels claimed by two or more triangles above which ``auto``
#: writes a new UV set (texel centres exactly on a shared edge count twice; this stays above that).
OVERLAP_LIMIT = 0.02
#: Resolution the overlap is measured at.
OVERLAP_RESOLUTION = 256


def face_tiles(corners: np.ndarray) -> np.ndarray:
    """The whole-number tile ``(F, 2)`` each face lies in (the tile of its centroid), glTF UVs
    ``(F, 3, 2)``."""
    return np.floor(corners.mean(axis=1))


def overlap_share(corners: np.ndarray, resolution: int = OVERLAP_RESOLUTION) -> float:
    """The share of covered texel centres that two or more triangles claim, for glTF UVs
    ``(F, 3, 2)`` in ``[0, 1]`` (0 for a clean layout, about 1 for a mirrored half on the other)."""
    if len(corners) == 0:
        return 0.0
    counts = uv_coverage_counts(corners.reshape(-1, 2), np.arange(3 * len(corners)).reshape(-1, 3), resolution)
    covered = int((counts > 0).sum())
    return float((counts > 1).sum()) / covered if covered else 0.0


def footprint(uv: np.ndarray, faces: np.ndarray, resolution: int = OVERLAP_RESOLUTION) -> np.ndarray:
    """The texels ``(resolution, resolution)`` bool whose centres ``faces`` ``(F, 3)`` cover in
    glTF UVs ``uv`` ``(V, 2)`` in ``[0, 1]``; a footprint smaller than every texel centre gets
    the texels its corners fall in (so it still meets what it overlaps)."""
    covered = uv_coverage_counts(uv, faces, resolution) > 0
    if not covered.any() and len(faces):
        corners = np.clip((np.asarray(uv)[np.asarray(faces).reshape(-1)] * resolution).astype(np.int64), 0, resolution - 1)
        covered[corners[:, 1], corners[:, 0]] = True
    return covered


def shared_atlases(uv: np.ndarray, faces_of: Mapping[int, np.ndarray], tex_coord: Mapping[int, int],
                   resolution: int = OVERLAP_RESOLUTION) -> list[list[int]]:  # fmt: skip
    """Group materials that can share one texture per map (the module docstring): same
    ``texCoord`` (``tex_coord``, default 0) and footprints in ``uv`` (the bake's glTF UVs
    ``(V, 2)``) that do not overlap. ``faces_of``: material -> its faces ``(F, 3)``. Returns the
    groups in ``faces_of``'s order, each in the same order (a material alone is a group of one)."""
    groups: list[tuple[int, list[int], list[np.ndarray]]] = []  # (texCoord, materials, their footprints)
    for material, faces in faces_of.items():
        mask = footprint(uv, faces, resolution)
        area = int(mask.sum())
        number = tex_coord.get(material, 0)
        for group_number, members, masks in groups:
            if group_number == number and all(
                (mask & other).sum() <= OVERLAP_LIMIT * max(min(area, int(other.sum())), 1) for other in masks
            ):
                members.append(material)
                masks.append(mask)
                break
        else:
            groups.append((number, [material], [mask]))
    return [members for _, members, _ in groups]


def tile_grid(corners: np.ndarray, tiles: np.ndarray) -> tuple[np.ndarray, int]:
    """UVs ``(F, 3, 2)`` of faces in several tiles laid side by side in one texture: tile ``k``
    (in ``(v, u)`` order) goes to cell ``(k % n, k // n)`` of an ``n x n`` grid."""
    unique, which = np.unique(tiles[:, ::-1], axis=0, return_inverse=True)
    which = which.reshape(-1)
    cells = int(np.ceil(np.sqrt(len(unique))))
    cell = np.stack([which % cells, which // cells], axis=1).astype(np.float64)
    local = np.clip(corners - tiles[:, None, :], 0.0, 1.0)
    return (local + cell[:, None, :]) / cells, cells


def unwrap_corners(positions: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """A new non-overlapping layout (xatlas) of ``faces`` ``(F, 3)``: glTF UVs per corner ``(F, 3, 2)``."""
    from stylize.mesh.bake import unwrap

    used, local = np.unique(faces, return_inverse=True)
    vertex_map, new_faces, uv, _, _ = unwrap(positions[used], local.reshape(-1, 3), size)
    return uv[new_faces]


@dataclass
class SceneLayout:
    """Where a scene bake writes, after :func:`plan_layout`.

    Vertices whose corners got different new UVs are split: output vertex ``w`` copies input
    vertex ``vertex_map[w]`` (the first ``V`` keep their index; copies are appended).

    Attributes:
        vertex_map: ``(W,)`` input vertex of each output vertex.
        faces: ``(F, 3)`` the faces over the output vertices (same order as the input's).
        uv0: ``(W, 2)`` glTF ``TEXCOORD_0`` to write (the input's, moved out of another tile).
        new_uv: ``(W, 2)`` glTF UVs of the new set, NaN rows for materials that reuse ``TEXCOORD_0``.
        bake_uv: ``(W, 2)`` glTF UVs in ``[0, 1]`` the textures are baked in.
        tex_coord: material index -> the ``TEXCOORD_n`` its new maps read.
        notes: material name -> what was chosen, for the log line.
    """

    vertex_map: np.ndarray
    faces: np.ndarray
    uv0: np.ndarray
    new_uv: np.ndarray
    bake_uv: np.ndarray
    tex_coord: dict[int, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return "; ".join(f"{name}: {note}" for name, note in self.notes.items())


def _first_instances(mesh, faces_of: dict[int, list]) -> None:
    """Fill ``faces_of`` (material -> [(faces (F, 3), first instance?)]) from ``mesh.parts``."""
    seen: set[tuple] = set()
    for part in mesh.parts:
        if part.material is None:
            continue
        key = (part.mesh, part.primitive) if part.mesh is not None else (id(part),)
        faces_of.setdefault(part.material, []).append((part.face_slice, key not in seen, key))
        seen.add(key)


def _file_sets(mesh) -> dict[int, int]:
    """Per material: the number of ``TEXCOORD_n`` sets its primitives have in the file (the new
    set's index: sets stay continuous)."""
    source = mesh.source_scene
    sets: dict[int, int] = {}
    for part, instance in zip(mesh.parts, getattr(source, "instances", []) or [], strict=False):
        if part.material is None:
            continue
        names = [n for n in instance.attributes if n.startswith("TEXCOORD_")]
        count = 1 + max((int(n.split("_")[1]) for n in names), default=0)
        sets[part.material] = max(sets.get(part.material, 1), count)
    return sets


def plan_layout(mesh, vertices: np.ndarray, size: int, choice: str = "auto", fresh: Collection[int] = ()) -> SceneLayout:
    """Decide, per material of a loaded glTF scene, where its stylized texels go (module docstring).

    Args:
        mesh: the :class:`~stylize.mesh.io.LoadedMesh` (parts, materials, ``uv`` v-up).
        vertices: ``(V, 3)`` positions for a new unwrap (the file's frame).
        size: the bake's texture size (the unwrap's packing resolution).
        choice: ``auto``, ``reuse`` or ``new``.
        fresh: materials whose ``TEXCOORD_0`` is a new unwrap already (their primitives had no
            UVs: :mod:`stylize.mesh.scene_unwrap`); they bake into it whatever ``choice`` says.
    """
    check_uv_choice(choice)
    count = len(mesh.faces)
    uv_up = np.asarray(mesh.uv, dtype=np.float64)
    gltf = np.column_stack([uv_up[:, 0], 1.0 - uv_up[:, 1]])
    corner_uv0 = gltf[mesh.faces]  # (F, 3, 2)
    corner_new = np.full_like(corner_uv0, np.nan)
    faces_of: dict[int, list] = {}
    _first_instances(mesh, faces_of)
    sets = _file_sets(mesh)
    layout_notes: dict[str, str] = {}
    tex_coord: dict[int, int] = {}
    skipped: list[int] = []
    for material, items in faces_of.items():
        name = mesh.materials[material].name if material < len(mesh.materials) else f"material{material}"
        index = np.concatenate([np.arange(count)[s] for s, _, _ in items])
        first = np.concatenate([np.full(s.stop - s.start, f) for s, f, _ in items])
        corners = corner_uv0[index]
        if len(index) == 0:
            continue
        if not np.isfinite(corners).all():
            logger.warning("material %s: some of its primitives have no UVs; its textures are kept as they were", name)
            skipped.append(material)
            continue
        tiles = face_tiles(corners)
        unique_tiles = np.unique(tiles, axis=0)
        local = corners - tiles[:, None, :]
        per_tile = [overlap_share(local[first & (tiles == tile).all(axis=1)]) for tile in unique_tiles]
        several = len(unique_tiles) > 1
        overlap = max(per_tile)
        shared = overlap_share(local[first]) if several else overlap
        if material in fresh or choice == "reuse" or (choice == "auto" and not several and overlap <= OVERLAP_LIMIT):
            corner_uv0[index] = local  # every face moved into tile (0, 0): REPEAT samples the same
            what = "TEXCOORD_0, a new unwrap (its primitives had no UVs)" if material in fresh else "reused TEXCOORD_0"
            if several:
                what += f" ({len(unique_tiles)} tiles share one texture)"
            elif unique_tiles[0].any():
                what += " (moved from tile ({:.0f}, {:.0f}) to (0, 0))".format(*unique_tiles[0])
            if shared > OVERLAP_LIMIT:
                what += f"; {100 * shared:.0f} % of its texels are claimed twice"
            layout_notes[name] = what
            continue
        if choice == "auto" and several and overlap <= OVERLAP_LIMIT:
            new, cells = tile_grid(corners, tiles)
            why = f"{len(unique_tiles)} UV tiles laid side by side ({cells} x {cells})"
        else:
            new = _unwrap_shared(mesh, vertices, items, size)
            if choice == "new":
                why = "a new unwrap (output.uv = new)"
            else:
                why = f"a new unwrap ({100 * shared:.0f} % of its texels are claimed twice: overlapping or mirrored UVs)"
        corner_new[index] = new
        tex_coord[material] = sets.get(material, 1)
        layout_notes[name] = f"TEXCOORD_{tex_coord[material]}, {why}"
    return _split(mesh, corner_uv0, corner_new, tex_coord, layout_notes, skipped)


def _unwrap_shared(mesh, vertices: np.ndarray, items: list, size: int) -> np.ndarray:
    """New UVs per corner for every face of ``items``: unwrapped once per surface place (the
    first instance), and the same UVs copied to the other instances' faces (same order)."""
    firsts = {key: s for s, first, key in items if first}
    faces = np.concatenate([mesh.faces[s] for s in firsts.values()])
    unwrapped = unwrap_corners(np.asarray(vertices, dtype=np.float64), faces, size)
    by_key, start = {}, 0
    for key, s in firsts.items():
        by_key[key] = unwrapped[start : start + s.stop - s.start]
        start += s.stop - s.start
    out = []
    for s, _, key in items:
        same = by_key[key]
        if len(same) == s.stop - s.start:
            out.append(same)
        else:  # repair removed different faces of this instance: unwrap it on its own
            out.append(unwrap_corners(np.asarray(vertices, dtype=np.float64), mesh.faces[s], size))
    return np.concatenate(out)


def _split(mesh, corner_uv0, corner_new, tex_coord, notes, skipped) -> SceneLayout:
    """Output vertices: one per (vertex, TEXCOORD_0, new UV) its corners use; the first of each
    vertex keeps its index."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    vertex_count = len(mesh.vertices)
    corner_vertex = faces.reshape(-1)
    keys = np.column_stack([corner_vertex, np.nan_to_num(corner_uv0.reshape(-1, 2), nan=-1e30),
                            np.nan_to_num(corner_new.reshape(-1, 2), nan=-1e30)])  # fmt: skip
    unique, first_corner, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    owner = corner_vertex[first_corner]
    # the first key of each vertex (in corner order) keeps the vertex's index
    order = np.lexsort((first_corner, owner))
    keeps = np.zeros(len(unique), dtype=bool)
    keeps[order[np.r_[True, owner[order][1:] != owner[order][:-1]]]] = True
    index = np.empty(len(unique), dtype=np.int64)
    index[keeps] = owner[keeps]
    extra = np.flatnonzero(~keeps)
    index[extra] = vertex_count + np.arange(len(extra))
    vertex_map = np.concatenate([np.arange(vertex_count), owner[extra]])
    new_faces = index[inverse].reshape(-1, 3)
    uv_up = np.asarray(mesh.uv, dtype=np.float64)
    uv0 = np.column_stack([uv_up[:, 0], 1.0 - uv_up[:, 1]])[vertex_map]
    new_uv = np.full((len(vertex_map), 2), np.nan)
    flat_new, flat_uv0 = corner_new.reshape(-1, 2), corner_uv0.reshape(-1, 2)
    uv0[new_faces.reshape(-1)] = flat_uv0
    new_uv[new_faces.reshape(-1)] = flat_new
    bake_uv = np.where(np.isfinite(new_uv), new_uv, uv0)
    return SceneLayout(vertex_map, new_faces, uv0, new_uv, bake_uv, tex_coord, notes, skipped)
