"""The texture side of a run folder, mapped onto Blender's triangles (no bpy, no torch).

A run that bakes (``--bake``) or works on the surface writes:

- ``textures/base_color.png`` (sRGB) and, with a normal map, ``textures/normal.png`` (tangent
  space, glTF / OpenGL convention, +Y up: what Blender's Normal Map node expects); a ``pbr``
  material also ``textures/metallic_roughness.png`` (linear, glTF's packing: G roughness, B
  metallic; the toolkit's ``stylize.mesh.material.TEXTURE_SLOTS`` names each map's Blender input);
- in ``vertex_data.npz``: ``faces`` ``(F, 3)`` int64 into its vertices, ``source_face_index``
  ``(F,)`` int64 (the face's index in the input OBJ, -1 for faces the toolkit added) and
  ``face_uv`` ``(F, 3, 2)`` float32 glTF UVs (v down) of each face corner.

The OBJ the add-on sends has one face per Blender loop triangle, in ``mesh.loop_triangles``
order, so ``source_face_index`` names the loop triangle; corners are matched by vertex (the
toolkit may start a face at another corner), and v is flipped (Blender's v = 1 - v).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exchange import MeshExchange
from .jobs import JobError

BASE_COLOR_FILE = "textures/base_color.png"
NORMAL_FILE = "textures/normal.png"
METALLIC_ROUGHNESS_FILE = "textures/metallic_roughness.png"


@dataclass
class SurfaceResult:
    """Textures and the UVs of Blender's loop triangles.

    Attributes:
        base_color: the sRGB base colour PNG.
        normal: the tangent-space normal map PNG, or None.
        metallic_roughness: the packed metallic-roughness PNG (G roughness, B metallic), or None.
        corner_uv: ``(T, 3, 2)`` float32 Blender UVs of each loop triangle's corners, in the
            order of ``loop_triangles[t].loops``.
        covered: ``(T,)`` bool, the triangles the run returned (the others get UV (0, 0)).
    """

    base_color: Path
    normal: Path | None
    corner_uv: np.ndarray
    covered: np.ndarray
    metallic_roughness: Path | None = None


def read_surface_result(run_dir: Path, exchange: MeshExchange, triangles: np.ndarray) -> SurfaceResult | None:
    """The run's textures on the Blender mesh's loop triangles, or None when it wrote none.

    Args:
        run_dir: the worker's run folder.
        exchange: what ``write_obj`` returned for the job's input.
        triangles: ``(T, 3)`` Blender vertex indices of the loop triangles sent (the OBJ's faces).

    Raises:
        JobError: the face data is missing or does not fit the triangles sent.
    """
    run_dir = Path(run_dir)
    base = run_dir / BASE_COLOR_FILE
    if not base.is_file():
        return None
    normal = run_dir / NORMAL_FILE
    triangles = np.asarray(triangles, dtype=np.int64)
    with np.load(run_dir / "vertex_data.npz", allow_pickle=False) as data:
        missing = [k for k in ("faces", "source_face_index", "face_uv", "source_index") if k not in data.files]
        if missing:
            raise JobError(f"the run wrote {BASE_COLOR_FILE} but vertex_data.npz has no {', '.join(missing)}")
        faces, source_face = data["faces"].astype(np.int64), data["source_face_index"].astype(np.int64)
        face_uv, source = data["face_uv"].astype(np.float32), data["source_index"].astype(np.int64)
    count = len(faces)
    if faces.shape != (count, 3) or source_face.shape != (count,) or face_uv.shape != (count, 3, 2):
        raise JobError(f"vertex_data.npz: faces {faces.shape}, source_face_index {source_face.shape} and face_uv "
                       f"{face_uv.shape} do not agree (expected (F, 3), (F,), (F, 3, 2))")  # fmt: skip
    if faces.size and (faces.min() < 0 or faces.max() >= len(source)) or source_face.max(initial=-1) >= len(triangles):
        raise JobError(f"vertex_data.npz's faces do not fit the mesh sent ({len(triangles)} triangles)")
    kept = source_face >= 0
    faces, source_face, face_uv = faces[kept], source_face[kept], face_uv[kept]
    vertex_source = source[faces]  # (F, 3) index in the OBJ's vertices, -1: added by the toolkit
    if (vertex_source < 0).any():
        raise JobError("vertex_data.npz: a face of the input has a vertex the toolkit added")
    face_vertices = exchange.used[vertex_source]  # (F, 3) Blender vertex indices
    wanted = triangles[source_face]  # (F, 3) the loop triangle's vertices, in its loop order
    corner_uv = np.zeros((len(triangles), 3, 2), dtype=np.float32)
    covered = np.zeros(len(triangles), dtype=bool)
    found = np.zeros((len(faces), 3), dtype=bool)
    blender_uv = np.stack([face_uv[..., 0], 1.0 - face_uv[..., 1]], axis=-1)
    for corner in range(3):  # the loop triangle's corner ...
        for k in range(3):  # ... is the face's corner k with the same vertex
            match = face_vertices[:, k] == wanted[:, corner]
            corner_uv[source_face[match], corner] = blender_uv[match, k]
            found[match, corner] = True
    if not found.all():
        raise JobError("vertex_data.npz: a face's corners are not the vertices of the triangle it names")
    covered[source_face] = True
    packed = run_dir / METALLIC_ROUGHNESS_FILE
    return SurfaceResult(base_color=base, normal=normal if normal.is_file() else None, corner_uv=corner_uv, covered=covered,
                         metallic_roughness=packed if packed.is_file() else None)  # fmt: skip
