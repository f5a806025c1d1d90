"""Mesh files in and out: load through trimesh, validate and repair, normalise, export.

- :func:`load_mesh` reads OBJ, PLY, GLB/GLTF, OFF and STL, keeping the file's vertex order, then
  repairs and normalises it with :mod:`stylize.mesh.geometry`. GLB/GLTF go through the toolkit's
  own scene reader (:mod:`stylize.mesh.gltf.scene`): every primitive of every mesh instance in the
  world frame, concatenated, remembering its parts, materials and source scene so that
  :func:`stylize.mesh.gltf.write.write_scene_glb` can write the scene back. Other formats go through
  trimesh (``process=False``; only STL, which has no shared vertices, is welded) as one part,
  except an OBJ with several ``usemtl`` material groups: one part per group, with a one-node
  scene to write back (:mod:`stylize.mesh.obj_groups`).
  Every problem a user can cause is an :class:`~stylize.errors.InputError` with one line naming
  the file.
- :func:`save_mesh` writes GLB, PLY or OBJ with per-vertex colours, atomically. Colours are sRGB in
  memory and in PLY/OBJ; glTF's ``COLOR_0`` is linear, so GLB export converts sRGB -> linear (stored
  as float32 so nothing is lost) and GLB import converts back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylize.errors import InputError
from stylize.mesh.geometry import (
    DEFAULT_MAX_FACES,
    Normalization,
    RepairReport,
    normalize_vertices,
    repair_mesh,
    subdivide_to_vertex_count,
)
from stylize.mesh.gltf.glb import ARRAY_BUFFER, GlbBuilder
from stylize.mesh.gltf.scene import MeshMaterial, MeshPart, read_scene, repaired_parts, subdivided_parts
from stylize.mesh.obj_groups import material_group_names, read_material_groups
from stylize.mesh.texture import srgb_to_linear
from stylize.registry import Registry
from stylize.utils import atomic_path

__all__ = ["MESH_READ_FORMATS", "MESH_WRITE_FORMATS", "LoadedMesh", "load_mesh", "save_mesh"]

logger = logging.getLogger(__name__)

MESH_READ_FORMATS = (".glb", ".gltf", ".obj", ".off", ".ply", ".stl")


@dataclass
class LoadedMesh:
    """A validated triangle mesh.

    Attributes:
        vertices: ``(V, 3)`` float32, in the normalised frame when loaded with ``normalize=True``.
        faces: ``(F, 3)`` int64.
        colors: ``(V, 3)`` float32 sRGB in ``[0, 1]``, or None when the file had none.
        normalization: maps the stored vertices back to the file's frame.
        source_vertex_index: for each vertex, its index in the file (differs only where repair
            removed vertices or subdivision added some, marked -1).
        path: the file it came from, if any.
        repairs: what :func:`repair_mesh` removed.
        file_vertices: ``(V, 3)`` float64 positions in the file's frame at full precision (what
            outputs write back for vertices that must not move); None when not known.
        uv: ``(V, 2)`` texture coordinates from the file (trimesh's convention, v up:
            ``(u, 1 - v_gltf)``), or None; NaN rows for glTF primitives without ``TEXCOORD_0``.
        source_vertex_count: how many vertices the file had as read (before repair).
        parts: one :class:`MeshPart` per primitive instance (glTF) or one for the whole mesh,
            with its vertex and face ranges in these arrays and its material index.
        materials: the file's materials (:class:`MeshMaterial`: factor, decoded textures, JSON).
        source_scene: for glTF inputs, what :func:`~stylize.mesh.gltf.write.write_scene_glb`
            needs to write the scene back (opaque); None for other formats.
        source_face_index: for each face, its index in the file as read (-1 for faces that
            subdivision made); None when not known.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None
    normalization: Normalization = field(default_factory=Normalization)
    source_vertex_index: np.ndarray | None = None
    path: Path | None = None
    repairs: RepairReport = field(default_factory=RepairReport)
    file_vertices: np.ndarray | None = None
    uv: np.ndarray | None = None
    source_vertex_count: int | None = None
    parts: list[MeshPart] = field(default_factory=list)
    materials: list[MeshMaterial] = field(default_factory=list, repr=False)
    source_scene: Any = field(default=None, repr=False)
    source_face_index: np.ndarray | None = None

    def original_vertices(self, vertices: Any = None) -> Any:
        """``vertices`` (default: this mesh's) moved back to the file's frame."""
        return self.normalization.invert(self.vertices if vertices is None else vertices)

    def to_torch(self, device: Any = "cpu", dtype: Any = None):
        """``(vertices (V, 3), faces (F, 3) int64, colors (V, 3) or None)`` as torch tensors."""
        import torch

        dtype = dtype or torch.float32
        vertices = torch.as_tensor(self.vertices, dtype=dtype, device=device)
        faces = torch.as_tensor(self.faces, dtype=torch.int64, device=device)
        colors = None if self.colors is None else torch.as_tensor(self.colors, dtype=dtype, device=device)
        return vertices, faces, colors


