"""Binary glTF 2.0 (GLB) in and out: one builder for every GLB the toolkit writes, and a reader.

:class:`GlbBuilder` collects buffer views, accessors, PNG images, materials, meshes and nodes into
one buffer and writes the file atomically; the plain vertex-colour GLB
(:func:`stylize.mesh.io.save_mesh`) and the textured one (:mod:`stylize.mesh.bake`) are both
made with it, so both follow the same rules:

- positions are float32 with ``min``/``max`` bounds (the spec requires them), indices uint32;
- ``COLOR_0`` is linear light (glTF's rule) and multiplies the base colour;
- base-colour textures are sRGB PNGs; texture coordinates are glTF's (``v`` down);
- the metadata (prompt, seed, model, version) goes into ``asset.extras``.

:func:`read_glb` splits a GLB into its JSON document and binary chunk.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from stylize.utils import atomic_write

__all__ = ["ARRAY_BUFFER", "ELEMENT_ARRAY_BUFFER", "FLOAT", "UNSIGNED_INT", "GlbBuilder", "read_glb", "glb_extras"]

# glTF enums
FLOAT, UNSIGNED_INT, UNSIGNED_SHORT, UNSIGNED_BYTE = 5126, 5125, 5123, 5121
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}
_COMPONENTS = {np.dtype(np.float32): FLOAT, np.dtype(np.uint32): UNSIGNED_INT, np.dtype(np.uint16): UNSIGNED_SHORT,
               np.dtype(np.uint8): UNSIGNED_BYTE}  # fmt: skip
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = b"glTF", 0x4E4F534A, 0x004E4942


class GlbBuilder:
    """Assemble a GLB: every ``add_*`` returns the index of what it added.

    Args:
        generator: ``asset.generator``.
        extras: ``asset.extras`` (JSON-able metadata), or None.

    Example:
        >>> glb = GlbBuilder("stylize", {"prompt": "a red vase"})
        >>> attributes = {"POSITION": glb.add_accessor(vertices.astype(np.float32), bounds=True)}
        >>> mesh = glb.add_mesh("vase", [glb.primitive(attributes, faces, material=glb.add_material({}))])
        >>> glb.add_node({"mesh": mesh, "name": "vase"})
        >>> glb.write("vase.glb")
    """

    def __init__(self, generator: str = "stylize", extras: Mapping[str, Any] | None = None) -> None:
        self.asset: dict[str, Any] = {"version": "2.0", "generator": generator}
        if extras:
            self.asset["extras"] = dict(extras)
        self.lists: dict[str, list[dict[str, Any]]] = {
            name: [] for name in ("nodes", "meshes", "materials", "textures", "samplers", "images", "bufferViews", "accessors")
        }
        self.scene_nodes: list[int] | None = None
        self._blobs: list[bytes] = []
        self._offset = 0

    def _append(self, kind: str, item: dict[str, Any]) -> int:
        self.lists[kind].append(item)
        return len(self.lists[kind]) - 1

    def add_view(self, raw: bytes, target: int | None = None) -> int:
        """A buffer view over ``raw`` (4-byte aligned in the buffer)."""
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self._offset, "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        padding = (-len(raw)) % 4
        self._blobs.append(raw + b"\0" * padding)
        self._offset += len(raw) + padding
        return self._append("bufferViews", view)

    def add_accessor(self, array: np.ndarray, target: int = ARRAY_BUFFER, bounds: bool = False) -> int:
        """An accessor over ``array`` ``(N,)`` or ``(N, C)`` of float32 / uint32 / uint16 / uint8."""
        array = np.ascontiguousarray(array)
        columns = 1 if array.ndim == 1 else array.shape[1]
        accessor: dict[str, Any] = {
            "bufferView": self.add_view(array.tobytes(), target), "componentType": _COMPONENTS[array.dtype],
            "count": int(array.shape[0]), "type": _TYPES[columns],
        }  # fmt: skip
        if bounds:
            accessor["min"] = np.atleast_1d(array.min(axis=0)).tolist()
            accessor["max"] = np.atleast_1d(array.max(axis=0)).tolist()
        return self._append("accessors", accessor)

    def add_indices(self, faces: np.ndarray) -> int:
        """Triangle indices ``(F, 3)`` as a uint32 element accessor."""
        return self.add_accessor(np.asarray(faces).astype(np.uint32).reshape(-1), ELEMENT_ARRAY_BUFFER)

    def add_png_texture(self, pixels: np.ndarray, name: str, sampler: Mapping[str, int] | None = None) -> int:
        """A texture from ``pixels`` ``(H, W, 3|4)`` uint8 stored as an embedded PNG.

        The default sampler filters linearly with mipmaps and clamps, so the dilated gutter
        around UV charts is what filtering reaches."""
        from PIL import Image

        png = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(png, format="PNG", optimize=False)
        image = self._append("images", {"bufferView": self.add_view(png.getvalue()), "mimeType": "image/png", "name": name})
        sampler = dict(sampler or {"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071})
        if sampler in self.lists["samplers"]:
            sampler_index = self.lists["samplers"].index(sampler)
        else:
            sampler_index = self._append("samplers", sampler)
        return self._append("textures", {"source": image, "sampler": sampler_index})

    def add_material(self, material: Mapping[str, Any]) -> int:
        return self._append("materials", dict(material))

    @staticmethod
    def primitive(attributes: Mapping[str, int], indices: int, material: int | None = None) -> dict[str, Any]:
        """A triangle primitive (``attributes``: semantic -> accessor index)."""
        item: dict[str, Any] = {"attributes": dict(attributes), "indices": indices, "mode": TRIANGLES}
        if material is not None:
            item["material"] = material
        return item

    def add_mesh(self, name: str, primitives: list[dict[str, Any]], extras: Mapping[str, Any] | None = None) -> int:
        mesh: dict[str, Any] = {"name": name, "primitives": primitives}
        if extras:
            mesh["extras"] = dict(extras)
        return self._append("meshes", mesh)

    def add_node(self, node: Mapping[str, Any]) -> int:
        return self._append("nodes", dict(node))

    def document(self) -> dict[str, Any]:
        """The glTF JSON (lists that stayed empty are left out, as the spec asks)."""
        roots = self.scene_nodes
        if roots is None:
            children = {child for node in self.lists["nodes"] for child in node.get("children", [])}
            roots = [index for index in range(len(self.lists["nodes"])) if index not in children]
        document: dict[str, Any] = {"asset": self.asset, "scene": 0, "scenes": [{"nodes": roots}]}
        for name, items in self.lists.items():
            if items:
                document[name] = items
        document["buffers"] = [{"byteLength": self._offset}]
        return document

    def write(self, path: str | Path) -> Path:
        """Write the GLB atomically."""
        path = Path(path)
        json_chunk = json.dumps(self.document(), separators=(",", ":"), default=str).encode()
        json_chunk += b" " * ((-len(json_chunk)) % 4)
        bin_chunk = b"".join(self._blobs)
        total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
        with atomic_write(path, "wb") as handle:
            handle.write(struct.pack("<4sII", _GLB_MAGIC, 2, total))
            handle.write(struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk)
            handle.write(struct.pack("<I4s", len(bin_chunk), b"BIN\0") + bin_chunk)
        return path


def read_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """``(document, binary chunk)`` of GLB bytes (``b""`` when there is no binary chunk).

    Raises:
        ValueError: not a GLB, or its chunks are cut short.
    """
    if len(data) < 20 or data[:4] != _GLB_MAGIC:
        raise ValueError("not a binary glTF (no 'glTF' magic)")
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _JSON_CHUNK or 20 + json_length > len(data):
        raise ValueError("binary glTF without a complete JSON chunk")
    document = json.loads(data[20 : 20 + json_length])
    start = 20 + json_length
    binary = b""
    if start + 8 <= len(data):
        bin_length, bin_type = struct.unpack_from("<II", data, start)
        if bin_type == _BIN_CHUNK:
            binary = data[start + 8 : start + 8 + bin_length]
    return document, binary


def glb_extras(path: str | Path) -> dict[str, Any]:
    """``asset.extras`` of a GLB file (the toolkit keeps prompt, seed, ... there), or ``{}``."""
    try:
        document, _ = read_glb(Path(path).read_bytes())
    except (OSError, ValueError, struct.error):
        return {}
    extras = document.get("asset", {}).get("extras", {})
    return dict(extras) if isinstance(extras, dict) else {}
