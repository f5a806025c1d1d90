"""Write a loaded scene back as GLB with its structure: nodes, meshes, primitives, materials.

:func:`write_scene_glb` takes a :class:`~stylize.mesh.io.LoadedMesh` read from a glTF scene (its
``parts`` and ``source_scene``) and new world-space data for its concatenated vertices, and
writes, through the toolkit's one GLB builder (:class:`~stylize.mesh.gltf.GlbBuilder`):

- the nodes of the default scene with their names, hierarchy, transforms (``matrix`` or TRS as
  the file had them), cameras and extras; each primitive's positions are moved back into its
  node's frame (inverse world transform), normals and tangents likewise;
- the same meshes and primitive split (a primitive that repair emptied is left out), each with
  ``POSITION``, ``NORMAL``, ``TANGENT``, ``TEXCOORD_0`` (and the file's other ``TEXCOORD_n``);
- every material, in the same order, verbatim except where a new map is given (base colour,
  metallic-roughness, normal, ...: the slots of :data:`stylize.mesh.material.TEXTURE_SLOTS`):
  that texture info then points at the new PNG (``texCoord`` 0, the UVs written, or the new
  UV set ``tex_coords`` names; no texture transform: the image is laid out in the UVs written), ``baseColorFactor``'s RGB becomes 1 (the new image is the whole base colour; its
  alpha factor is kept) and a new metallic-roughness map gets factors 1; textures not replaced
  are embedded as they were (PNG or JPEG bytes); materials given the same new pixels (a shared
  atlas, :func:`~stylize.mesh.uv_layout.shared_atlases`) share one image;
- the metadata in ``asset.extras``.

Instancing: a mesh that several nodes instance is written once per distinct result. Instances
whose local-frame data still agree (the geometry was not displaced, e.g. with a normal map) share
one mesh as in the input; otherwise each node gets its own copy (named ``<mesh>.001``, ...), since
displacement in the world frame differs per instance. Materials and textures are shared: a texture
has one image, so texels that instances share get one colour.

Skins (joints, inverse bind matrices), each primitive's ``JOINTS_n`` / ``WEIGHTS_n``, morph
targets (their deltas, the mesh's default ``weights`` and ``targetNames``) and animations are
written back (:mod:`stylize.mesh.gltf.rig`): the new positions are the base (bind-pose) positions,
so skinning and morphs apply on top of them. Where a run added vertices (subdivision), a mesh's
skin weights and morph targets cannot follow and are left out, said in one line. Extensions
other than material ones and ``KHR_lights_punctual`` are not written.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stylize.errors import InputError
from stylize.mesh.gltf.glb import GlbBuilder, encode_png
from stylize.mesh.gltf.instances import PrimitiveArrays, same_arrays, shared_instances, unit_rows
from stylize.mesh.gltf.materials import SPEC_GLOSS, as_metallic_roughness, drop_maps, follows_picture, kept_maps
from stylize.mesh.gltf.nodes import world_transforms
from stylize.mesh.gltf.rig import add_skin_attributes, add_targets, skin_arrays, target_arrays, write_animations, write_skins
from stylize.mesh.gltf.scene import MeshPart, PrimitiveInstance, SceneSource, texture_sets
from stylize.mesh.material import TEXTURE_SLOTS
from stylize.mesh.texture import srgb_to_linear

if TYPE_CHECKING:
    from stylize.mesh.io import LoadedMesh

__all__ = ["write_scene_glb"]

logger = logging.getLogger(__name__)

_KEPT_EXTENSIONS = ("KHR_lights_punctual",)  # node / document extensions that reference nothing binary


def _check(values: Any, shape: tuple[int, ...], name: str, widths: tuple[int, ...] | None = None,
           allow_nan: bool = False) -> np.ndarray | None:  # fmt: skip
    if values is None:
        return None
    values = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    widths = widths or (shape[1],)
    if values.ndim != 2 or values.shape[0] != shape[0] or values.shape[1] not in widths:
        expected = f"({shape[0]}, {'|'.join(map(str, widths))})"
        raise ValueError(f"expected {name} of shape {expected}, got {tuple(values.shape)}")
    if not (np.isfinite(values) | (allow_nan & np.isnan(values))).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return values


def _check_images(images: Mapping[int, np.ndarray] | None, count: int, name: str) -> dict[int, np.ndarray]:
    checked = {}
    for index, pixels in (images or {}).items():
        if not isinstance(index, (int, np.integer)) or not 0 <= int(index) < count:
            raise ValueError(f"{name}: material index {index!r} does not exist (the mesh has {count} materials)")
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
            raise ValueError(f"{name}[{index}]: expected an image of shape (H, W, 3|4) uint8, got {pixels.shape} {pixels.dtype}")
        checked[int(index)] = pixels
    return checked


def _single_part_source(mesh: LoadedMesh) -> tuple[SceneSource, list[MeshPart]]:
    """A one-node scene for a mesh that did not come from glTF (OBJ, PLY, ... or built in memory)."""
    name = mesh.path.stem if mesh.path is not None else "mesh"
    materials, images = [], []
    for material in mesh.materials:
        item: dict[str, Any] = {"name": material.name, "pbrMetallicRoughness": {
            "baseColorFactor": list(material.base_color_factor), "metallicFactor": 0.0, "roughnessFactor": 1.0}}  # fmt: skip
        if material.base_color_texture is not None:
            images.append((encode_png(material.base_color_texture), "image/png"))
            item["pbrMetallicRoughness"]["baseColorTexture"] = {"index": len(images) - 1}
        materials.append(item)
    document: dict[str, Any] = {
        "nodes": [{"name": name, "mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0,
        "meshes": [{"name": name, "primitives": [{"material": 0} if materials else {}]}],
        "materials": materials, "textures": [{"source": i} for i in range(len(images))],
    }  # fmt: skip
    parts = mesh.parts or [MeshPart(name, 0, 0, 0, (0, len(mesh.vertices)), (0, len(mesh.faces)), 0 if materials else None)]
    if len(parts) != 1:
        raise ValueError(f"a mesh of {len(parts)} parts needs the source scene it was loaded with")
    count = mesh.source_vertex_count or len(mesh.vertices)
    instance = PrimitiveInstance(0, 0, 0, np.eye(4), (0, count), {})
    return SceneSource(mesh.path or Path(name), document, [instance], images, [0]), parts


class _SceneWriter:
    """Builds the output document from a :class:`SceneSource` and the new per-vertex data."""

    def __init__(self, source: SceneSource, glb: GlbBuilder, maps: dict[str, dict[int, np.ndarray]],
                 tex_coords: Mapping[int, int] | None = None, keep_maps: Any = "auto",
                 vertex_colors: bool = False, clear: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.source, self.glb, self.document = source, glb, source.document
        self.maps = maps  # map name -> material index -> new image
        self.tex_coords = dict(tex_coords or {})  # material index -> TEXCOORD_n of its new maps
        self.keep_maps = keep_maps  # output.keep_maps, for materials whose base colour is replaced
        self.vertex_colors = vertex_colors  # COLOR_0 is the whole base colour
        self.clear = clear  # slots removed from every material that gets a new map (the material's own rule)
        self.changes: dict[str, list[str]] = {}  # material name -> what the policy changed
        self._images: dict[int, int] = {}
        self._textures: dict[int, int] = {}
        self._new_images: dict[bytes, int] = {}  # new maps' pixels (digest) -> output image
        self._new_textures: dict[tuple[int, int], int] = {}  # (output image, sampler) -> output texture

    # -- textures and materials -------------------------------------------------------------------

    def _sampler_of(self, texture_index: int | None) -> int | None:
        if texture_index is None:
            return None
        texture = self.document["textures"][texture_index]
        if "sampler" not in texture:
            return None
        return self.glb.add_sampler(self.document["samplers"][texture["sampler"]])

    def texture(self, index: int) -> int:
        """The output index of source texture ``index`` (added, with its image, on first use)."""
        if index not in self._textures:
            texture = self.document["textures"][index]
            image = texture.get("source")
            if image is None or self.source.images[image] is None:
                raise InputError(f"{self.source.path}: textures[{index}] has no image stylize can embed")
            if image not in self._images:
                raw, mime = self.source.images[image]
                if mime not in ("image/png", "image/jpeg"):
                    raise InputError(f"{self.source.path}: images[{image}] is {mime or 'of unknown type'}; "
                                     "a GLB embeds PNG or JPEG")  # fmt: skip
                self._images[image] = self.glb.add_image(raw, mime, self.document["images"][image].get("name"))
            self._textures[index] = self.glb.add_texture(self._images[image], self._sampler_of(index), texture.get("name"))
        return self._textures[index]

    def _image_of(self, info: Any) -> tuple[bytes, str | None] | None:
        """The encoded source image a texture info shows, or None."""
        if not isinstance(info, dict) or not isinstance(info.get("index"), int):
            return None
        textures = self.document.get("textures") or []
        image = textures[info["index"]].get("source") if info["index"] < len(textures) else None
        return self.source.images[image] if isinstance(image, int) and image < len(self.source.images) else None

    def _remap(self, item: Any, key: str = "") -> None:
        """Point every texture info (a ``...Texture`` object with an ``index``) at output textures."""
        if isinstance(item, dict):
            if key.endswith("Texture") and isinstance(item.get("index"), int):
                item["index"] = self.texture(item["index"])
            for child_key, child in item.items():
                self._remap(child, child_key)
        elif isinstance(item, list):
            for child in item:
                self._remap(child, key)

    def new_texture(self, pixels: np.ndarray, name: str, sampler: int | None) -> int:
        """A texture of a new map: materials given the same pixels (a shared atlas) share one
        image, and one texture where their samplers agree too."""
        digest = hashlib.blake2b(str(pixels.shape).encode(), digest_size=16)
        digest.update(np.ascontiguousarray(pixels))
        key = digest.digest()
        if key not in self._new_images:
            self._new_images[key] = self.glb.add_image(encode_png(pixels), "image/png", name)
        image = self._new_images[key]
        sampler = sampler if sampler is not None else self.glb.add_sampler()
        if (image, sampler) not in self._new_textures:
            self._new_textures[image, sampler] = self.glb.add_texture(image, sampler)
        return self._new_textures[image, sampler]

    def material(self, index: int, material: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(material)
        replaced = {name: images[index] for name, images in self.maps.items() if index in images}
        old = {name: _pop_slot(out, TEXTURE_SLOTS[name].gltf) for name in replaced}
        if replaced:
            for cleared in self.clear:
                if cleared not in replaced:
                    TEXTURE_SLOTS[cleared].clear(out)
        if self.vertex_colors and "base_color" not in replaced:  # COLOR_0 multiplies: the factor and texture go
            old["base_color"] = _pop_slot(out, TEXTURE_SLOTS["base_color"].gltf)
            pbr = out.get("pbrMetallicRoughness")
            if isinstance(pbr, dict) and "baseColorFactor" in pbr:
                pbr["baseColorFactor"] = [1.0, 1.0, 1.0, float(pbr["baseColorFactor"][3])]
        name = out.get("name") or f"material{index}"
        if "base_color" in replaced or self.vertex_colors:  # what the new colour keeps around it (gltf/materials.py)
            spec_gloss = (material.get("extensions") or {}).get(SPEC_GLOSS) or {}
            changes = ["specular-glossiness written as metallic-roughness"] if as_metallic_roughness(out) else []
            base = old.get("base_color") or spec_gloss.get("diffuseTexture")
            keep = kept_maps(self.keep_maps, lambda: follows_picture(self._image_of(base), self._image_of(
                (material.get("pbrMetallicRoughness") or {}).get("metallicRoughnessTexture"))))  # fmt: skip
            changes += [f"{dropped} dropped" for dropped in drop_maps(out, keep, set(replaced))]
            if changes:
                self.changes[name] = changes
        self._remap(out)
        for map_name, pixels in replaced.items():
            previous = old[map_name] or {}
            sampler = self._sampler_of(previous.get("index"))
            slot = TEXTURE_SLOTS[map_name]
            info: dict[str, Any] = {"index": self.new_texture(pixels, f"{name}_{slot.image_name}", sampler)}
            if self.tex_coords.get(index):
                info["texCoord"] = int(self.tex_coords[index])
            # no KHR_texture_transform: the new image is laid out in the UVs written, untransformed
            info.update({key: previous[key] for key in ("extras", "scale", "strength") if key in previous})
            slot.place(out, info)
        pbr = out.get("pbrMetallicRoughness")
        if "base_color" in replaced and "baseColorFactor" in pbr:  # absent means 1 already
            pbr["baseColorFactor"] = [1.0, 1.0, 1.0, float(pbr["baseColorFactor"][3])]
        if "metallic_roughness" in replaced:  # the new map is the whole roughness and metallic
            pbr.pop("metallicFactor", None)
            pbr.pop("roughnessFactor", None)
        if "emissive" in replaced:
            out["emissiveFactor"] = [1.0, 1.0, 1.0]
        return out

    # -- nodes ------------------------------------------------------------------------------------

    def node(self, index: int, mesh: int | None, remap: dict[int, int], skins: dict[int, int],
             kept: dict[int, set[str]]) -> dict[str, Any]:  # fmt: skip
        """Node ``index`` as written: ``mesh`` its written mesh, ``skins`` source -> written skin,
        ``kept`` what each written mesh kept (``skin``, ``morph``)."""
        node = self.document["nodes"][index]
        out = {key: copy.deepcopy(node[key]) for key in ("name", "matrix", "translation", "rotation", "scale", "camera", "extras")
               if key in node}  # fmt: skip
        if node.get("children"):
            out["children"] = [remap[c] for c in node["children"]]
        if mesh is not None:
            out["mesh"] = mesh
            if node.get("skin") in skins and "skin" in kept.get(mesh, ()):
                out["skin"] = skins[node["skin"]]
            if "weights" in node and "morph" in kept.get(mesh, ()):
                out["weights"] = copy.deepcopy(node["weights"])
        extensions = {k: v for k, v in (node.get("extensions") or {}).items() if k in _KEPT_EXTENSIONS}
        if extensions:
            out["extensions"] = copy.deepcopy(extensions)
        return out


def _pop_slot(material: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """Remove and return the texture info at ``path`` of a material (None when absent)."""
    parent = material
    for key in path[:-1]:
        parent = parent.get(key)
        if not isinstance(parent, dict):
            return None
    return parent.pop(path[-1], None)


def _part_arrays(mesh: LoadedMesh, part: MeshPart, instance: PrimitiveInstance, data: dict[str, np.ndarray | None],
                 new_texture: bool) -> PrimitiveArrays | None:  # fmt: skip
    """One part's arrays in its node's frame, or None when the part has no faces left."""
    faces = np.asarray(mesh.faces[part.face_slice], dtype=np.int64)
    if len(faces) == 0:
        return None
    used = np.unique(faces)
    faces = np.searchsorted(used, faces)
    world = instance.world
    linear = world[:3, :3]
    determinant = float(np.linalg.det(linear))
    inverse = np.linalg.inv(world) if abs(determinant) > 1e-300 else np.linalg.pinv(world)
    if determinant < 0:  # the reader reversed mirrored triangles; the file keeps them as they were
        faces = faces[:, [0, 2, 1]]
    positions = data["vertices"][used] @ inverse[:3, :3].T + inverse[:3, 3]
    source_index = mesh.source_vertex_index if mesh.source_vertex_index is not None else np.arange(len(mesh.vertices))
    start, stop = instance.file_vertex_range
    origin = np.asarray(source_index)[used] - start
    known = bool(len(origin)) and origin.min() >= 0 and origin.max() < stop - start
    attributes = instance.attributes
    out: dict[str, np.ndarray] = {"POSITION": positions}
    up = np.array([0.0, 0.0, 1.0])
    if data["normals"] is not None:
        out["NORMAL"] = unit_rows(data["normals"][used] @ linear, up)
    elif known and "NORMAL" in attributes:
        out["NORMAL"] = unit_rows(attributes["NORMAL"][origin], up)
        if "POSITION" in attributes and not np.allclose(attributes["POSITION"][origin], positions, rtol=0,
                                                        atol=1e-6 * max(1.0, float(np.abs(positions).max()))):  # fmt: skip
            logger.warning("%s: vertices moved but no normals were given; writing the file's normals", part.name)
        if "TANGENT" in attributes and data["tangents"] is None:
            tangent = attributes["TANGENT"][origin]
            out["TANGENT"] = np.column_stack(
                [unit_rows(tangent[:, :3], np.array([1.0, 0, 0])), np.where(tangent[:, 3] < 0, -1.0, 1.0)]
            )
    if data["tangents"] is not None:
        tangent = data["tangents"][used]
        handedness = np.where(tangent[:, 3] < 0, -1.0, 1.0) * (1.0 if determinant >= 0 else -1.0)
        out["TANGENT"] = np.column_stack([unit_rows(tangent[:, :3] @ inverse[:3, :3].T, np.array([1.0, 0, 0])), handedness])
    uv = data["uv"]
    if uv is not None and np.isfinite(uv[used]).all():
        out["TEXCOORD_0"] = np.column_stack([uv[used, 0], 1.0 - uv[used, 1]])
    elif known and "TEXCOORD_0" in attributes:
        out["TEXCOORD_0"] = attributes["TEXCOORD_0"][origin]
    if known:
        out.update(
            {name: values[origin] for name, values in attributes.items() if name.startswith("TEXCOORD_") and name != "TEXCOORD_0"}
        )
    for number, values in sorted((data.get("uv_sets") or {}).items()):
        if np.isfinite(values[used]).all():
            for missing in range(1, number):  # sets stay continuous: a primitive with fewer repeats TEXCOORD_0
                out.setdefault(f"TEXCOORD_{missing}", out["TEXCOORD_0"])
            out[f"TEXCOORD_{number}"] = values[used]
    if data["colors"] is not None:
        colors = data["colors"][used]
        out["COLOR_0"] = np.column_stack([srgb_to_linear(colors[:, :3]), colors[:, 3:]])
    elif known and "COLOR_0" in attributes and not new_texture:
        out["COLOR_0"] = attributes["COLOR_0"][origin]
    rigged = bool(instance.targets) or any(name.startswith("JOINTS_") for name in attributes)
    return PrimitiveArrays({name: np.ascontiguousarray(values, dtype=np.float32) for name, values in out.items()}, faces,
                   skin_arrays(instance, origin) if known else {}, target_arrays(instance, origin) if known else [],
                   rigged and not known)  # fmt: skip


def write_scene_glb(
    mesh: LoadedMesh,
    path: str | Path,
    vertices_world: Any,
    *,
    normals: Any = None,
    tangents: Any = None,
    uv: Any = None,
    base_color_textures: Mapping[int, np.ndarray] | None = None,
    normal_textures: Mapping[int, np.ndarray] | None = None,
    maps: Mapping[str, Mapping[int, np.ndarray]] | None = None,
    vertex_colors: Any = None,
    metadata: Mapping[str, Any] | None = None,
    clear: Sequence[str] = (),
    uv_sets: Mapping[int, Any] | None = None,
    tex_coords: Mapping[int, int] | None = None,
    keep_maps: Any = "auto",
    new_material: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``mesh``'s scene to ``path`` (GLB, atomically) with new per-vertex data and textures.

    Args:
        mesh: a :class:`~stylize.mesh.io.LoadedMesh` from :func:`~stylize.mesh.io.load_mesh` (a
            glTF scene keeps its nodes and materials; any other mesh is written as one node).
        path: the ``.glb`` to write; never the input file.
        vertices_world: ``(V, 3)`` positions in the file's world frame (e.g. displaced
            ``mesh.file_vertices``), one per vertex of ``mesh``.
        normals: ``(V, 3)`` world-frame unit normals, or None to write the file's own normals
            (pass them whenever vertices moved).
        tangents: ``(V, 4)`` world-frame tangents with handedness ``w`` = ±1 (MikkTSpace), or None.
            Needed with ``normal_textures``.
        uv: ``(V, 2)`` UVs in ``LoadedMesh.uv``'s convention (v up), default ``mesh.uv``; written
            as ``TEXCOORD_0`` (glTF's ``v`` down).
        base_color_textures: material index -> ``(H, W, 3|4)`` uint8 sRGB image replacing that
            material's base-colour texture.
        normal_textures: material index -> ``(H, W, 3|4)`` uint8 tangent-space normal map.
        maps: map name (a key of :data:`~stylize.mesh.material.TEXTURE_SLOTS`) -> material index
            -> ``(H, W, 3|4)`` uint8 image, for any slot (``base_color_textures`` and
            ``normal_textures`` are the ``base_color`` and ``normal`` entries).
        vertex_colors: ``(V, 3|4)`` sRGB colours written as linear ``COLOR_0``: the whole base
            colour (every material without a new base-colour texture loses its base-colour
            texture and its factor's RGB becomes 1, so viewers show the colours as they are); or
            None (the file's ``COLOR_0`` is then kept, except on primitives whose base colour was
            replaced).
        metadata: JSON-able values for ``asset.extras`` (prompt, seed, model, version).
        clear: slot names (:data:`~stylize.mesh.material.TEXTURE_SLOTS`) removed, with their
            factor, from every material that gets a new map (the pbr material clears ``emissive``).
        uv_sets: set number ``n`` (1, 2, ...) -> ``(V, 2)`` glTF UVs (v down) written as
            ``TEXCOORD_n`` on the primitives whose rows are all finite (NaN rows elsewhere); a
            primitive with fewer sets repeats ``TEXCOORD_0`` in between (sets stay continuous).
        tex_coords: material index -> the ``texCoord`` of its new maps (default 0).
        keep_maps: which of the old maps a material whose base colour is replaced (by a new
            texture, or by ``vertex_colors``) keeps (``output.keep_maps``,
            :mod:`stylize.mesh.gltf.materials`); such a material is also written as
            metallic-roughness when it was specular-glossiness.
        new_material: a glTF material for the primitives that have none (e.g. to carry a baked
            texture); it is added after the file's materials, so ``maps`` may name its index
            ``len(materials)``.

    Returns:
        The path written.

    Raises:
        ValueError: arrays of the wrong shape, unknown material indices, a normal texture
            without tangents, or a new texture on a primitive without UVs.
        InputError: ``path`` is the input file or not a ``.glb``.
    """
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise InputError(f"{path}: the scene is written as GLB; expected a .glb output path")
    if mesh.path is not None and path.resolve() == Path(mesh.path).resolve():
        raise InputError(f"{path}: refusing to overwrite the input mesh")
    count = len(mesh.vertices)
    data = {
        "vertices": _check(vertices_world, (count, 3), "vertices_world"),
        "normals": _check(normals, (count, 3), "normals"),
        "tangents": _check(tangents, (count, 4), "tangents"),
        # NaN rows: vertices of primitives without UVs (as LoadedMesh.uv marks them)
        "uv": _check(mesh.uv if uv is None and mesh.uv is not None and len(mesh.uv) == count else uv, (count, 2), "uv",
                     allow_nan=True),
        "colors": _check(vertex_colors, (count, 3), "vertex_colors", (3, 4)),
        "uv_sets": {int(n): _check(values, (count, 2), f"uv_sets[{n}]", allow_nan=True) for n, values in (uv_sets or {}).items()},
    }  # fmt: skip
    if any(n < 1 for n in data["uv_sets"]):
        raise ValueError("uv_sets: set numbers start at 1 (TEXCOORD_0 is uv)")
    if data["vertices"] is None:
        raise ValueError("vertices_world is required")
    if isinstance(mesh.source_scene, SceneSource):
        source, parts = mesh.source_scene, mesh.parts
    else:
        source, parts = _single_part_source(mesh)
    if len(parts) != len(source.instances):
        raise ValueError(f"mesh has {len(parts)} parts but its source scene {len(source.instances)} primitives")
    materials = list(source.document.get("materials") or [])
    if new_material is not None:
        materials.append(dict(new_material))
    given = {name: dict(images) for name, images in (maps or {}).items()}
    given.setdefault("base_color", {}).update(base_color_textures or {})
    given.setdefault("normal", {}).update(normal_textures or {})
    unknown = sorted(set(given) - set(TEXTURE_SLOTS))
    if unknown:
        raise ValueError(f"unknown map {unknown[0]!r}: expected one of {', '.join(TEXTURE_SLOTS)}")
    labels = {"base_color": "base_color_textures", "normal": "normal_textures"}
    checked = {name: _check_images(images, len(materials), labels.get(name, f"maps[{name!r}]"))
               for name, images in given.items() if images}  # fmt: skip
    base_colors = checked.get("base_color", {})
    normal_maps = checked.get("normal", {})
    if normal_maps and data["tangents"] is None:
        raise ValueError("normal_textures need tangents (V, 4) to be written with them")
    glb = GlbBuilder("stylize", metadata)
    if "copyright" in source.document.get("asset", {}):
        glb.asset["copyright"] = source.document["asset"]["copyright"]
    if set(clear) - set(TEXTURE_SLOTS):
        raise ValueError(f"unknown slot to clear {sorted(set(clear) - set(TEXTURE_SLOTS))[0]!r}")
    writer = _SceneWriter(source, glb, checked, tex_coords, keep_maps, vertex_colors=data["colors"] is not None,
                          clear=tuple(clear))  # fmt: skip
    for index, material in enumerate(materials):
        glb.add_material(writer.material(index, material))
    if writer.changes:
        logger.info("materials under the new base colour (output.keep_maps = %s): %s", keep_maps,
                    "; ".join(f"{name}: {', '.join(items)}" for name, items in writer.changes.items()))  # fmt: skip
    default = len(materials) - 1 if new_material is not None else None
    node_meshes, kept = _write_meshes(mesh, source, parts, data, glb, base_colors, default)
    _write_nodes(source, writer, node_meshes, kept, glb)
    return glb.write(path)