def _fail(path: Path, message: str) -> InputError:
    return InputError(f"{path}: {message}")


def _check_file(path: Path) -> str:
    suffix = path.suffix.lower()
    if not path.exists():
        raise _fail(path, "mesh file not found")
    if not path.is_file():
        raise _fail(path, "is not a file")
    if suffix not in MESH_READ_FORMATS:
        raise _fail(
            path, f"unsupported mesh format {suffix or '(no extension)'!r}; expected one of {', '.join(MESH_READ_FORMATS)}"
        )
    if path.stat().st_size == 0:
        raise _fail(path, "mesh file is empty")
    return suffix


def _resolver(path: Path):
    """trimesh's file resolver for ``path``'s folder that also finds files named with Windows
    separators (``map_Kd .\\textures\\wood.jpg`` in an MTL written on Windows)."""
    import trimesh.resolvers

    class WindowsPathResolver(trimesh.resolvers.FilePathResolver):
        def get(self, name: str):
            try:
                return super().get(name)
            except (FileNotFoundError, ValueError):
                if "\\" not in name:
                    raise
                return super().get(name.replace("\\", "/"))

    return WindowsPathResolver(str(path))


def _read_with_trimesh(path: Path, suffix: str, force: str = "mesh"):
    import trimesh

    try:
        loaded = trimesh.load(str(path), file_type=suffix[1:], process=False, force=force, resolver=_resolver(path))
    except Exception as exc:  # trimesh raises many types for bad files; all mean "unreadable"
        if isinstance(exc, ImportError):
            # trimesh falls back to optional decoders for bytes it cannot parse; that is noise here.
            detail = "unrecognised content"
        else:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(path, f"cannot read {suffix[1:].upper()} file (truncated or corrupt?): {detail}") from exc
    if force == "scene":
        return loaded
    if not isinstance(loaded, trimesh.Trimesh) or loaded.faces is None or len(loaded.faces) == 0:
        raise _fail(path, "contains no triangle faces")
    if suffix == ".stl":
        # STL stores three private corners per triangle; weld them so the surface is connected.
        loaded.merge_vertices()
    return loaded


def _as_unit_colors(values: Any, n_vertices: int) -> np.ndarray | None:
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != n_vertices or values.shape[1] < 3:
        return None
    if values.dtype.kind in "iu":
        return values[:, :3].astype(np.float64) / float(np.iinfo(values.dtype).max)
    return values[:, :3].astype(np.float64)


def _trimesh_colors(mesh) -> np.ndarray | None:
    """Per-vertex colours trimesh found, in ``[0, 1]``, whatever visual kind holds them."""
    visual = mesh.visual
    n_vertices = len(mesh.vertices)
    if getattr(visual, "kind", None) == "vertex":
        return _as_unit_colors(visual.vertex_colors, n_vertices)
    # glTF primitives with a material keep COLOR_0 as a vertex attribute of a texture visual.
    attributes = getattr(visual, "vertex_attributes", None) or {}
    if "color" in attributes:
        return _as_unit_colors(attributes["color"], n_vertices)
    return None


def _texture_colors(mesh) -> np.ndarray | None:
    """sRGB colours of the material's base-colour texture (or flat colour) at the vertices' UVs."""
    uv = _trimesh_uv(mesh)
    if uv is None:
        return None
    from stylize.mesh.texture import material_colors

    return material_colors(getattr(mesh.visual, "material", None), uv)


def _trimesh_uv(mesh) -> np.ndarray | None:
    uv = getattr(mesh.visual, "uv", None)
    if uv is None or len(uv) != len(mesh.vertices):
        return None
    uv = np.asarray(uv, dtype=np.float64)
    if not np.isfinite(uv).all():
        bad = int((~np.isfinite(uv)).any(axis=1).sum())
        raise InputError(f"{bad} of its texture coordinates are not numbers (NaN or infinite): fix its UVs")
    return uv


def _colors_from_file(mesh) -> np.ndarray | None:
    colors = _trimesh_colors(mesh)
    if colors is None:
        colors = _texture_colors(mesh)  # textures are sRGB already
    return colors


