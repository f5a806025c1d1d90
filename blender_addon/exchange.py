"""The mesh as it travels between Blender and the worker: OBJ out, ``vertex_data.npz`` back.

Nothing here imports bpy or torch. :func:`write_obj` writes the faces' vertices of a Blender mesh
(optionally oriented into the worker's Y-up frame, and with the object's :class:`SourceLook` for a
restyle) and returns the :class:`MeshExchange` that maps the file's vertices back to Blender's;
:func:`read_mesh_result` and :func:`read_vertex_file` map a run's result (or a preview snapshot)
onto the mesh's vertices with it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .jobs import JobError

# Blender is Z-up; the toolkit's cameras (like glTF and Blender's own OBJ export) are Y-up.
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass
class MeshExchange:
    """The mesh as sent to the worker: only vertices that faces use, in Blender's order.

    Attributes:
        used: Blender vertex index of each vertex written, ``(U,)``: increasing, except where a
            restyle sends a texture (:class:`SourceLook`): a vertex on a UV seam is then written
            once per UV it has (the copies follow each other), since OBJ readers give each vertex
            one UV.
        vertex_count: vertices of the Blender mesh.
        orientation: ``(3, 3)`` linear map from the mesh's coordinates to the file's (identity:
            written as they are).
    """

    used: np.ndarray
    vertex_count: int
    orientation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def to_worker(self, positions: np.ndarray) -> np.ndarray:
        """Mesh coordinates ``(N, 3)`` -> the frame of the file sent to the worker (float64)."""
        positions = np.asarray(positions, dtype=np.float64)
        return positions if np.array_equal(self.orientation, np.eye(3)) else positions @ self.orientation.T

    def from_worker(self, positions: np.ndarray) -> np.ndarray:
        """The worker's positions ``(N, 3)`` -> the mesh's coordinates (float64)."""
        positions = np.asarray(positions, dtype=np.float64)
        if np.array_equal(self.orientation, np.eye(3)):
            return positions
        return np.linalg.solve(self.orientation, positions.T).T


def worker_orientation(world_linear: np.ndarray) -> np.ndarray:
    """The map from an object's mesh coordinates to the worker's frame: the object's own
    rotation and scale (``matrix_world``'s 3x3 part, so the worker sees the object upright as the
    viewport shows it, whichever way its mesh data was modelled or imported), then Z-up -> Y-up.

    Raises:
        JobError: the object is scaled to zero along some axis.
    """
    world_linear = np.asarray(world_linear, dtype=np.float64).reshape(3, 3)
    # Snap float32 noise of axis-aligned rotations (Blender stores cos 90 deg as 7.5e-8), so an
    # imported OBJ's coordinates reach the worker exactly, not perturbed in the last bits.
    snapped = np.round(world_linear)
    world_linear = np.where(np.abs(world_linear - snapped) < 1e-6, snapped, world_linear)
    if abs(np.linalg.det(world_linear)) < 1e-12:
        raise JobError("the object is scaled to zero along an axis: apply or fix its scale first")
    return Z_UP_TO_Y_UP @ world_linear


# A texture sent for a restyle is at most this many pixels a side (it is the start of the run,
# whose own texture size is set apart; a bigger source only costs memory and time to send).
MAX_SOURCE_TEXTURE = 4096


@dataclass
class SourceLook:
    """What an object looks like now, sent with a restyle (``MeshJobSettings.source``).

    Either a base-colour texture on the object's UVs, or colours per vertex, or neither (the run
    then starts from grey).

    Attributes:
        origin: where it came from, for messages (``"texture 'crate.png'"``, ``"colour attribute 'Col'"``).
        colors: ``(V, 3)`` sRGB in ``[0, 1]`` per Blender vertex, or None.
        corner_uv: ``(T, 3, 2)`` Blender UVs (v up) of each loop triangle's corners, with ``texture``.
        texture: ``(H, W, 4)`` uint8 sRGB RGBA, top row first, or None.
    """

    origin: str = "nothing (grey)"
    colors: np.ndarray | None = None
    corner_uv: np.ndarray | None = None
    texture: np.ndarray | None = None


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB or RGBA PNG of ``pixels`` ``(H, W, 3 | 4)`` uint8, top row first (no PIL in Blender)."""
    import struct
    import zlib

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or 0 in pixels.shape[:2]:
        raise ValueError(f"expected pixels of shape (H, W, 3 or 4), got {pixels.shape}")
    height, width, channels = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1)  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file beside it, so a reader
    never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_obj(
    path: Path, vertices: np.ndarray, triangles: np.ndarray, orientation: np.ndarray | None = None, look: SourceLook | None = None
) -> MeshExchange:
    """Write a triangle mesh as OBJ (positions and faces only), keeping the vertex order.

    ``orientation`` (see :func:`worker_orientation`) maps the positions into the file's frame;
    None writes them as they are. ``look`` (a restyle) adds the object's colours per vertex, or
    its texture: UVs in the OBJ, ``NAME.mtl`` and ``NAME.png`` beside it.

    Loose vertices (no face) are left out, because trimesh's OBJ reader drops them and would shift
    every later index; :class:`MeshExchange` maps the file's vertices back to the mesh's. Floats
    use 9 significant digits, so float32 positions survive the text round trip exactly.

    Shape:
        - vertices: ``(V, 3)``; triangles: ``(T, 3)`` integer indices into vertices.
    """
    path = Path(path)
    textured = look is not None and look.texture is not None
    text, exchange = obj_text(vertices, triangles, orientation, look, material=path.stem if textured else None)
    if textured:
        write_atomic(path.with_suffix(".png"), png_bytes(look.texture))
        write_atomic(path.with_suffix(".mtl"), f"newmtl {path.stem}\nKd 1 1 1\nmap_Kd {path.stem}.png\n")
    write_atomic(path, text)
    return exchange


