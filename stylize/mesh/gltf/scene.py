"""glTF scenes with their structure: every triangle primitive of every mesh instance, in the world.

:func:`read_scene` walks the default scene's node hierarchy (``matrix`` or TRS per node) and
returns each triangle primitive of each mesh instance moved into the world frame, concatenated in
(node index, primitive index) order, with the materials (base-colour and normal textures decoded
to uint8 pixels) and a :class:`SceneSource` that :func:`~stylize.mesh.gltf.write.write_scene_glb`
uses to write the same scene back. :func:`stylize.mesh.io.load_mesh` builds its
:class:`~stylize.mesh.io.LoadedMesh` from it for ``.glb`` and ``.gltf`` files.

Conventions:

- positions and normals are in the world frame; a node whose transform mirrors (negative
  determinant) has its triangles' winding reversed, so faces stay outward in the world, as the
  spec tells renderers to do;
- ``uv`` follows :class:`~stylize.mesh.io.LoadedMesh`'s (trimesh's) convention, ``v`` up:
  ``(u, 1 - v_gltf)``; rows of primitives without ``TEXCOORD_0`` are NaN;
- colours are sRGB: ``COLOR_0`` (linear) converted; else the material's base-colour texture
  sampled at the primitive's UVs times ``baseColorFactor`` (or the factor alone) when the
  primitive has UVs, as the loader did before scenes; once any primitive has colours, the others
  get their material's factor (white without one), so every vertex has a colour;
- ``TRIANGLE_STRIP`` and ``TRIANGLE_FAN`` become triangle lists; points and lines are skipped.

Skins, morph targets and animations are read to be written back, not applied: a skinned mesh is
read in its bind pose (placed by its node's world transform, as exporters leave it), morph targets
at weight 0 (the base positions). Each primitive keeps its ``JOINTS_n`` / ``WEIGHTS_n`` and its
targets' deltas (:class:`PrimitiveInstance`); the skins' inverse bind matrices and the animations'
keys are decoded into the :class:`SceneSource`. Draco primitives and meshopt buffer views are
decoded when their packages are installed (:mod:`stylize.mesh.gltf.compression`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylize.errors import InputError
from stylize.mesh.gltf.asset import GltfAsset, GltfLimits
from stylize.mesh.gltf.compression import decode_draco_primitive, draco_extension
from stylize.mesh.gltf.glb import TYPE_WIDTHS
from stylize.mesh.gltf.nodes import scene_roots, world_transforms
from stylize.mesh.texture import linear_to_srgb, sample_texture, texture_transform, transform_uv, wrap_uv

__all__ = [
    "GltfScene", "MeshMaterial", "MeshPart", "PrimitiveInstance", "SceneSource", "read_scene", "repaired_parts",
    "subdivided_parts", "texture_sets",
]  # fmt: skip

logger = logging.getLogger(__name__)

_TRIANGLES, _STRIP, _FAN = 4, 5, 6


@dataclass(frozen=True)
class MeshPart:
    """One triangle primitive of one mesh instance inside the concatenated arrays of a mesh.

    Attributes:
        name: the mesh's name (``mesh<index>`` when it has none), or the file's stem.
        node: index of the glTF node that instances the mesh (None: not from a glTF node).
        mesh: index of the glTF mesh (None for other formats).
        primitive: index of the primitive in its mesh.
        vertex_range: ``(start, stop)`` of the part's vertices in the concatenated vertices
            (vertices that subdivision adds are appended after every part's range).
        face_range: ``(start, stop)`` of the part's faces in the concatenated faces.
        material: index into the mesh's materials, or None.
        node_name: the node's name, if any.
    """

    name: str
    node: int | None
    mesh: int | None
    primitive: int
    vertex_range: tuple[int, int]
    face_range: tuple[int, int]
    material: int | None = None
    node_name: str | None = None

    @property
    def vertex_slice(self) -> slice:
        return slice(*self.vertex_range)

    @property
    def face_slice(self) -> slice:
        return slice(*self.face_range)


@dataclass
class MeshMaterial:
    """A material as the file defines it.

    Attributes:
        name: the material's name (``material<index>`` when it has none).
        base_color_factor: linear RGBA multiplier (glTF ``baseColorFactor``).
        base_color_texture: ``(H, W, 3|4)`` uint8 sRGB pixels, or None.
        normal_texture: ``(H, W, 3|4)`` uint8 tangent-space normal map (linear data), or None.
        base_color_tex_coord: which ``TEXCOORD_n`` the base-colour texture uses.
        normal_tex_coord: which ``TEXCOORD_n`` the normal texture uses.
        properties: the material's glTF JSON as read (every other property, verbatim).
        base_color_transform: ``(3, 3)`` the base-colour texture's ``KHR_texture_transform``
            (applied to its UVs before sampling), or None.
    """

    name: str
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    base_color_texture: np.ndarray | None = None
    normal_texture: np.ndarray | None = None
    base_color_tex_coord: int = 0
    normal_tex_coord: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    base_color_transform: np.ndarray | None = None


@dataclass
class PrimitiveInstance:
    """One part's origin: the node, mesh and primitive it came from and how it was placed.

    Attributes:
        node, mesh, primitive: source indices (``node`` None when the scene has no nodes).
        world: ``(4, 4)`` float64 node-to-world transform.
        file_vertex_range: ``(start, stop)`` of its vertices in the file's concatenated vertices
            (before repair), the space of ``LoadedMesh.source_vertex_index``.
        attributes: the primitive's attributes as read, local frame, in file vertex order:
            ``POSITION``, ``NORMAL``, ``TANGENT``, ``TEXCOORD_n``, ``COLOR_0`` (linear), and the
            skin's ``JOINTS_n`` (int64) and ``WEIGHTS_n``, when present.
        targets: the primitive's morph targets, each ``semantic -> (N, 3)`` deltas (local frame).
    """

    node: int | None
    mesh: int
    primitive: int
    world: np.ndarray
    file_vertex_range: tuple[int, int]
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    targets: list[dict[str, np.ndarray]] = field(default_factory=list)


@dataclass
class SceneSource:
    """What a scene writer needs to write a loaded scene back; opaque to everything else.

    Attributes:
        path: the file it was read from.
        document: the glTF JSON as read.
        instances: one :class:`PrimitiveInstance` per part, in part order.
        images: per glTF image, ``(encoded bytes, MIME type)`` (None where unreadable or unused).
        roots: the default scene's root nodes (None when the file has no nodes).
        inverse_bind_matrices: per skin, its ``(J, 16)`` column-major matrices (None: identity).
        animation_keys: per animation, per sampler, ``(input (K,), output (K * n, width))``.
    """

    path: Path
    document: dict[str, Any]
    instances: list[PrimitiveInstance]
    images: list[tuple[bytes, str | None] | None]
    roots: list[int] | None
    inverse_bind_matrices: list[np.ndarray | None] = field(default_factory=list)
    animation_keys: list[list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)


@dataclass
class GltfScene:
    """A scene flattened into one mesh that remembers its parts.

    Attributes:
        vertices: ``(N, 3)`` float64 world positions. faces: ``(F, 3)`` int64.
        uv: ``(N, 2)`` trimesh-convention UVs (NaN rows for primitives without), or None.
        colors: ``(N, 3)`` sRGB in ``[0, 1]``, or None.
        parts, materials, source: see :class:`MeshPart`, :class:`MeshMaterial`, :class:`SceneSource`.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None
    colors: np.ndarray | None
    parts: list[MeshPart]
    materials: list[MeshMaterial]
    source: SceneSource


def repaired_parts(parts: list[MeshPart], kept: np.ndarray, faces: np.ndarray) -> list[MeshPart]:
    """``parts`` after :func:`~stylize.mesh.geometry.repair_mesh`, which keeps the order of the
    vertices (``kept``: input index of each output vertex) and faces it does not remove.

    Shape:
        - kept: ``(V,)`` int64; faces: ``(F, 3)`` repaired faces.
    """
    if not parts:
        return []
    starts = np.searchsorted(kept, [p.vertex_range[0] for p in parts])
    stops = np.searchsorted(kept, [p.vertex_range[1] for p in parts])
    owner = np.searchsorted(stops, faces[:, 0], side="right") if len(faces) else np.zeros(0, dtype=np.int64)
    face_stops = np.cumsum(np.bincount(owner, minlength=len(parts)))
    face_starts = np.concatenate([[0], face_stops[:-1]])
    return [
        MeshPart(p.name, p.node, p.mesh, p.primitive, (int(a), int(b)), (int(c), int(d)), p.material, p.node_name)
        for p, a, b, c, d in zip(parts, starts, stops, face_starts, face_stops, strict=False)
    ]


def subdivided_parts(parts: list[MeshPart], passes: int) -> list[MeshPart]:
    """``parts`` after ``passes`` midpoint subdivisions, which split every face in four in place
    (face ranges grow by 4 per pass) and append new vertices after the existing ones."""
    scale = 4**passes
    return [
        MeshPart(
            p.name,
            p.node,
            p.mesh,
            p.primitive,
            p.vertex_range,
            (p.face_range[0] * scale, p.face_range[1] * scale),
            p.material,
            p.node_name,
        )  # fmt: skip
        for p in parts
    ]


# -- primitives ------------------------------------------------------------------------------------


def _triangles(indices: np.ndarray, mode: int) -> np.ndarray:
    """Triangle list ``(F, 3)`` from an index sequence of a triangle list, strip or fan."""
    if mode == _TRIANGLES:
        return indices[: len(indices) // 3 * 3].reshape(-1, 3)
    count = max(len(indices) - 2, 0)
    i = np.arange(count)
    if mode == _STRIP:  # the spec's order keeps every triangle's winding
        return np.stack([indices[i], indices[i + 1 + i % 2], indices[i + 2 - i % 2]], axis=1)
    return np.stack([indices[i + 1], indices[i + 2], np.full(count, indices[0] if count else 0)], axis=1)


def _primitive_face_count(asset: GltfAsset, primitive: dict[str, Any]) -> int:
    """Triangles a primitive holds, from the JSON alone (nothing decoded)."""
    source = primitive["indices"] if "indices" in primitive else primitive["attributes"]["POSITION"]
    count = int(asset.document["accessors"][source]["count"])
    return count // 3 if primitive.get("mode", _TRIANGLES) == _TRIANGLES else max(count - 2, 0)


def _decoded_attribute(name: str) -> bool:
    return name in ("POSITION", "NORMAL", "TANGENT", "COLOR_0") or name.startswith(("TEXCOORD_", "JOINTS_", "WEIGHTS_"))


def _accessor_components(asset: GltfAsset, instances: list, meshes: list) -> int:
    """Numbers the decoded attributes and indices of ``instances`` hold, from the JSON alone,
    each accessor counted once however many attributes or primitives name it."""
    accessors = asset.document.get("accessors") or []
    named: set[int] = set()
    for _, mesh_index, _ in instances:
        for primitive in meshes[mesh_index].get("primitives", []):
            attributes = primitive.get("attributes") or {}
            named.update(index for name, index in attributes.items() if _decoded_attribute(name))
            for target in primitive.get("targets") or []:
                named.update(index for name, index in (target or {}).items() if name in _TARGET_SEMANTICS)
            if "indices" in primitive:
                named.add(primitive["indices"])
    total = 0
    for index in named:
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(accessors):
            accessor = accessors[index]
            count = accessor.get("count", 0) if isinstance(accessor.get("count", 0), int) else 0
            if count > asset.limits.max_accessor_count:  # as decoding it would say, before it is tried
                raise asset.error(f"accessors[{index}] has {count} elements, over the limit of {asset.limits.max_accessor_count}")
            total += count * TYPE_WIDTHS.get(accessor.get("type"), 16)
    return total


_TARGET_SEMANTICS = ("POSITION", "NORMAL", "TANGENT")


def _decode_primitive(asset: GltfAsset, mesh_index: int, primitive_index: int, primitive: dict[str, Any]):
    """``(attributes dict, faces (F, 3) int64, morph targets)`` of one primitive in its local frame."""
    where = f"meshes[{mesh_index}].primitives[{primitive_index}]"
    attributes_json = primitive.get("attributes", {})
    if "POSITION" not in attributes_json:
        raise asset.error(f"{where} has no POSITION")
    draco = decode_draco_primitive(asset, where, primitive) if draco_extension(primitive) and asset.decoded else None
    compressed = draco[0] if draco is not None else {}

    def read(name: str, index: Any) -> np.ndarray:
        if name in compressed:
            values = compressed[name]
        elif name.startswith("JOINTS_"):
            values = asset.accessor(index)
        else:
            values = asset.float_accessor(index, force_normalized=name == "COLOR_0")
        return values.astype(np.int64) if name.startswith("JOINTS_") else values.astype(np.float64, copy=False)

    attributes: dict[str, np.ndarray] = {"POSITION": read("POSITION", attributes_json["POSITION"])}
    count = len(attributes["POSITION"])
    for name, index in attributes_json.items():
        if _decoded_attribute(name):
            values = read(name, index)
            if len(values) != count:
                raise asset.error(f"{where}: {name} has {len(values)} elements for {count} positions")
            if not np.isfinite(values).all():
                raise asset.error(f"{where}: {name} holds values that are not numbers (NaN or infinite)")
            attributes[name] = values
    targets = []
    for number, target in enumerate(primitive.get("targets") or []):
        deltas = {name: asset.float_accessor(index) for name, index in (target or {}).items() if name in _TARGET_SEMANTICS}
        if any(len(values) != count or values.shape[1] != 3 or not np.isfinite(values).all() for values in deltas.values()):
            raise asset.error(f"{where}: morph target {number} does not have {count} finite 3D deltas")
        targets.append(deltas)
    if draco is not None:
        indices = draco[1]
    elif "indices" in primitive:
        indices = asset.accessor(primitive["indices"])[:, 0].astype(np.int64)
    else:
        indices = np.arange(count, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise asset.error(f"{where}: index {int(indices.max())} is out of range for {count} vertices")
    return attributes, _triangles(indices, primitive.get("mode", _TRIANGLES)), targets


def _to_world(world: np.ndarray, positions: np.ndarray, normals: np.ndarray | None):
    linear = world[:3, :3]
    moved = positions @ linear.T + world[:3, 3]
    if normals is None:
        return moved, None
    try:
        turned = normals @ np.linalg.inv(linear)  # the inverse transpose, in row-vector form
    except np.linalg.LinAlgError:
        turned = normals @ linear.T
    length = np.linalg.norm(turned, axis=1, keepdims=True)
    return moved, turned / np.where(length > 0, length, 1.0)


# -- materials -------------------------------------------------------------------------------------


def _texture_image(document: dict[str, Any], info: Any) -> int | None:
    if not isinstance(info, dict) or "index" not in info:
        return None
    texture = document["textures"][info["index"]]
    return texture.get("source")


def _materials(asset: GltfAsset) -> list[MeshMaterial]:
    """Every material of the document, its base-colour and normal textures decoded (once per image)."""
    document = asset.document
    pixels: dict[int, np.ndarray] = {}

    def image(info: Any) -> np.ndarray | None:
        source = _texture_image(document, info)
        if source is None:
            return None
        if source not in pixels:
            pixels[source] = asset.image_pixels(source)
        return pixels[source]

    materials = []
    for index, material in enumerate(document.get("materials") or []):
        pbr = material.get("pbrMetallicRoughness") or {}
        factor = [float(c) for c in pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0])]
        base, normal = pbr.get("baseColorTexture"), material.get("normalTexture")
        spec_gloss = (material.get("extensions") or {}).get("KHR_materials_pbrSpecularGlossiness")
        if isinstance(spec_gloss, dict):  # what viewers that know the extension show
            base = spec_gloss.get("diffuseTexture", base)
            factor = [float(c) for c in spec_gloss.get("diffuseFactor", factor)]
        materials.append(MeshMaterial(
            name=str(material.get("name") or f"material{index}"), base_color_factor=tuple(factor[:4]),
            base_color_texture=image(base), normal_texture=image(normal),
            base_color_tex_coord=_tex_coord(base), normal_tex_coord=_tex_coord(normal),
            properties=material, base_color_transform=texture_transform(base),
        ))  # fmt: skip
    return materials


def _tex_coord(info: Any) -> int:
    """The ``TEXCOORD_n`` a texture info reads (``KHR_texture_transform`` may override it)."""
    if not isinstance(info, dict):
        return 0
    override = ((info.get("extensions") or {}).get("KHR_texture_transform") or {}).get("texCoord")
    return int(override if override is not None else info.get("texCoord", 0))


def _factor_colors(material: MeshMaterial | None, count: int) -> np.ndarray:
    factor = np.ones(3) if material is None else np.asarray(material.base_color_factor[:3], dtype=np.float64)
    return np.broadcast_to(factor, (count, 3)).copy()


def _primitive_colors(attributes: dict[str, np.ndarray], material: MeshMaterial | None) -> np.ndarray | None:
    """sRGB colours of one primitive's vertices, or None (see the module's conventions)."""
    if "COLOR_0" in attributes:
        return linear_to_srgb(attributes["COLOR_0"][:, :3])
    if "TEXCOORD_0" not in attributes or material is None:
        return None
    count = len(attributes["POSITION"])
    texcoord = attributes.get(f"TEXCOORD_{material.base_color_tex_coord}")
    colors = _factor_colors(material, count)
    if material.base_color_texture is not None and texcoord is not None:
        # The factor multiplies the sRGB sample, as the loader always did (exact for the usual factor 1).
        texcoord = transform_uv(texcoord, material.base_color_transform)
        colors = sample_texture(material.base_color_texture[..., :3], wrap_uv(texcoord)) * colors
    return colors


def texture_sets(item: Any, key: str = "") -> set[int]:
    """The ``TEXCOORD_n`` sets a material's texture infos read."""
    found: set[int] = set()
    if isinstance(item, dict):
        if key.endswith("Texture") and "index" in item:
            found.add(int(item.get("texCoord", 0)))
        for child_key, child in item.items():
            found |= texture_sets(child, child_key)
    elif isinstance(item, list):
        for child in item:
            found |= texture_sets(child, key)
    return found


# -- the reader ------------------------------------------------------------------------------------


def read_scene(path: str | Path, *, max_faces: int | None = None, limits: GltfLimits | None = None) -> GltfScene:
    """Read the default scene of a ``.glb`` / ``.gltf`` file with its structure.

    Args:
        path: the file (external buffers and images are resolved relative to it).
        max_faces: refuse scenes whose instanced primitives hold more triangles (checked from the
            JSON before any geometry is decoded).
        limits: accessor / image / buffer size limits.

    Returns:
        A :class:`GltfScene`; shapes ``vertices (N, 3)``, ``faces (F, 3)``, ``uv (N, 2)``, ``colors (N, 3)``.

    Raises:
        InputError: one line naming the file for every problem the file can cause.
    """
    asset = GltfAsset(path, limits)
    try:
        return _read(asset, max_faces)
    except InputError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        detail = str(exc) if not isinstance(exc, KeyError) else f"missing property {exc}"
        raise asset.error(f"is not a valid glTF document: {detail or type(exc).__name__}") from None


def _instances(asset: GltfAsset) -> tuple[list[tuple[int | None, int, np.ndarray]], list[int] | None]:
    """``[(node, mesh, world)]`` in node order and the scene's roots."""
    document = asset.document
    roots = scene_roots(document)
    if roots is None:  # no nodes: show every mesh once, untransformed
        return [(None, m, np.eye(4)) for m in range(len(document.get("meshes") or []))], None
    worlds = world_transforms(document, roots)
    nodes = document["nodes"]
    found = [(n, int(nodes[n]["mesh"]), worlds[n]) for n in sorted(worlds) if "mesh" in nodes[n]]
    if any("skin" in nodes[n] for n in worlds):
        logger.info("%s: skinned meshes are read in their bind pose (their nodes' transforms); skins, morph targets "
                    "and animations are written back with the outputs", asset.path)  # fmt: skip
    return found, roots


def _skin_and_animation_data(asset: GltfAsset) -> tuple[list[np.ndarray | None], list[list[tuple[np.ndarray, np.ndarray]]]]:
    """The skins' inverse bind matrices and the animations' sampler keys, decoded."""
    document = asset.document
    matrices = []
    for skin in document.get("skins") or []:
        index = skin.get("inverseBindMatrices")
        matrices.append(None if index is None else asset.accessor(index, matrix=True).astype(np.float64))
    keys = []
    for animation in document.get("animations") or []:
        keys.append([(asset.float_accessor(sampler["input"]).reshape(-1), asset.float_accessor(sampler["output"]))
                     for sampler in animation.get("samplers") or []])  # fmt: skip
    return matrices, keys


def _read(asset: GltfAsset, max_faces: int | None) -> GltfScene:
    document = asset.document
    instances, roots = _instances(asset)
    meshes = document.get("meshes") or []
    total = vertex_total = 0
    for _, mesh_index, _ in instances:  # sizes from the JSON, before anything is decoded
        for primitive in meshes[mesh_index].get("primitives", []):
            if primitive.get("mode", _TRIANGLES) in (_TRIANGLES, _STRIP, _FAN):
                total += _primitive_face_count(asset, primitive)
                vertex_total += int(document["accessors"][primitive["attributes"]["POSITION"]]["count"])
    if max_faces is not None and total > max_faces:
        raise asset.error(f"has {total} faces, over the limit of {max_faces} (simplify it or raise max_faces)")
    if vertex_total > asset.limits.max_accessor_count:
        raise asset.error(
            f"has {vertex_total} vertices over all mesh instances, over the limit of {asset.limits.max_accessor_count}"
        )
    components = _accessor_components(asset, instances, meshes)
    if components > asset.limits.max_total_components:
        raise asset.error(f"its mesh accessors hold {components} numbers, over the limit of {asset.limits.max_total_components}")
    materials = _materials(asset)
    decoded: dict[tuple[int, int], tuple[dict[str, np.ndarray], np.ndarray, list]] = {}
    parts, records, blocks = [], [], []
    vertex_start = face_start = 0
    skipped = 0
    for node_index, mesh_index, world in instances:
        mesh = meshes[mesh_index]
        for primitive_index, primitive in enumerate(mesh.get("primitives", [])):
            if primitive.get("mode", _TRIANGLES) not in (_TRIANGLES, _STRIP, _FAN):
                skipped += 1
                continue
            key = (mesh_index, primitive_index)
            if key not in decoded:  # instances share the decoded arrays
                decoded[key] = _decode_primitive(asset, mesh_index, primitive_index, primitive)
            attributes, faces, targets = decoded[key]
            positions, normals = _to_world(world, attributes["POSITION"], attributes.get("NORMAL"))
            if np.linalg.det(world[:3, :3]) < 0:
                faces = faces[:, [0, 2, 1]]
            material_index = primitive.get("material")
            material = materials[material_index] if material_index is not None else None
            count = len(positions)
            node_name = document["nodes"][node_index].get("name") if node_index is not None else None
            parts.append(MeshPart(
                name=str(mesh.get("name") or f"mesh{mesh_index}"), node=node_index, mesh=mesh_index,
                primitive=primitive_index, vertex_range=(vertex_start, vertex_start + count),
                face_range=(face_start, face_start + len(faces)), material=material_index, node_name=node_name,
            ))  # fmt: skip
            records.append(PrimitiveInstance(node_index, mesh_index, primitive_index, world,
                                             (vertex_start, vertex_start + count), attributes, targets))  # fmt: skip
            uv = attributes.get("TEXCOORD_0")
            blocks.append((positions, faces + vertex_start, uv, _primitive_colors(attributes, material), material))
            vertex_start += count
            face_start += len(faces)
    if skipped:
        logger.warning("%s: skipped %d point/line primitive(s): only triangles are read", asset.path, skipped)
    if not blocks:
        raise asset.error("contains no triangle faces")
    vertices = np.concatenate([b[0] for b in blocks])
    faces = np.concatenate([b[1] for b in blocks]).astype(np.int64)
    uv = None
    if any(b[2] is not None for b in blocks):
        uv = np.concatenate([np.column_stack([b[2][:, 0], 1.0 - b[2][:, 1]]) if b[2] is not None
                             else np.full((len(b[0]), 2), np.nan) for b in blocks])  # fmt: skip
    colors = None
    if any(b[3] is not None for b in blocks):
        colors = np.concatenate([b[3] if b[3] is not None else _factor_colors(b[4], len(b[0])) for b in blocks])
    images = _source_images(asset)
    matrices, keys = _skin_and_animation_data(asset)
    source = SceneSource(path=asset.path, document=document, instances=records, images=images, roots=roots,
                         inverse_bind_matrices=matrices, animation_keys=keys)  # fmt: skip
    return GltfScene(vertices, faces, uv, colors, parts, materials, source)


def _source_images(asset: GltfAsset) -> list[tuple[bytes, str | None] | None]:
    """Encoded bytes of every image a texture uses (what the writer re-embeds as it was)."""
    document = asset.document
    used = {t.get("source") for t in document.get("textures") or []}
    return [asset.image_bytes(i) if i in used else None for i in range(len(document.get("images") or []))]