def _trimesh_materials(mesh) -> list[MeshMaterial]:
    """The trimesh material of a non-glTF mesh (OBJ/MTL), as a one-item list, or ``[]``."""
    material = getattr(mesh.visual, "material", None)
    if material is None:
        return []
    image = getattr(material, "baseColorTexture", None)
    if image is None:
        image = getattr(material, "image", None)
    pixels = None
    if image is not None:
        pixels = np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB"), dtype=np.uint8)
    factor = np.ones(4)
    if getattr(material, "baseColorFactor", None) is not None:  # trimesh keeps it as 0..255
        given = np.asarray(material.baseColorFactor, dtype=np.float64).reshape(-1)
        factor[: min(len(given), 4)] = given[:4] / (255.0 if given.max() > 1.0 else 1.0)
    return [MeshMaterial(name=str(getattr(material, "name", None) or "material0"), base_color_factor=tuple(map(float, factor)),
                         base_color_texture=pixels)]  # fmt: skip


def _check_face_count(path: Path, faces: int, max_faces: int) -> None:
    if faces > max_faces:
        raise _fail(path, f"has {faces} faces, over the limit of {max_faces} (simplify it or raise max_faces)")


def _read_file(path: Path, suffix: str, max_faces: int) -> dict[str, Any]:
    """The file's arrays before repair: vertices, faces, colours, uv, parts, materials, source."""
    if suffix in (".glb", ".gltf"):
        scene = read_scene(path, max_faces=max_faces)
        if len(scene.faces) == 0:
            raise _fail(path, "contains no triangle faces")
        return {"vertices": scene.vertices, "faces": scene.faces, "colors": scene.colors, "uv": scene.uv,
                "parts": scene.parts, "materials": scene.materials, "source": scene.source}  # fmt: skip
    if suffix == ".obj" and len(material_group_names(path)) > 1:  # several usemtl groups: one part each
        groups = read_material_groups(path, _read_with_trimesh(path, suffix, force="scene"))
        if groups is not None:
            _check_face_count(path, len(groups["faces"]), max_faces)
            return groups
    mesh = _read_with_trimesh(path, suffix)
    _check_face_count(path, len(mesh.faces), max_faces)
    materials = _trimesh_materials(mesh)
    part = MeshPart(path.stem, None, None, 0, (0, len(mesh.vertices)), (0, len(mesh.faces)), 0 if materials else None)
    try:
        uv, colors = _trimesh_uv(mesh), _colors_from_file(mesh)
    except InputError as exc:  # (texture coordinates that are not numbers)
        raise _fail(path, str(exc)) from None
    return {"vertices": np.asarray(mesh.vertices, dtype=np.float64), "faces": np.asarray(mesh.faces),
            "colors": colors, "uv": uv, "parts": [part], "materials": materials, "source": None}  # fmt: skip


def load_mesh(
    path: str | os.PathLike,
    *,
    normalize: bool = True,
    max_faces: int = DEFAULT_MAX_FACES,
    target_vertices: int | None = None,
) -> LoadedMesh:
    """Load, validate, repair and (optionally) normalise and subdivide a mesh file.

    Args:
        path: an OBJ, PLY, GLB, GLTF, OFF or STL file.
        normalize: centre and scale into the unit ball (Text2Mesh), keeping the transform.
        max_faces: refuse files with more faces than this.
        target_vertices: subdivide coarse meshes until they have at least this many vertices.

    Raises:
        InputError: missing, empty, unreadable or truncated file, unknown extension, no faces, or
            more faces than ``max_faces``.
    """
    path = Path(path)
    suffix = _check_file(path)
    read = _read_file(path, suffix, max_faces)
    vertices, faces, colors, kept, report = repair_mesh(read["vertices"], read["faces"], read["colors"], name=str(path))
    if len(faces) == 0:
        raise _fail(path, "has no usable faces after removing degenerate and broken ones")
    uv = None if read["uv"] is None else read["uv"][kept]
    parts = repaired_parts(read["parts"], kept, faces)
    face_index = report.kept_face_index
    file_vertices = vertices
    normalization = Normalization()
    if normalize:
        vertices, normalization = normalize_vertices(vertices)
    if target_vertices is not None and len(vertices) < target_vertices:
        original_count = len(vertices)
        # UVs ride along with the colours: they are per vertex, so an edge's midpoint UV is exact.
        columns = [c for c in (colors, uv) if c is not None]
        packed = np.concatenate(columns, axis=1) if columns else None
        vertices, faces, packed, passes = subdivide_to_vertex_count(vertices, faces, packed, target_vertices, max_faces)
        colors = None if colors is None else packed[:, :3]
        uv = None if uv is None else packed[:, -2:]
        kept = np.concatenate([kept, np.full(len(vertices) - original_count, -1, dtype=np.int64)])
        file_vertices = np.concatenate([file_vertices, normalization.invert(vertices[original_count:])])
        parts = subdivided_parts(parts, passes)
        face_index = np.full(len(faces), -1, dtype=np.int64)
    return LoadedMesh(
        vertices=np.ascontiguousarray(vertices, dtype=np.float32),
        faces=np.ascontiguousarray(faces, dtype=np.int64),
        colors=None if colors is None else np.clip(np.asarray(colors, dtype=np.float32), 0.0, 1.0),
        normalization=normalization,
        source_vertex_index=kept,
        path=path,
        repairs=report,
        file_vertices=np.asarray(file_vertices, dtype=np.float64),
        uv=uv,
        source_vertex_count=int(len(read["vertices"])),
        parts=parts,
        materials=read["materials"],
        source_scene=read["source"],
        source_face_index=face_index,
    )


