"""OBJ inputs with several material groups (``usemtl``) read as a one-node scene.

An OBJ prop often comes in several ``usemtl`` groups, each with its MTL material (a diffuse
colour ``Kd``, a diffuse texture ``map_Kd``) laid out in its own part of the UVs. Read as one
trimesh mesh, the groups' materials are packed into one atlas and the groups are lost. Here the
groups are kept: :func:`read_material_groups` gives one part per group, each with its own
material and UVs, and a :class:`~stylize.mesh.gltf.scene.SceneSource` of one node whose mesh has
one primitive per group, so every output path writes the groups back as a glTF scene would be
(``mesh.glb``: one primitive and material per group; a bake: each group's new texture, or a
shared atlas where the groups' UVs sit side by side: :func:`~stylize.mesh.uv_layout.shared_atlases`).

Only files with two or more distinct ``usemtl`` names take this path; a one-material OBJ (what
the Blender add-on sends, whose ``vertex_data.npz`` maps results back by vertex order) is read as
before. The groups (parts, primitives, materials) come in the order their ``usemtl`` first
appears in the file, each group's vertices in trimesh's order.

A group's material: the MTL's ``map_Kd`` image as the base-colour texture (factor 1), or its
``Kd`` as the base-colour factor, rough and not metallic; the input colours are the texture
sampled at the group's UVs, else its ``Kd``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from stylize.errors import InputError
from stylize.mesh.gltf.glb import encode_png
from stylize.mesh.gltf.scene import MeshMaterial, MeshPart, PrimitiveInstance, SceneSource

__all__ = ["material_group_names", "read_material_groups"]

_USEMTL = re.compile(rb"^[ \t]*usemtl[ \t]+(\S[^\r\n]*)", re.MULTILINE)


def material_group_names(path: Path) -> list[str]:
    """The distinct ``usemtl`` names of an OBJ file, in the order they first appear."""
    names = [match.strip().decode("utf-8", "replace") for match in _USEMTL.findall(path.read_bytes())]
    return list(dict.fromkeys(names))


def _material(geometry: Any, fallback: str) -> tuple[MeshMaterial, dict[str, Any], np.ndarray | None]:
    """A group's :class:`MeshMaterial`, its glTF JSON (texture index 0 when textured: renumbered
    by the caller) and its texture pixels."""
    material = getattr(geometry.visual, "material", None)
    name = str(getattr(material, "name", None) or fallback)
    image = None
    if material is not None:
        image = getattr(material, "image", None)
        if image is None:
            image = getattr(material, "baseColorTexture", None)
    pixels = None if image is None else np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB"), dtype=np.uint8)
    factor = np.ones(4)
    diffuse = getattr(material, "diffuse", None)
    if diffuse is None:
        diffuse = getattr(material, "baseColorFactor", None)
    if pixels is None and diffuse is not None:
        given = np.asarray(diffuse, dtype=np.float64).reshape(-1)
        factor[: min(len(given), 4)] = given[:4] / (255.0 if given.max() > 1.0 else 1.0)
    item: dict[str, Any] = {"name": name, "pbrMetallicRoughness": {
        "baseColorFactor": [float(c) for c in factor], "metallicFactor": 0.0, "roughnessFactor": 1.0}}  # fmt: skip
    if pixels is not None:
        item["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    return MeshMaterial(name, tuple(float(c) for c in factor), base_color_texture=pixels, properties=item), item, pixels


def read_material_groups(path: Path, scene: Any) -> dict[str, Any] | None:
    """The arrays of an OBJ read as a trimesh ``scene`` (one geometry per material group), as
    :func:`stylize.mesh.io.load_mesh` reads a file: ``vertices``, ``faces``, ``colors``, ``uv``
    (v up, NaN rows for groups without), ``parts``, ``materials`` and ``source`` (the one-node
    scene); None when the scene holds fewer than two groups."""
    from stylize.mesh.texture import sample_texture, wrap_uv

    geometries = [g for g in scene.dump() if len(getattr(g, "faces", ())) > 0]
    order = {name: rank for rank, name in enumerate(material_group_names(path))}
    geometries.sort(key=lambda g: order.get(str(getattr(getattr(g.visual, "material", None), "name", "")), len(order)))
    if len(geometries) < 2:
        return None
    stem = path.stem
    parts, instances, materials, primitives, documents, images = [], [], [], [], [], []
    blocks = []
    start = face_start = 0
    for index, geometry in enumerate(geometries):
        vertices = np.asarray(geometry.vertices, dtype=np.float64)
        faces = np.asarray(geometry.faces, dtype=np.int64)
        uv = getattr(geometry.visual, "uv", None)
        uv = None if uv is None or len(uv) != len(vertices) else np.asarray(uv, dtype=np.float64)
        if uv is not None and not np.isfinite(uv).all():
            bad = int((~np.isfinite(uv)).any(axis=1).sum())
            raise InputError(f"{path}: {bad} of its texture coordinates are not numbers (NaN or infinite): fix its UVs")
        material, item, pixels = _material(geometry, f"material{index}")
        if pixels is not None:
            images.append((encode_png(pixels), "image/png"))
            item["pbrMetallicRoughness"]["baseColorTexture"]["index"] = len(images) - 1
        colors = None
        if uv is not None:
            gltf_uv = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]])
            colors = np.broadcast_to(np.asarray(material.base_color_factor[:3]), (len(vertices), 3)).copy()
            if pixels is not None:
                colors = sample_texture(pixels[..., :3], wrap_uv(gltf_uv))
        attributes = {"POSITION": vertices}
        if uv is not None:
            attributes["TEXCOORD_0"] = gltf_uv
        count = len(vertices)
        parts.append(MeshPart(stem, 0, 0, index, (start, start + count), (face_start, face_start + len(faces)), index, stem))
        instances.append(PrimitiveInstance(0, 0, index, np.eye(4), (start, start + count), attributes))
        materials.append(material)
        documents.append(item)
        primitives.append({"attributes": {}, "material": index})
        blocks.append((vertices, faces + start, uv, colors, material))
        start += count
        face_start += len(faces)
    document: dict[str, Any] = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"name": stem, "mesh": 0}],
        "meshes": [{"name": stem, "primitives": primitives}], "materials": documents,
        "textures": [{"source": i} for i in range(len(images))], "images": [{"mimeType": "image/png"} for _ in images],
    }  # fmt: skip
    uv = None
    if any(b[2] is not None for b in blocks):
        uv = np.concatenate([b[2] if b[2] is not None else np.full((len(b[0]), 2), np.nan) for b in blocks])
    colors = None
    if any(b[3] is not None for b in blocks):
        colors = np.concatenate([b[3] if b[3] is not None else np.broadcast_to(np.asarray(b[4].base_color_factor[:3]),
                                                                              (len(b[0]), 3)) for b in blocks])  # fmt: skip
    return {
        "vertices": np.concatenate([b[0] for b in blocks]), "faces": np.concatenate([b[1] for b in blocks]),
        "colors": colors, "uv": uv, "parts": parts, "materials": materials,
        "source": SceneSource(path, document, instances, images, [0]),
    }  # fmt: skip
