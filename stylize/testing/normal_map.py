"""Check a baked normal map against the geometry it stands for.

:func:`normal_map_error` renders, with the same world-space SH lights and cameras:

- the *reference*: the mesh subdivided ``levels`` times and displaced per (new) vertex by the
  field, shaded with normals from that displaced geometry: its vertex normals, with the
  undisplaced dense mesh's faceted normals swapped for the smooth interpolated ones (a viewer
  shades the low-poly mesh with interpolated normals, so the relief is what the reference must
  add, measured from geometry, independently of the map's autograd, tangents and encoding);
- the *normal-mapped* low-poly mesh: the undisplaced mesh, shaded with the baked tangent-space
  normal map (decoded as a glTF viewer does, :func:`~stylize.mesh.shading.shade_normals`);
- the *baseline*: the undisplaced mesh with its plain normals (what the relief is without the map).

and returns the mean absolute shading difference of the latter two against the reference over
pixels all three cover. A correct map makes ``normal_mapped`` a small fraction of ``baseline``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stylize.mesh.bake import TexelSource, default_padding, unwrap
from stylize.mesh.camera import orbit_views
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.geometry import subdivide_to_vertex_count, vertex_normals, vertex_tangents
from stylize.mesh.renderer import get_renderer
from stylize.mesh.shading import shade_normals
from stylize.mesh.surface import StyledMesh
from stylize.mesh.texture import dilate

__all__ = ["NormalMapError", "normal_map_error"]


@dataclass
class NormalMapError:
    """Mean absolute SH-shading errors against the displaced reference (intensity units)."""

    normal_mapped: float
    baseline: float
    pixels: int


def normal_map_error(
    field: NeuralStyleField,
    vertices: np.ndarray,
    faces: np.ndarray,
    size: int = 512,
    render_size: int = 128,
    levels: int = 3,
    azimuths: tuple[float, ...] = (0.0, 1.6, 3.2, 4.8),
) -> NormalMapError:
    """See the module docstring. ``vertices`` are in the field's normalised frame."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    base = torch.as_tensor(vertices, dtype=torch.float32)
    faces_t = torch.as_tensor(faces)
    normals = vertex_normals(base, faces_t)
    styled = StyledMesh(field.eval(), base, faces_t, normals)
    # Bake the map through an xatlas unwrap, as the run folder's bake does.
    vertex_map, out_faces, gltf_uv, _, _ = unwrap(vertices, faces, size)
    v_up = np.column_stack([gltf_uv[:, 0], 1.0 - gltf_uv[:, 1]])
    tangents = vertex_tangents(vertices[vertex_map], out_faces, v_up, normals.numpy()[vertex_map])
    source = TexelSource(styled.attributes().numpy(), styled.normals_at, needs_grad=True)
    frames = np.concatenate([normals.numpy()[vertex_map], tangents], axis=1)
    image, covered = source.bake(gltf_uv, out_faces, vertex_map, size, (0.0, 0.0, 1.0), frames)
    image, _ = dilate(image, covered, default_padding(size))
    # Quantise as the PNG does.
    texture = torch.as_tensor(np.round((np.clip(image, -1, 1) * 0.5 + 0.5) * 255) / 255 * 2 - 1, dtype=torch.float32)
    # The reference: a dense copy displaced by the field at its own points, with its own normals.
    dense_v, dense_f, dense_n, _ = subdivide_to_vertex_count(vertices, faces, normals.numpy(), len(vertices) * 4**levels,
                                                             max_faces=len(faces) * 4**levels)  # fmt: skip
    dense = torch.as_tensor(dense_v, dtype=torch.float32)
    dense_normals = torch.nn.functional.normalize(torch.as_tensor(dense_n, dtype=torch.float32), dim=-1)
    with torch.no_grad():
        displaced = dense + dense_normals * field.displacement_at(dense)
    dense_faces = torch.as_tensor(dense_f)
    renderer = get_renderer("torch", height=render_size)
    views = orbit_views(list(azimuths), [0.3], radius=2.5)
    with torch.no_grad():
        relief = vertex_normals(displaced, dense_faces) - vertex_normals(dense, dense_faces)
        reference_normals = torch.nn.functional.normalize(dense_normals + relief, dim=-1)
        reference, ref_covered = shade_normals(renderer, displaced, dense_faces, reference_normals, views)
        low_v = base[torch.as_tensor(vertex_map)]
        low_f = torch.as_tensor(out_faces)
        low_n = normals[torch.as_tensor(vertex_map)]
        mapped, map_covered = shade_normals(renderer, low_v, low_f, low_n, views, tangents=torch.as_tensor(tangents),
                                            uv=torch.as_tensor(gltf_uv, dtype=torch.float32), normal_texture=texture)  # fmt: skip
        plain, _ = shade_normals(renderer, low_v, low_f, low_n, views)
    both = ref_covered & map_covered
    return NormalMapError(
        normal_mapped=float((mapped - reference).abs()[both].mean()),
        baseline=float((plain - reference).abs()[both].mean()),
        pixels=int(both.sum()),
    )