def obj_text(
    vertices: np.ndarray,
    triangles: np.ndarray,
    orientation: np.ndarray | None = None,
    look: SourceLook | None = None,
    material: str | None = None,
) -> tuple[str, MeshExchange]:
    """What :func:`write_obj` writes, and its exchange; the same mesh always gives the same text
    (so a batch import can tell whether an object still is what was sent). With a textured
    ``look``, ``material`` names the MTL file and material (``material.mtl``)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {vertices.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or len(triangles) == 0:
        raise ValueError(f"expected at least one triangle of shape (T, 3), got {triangles.shape}")
    orientation = np.eye(3) if orientation is None else np.asarray(orientation, dtype=np.float64).reshape(3, 3)
    lines = ["# stylize Blender add-on: positions and triangles, vertex order kept"]
    if look is not None and look.texture is not None:
        corner_uv = np.asarray(look.corner_uv, dtype=np.float64)
        if corner_uv.shape != (len(triangles), 3, 2):
            raise ValueError(f"expected corner UVs of shape ({len(triangles)}, 3, 2), got {corner_uv.shape}")
        # One written vertex per (Blender vertex, UV) pair, in Blender's vertex order.
        keys = np.concatenate([triangles.reshape(-1, 1).astype(np.float64), np.nan_to_num(corner_uv.reshape(-1, 2))], axis=1)
        unique, corner_index = np.unique(keys, axis=0, return_inverse=True)
        used = unique[:, 0].astype(np.int64)
        exchange = MeshExchange(used=used, vertex_count=len(vertices), orientation=orientation)
        lines += [f"mtllib {material}.mtl"]
        lines += ["v %.9g %.9g %.9g" % tuple(row) for row in exchange.to_worker(vertices[used])]
        lines += ["vt %.9g %.9g" % tuple(row) for row in unique[:, 1:]]
        lines += [f"usemtl {material}"]
        lines += ["f %d/%d %d/%d %d/%d" % (a, a, b, b, c, c) for a, b, c in corner_index.reshape(-1, 3) + 1]
        return "\n".join(lines) + "\n", exchange
    exchange = MeshExchange(used=np.unique(triangles), vertex_count=len(vertices), orientation=orientation)
    used = exchange.used
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    positions = exchange.to_worker(vertices[used])
    if look is not None and look.colors is not None:
        colors = np.clip(np.asarray(look.colors, dtype=np.float64), 0.0, 1.0)
        if colors.shape != (len(vertices), 3):
            raise ValueError(f"expected colours of shape ({len(vertices)}, 3), got {colors.shape}")
        lines += ["v %.9g %.9g %.9g %.6g %.6g %.6g" % tuple(row) for row in np.concatenate([positions, colors[used]], axis=1)]
    else:
        lines += ["v %.9g %.9g %.9g" % tuple(row) for row in positions]
    lines += ["f %d %d %d" % tuple(row) for row in remap[triangles] + 1]
    return "\n".join(lines) + "\n", exchange


@dataclass
class MeshResult:
    """The worker's result on the Blender mesh's vertices.

    Attributes:
        colors: sRGB ``(V, 3)`` float32; vertices without a result get ``fallback_color``.
        positions: ``(V, 3)`` float64 in the mesh's frame; unchanged vertices keep their position.
        changed: ``(V,)`` bool, the vertices this result may change (the worker returned them and
            they are inside the region); the others must be left exactly as they are.
    """

    colors: np.ndarray
    positions: np.ndarray
    changed: np.ndarray


def read_mesh_result(
    run_dir: Path,
    exchange: MeshExchange,
    original: np.ndarray,
    keep: np.ndarray | None = None,
    fallback_color: Sequence[float] = (1.0, 1.0, 1.0),
) -> MeshResult:
    """Map ``vertex_data.npz`` of a run folder back onto the Blender mesh's vertices.

    Args:
        run_dir: the worker's run folder.
        exchange: what :func:`write_obj` returned for the job's input.
        original: the mesh's own positions ``(V, 3)``.
        keep: ``(V,)`` bool, vertices to leave untouched whatever the worker returned (outside
            the region mask); None: none.
        fallback_color: colour of vertices without a result (loose ones).

    Raises:
        JobError: the file is missing or does not fit the mesh.
    """
    path = Path(run_dir) / "vertex_data.npz"
    if not Path(run_dir).is_dir():
        raise JobError(f"the run folder {run_dir} does not exist")
    if not path.is_file():
        raise JobError(f"the run folder {run_dir} has no {path.name} (it is not a finished `stylize mesh` run)")
    return read_vertex_file(path, exchange, original, keep, fallback_color)


def read_vertex_file(
    path: Path,
    exchange: MeshExchange,
    original: np.ndarray,
    keep: np.ndarray | None = None,
    fallback_color: Sequence[float] = (1.0, 1.0, 1.0),
) -> MeshResult:
    """:func:`read_mesh_result` of one file: ``vertex_data.npz`` or a preview snapshot
    (``preview/step_NNNNNN.npz``: the same fields in float32).

    Raises:
        JobError: the file does not fit the mesh.
        OSError, ValueError: it cannot be read.
    """
    with np.load(path, allow_pickle=False) as data:
        vertices, colors, source = data["vertices"], data["colors"], data["source_index"]
    if len(vertices) != len(colors) or len(source) != len(vertices) or source.max(initial=-1) >= len(exchange.used):
        raise JobError(f"{path.name} does not fit the mesh sent ({len(exchange.used)} vertices)")
    returned = source >= 0  # -1: a vertex subdivision added; the add-on never asks for that
    targets = exchange.used[source[returned]]
    out_colors = np.tile(np.asarray(fallback_color, dtype=np.float32), (exchange.vertex_count, 1))
    out_positions = np.array(original, dtype=np.float64, copy=True)
    changed = np.zeros(exchange.vertex_count, dtype=bool)
    out_colors[targets] = colors[returned]
    out_positions[targets] = exchange.from_worker(vertices[returned])
    changed[targets] = True
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        changed &= ~keep
        out_positions[keep] = np.asarray(original, dtype=np.float64)[keep]
    return MeshResult(colors=out_colors, positions=out_positions, changed=changed)


def write_mask(path: Path, weights: np.ndarray, exchange: MeshExchange) -> Path:
    """Write per-vertex weights in ``[0, 1]`` as ``.npy`` in the order of the OBJ sent."""
    weights = np.clip(np.asarray(weights, dtype=np.float32), 0.0, 1.0)
    if weights.shape != (exchange.vertex_count,):
        raise ValueError(f"expected weights of shape ({exchange.vertex_count},), got {weights.shape}")
    path = Path(path)
    with open(path, "wb") as handle:
        np.save(handle, weights[exchange.used])
    return path
