"""Compressed glTF geometry read back: ``KHR_draco_mesh_compression`` and ``EXT_meshopt_compression``.

Both decoders are optional packages (``pip install 'stylize[compression]'``): DracoPy for Draco
primitives, meshopt for meshopt buffer views (``KHR_meshopt_compression``, the ratified name, is
read the same way). A file that *requires* one whose package is missing is refused in one line
with the install command; a file that merely *uses* one keeps its uncompressed fallback. Outputs
are always written uncompressed (the reader says so in one log line).

The decoders take the reading :class:`~stylize.mesh.gltf.asset.GltfAsset` (typed ``Any`` here:
the asset module imports this one, and the import graph stays without circles).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

__all__ = ["DECODED_EXTENSIONS", "decode_draco_primitive", "decode_meshopt_view", "decoder"]

DRACO = "KHR_draco_mesh_compression"
MESHOPT = ("EXT_meshopt_compression", "KHR_meshopt_compression")
#: extension -> (the module that decodes it, its PyPI name, what it compresses)
DECODED_EXTENSIONS = {
    DRACO: ("DracoPy", "DracoPy", "Draco-compressed geometry"),
    MESHOPT[0]: ("meshopt", "meshopt", "meshopt-compressed buffers"),
    MESHOPT[1]: ("meshopt", "meshopt", "meshopt-compressed buffers"),
}


def decoder(extension: str) -> Any | None:
    """The decoding module for ``extension``, or None when it is not installed."""
    module, _, _ = DECODED_EXTENSIONS[extension]
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def install_hint(extension: str) -> str:
    _, package, what = DECODED_EXTENSIONS[extension]
    return f"{extension} ({what}) needs the {package} package: pip install 'stylize[compression]' (or pip install {package})"


def meshopt_extension(view: dict[str, Any]) -> dict[str, Any] | None:
    extensions = view.get("extensions") or {}
    for name in MESHOPT:
        if isinstance(extensions.get(name), dict):
            return extensions[name]
    return None


def decode_meshopt_view(asset: Any, index: int, extension: dict[str, Any], name: str) -> bytes:
    """The plain bytes of ``bufferViews[index]`` from its meshopt-compressed source.

    Raises:
        InputError: the decoder is missing, the sizes are out of the limits, or the data is broken.
    """
    module = decoder(name)
    if module is None:
        raise asset.error(f"bufferViews[{index}] is compressed: {install_hint(name)}")
    count, stride = int(extension.get("count", -1)), int(extension.get("byteStride", -1))
    if count < 0 or stride <= 0 or count * stride > asset.limits.max_buffer_bytes:
        raise asset.error(f"bufferViews[{index}]: {name} declares {count} elements of {stride} bytes (out of range)")
    source = asset.buffer(int(extension.get("buffer", -1)))
    start, length = int(extension.get("byteOffset", 0)), int(extension.get("byteLength", -1))
    if start < 0 or length < 0 or start + length > len(source):
        raise asset.error(f"bufferViews[{index}]: its {name} data runs past the end of its buffer (truncated or corrupt?)")
    mode = str(extension.get("mode", "ATTRIBUTES"))
    filter_name = extension.get("filter", "NONE")
    try:
        decoded = module.decode_gltf_buffer(source[start : start + length], count, stride, mode,
                                            None if filter_name == "NONE" else filter_name)  # fmt: skip
    except Exception as exc:  # the decoder's own errors for broken streams
        raise asset.error(f"cannot decode bufferViews[{index}] ({name}): {exc}") from None
    return np.ascontiguousarray(decoded).tobytes()


def draco_extension(primitive: dict[str, Any]) -> dict[str, Any] | None:
    extension = (primitive.get("extensions") or {}).get(DRACO)
    return extension if isinstance(extension, dict) else None


def decode_draco_primitive(asset: Any, where: str, primitive: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``(semantic -> (count, width) array, indices (N,) int64)`` of a Draco primitive; attributes
    as their accessors declare them (normalized integers scaled to floats).

    Raises:
        InputError: the decoder is missing, or the stream is broken or disagrees with its accessors.
    """
    module = decoder(DRACO)
    if module is None:
        raise asset.error(f"{where} is compressed: {install_hint(DRACO)}")
    extension = draco_extension(primitive) or {}
    raw = asset.view_bytes(extension.get("bufferView", -1))
    try:
        decoded = module.decode(raw)
    except Exception as exc:  # the decoder's own errors for broken streams
        raise asset.error(f"cannot decode {where} ({DRACO}): {exc}") from None
    attributes: dict[str, np.ndarray] = {}
    accessors = asset.document.get("accessors") or []
    for semantic, unique_id in (extension.get("attributes") or {}).items():
        found = decoded.get_attribute_by_unique_id(int(unique_id))
        if found is None:
            raise asset.error(f"{where}: its Draco stream has no attribute {unique_id} for {semantic}")
        values = np.asarray(found["data"])
        values = values.reshape(len(values), -1)
        accessor = accessors[primitive["attributes"][semantic]] if semantic in primitive.get("attributes", {}) else {}
        if values.dtype.kind in "iu" and (accessor.get("normalized") or semantic.startswith("COLOR_")):
            values = values.astype(np.float64) / float(np.iinfo(values.dtype).max)
        attributes[semantic] = values
    indices = np.asarray(decoded.faces, dtype=np.int64).reshape(-1)
    return attributes, indices
