"""Reading a glTF 2.0 asset's data: the container, buffers, accessors and images, with limits.

:class:`GltfAsset` opens a ``.glb`` (JSON and BIN chunks) or a ``.gltf`` (JSON with its buffers and
images beside it, or inline as ``data:`` URIs) and decodes what the scene reader asks for:

- :meth:`GltfAsset.accessor`: an accessor as a ``(count, width)`` array, honouring ``byteStride``,
  ``byteOffset``, sparse substitution and ``normalized`` integers (which become float64 in
  ``[0, 1]`` or ``[-1, 1]`` as the spec's formulas give);
- :meth:`GltfAsset.image_bytes` / :meth:`GltfAsset.image_pixels`: an image's encoded bytes and
  its decoded ``(H, W, 3|4)`` uint8 pixels.

Sizes are checked against :class:`GltfLimits` *before* anything is allocated (an accessor's
element count, an image's pixel count from its header, a buffer's byte length), so a hostile or
broken file costs an :class:`~stylize.errors.InputError` of one line naming the file, not memory.
Every buffer and image URI goes through :func:`resolve_uri`: ``data:`` URIs are decoded (base64 or
percent-encoded bytes), other URIs must be relative file names that stay inside the asset's folder
once percent-decoded and resolved (symbolic links included); ``file:``, ``http(s):`` and absolute
paths are refused (a mesh loader does not fetch things, nor read files the asset does not own).
Images must be PNG or JPEG by their bytes, whatever ``mimeType`` they declare.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np

from stylize.errors import InputError
from stylize.mesh.gltf.compression import (
    DECODED_EXTENSIONS,
    MESHOPT,
    decode_meshopt_view,
    decoder,
    install_hint,
    meshopt_extension,
)
from stylize.mesh.gltf.glb import COMPONENT_DTYPES, MATRIX_WIDTHS, TYPE_WIDTHS, load_gltf_json, read_glb

__all__ = ["COMPRESSION_EXTENSIONS", "GltfAsset", "GltfLimits", "image_mime_type", "resolve_uri"]

logger = logging.getLogger(__name__)

#: extensions whose data this reader cannot decode; a file that requires one is refused (Draco and
#: meshopt are decoded by :mod:`stylize.mesh.gltf.compression` when its packages are installed)
COMPRESSION_EXTENSIONS = {
    "KHR_texture_basisu": "KTX2/Basis Universal textures",
    "EXT_texture_webp": "WebP textures",
    "EXT_texture_avif": "AVIF textures",
}
#: required extensions the reader honours: quantized attributes decode as any integer accessor;
#: material extensions are material properties, kept verbatim.
_SUPPORTED_REQUIRED_PREFIXES = ("KHR_mesh_quantization", "KHR_materials_", "KHR_lights_punctual")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


_TOP_LEVEL_ARRAYS = ("accessors", "animations", "buffers", "bufferViews", "cameras", "images", "materials", "meshes",
                     "nodes", "samplers", "scenes", "skins", "textures")  # fmt: skip


@dataclass(frozen=True)
class GltfLimits:
    """What a glTF file may ask the reader to allocate.

    Attributes:
        max_accessor_count: elements per accessor (vertices of an attribute, indices).
        max_image_pixels: width x height of one image (8192 x 8192 by default).
        max_buffer_bytes: byte length of one buffer.
        max_total_components: numbers all the mesh accessors a scene decodes hold together
            (count x components, each accessor counted once), checked before decoding.
        max_total_image_pixels: pixels of all the images decoded together (each image source
            decoded once), checked from the image headers before decoding.
    """

    max_accessor_count: int = 1 << 25
    max_image_pixels: int = 8192 * 8192
    max_buffer_bytes: int = 2 << 30
    max_total_components: int = 1 << 27
    max_total_image_pixels: int = 2 * 8192 * 8192


def image_mime_type(raw: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` from an image's first bytes, else None."""
    if raw.startswith(_PNG_SIGNATURE):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _decode_data_uri(uri: str) -> bytes:
    """The bytes of ``data:[<type>][;base64],<payload>`` (RFC 2397): base64 or percent-encoded
    bytes, never passed through a text encoding (``%FF`` is the byte 0xFF)."""
    header, comma, payload = uri[len("data:") :].partition(",")
    if not comma:
        raise ValueError("has a malformed data: URI (no comma)")
    raw = unquote_to_bytes(payload)
    if header.lower().split(";")[-1].strip() != "base64":
        return raw
    try:
        return base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("has a malformed data: URI (invalid base64)") from None


