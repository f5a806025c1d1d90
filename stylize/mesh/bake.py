"""Bake per-vertex colours into a UV texture and write a game-ready GLB.

Steps (each timed in :class:`BakeReport`):

1. **unwrap**: keep the mesh's own UVs when it has usable ones (inside ``[0, 1]``), else let
   xatlas cut charts and pack them (seam vertices are duplicated; ``vertex_map`` says which
   original vertex each output vertex copies);
2. **raster**: every texel whose centre lies in a UV triangle gets the barycentric mix of the
   triangle's vertex colours (sRGB, as the texture stores them);
3. **dilate**: grow the charts a few texels into the gutter so filtering at seams stays clean;
4. **export**: one GLB with positions, smooth normals, ``TEXCOORD_0``, a PNG ``baseColorTexture``
   (sRGB, power-of-two size) and the metadata (prompt, seed, model, version) in the glTF extras,
   plus a JSON sidecar with the same metadata and the bake's figures.

No ``COLOR_0`` is written: it would multiply the texture in viewers that honour it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.errors import InputError
from stylize.mesh.bake_target import sidecar_path
from stylize.mesh.config import check_texture_size
from stylize.mesh.geometry import vertex_tangents
from stylize.mesh.gltf.glb import GlbBuilder
from stylize.mesh.material import TEXTURE_SLOTS, Material, encode_map, get_material
from stylize.mesh.seams import shading_normals, surface_smoothing_groups
from stylize.mesh.texture import dilate, rasterize_uv_triangles
from stylize.utils import write_json

__all__ = [
    "BakeReport",
    "TexelSource",
    "bake_mesh",
    "check_texture_size",
    "export_maps",
    "unwrap",
    "write_textured_glb",
]

logger = logging.getLogger(__name__)


@dataclass
class BakeReport:
    """What :func:`bake_mesh` wrote and how long each step took (seconds)."""

    path: Path
    sidecar: Path
    size: int
    vertices: int
    faces: int
    reused_uvs: bool
    charts: int | None
    utilization: float | None
    coverage: float
    timings: dict[str, float] = field(default_factory=dict)
    exact: bool = False  # texels coloured by the field at their own surface points
    texture: np.ndarray | None = field(default=None, repr=False)  # (size, size, 3) uint8 sRGB
    face_uv: np.ndarray | None = field(default=None, repr=False)  # (F, 3, 2) glTF UVs of each face corner
    normal_texture: np.ndarray | None = field(default=None, repr=False)  # (size, size, 3) uint8, tangent space
    preview: Path | None = None  # NAME_preview.png, a picture of the baked GLB (every bake path writes it)
    # Every map written, by name (TEXTURE_SLOTS): base_color, the material's others, normal.
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "size": self.size, "vertices": self.vertices, "faces": self.faces,
            "exact": self.exact, "normal_map": self.normal_texture is not None, "maps": sorted(self.maps),
            "reused_uvs": self.reused_uvs, "charts": self.charts, "utilization": self.utilization,
            "coverage": round(self.coverage, 4), "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "preview": None if self.preview is None else str(self.preview),
        }  # fmt: skip


def default_padding(size: int) -> int:
    """Gutter between charts in texels: 4 at 1024 px, never under 2."""
    return max(2, size // 256)


def unwrap(vertices: np.ndarray, faces: np.ndarray, size: int, padding: int | None = None):
    """UV-unwrap with xatlas.

    Returns:
        ``(vertex_map (W,) int64, faces (F, 3) int64, uv (W, 2) float64 glTF UVs in [0, 1], charts, utilization)``.
    """
    try:
        import xatlas
    except ImportError:
        raise InputError("baking needs xatlas (a dependency of stylize): pip install xatlas") from None
    atlas = xatlas.Atlas()
    atlas.add_mesh(np.ascontiguousarray(vertices, dtype=np.float32), np.ascontiguousarray(faces, dtype=np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution = size
    pack.padding = default_padding(size) if padding is None else padding
    pack.bilinear = True
    atlas.generate(xatlas.ChartOptions(), pack)
    vertex_map, new_faces, uv = atlas[0]
    return (np.asarray(vertex_map, dtype=np.int64), np.asarray(new_faces, dtype=np.int64),
            np.asarray(uv, dtype=np.float64), int(atlas.chart_count), float(atlas.utilization))  # fmt: skip


# Texels evaluated per field call in an exact bake: bounds memory independently of the size.
_TEXEL_CHUNK = 65536


@dataclass
class TexelSource:
    """What an exact bake evaluates at each texel instead of interpolating vertex colours.

    Attributes:
        attributes: ``(V, D)`` per-vertex values interpolated to each texel's surface point
            (for a style field: the point in its frame, base colour, mask weight, ...).
        evaluate: ``(P, D)`` interpolated attributes -> ``(P, C)`` texel values (a material's
            features, base colour first, e.g. :meth:`StyledMesh.features_at`; unit tangent-space
            normals for a normal map, :meth:`StyledMesh.normals_at`).
        device: where ``evaluate`` computes.
        needs_grad: ``evaluate`` differentiates (normal maps take the displacement's gradient).
    """

    attributes: np.ndarray
    evaluate: Callable[[torch.Tensor], torch.Tensor]
    device: Any = "cpu"
    needs_grad: bool = False

    def values(self, interpolated: np.ndarray) -> np.ndarray:
        """The values of the texels, evaluated in chunks (bounded memory)."""
        out = []
        with torch.set_grad_enabled(self.needs_grad):
            for start in range(0, len(interpolated), _TEXEL_CHUNK):
                chunk = torch.as_tensor(interpolated[start : start + _TEXEL_CHUNK], dtype=torch.float32, device=self.device)
                out.append(self.evaluate(chunk).detach().float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.float32)

    def bake(
        self, uv: np.ndarray, faces: np.ndarray, vertex_map: np.ndarray, size: int, fill, extra: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(image (size, size, C) float32, covered (size, size))`` of this source in the UV
        layout; ``extra`` ``(W, E)`` are more per-output-vertex columns appended to the attributes."""
        attributes = np.asarray(self.attributes, dtype=np.float64)[vertex_map]
        if extra is not None:
            attributes = np.concatenate([attributes, np.asarray(extra, dtype=np.float64)], axis=1)
        interpolated, covered = rasterize_uv_triangles(uv, faces, attributes, size, fill=0.0)
        values = self.values(interpolated[covered])
        image = np.empty((size, size, values.shape[1]), dtype=np.float32)
        image[:] = fill
        image[covered] = values
        return image, covered


def bake_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray,
    path: str | Path,
    size: int = 1024,
    uv: np.ndarray | None = None,
    metadata: Mapping[str, Any] | None = None,
    dilation: int | None = None,
    source: TexelSource | None = None,
    normal_source: TexelSource | None = None,
    material: str | Material = "diffuse",
    features: np.ndarray | None = None,
) -> BakeReport:
    """Bake a mesh's material into textures and write ``path`` (GLB) and its ``.json`` sidecar.

    The material's features (colours for ``diffuse``) are interpolated or evaluated per texel,
    and every map :meth:`~stylize.mesh.material.Material.export` makes is written into its glTF
    slot (:data:`~stylize.mesh.material.TEXTURE_SLOTS`).

    Args:
        vertices: ``(V, 3)`` positions (written as they are: metres, +Y up for game engines).
        faces: ``(F, 3)`` indices.
        colors: ``(V, 3)`` sRGB in ``[0, 1]`` (interpolated into the texture unless ``source``).
        path: the ``.glb`` to write (atomically); the sidecar is ``path`` with ``.json``.
        size: texture width and height, a power of two.
        uv: the mesh's own per-vertex UVs (trimesh's convention, v up) to keep, or None to unwrap.
        metadata: prompt, seed, model, ... stored in the GLB's extras and the sidecar.
        dilation: texels to grow charts into the gutter (default: the packing gutter).
        source: an exact bake: every covered texel gets ``source.evaluate`` at its own surface
            point (a style field in surface mode: the material's features), with no vertex
            interpolation between.
        normal_source: also bake a tangent-space normal map into the GLB's ``normalTexture``, with
            ``TANGENT`` written (:func:`~stylize.mesh.geometry.vertex_tangents` gives the
            convention): its ``evaluate`` gets the interpolated attributes followed by each
            texel's normal (3) and tangent (4) and returns unit tangent-space normals.
        material: the material (or its name) whose features are baked and exported.
        features: ``(V, C)`` per-vertex features of ``material`` to interpolate (default: ``colors``,
            a diffuse material's features).

    Returns:
        A :class:`BakeReport` (``maps`` holds every image; ``texture`` the base colour and
        ``face_uv`` each face corner's UV).
    """
    size = check_texture_size(size)
    path = Path(path)
    material = get_material(material)
    check_bake_memory(size, source, material.width)
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    colors = np.clip(np.asarray(colors, dtype=np.float64)[:, :3], 0.0, 1.0)
    if len(colors) != len(vertices):
        raise ValueError(f"expected colors of shape ({len(vertices)}, 3), got {colors.shape}")
    values = feature_values(material, colors, features)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    normals = shading_normals(vertices, faces, surface_smoothing_groups(vertices, faces)).astype(np.float32)
    charts = utilization = None
    gltf_uv = None
    if uv is not None:
        gltf_uv = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]])
        if not np.isfinite(gltf_uv).all() or gltf_uv.min() < 0.0 or gltf_uv.max() > 1.0:
            logger.warning("the mesh's UVs leave [0, 1] (tiling): unwrapping new ones for the bake")
            gltf_uv = None
    if gltf_uv is None:
        vertex_map, out_faces, gltf_uv, charts, utilization = unwrap(vertices, faces, size)
    else:
        vertex_map, out_faces = np.arange(len(vertices)), faces
    timings["unwrap"] = time.perf_counter() - start
    start = time.perf_counter()
    fill = values.mean(axis=0)
    if source is None:
        image, covered = rasterize_uv_triangles(gltf_uv, out_faces, values[vertex_map], size, fill=fill)
    else:
        image, covered = source.bake(gltf_uv, out_faces, vertex_map, size, fill)
    timings["raster" if source is None else "field"] = time.perf_counter() - start
    padding = default_padding(size) if dilation is None else dilation
    normal_pixels = tangents = None
    if normal_source is not None:
        start = time.perf_counter()
        tangents = vertex_tangents(vertices[vertex_map], out_faces, np.column_stack([gltf_uv[:, 0], 1.0 - gltf_uv[:, 1]]),
                                   normals[vertex_map])  # fmt: skip
        frames = np.concatenate([normals[vertex_map], tangents], axis=1)
        normal_image, normal_covered = normal_source.bake(gltf_uv, out_faces, vertex_map, size, (0.0, 0.0, 1.0), frames)
        normal_image, _ = dilate(normal_image, normal_covered, padding)
        normal_pixels = encode_map("normal", normal_image)
        timings["normal_map"] = time.perf_counter() - start
    start = time.perf_counter()
    image, _ = dilate(image, covered, padding)
    timings["dilate"] = time.perf_counter() - start
    start = time.perf_counter()
    maps = export_maps(material, image)
    if normal_pixels is not None:
        maps["normal"] = normal_pixels
    metadata = dict(metadata or {})
    write_textured_glb(path, vertices[vertex_map], out_faces, gltf_uv, normals[vertex_map], maps, metadata, tangents=tangents)
    report = BakeReport(
        path=path, sidecar=sidecar_path(path), size=size, vertices=len(vertex_map), faces=len(out_faces),
        reused_uvs=charts is None, charts=charts, utilization=utilization, coverage=float(covered.mean()),
        exact=source is not None, texture=maps["base_color"], face_uv=gltf_uv[out_faces].astype(np.float32),
        normal_texture=normal_pixels, maps=maps,
    )  # fmt: skip
    timings["export"] = time.perf_counter() - start
    report.timings = timings
    write_json(report.sidecar, {**metadata, "bake": report.to_dict()})
    logger.info("baked %s (%d px, %.2f s)", path, size, sum(timings.values()))
    return report