def _check_export_arrays(vertices, faces, colors) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    vertices = np.asarray(vertices.detach().cpu() if hasattr(vertices, "detach") else vertices, dtype=np.float64)
    faces = np.asarray(faces.detach().cpu() if hasattr(faces, "detach") else faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise ValueError(f"expected integer faces of shape (F, 3), got {faces.shape} {faces.dtype}")
    if colors is not None:
        colors = np.asarray(colors.detach().cpu() if hasattr(colors, "detach") else colors, dtype=np.float64)
        if colors.ndim != 2 or colors.shape[0] != len(vertices) or colors.shape[1] not in (3, 4):
            raise ValueError(f"expected colors of shape ({len(vertices)}, 3), got {colors.shape}")
        colors = np.clip(colors[:, :3], 0.0, 1.0)
    return vertices, faces.astype(np.int64), colors


def _write_with_trimesh(path: Path, vertices, faces, colors, metadata, file_type: str, **options) -> None:
    import trimesh

    rgba = None
    if colors is not None:
        rgba = np.concatenate([np.round(colors * 255), np.full((len(colors), 1), 255)], axis=1).astype(np.uint8)
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=rgba, process=False)
    with atomic_path(path) as tmp:
        mesh.export(str(tmp), file_type=file_type, **options)


def _write_ply(path: Path, vertices, faces, colors, metadata) -> None:
    _write_with_trimesh(path, vertices, faces, colors, metadata, "ply")


def _write_obj(path: Path, vertices, faces, colors, metadata) -> None:
    # No normals or texture coordinates: either would make readers split vertices.
    _write_with_trimesh(path, vertices, faces, colors, metadata, "obj", include_normals=False, include_texture=False)


def _write_glb(path: Path, vertices, faces, colors, metadata) -> None:
    """A minimal single-mesh GLB: float32 positions, uint32 indices, float32 linear COLOR_0."""
    glb = GlbBuilder("stylize", metadata)
    attributes = {"POSITION": glb.add_accessor(vertices.astype(np.float32), ARRAY_BUFFER, bounds=True)}
    if colors is not None:
        attributes["COLOR_0"] = glb.add_accessor(srgb_to_linear(colors).astype(np.float32))
    # White, rough, non-metallic: COLOR_0 multiplies the base colour, so this shows it as is.
    material = glb.add_material({"pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0,
                                                          "roughnessFactor": 1.0}})  # fmt: skip
    mesh = glb.add_mesh("stylized", [glb.primitive(attributes, glb.add_indices(faces), material)])
    glb.add_node({"mesh": mesh, "name": "stylized"})
    glb.write(path)


MESH_WRITE_FORMATS: Registry[Callable[..., None]] = Registry(
    "mesh output format", {".glb": _write_glb, ".ply": _write_ply, ".obj": _write_obj}
)


def save_mesh(
    path: str | os.PathLike,
    vertices: Any,
    faces: Any,
    colors: Any = None,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a mesh with optional per-vertex sRGB colours to GLB, PLY or OBJ, atomically.

    Vertex order is kept in all three formats. GLB stores colours as linear float32 ``COLOR_0``
    (glTF's rule); PLY stores 8-bit sRGB; OBJ stores sRGB after each vertex position.

    Args:
        path: output file; the extension picks the format.
        vertices: ``(V, 3)`` numpy array or tensor.
        faces: ``(F, 3)`` integer array or tensor.
        colors: ``(V, 3)`` sRGB in ``[0, 1]`` (alpha, if given, is dropped), or None.
        metadata: JSON-able values stored in the GLB's ``asset.extras`` (ignored by PLY/OBJ).

    Returns:
        The path written.
    """
    path = Path(path)
    try:
        writer = MESH_WRITE_FORMATS.lookup(path.suffix.lower())
    except InputError:
        raise InputError(
            f"{path}: cannot write mesh format {path.suffix!r}; expected one of {', '.join(MESH_WRITE_FORMATS)}"
        ) from None
    vertices, faces, colors = _check_export_arrays(vertices, faces, colors)
    writer(path, vertices, faces, colors, dict(metadata) if metadata else None)
    return path