def resolve_uri(uri: str, folder: str | Path) -> bytes | Path:
    """What a glTF buffer or image URI names: the bytes of a ``data:`` URI, or the path of a file
    inside ``folder`` (the asset's folder).

    A file URI is percent-decoded *before* it is checked, then resolved (``..`` and symbolic links
    followed) and must stay inside ``folder``: ``../secret``, ``%2e%2e/secret`` and a link pointing
    out of the folder are refused, as are absolute paths and any scheme but ``data:`` (``file:``,
    ``http:``, a drive letter).

    Args:
        uri: the URI as the glTF JSON holds it.
        folder: the folder holding the ``.gltf`` file.

    Returns:
        ``bytes`` for a ``data:`` URI, else the resolved :class:`~pathlib.Path` (which may not exist).

    Raises:
        ValueError: a refused or malformed URI; the message (to follow the thing's name, as in
            "buffers[0] refers to ...") says why in one line.

    Example:
        >>> resolve_uri("data:,a%FFb", ".")
        b'a\\xffb'
    """
    if uri[:5].lower() == "data:":
        return _decode_data_uri(uri)
    if _SCHEME.match(uri) or uri.startswith("//"):
        raise ValueError(
            f"refers to {uri!r}; only relative file names and data: URIs are read (no schemes such as file: or http:)"
        )
    try:
        name = unquote_to_bytes(uri).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"refers to {uri!r}, which is not a valid UTF-8 file name once percent-decoded") from None
    if not name or "\0" in name or name.startswith(("/", "\\")):
        raise ValueError(f"refers to {uri!r}, which is not a relative file name; only files beside the asset are read")
    try:
        root = Path(folder).resolve()
        target = (root / name).resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        raise ValueError(f"refers to {uri!r}, which cannot be resolved (a symbolic-link loop?)") from None
    if target != root and root not in target.parents:
        raise ValueError(f"refers to {uri!r}, which climbs out of the asset's folder; only files beside the asset are read")
    return target


