"""Binary glTF 2.0 (GLB) in and out: one builder for every GLB the toolkit writes, and a reader.

:class:`GlbBuilder` collects buffer views, accessors, PNG images, materials, meshes and nodes into
one buffer and writes the file atomically; the plain vertex-colour GLB
(:func:`stylize.mesh.io.save_mesh`) and the textured one (:mod:`stylize.mesh.bake`) are both
made with it, so both follow the same rules:

- positions are float32 with ``min``/``max`` bounds (the spec requires them), indices uint32;
- ``COLOR_0`` is linear light (glTF's rule) and multiplies the base colour;
- base-colour textures are sRGB PNGs; texture coordinates are glTF's (``v`` down);
- samplers are shared (one per distinct setting), images are embedded (buffer views);
- ``extensionsUsed`` is worked out from the document, so it always lists what is used;
- the metadata (prompt, seed, model, version) goes into ``asset.extras``.

The structure-preserving scene writer (:func:`stylize.mesh.gltf.write.write_scene_glb`) uses it
too: several meshes, nodes with a hierarchy, normal textures and ``TANGENT``.

:func:`read_glb` splits a GLB into its JSON document and binary chunk, checking the container.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stylize.utils import atomic_write

__all__ = [
    "ARRAY_BUFFER", "COMPONENT_DTYPES", "ELEMENT_ARRAY_BUFFER", "FLOAT", "MATRIX_WIDTHS", "TYPE_WIDTHS", "UNSIGNED_INT", "GlbBuilder",
    "glb_extras", "read_glb", "used_extensions",
]  # fmt: skip

# glTF enums
FLOAT, UNSIGNED_INT, UNSIGNED_SHORT, UNSIGNED_BYTE, SHORT, BYTE = 5126, 5125, 5123, 5121, 5122, 5120
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
#: componentType -> little-endian numpy dtype
COMPONENT_DTYPES = {BYTE: np.dtype("<i1"), UNSIGNED_BYTE: np.dtype("<u1"), SHORT: np.dtype("<i2"),
                    UNSIGNED_SHORT: np.dtype("<u2"), UNSIGNED_INT: np.dtype("<u4"), FLOAT: np.dtype("<f4")}  # fmt: skip
#: accessor type -> components per element (mesh attributes; MAT4 only for skins' inverse bind matrices)
TYPE_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
MATRIX_WIDTHS = {"MAT4": 16}
_TYPES = {width: name for name, width in {**TYPE_WIDTHS, **MATRIX_WIDTHS}.items()}
_COMPONENTS = {np.dtype(np.float32): FLOAT, np.dtype(np.uint32): UNSIGNED_INT, np.dtype(np.uint16): UNSIGNED_SHORT,
               np.dtype(np.uint8): UNSIGNED_BYTE}  # fmt: skip
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = b"glTF", 0x4E4F534A, 0x004E4942
#: linear filtering with mipmaps, clamped: the dilated gutter around UV charts is what filtering reaches
DEFAULT_SAMPLER = {"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}


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
        #: other top-level properties written as given (``cameras``, ``extensions``, ...)
        self.top_level: dict[str, Any] = {}
        #: extensions a reader must support (each must also be used somewhere in the document)
        self.extensions_required: list[str] = []
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

    def add_accessor(self, array: np.ndarray, target: int | None = ARRAY_BUFFER, bounds: bool = False,
                     normalized: bool = False) -> int:  # fmt: skip
        """An accessor over ``array`` ``(N,)`` or ``(N, C)`` of float32 / uint32 / uint16 / uint8
        (``C`` 16: MAT4; ``target`` None for data that is not a vertex attribute: matrices,
        animation keys)."""
        array = np.ascontiguousarray(array)
        columns = 1 if array.ndim == 1 else array.shape[1]
        accessor: dict[str, Any] = {
            "bufferView": self.add_view(array.tobytes(), target), "componentType": _COMPONENTS[array.dtype],
            "count": int(array.shape[0]), "type": _TYPES[columns],
        }  # fmt: skip
        if normalized:
            accessor["normalized"] = True
        if bounds:
            accessor["min"] = np.atleast_1d(array.min(axis=0)).tolist()
            accessor["max"] = np.atleast_1d(array.max(axis=0)).tolist()
        return self._append("accessors", accessor)

    def add_indices(self, faces: np.ndarray) -> int:
        """Triangle indices ``(F, 3)`` as a uint32 element accessor."""
        return self.add_accessor(np.asarray(faces).astype(np.uint32).reshape(-1), ELEMENT_ARRAY_BUFFER)

    def add_sampler(self, sampler: Mapping[str, Any] | None = None) -> int:
        """A sampler (default :data:`DEFAULT_SAMPLER`); an identical one already added is reused."""
        sampler = dict(DEFAULT_SAMPLER if sampler is None else sampler)
        if sampler in self.lists["samplers"]:
            return self.lists["samplers"].index(sampler)
        return self._append("samplers", sampler)

    def add_image(self, raw: bytes, mime_type: str, name: str | None = None) -> int:
        """An image embedded in the buffer (``raw``: the encoded PNG or JPEG bytes)."""
        image: dict[str, Any] = {"bufferView": self.add_view(raw), "mimeType": mime_type}
        if name:
            image["name"] = name
        return self._append("images", image)

    def add_texture(self, image: int, sampler: int | None = None, name: str | None = None) -> int:
        """A texture of image ``image`` (``sampler``: an index from :meth:`add_sampler`, or None
        for glTF's default: repeat, filtering up to the viewer)."""
        texture: dict[str, Any] = {"source": image}
        if sampler is not None:
            texture["sampler"] = sampler
        if name:
            texture["name"] = name
        return self._append("textures", texture)

    def add_png_texture(self, pixels: np.ndarray, name: str, sampler: Mapping[str, Any] | None = None) -> int:
        """A texture from ``pixels`` ``(H, W, 3|4)`` uint8 stored as an embedded PNG.

        The default sampler (:data:`DEFAULT_SAMPLER`) filters linearly with mipmaps and clamps,
        so the dilated gutter around UV charts is what filtering reaches."""
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
            raise ValueError(f"expected a texture of shape (H, W, 3|4) uint8, got {pixels.shape} {pixels.dtype}")
        image = self.add_image(encode_png(pixels), "image/png", name)
        return self.add_texture(image, self.add_sampler(sampler))

    def add_material(self, material: Mapping[str, Any]) -> int:
        return self._append("materials", dict(material))

    @staticmethod
    def primitive(attributes: Mapping[str, int], indices: int, material: int | None = None,
                  extras: Any = None) -> dict[str, Any]:  # fmt: skip
        """A triangle primitive (``attributes``: semantic -> accessor index)."""
        item: dict[str, Any] = {"attributes": dict(attributes), "indices": indices, "mode": TRIANGLES}
        if material is not None:
            item["material"] = material
        if extras is not None:
            item["extras"] = extras
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
        document.update(self.top_level)
        if self._offset:
            document["buffers"] = [{"byteLength": self._offset}]
        used = used_extensions(document)
        if used:
            document["extensionsUsed"] = used
        required = [name for name in self.extensions_required if name in used]
        if required:
            document["extensionsRequired"] = required
        return document

    def write(self, path: str | Path) -> Path:
        """Write the GLB atomically."""
        path = Path(path)
        json_chunk = json.dumps(self.document(), separators=(",", ":"), default=str).encode()
        json_chunk += b" " * ((-len(json_chunk)) % 4)
        bin_chunk = b"".join(self._blobs)
        total = 12 + 8 + len(json_chunk) + (8 + len(bin_chunk) if bin_chunk else 0)
        with atomic_write(path, "wb") as handle:
            handle.write(struct.pack("<4sII", _GLB_MAGIC, 2, total))
            handle.write(struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk)
            if bin_chunk:  # a GLB without buffer data has no BIN chunk (an empty one is invalid)
                handle.write(struct.pack("<I4s", len(bin_chunk), b"BIN\0") + bin_chunk)
        return path


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of ``pixels`` ``(H, W, C)`` uint8 (deterministic: no timestamp, fixed settings)."""
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(png, format="PNG", optimize=False)
    return png.getvalue()


def used_extensions(document: Any) -> list[str]:
    """Sorted names of every extension an ``extensions`` object anywhere in ``document`` holds."""
    found: set[str] = set()
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            extensions = item.get("extensions")
            if isinstance(extensions, dict):
                found.update(extensions)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(found)


def _finite_number(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def load_gltf_json(data: bytes | str) -> Any:
    """A glTF document's JSON, every number finite (``1e400`` and ``NaN`` are refused, not read
    as infinities that crash later) and nesting bounded by the parser's recursion limit.

    Raises:
        ValueError: not valid JSON, a number that is not finite, or nested too deeply (the
            message says which).
    """
    try:
        return json.loads(data, parse_float=_finite_number, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc})") from None


def read_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """``(document, binary chunk)`` of GLB bytes (``b""`` when there is no binary chunk).

    Checks the container as the spec describes it: magic, version 2, the declared length against
    the data, a JSON chunk first, every chunk inside the file.

    Raises:
        ValueError: not a GLB, another version, or its chunks are cut short (the message says which).
    """
    if len(data) < 12 or data[:4] != _GLB_MAGIC:
        raise ValueError("not a binary glTF (no 'glTF' magic)")
    version, declared = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise ValueError(f"binary glTF version {version}; only version 2 is supported")
    if declared > len(data):
        raise ValueError(f"truncated: the header declares {declared} bytes, the file has {len(data)}")
    if len(data) < 20:
        raise ValueError("binary glTF without a complete JSON chunk")
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _JSON_CHUNK or 20 + json_length > declared:
        raise ValueError("binary glTF without a complete JSON chunk")
    try:
        document = load_gltf_json(data[20 : 20 + json_length])
    except ValueError as exc:
        raise ValueError(f"its JSON chunk is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError("its JSON chunk is not a glTF object")
    start = 20 + json_length
    binary = b""
    if start + 8 <= declared:
        bin_length, bin_type = struct.unpack_from("<II", data, start)
        if bin_type == _BIN_CHUNK:
            if start + 8 + bin_length > declared:
                raise ValueError("truncated: its binary chunk runs past the end of the file")
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