def _write_meshes(mesh, source: SceneSource, parts: list[MeshPart], data, glb: GlbBuilder,
                  base_colors: dict[int, np.ndarray], default: int | None) -> tuple[dict[int | None, list[int]], dict[int, set[str]]]:  # fmt: skip
    """Add the meshes; returns ``node -> [output mesh]`` (key None: nodeless scenes, one per mesh)
    and what each output mesh kept of the file's rig (``skin``, ``morph``). ``default``: the
    material of primitives that have none."""
    by_node: dict[tuple[int | None, int], list[tuple[int, dict[str, Any], PrimitiveArrays]]] = {}
    for part, instance in zip(parts, source.instances, strict=False):
        material = part.material if part.material is not None else default
        arrays = _part_arrays(mesh, part, instance, data, material in base_colors)
        primitive = dict(source.document["meshes"][instance.mesh]["primitives"][instance.primitive])
        if material is not None:
            primitive["material"] = material
        if arrays is not None and material is not None:
            have = arrays.attributes
            missing = sorted(n for n in texture_sets(glb.lists["materials"][material]) if f"TEXCOORD_{n}" not in have)
            if missing:  # a textured material on a primitive without its UVs is an invalid glTF
                raise ValueError(f"part {part.name!r} (node {part.node}, primitive {part.primitive}) has no TEXCOORD_{missing[0]} "
                                 "for its material's textures; pass uv (V, 2)")  # fmt: skip
        if arrays is not None:
            by_node.setdefault((instance.node, instance.mesh), []).append((instance.primitive, primitive, arrays))
    by_node, averaged = shared_instances(by_node)
    written: dict[int, list[tuple[list, int]]] = {}  # source mesh -> [(its primitives' arrays, output mesh)]
    node_meshes: dict[int | None, list[int]] = {}
    kept: dict[int, set[str]] = {}
    lost: set[str] = set()
    for (node, mesh_index), primitives in by_node.items():
        signature = [arrays for _, _, arrays in primitives]
        copies = written.setdefault(mesh_index, [])
        match = next((out for arrays, out in copies
                      if len(arrays) == len(signature) and all(map(same_arrays, arrays, signature))), None)  # fmt: skip
        if match is None:
            source_mesh = source.document["meshes"][mesh_index]
            name = source_mesh.get("name") or f"mesh{mesh_index}"
            # A mesh's primitives must agree on their morph targets; skin data goes with its skin.
            morph = len({len(arrays.targets) for arrays in signature}) == 1 and bool(signature[0].targets)
            skin = all(any(k.startswith("JOINTS_") for k in arrays.skin) for arrays in signature)
            if any(arrays.lost for arrays in signature) or (not morph and any(arrays.targets for arrays in signature)):
                lost.add(name)
            items = []
            for _, primitive, arrays in primitives:
                accessors = {
                    name: glb.add_accessor(values, bounds=name == "POSITION") for name, values in arrays.attributes.items()
                }
                if skin:
                    accessors.update(add_skin_attributes(glb, arrays.skin))
                item = glb.primitive(accessors, glb.add_indices(arrays.faces), primitive.get("material"), primitive.get("extras"))
                if morph:
                    item["targets"] = add_targets(glb, arrays.targets)
                items.append(item)
            extras = dict(source_mesh.get("extras") or {})
            if not morph:
                extras.pop("targetNames", None)
            match = glb.add_mesh(name if not copies else f"{name}.{len(copies):03d}", items, extras)
            if morph and "weights" in source_mesh:
                glb.lists["meshes"][match]["weights"] = copy.deepcopy(source_mesh["weights"])
            kept[match] = {label for label, flag in (("skin", skin), ("morph", morph)) if flag}
            copies.append((signature, match))
        node_meshes.setdefault(node, []).append(match)
    if averaged:
        logger.info("instanced meshes %s stay instanced: their instances' new vertex data (positions in the mesh's "
                    "frame, normals, colours) is averaged into the one mesh they share",
                    ", ".join(sorted(str(source.document["meshes"][m].get("name") or f"mesh{m}") for m in averaged)))  # fmt: skip
    if len(written) and any(len(c) > 1 for c in written.values()):
        logger.info("instanced meshes whose instances' geometry differs (repair removed faces) were written once per instance")
    if lost:
        logger.warning("%s: skin weights and morph targets of %s cannot follow the vertices the run added "
                       "(subdivision) and are not written", source.path, ", ".join(sorted(lost)))  # fmt: skip
    return node_meshes, kept