class GltfAsset:
    """A glTF document with lazy access to its binary data.

    Args:
        path: the ``.glb`` or ``.gltf`` file.
        limits: size limits (default :class:`GltfLimits`).

    Raises:
        InputError: unreadable or truncated container, invalid JSON, glTF 1.0, or a required
            extension this reader cannot decode.
    """

    def __init__(self, path: str | Path, limits: GltfLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or GltfLimits()
        self.folder = self.path.parent
        data = self._read_file(self.path)
        self._glb_binary: bytes | None = None
        kind = self.path.suffix.lower()[1:].upper() or "GLTF"
        if data[:4] == b"glTF":
            try:
                self.document, self._glb_binary = read_glb(data)
            except (ValueError, struct.error) as exc:
                raise self.error(f"cannot read {kind} file (truncated or corrupt?): {exc}") from None
        else:
            if kind == "GLB":
                raise self.error("cannot read GLB file (truncated or corrupt?): not a binary glTF (no 'glTF' magic)")
            try:
                self.document = load_gltf_json(data.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise self.error(f"cannot read {kind} file (truncated or corrupt?): invalid JSON ({exc})") from None
            if not isinstance(self.document, dict):
                raise self.error(f"cannot read {kind} file (truncated or corrupt?): not a glTF JSON object")
        self._check_document_types()
        version = str(self.document.get("asset", {}).get("version", "2.0"))
        if not version.startswith("2"):
            raise self.error(f"glTF version {version} is not supported (expected 2.x)")
        self._check_extensions()
        self._buffers: dict[int, bytes] = {}
        self._decoded_views: dict[int, bytes] = {}
        self._float_accessors: dict[tuple[Any, bool], np.ndarray] = {}
        self._images: dict[tuple[str, Any], np.ndarray] = {}  # decoded pixels by where they come from
        self._image_pixels_used = 0

    # -- errors and files -------------------------------------------------------------------------

    def error(self, message: str) -> InputError:
        """An :class:`InputError` of one line naming the file."""
        return InputError(f"{self.path}: {' '.join(str(message).split())}")

    def _read_file(self, path: Path, what: str = "file") -> bytes:
        try:
            size = path.stat().st_size
        except OSError:
            raise InputError(f"{self.path}: {what} not found: {path}") from None
        if size > self.limits.max_buffer_bytes:
            raise InputError(f"{self.path}: {what} {path.name} is {size} bytes, over the limit of {self.limits.max_buffer_bytes}")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read {what} {path}: {exc.strerror or exc}") from None

    def _check_document_types(self) -> None:
        """The top level's shape, before anything reads it: ``asset`` an object, the extension
        lists lists of names, every array of the spec an array of objects (one line otherwise)."""
        document = self.document
        if not isinstance(document.get("asset", {}), dict):
            raise self.error("its 'asset' is not a JSON object")
        for key in ("extensionsRequired", "extensionsUsed"):
            names = document.get(key, [])
            if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
                raise self.error(f"its {key!r} is not a list of extension names")
        for key in _TOP_LEVEL_ARRAYS:
            items = document.get(key)
            if items is not None and (not isinstance(items, list) or not all(isinstance(item, dict) for item in items)):
                raise self.error(f"its {key!r} is not a JSON array of objects")

    def _check_extensions(self) -> None:
        required = self.document.get("extensionsRequired", []) or []
        used = set(self.document.get("extensionsUsed", []) or []) | set(required)
        #: compression extensions this file's data is decoded from (their packages installed)
        self.decoded = sorted(name for name in used if name in DECODED_EXTENSIONS and decoder(name) is not None)
        for name in required:
            if name in DECODED_EXTENSIONS:
                if name not in self.decoded:
                    raise self.error(f"requires {install_hint(name)}")
                continue
            if name in COMPRESSION_EXTENSIONS:
                raise self.error(
                    f"requires {name} ({COMPRESSION_EXTENSIONS[name]}), which stylize cannot decode; "
                    "write it without compression first (e.g. gltf-transform, or Blender's glTF exporter)"
                )
            if not name.startswith(_SUPPORTED_REQUIRED_PREFIXES):
                raise self.error(f"requires the glTF extension {name}, which stylize does not support")
        if self.decoded:
            logger.info("%s: decoding %s; outputs are written uncompressed", self.path, ", ".join(self.decoded))
        ignored = sorted(set(self.document.get("extensionsUsed", []) or []) & {"KHR_texture_transform"})
        if ignored:
            logger.warning("%s: uses %s; texture transforms are ignored when sampling colours", self.path, ignored[0])

    def _resolve_uri(self, uri: str, what: str) -> bytes:
        """The bytes a buffer or image URI names (see :func:`resolve_uri`)."""
        try:
            resolved = resolve_uri(uri, self.folder)
        except ValueError as exc:
            raise self.error(f"{what} {exc}") from None
        if isinstance(resolved, bytes):
            return resolved
        if not resolved.is_file():
            raise self.error(f"{what} refers to {uri!r}, which is not found beside the file")
        return self._read_file(resolved, what)

    # -- buffers and accessors --------------------------------------------------------------------

    def _list(self, name: str, index: Any) -> dict[str, Any]:
        items = self.document.get(name)
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(items, list) or not 0 <= index < len(items):
            raise self.error(f"refers to {name}[{index}], which does not exist")
        item = items[index]
        if not isinstance(item, dict):
            raise self.error(f"{name}[{index}] is not a JSON object")
        return item

    def buffer(self, index: int) -> bytes:
        """The bytes of ``buffers[index]`` (the GLB's BIN chunk, a data: URI or a file)."""
        if index in self._buffers:
            return self._buffers[index]
        buffer = self._list("buffers", index)
        length = int(buffer.get("byteLength", 0))
        if length > self.limits.max_buffer_bytes:
            raise self.error(f"buffers[{index}] declares {length} bytes, over the limit of {self.limits.max_buffer_bytes}")
        if "uri" in buffer:
            data = self._resolve_uri(str(buffer["uri"]), f"buffers[{index}]")
        elif index == 0 and self._glb_binary is not None:
            data = self._glb_binary
        else:
            raise self.error(f"buffers[{index}] has no data (no uri and no GLB binary chunk)")
        if len(data) < length:
            raise self.error(
                f"cannot read buffers[{index}] (truncated or corrupt?): {len(data)} bytes of the {length} it declares"
            )
        self._buffers[index] = data
        return data

    def _view(self, index: int) -> tuple[bytes, int, int, int | None]:
        """``(buffer bytes, byte offset, byte length, byte stride or None)`` of a buffer view
        (a meshopt-compressed view decoded once, when its decoder is installed)."""
        view = self._list("bufferViews", index)
        compressed = meshopt_extension(view)
        if compressed is not None and any(name in self.decoded for name in MESHOPT):
            if index not in self._decoded_views:
                name = next(name for name in MESHOPT if name in (view.get("extensions") or {}))
                self._decoded_views[index] = decode_meshopt_view(self, index, compressed, name)
            data = self._decoded_views[index]
            stride = view.get("byteStride")
            return data, 0, len(data), None if stride is None else int(stride)
        data = self.buffer(view.get("buffer", -1))
        offset, length = int(view.get("byteOffset", 0)), int(view["byteLength"])
        if offset < 0 or length < 0 or offset + length > len(data):
            raise self.error(f"bufferViews[{index}] runs past the end of its buffer (truncated or corrupt?)")
        stride = view.get("byteStride")
        return data, offset, length, None if stride is None else int(stride)

    def view_bytes(self, index: int) -> bytes:
        data, offset, length, _ = self._view(index)
        return data[offset : offset + length]

    def _elements(self, view_index: int, byte_offset: int, count: int, dtype: np.dtype, width: int,
                  what: str, allow_stride: bool = True) -> np.ndarray:  # fmt: skip
        data, view_offset, view_length, stride = self._view(view_index)
        element = dtype.itemsize * width
        stride = element if stride is None or not allow_stride else stride
        if stride < element or byte_offset < 0:
            raise self.error(f"{what}: byteStride {stride} is shorter than one element ({element} bytes)")
        if count and byte_offset + stride * (count - 1) + element > view_length:
            raise self.error(
                f"cannot read {what} (truncated or corrupt?): {count} elements do not fit in bufferViews[{view_index}]"
            )
        if count == 0:
            return np.zeros((0, width), dtype)
        array = np.ndarray((count, width), dtype=dtype, buffer=data, offset=view_offset + byte_offset,
                           strides=(stride, dtype.itemsize))  # fmt: skip
        return array.copy()

    def accessor(self, index: int, *, force_normalized: bool = False, matrix: bool = False) -> np.ndarray:
        """``accessors[index]`` as ``(count, width)``: float64 when normalized (or
        ``force_normalized``, as ``COLOR_0`` integers are by definition), else its own dtype;
        ``matrix``: a ``MAT4`` accessor is allowed (width 16, column-major).

        Raises:
            InputError: over the element limit (checked before allocating), out-of-bounds views,
                matrix types, or broken sparse data.
        """
        accessor = self._list("accessors", index)
        what = f"accessors[{index}]"
        count = accessor.get("count", -1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise self.error(f"{what} has no valid count")
        if count > self.limits.max_accessor_count:
            raise self.error(f"{what} has {count} elements, over the limit of {self.limits.max_accessor_count}")
        component = accessor.get("componentType")
        if component not in COMPONENT_DTYPES:
            raise self.error(f"{what} has an unknown componentType {component!r}")
        widths = {**TYPE_WIDTHS, **MATRIX_WIDTHS} if matrix else TYPE_WIDTHS
        if accessor.get("type") not in widths:
            expected = "SCALAR, VEC2-4 or MAT4" if matrix else "SCALAR or VEC2-4"
            raise self.error(f"{what} has type {accessor.get('type')!r}; expected {expected}")
        dtype, width = COMPONENT_DTYPES[component], widths[accessor["type"]]
        if "bufferView" in accessor:
            values = self._elements(accessor["bufferView"], int(accessor.get("byteOffset", 0)), count, dtype, width, what)
        else:  # all zeros unless sparse says otherwise
            values = np.zeros((count, width), dtype)
        if "sparse" in accessor:
            self._apply_sparse(accessor["sparse"], values, what)
        if (accessor.get("normalized") or force_normalized) and dtype.kind in "iu":
            info = np.iinfo(dtype)
            scaled = values.astype(np.float64) / float(info.max)
            return np.maximum(scaled, -1.0) if dtype.kind == "i" else scaled
        return values

    def float_accessor(self, index: int, *, force_normalized: bool = False) -> np.ndarray:
        """:meth:`accessor` as float64, decoded once however many attributes name it (the array
        is shared: copy it before changing it)."""
        key = (index if isinstance(index, int) else repr(index), force_normalized)
        if key not in self._float_accessors:
            self._float_accessors[key] = self.accessor(index, force_normalized=force_normalized).astype(np.float64)
        return self._float_accessors[key]

    def _apply_sparse(self, sparse: dict[str, Any], values: np.ndarray, what: str) -> None:
        count = int(sparse.get("count", 0))
        if not 0 < count <= len(values):
            raise self.error(f"{what}: sparse count {count} is not in 1..{len(values)}")
        indices_info, values_info = sparse.get("indices", {}), sparse.get("values", {})
        index_type = indices_info.get("componentType")
        if index_type not in (5121, 5123, 5125):
            raise self.error(f"{what}: sparse indices have componentType {index_type!r}; expected an unsigned integer")
        indices = self._elements(indices_info["bufferView"], int(indices_info.get("byteOffset", 0)), count,
                                 COMPONENT_DTYPES[index_type], 1, f"{what} sparse indices", allow_stride=False)[:, 0]  # fmt: skip
        if indices.size and int(indices.max()) >= len(values):
            raise self.error(f"{what}: sparse index {int(indices.max())} is out of range for {len(values)} elements")
        substitutes = self._elements(values_info["bufferView"], int(values_info.get("byteOffset", 0)), count,
                                     values.dtype, values.shape[1], f"{what} sparse values", allow_stride=False)  # fmt: skip
        values[indices.astype(np.int64)] = substitutes

    def _count_pixels(self, index: int, pixels: int) -> None:
        """Add an image's pixels to what this asset decoded; refuse going over the total limit."""
        self._image_pixels_used += pixels
        if self._image_pixels_used > self.limits.max_total_image_pixels:
            raise self.error(f"images[{index}] takes its images over {self.limits.max_total_image_pixels} pixels in all "
                             "(decoded once per image source)")  # fmt: skip

    # -- images -----------------------------------------------------------------------------------

    def image_bytes(self, index: int) -> tuple[bytes, str | None]:
        """``(encoded bytes, MIME type)`` of ``images[index]`` (the type from the bytes when known)."""
        image = self._list("images", index)
        if "bufferView" in image:
            raw = self.view_bytes(image["bufferView"])
        elif "uri" in image:
            raw = self._resolve_uri(str(image["uri"]), f"images[{index}] (external image)")
        else:
            raise self.error(f"images[{index}] has neither a uri nor a bufferView")
        declared, found = image.get("mimeType"), image_mime_type(raw)
        if found is None:
            said = f" (it declares {declared})" if isinstance(declared, str) else ""
            raise self.error(f"images[{index}] is not a PNG or JPEG image by its bytes{said}")
        if declared is not None and declared != found:
            logger.warning("%s: images[%d] declares %s but holds %s; read as %s", self.path, index, declared, found, found)
        return raw, found

    def image_pixels(self, index: int) -> np.ndarray:
        """``images[index]`` decoded to ``(H, W, 3)`` or ``(H, W, 4)`` uint8 (alpha kept when present).

        Raises:
            InputError: missing external file, undecodable data, or more pixels than the limit
                (read from the image header, before decoding).
        """
        image = self._list("images", index)
        # Images naming the same data (one bufferView, one URI) are decoded once and share pixels.
        source = ("view", image["bufferView"]) if "bufferView" in image else ("uri", str(image.get("uri")))
        if source not in self._images:
            self._images[source] = self._decode_image(index)
        return self._images[source]

    def _decode_image(self, index: int) -> np.ndarray:
        from PIL import Image

        raw, _ = self.image_bytes(index)
        limit = self.limits.max_image_pixels
        if raw.startswith(_PNG_SIGNATURE) and len(raw) >= 24:
            width, height = struct.unpack(">II", raw[16:24])  # IHDR: the first chunk of every PNG
            if width * height > limit:
                raise self.error(f"images[{index}] is {width}x{height} pixels, over the limit of {limit} pixels")
            self._count_pixels(index, width * height)
        try:
            with Image.open(io.BytesIO(raw)) as image:
                width, height = image.size
                if width * height > limit:
                    raise self.error(f"images[{index}] is {width}x{height} pixels, over the limit of {limit} pixels")
                if not raw.startswith(_PNG_SIGNATURE):  # (a PNG was counted from its header above)
                    self._count_pixels(index, width * height)
                image.load()
                return _to_uint8(image)
        except Image.DecompressionBombError:
            raise self.error(f"images[{index}] is over the limit of {limit} pixels") from None
        except InputError:
            raise
        except Exception as exc:  # PIL raises many types for broken images; all mean "undecodable"
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self.error(f"cannot decode images[{index}] (truncated or corrupt?): {detail}") from None


def _to_uint8(image) -> np.ndarray:
    """PIL image -> ``(H, W, 3|4)`` uint8 (16-bit greys scaled down, palettes expanded)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, dtype=np.float64)
        grey = np.clip(grey / (65535.0 if grey.max(initial=0) > 255 else 255.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    return np.ascontiguousarray(np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8))