def feature_values(material: Material, colors: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    """The per-vertex values a bake interpolates: ``features`` ``(V, C)`` of ``material``, or the
    colours ``(V, 3)`` (a diffuse material's features) when None; checked against the material."""
    values = colors if features is None else np.asarray(features, dtype=np.float64)
    if values.shape != (len(colors), material.width):
        raise ValueError(f"expected {material.name} features of shape ({len(colors)}, {material.width}), got {values.shape}")
    return values


def estimate_bake_bytes(size: int, attributes: int, channels: int) -> float:
    """A rough upper estimate of a bake's peak memory at ``size`` px: per texel, the interpolated
    attributes (float32), the baked channels and the dilation's working copies (about seven
    float32 images of the channels), the coverage masks and the 8-bit maps."""
    return float(size) ** 2 * (4.0 * (attributes + 1) + 4.0 * 7 * channels + 16.0)


def check_bake_memory(size: int, source: TexelSource | None, channels: int) -> None:
    """Refuse a bake whose estimate exceeds this machine's memory before anything is allocated."""
    from stylize.config import check_memory

    attributes = 0 if source is None else int(np.asarray(source.attributes).shape[1]) + 7  # + a normal map's frame
    check_memory(
        estimate_bake_bytes(size, attributes, max(channels, 3)), f"a {size} px bake", "the bake size (--bake-size, bake --size)"
    )


def export_maps(material: Material, image: np.ndarray) -> dict[str, np.ndarray]:
    """A baked feature image ``(H, W, C)`` as the material's 8-bit maps, by name."""
    exported = material.export(image)
    if "base_color" not in exported or set(exported) - set(TEXTURE_SLOTS):
        raise ValueError(f"material {material.name!r} exported {sorted(exported)}: expected base_color and "
                         f"names among {', '.join(TEXTURE_SLOTS)}")  # fmt: skip
    return {name: encode_map(name, values) for name, values in exported.items()}


def write_textured_glb(
    path: Path,
    vertices: np.ndarray,
    faces: np.ndarray,
    uv: np.ndarray,
    normals: np.ndarray,
    maps: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
    tangents: np.ndarray | None = None,
) -> Path:
    """One mesh, one glTF metal-rough material whose texture slots hold ``maps`` (name -> uint8
    image, each in the slot :data:`~stylize.mesh.material.TEXTURE_SLOTS` names; a ``normal`` map
    needs ``tangents``); glTF UVs (v down). Without a metallic-roughness map the material is a
    rough dielectric (metallic 0, roughness 1)."""
    if "normal" in maps and tangents is None:
        raise ValueError("a normal map needs tangents (V, 4) to be written with it")
    glb = GlbBuilder("stylize bake", metadata)
    attributes = {
        "POSITION": glb.add_accessor(vertices.astype(np.float32), bounds=True),
        "NORMAL": glb.add_accessor(normals.astype(np.float32)),
        "TEXCOORD_0": glb.add_accessor(uv.astype(np.float32)),
    }
    if tangents is not None:
        attributes["TANGENT"] = glb.add_accessor(np.asarray(tangents, dtype=np.float32))
    indices = glb.add_indices(faces)
    pbr: dict[str, Any] = {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0, "roughnessFactor": 1.0}
    material_spec: dict[str, Any] = {"name": "stylized", "pbrMetallicRoughness": pbr}
    for name, pixels in maps.items():
        slot = TEXTURE_SLOTS[name]
        slot.place(material_spec, {"index": glb.add_png_texture(pixels, slot.image_name)})
    if "metallic_roughness" in maps:  # the map is the whole roughness and metallic
        pbr["metallicFactor"] = pbr["roughnessFactor"] = 1.0
    if "emissive" in maps:
        material_spec["emissiveFactor"] = [1.0, 1.0, 1.0]
    # glTF's key order as before: base colour texture first in the pbr block
    material_spec["pbrMetallicRoughness"] = {key: pbr[key] for key in sorted(pbr, key=lambda k: k != "baseColorTexture")}
    material = glb.add_material(material_spec)
    mesh = glb.add_mesh("stylized", [glb.primitive(attributes, indices, material)], extras=metadata)
    glb.add_node({"mesh": mesh, "name": "stylized"})
    return glb.write(path)