def _write_nodes(source: SceneSource, writer: _SceneWriter, node_meshes: dict[int | None, list[int]],
                 kept: dict[int, set[str]], glb: GlbBuilder) -> None:  # fmt: skip
    document = source.document
    if source.roots is None:  # no nodes in the file: one node per mesh
        for mesh in node_meshes.get(None, []):
            glb.add_node({"name": glb.lists["meshes"][mesh].get("name", "mesh"), "mesh": mesh})
        return
    reachable = sorted(world_transforms(document, source.roots))
    remap = {old: new for new, old in enumerate(reachable)}
    skins = write_skins(source, glb, remap)
    for index in reachable:
        meshes = node_meshes.get(index, [])
        glb.add_node(writer.node(index, meshes[0] if meshes else None, remap, skins, kept))
    glb.scene_nodes = [remap[r] for r in source.roots]
    if any("camera" in document["nodes"][i] for i in reachable) and document.get("cameras"):
        glb.top_level["cameras"] = copy.deepcopy(document["cameras"])
    extensions = {k: v for k, v in (document.get("extensions") or {}).items() if k in _KEPT_EXTENSIONS}
    if extensions:
        glb.top_level["extensions"] = copy.deepcopy(extensions)
    glb.extensions_required = [e for e in document.get("extensionsRequired", []) if e != "KHR_mesh_quantization"]
    morphing = {remap[i] for i in reachable if any("morph" in kept.get(m, ()) for m in node_meshes.get(i, []))}
    write_animations(source, glb, remap, morphing)
