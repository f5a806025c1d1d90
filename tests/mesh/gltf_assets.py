"""Hand-built glTF test assets (written here with plain json + struct, not with the toolkit's writer).

`write_scene(folder, kind)` makes a small game-asset-like scene:

- node 0 "Root" (translation + rotation, TRS) instancing mesh 0 "Body": two indexed quads
  (primitives 0 and 1), both with material 0 "Painted" and the *same* TEXCOORD_0 accessor;
- node 1 "Child" of Root (a column-major `matrix`: scale 2, translation (0, 1, 0)) instancing
  mesh 1 "Cap": a non-indexed tetrahedron with material 1 "Metal";
- optionally node 2 "Twin", a second root instancing mesh 1 again;
- two base-colour textures: an 8 x 8 RGB and a 4 x 4 RGBA PNG, embedded in the GLB
  (``kind="glb"``), external files beside a ``.gltf`` with an external ``.bin`` (``kind="gltf"``),
  or base64 ``data:`` URIs inside the ``.gltf`` (``kind="gltf-embedded"``).
"""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image

S = np.sqrt(0.5)
ROOT_TRS = {"translation": [1.0, 2.0, 3.0], "rotation": [0.0, S, 0.0, S]}  # 90 degrees about +Y
CHILD_MATRIX = [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 1, 0, 1]  # column-major: scale 2, then move up 1
TWIN_TRS = {"translation": [-3.0, 0.0, 0.0]}

QUAD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]])
QUAD_UV = np.array([[0.0, 1.0], [0.5, 1.0], [0.5, 0.0], [0.0, 0.0]], dtype=np.float32)  # glTF, v down
TETRA_CORNERS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
TETRA = TETRA_CORNERS[TETRA_FACES.reshape(-1)]  # 12 vertices, no index buffer
TETRA_UV = np.tile(np.array([[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]], dtype=np.float32), (4, 1))

PAINTED = np.zeros((8, 8, 3), np.uint8)
PAINTED[..., 0] = np.arange(8)[None, :] * 32  # red grows to the right (u)
PAINTED[..., 1] = np.arange(8)[:, None] * 32  # green grows downwards (v, glTF)
PAINTED[..., 2] = 200
METAL = np.full((4, 4, 4), [180, 40, 20, 255], np.uint8)
METAL[1, 2] = [10, 250, 10, 128]

MATERIALS = [
    {"name": "Painted", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0},
     "doubleSided": True, "extras": {"studio": "kept"}},
    {"name": "Metal", "pbrMetallicRoughness": {"baseColorTexture": {"index": 1}, "baseColorFactor": [1, 1, 1, 1],
     "metallicFactor": 0.7, "roughnessFactor": 0.3}, "emissiveFactor": [0.1, 0.2, 0.3], "alphaMode": "MASK",
     "alphaCutoff": 0.4},
]  # fmt: skip


def rotation_y_90() -> np.ndarray:
    return np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def world_matrices(twin: bool = False) -> dict[str, np.ndarray]:
    """Node name -> expected (4, 4) world transform, computed by hand."""
    root = np.eye(4)
    root[:3, :3] = rotation_y_90()
    root[:3, 3] = ROOT_TRS["translation"]
    child = np.diag([2.0, 2.0, 2.0, 1.0])
    child[1, 3] = 1.0
    worlds = {"Root": root, "Child": root @ child}
    if twin:
        worlds["Twin"] = np.eye(4)
        worlds["Twin"][:3, 3] = TWIN_TRS["translation"]
    return worlds


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def png_bytes(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


class _Buffer:
    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, raw: bytes, target: int | None = None) -> int:
        self.data += b"\0" * ((-len(self.data)) % 4)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target:
            view["target"] = target
        self.data += raw
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, component: int, bounds: bool = False, target: int = 34962) -> int:
        accessor = {"bufferView": self.view(np.ascontiguousarray(array).tobytes(), target), "componentType": component,
                    "count": int(array.shape[0]), "type": kind}  # fmt: skip
        if bounds:
            accessor["min"] = array.min(axis=0).tolist()
            accessor["max"] = array.max(axis=0).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def scene_document(twin: bool = False, images_external: bool = False,
                   uv_tile: tuple[int, int] = (0, 0)) -> tuple[dict, bytes, dict[str, bytes]]:  # fmt: skip
    """``(glTF JSON, binary buffer, {external image name: PNG bytes})``; ``uv_tile`` moves every UV
    by whole tiles (legal with REPEAT samplers; some well-known sample assets sit one tile up)."""
    buf = _Buffer()
    normal = np.tile(np.array([[0, 0, 1]], np.float32), (4, 1))
    offset = np.asarray(uv_tile, dtype=np.float32)
    uv = buf.accessor(QUAD_UV + offset, "VEC2", 5126)  # shared by both quads
    quad_a = {"POSITION": buf.accessor(QUAD, "VEC3", 5126, True), "NORMAL": buf.accessor(normal, "VEC3", 5126),
              "TEXCOORD_0": uv}  # fmt: skip
    quad_b = {"POSITION": buf.accessor(QUAD + np.float32([0, 0, 1]), "VEC3", 5126, True), "NORMAL": quad_a["NORMAL"],
              "TEXCOORD_0": uv}  # fmt: skip
    indices_a = buf.accessor(QUAD_FACES.reshape(-1).astype(np.uint16), "SCALAR", 5123, target=34963)
    indices_b = buf.accessor(QUAD_FACES.reshape(-1).astype(np.uint32), "SCALAR", 5125, target=34963)
    tetra = {"POSITION": buf.accessor(TETRA, "VEC3", 5126, True), "TEXCOORD_0": buf.accessor(TETRA_UV + offset, "VEC2", 5126)}
    external = {"painted.png": png_bytes(PAINTED), "metal texture.png": png_bytes(METAL)}
    if images_external:
        images = [{"uri": "painted.png"}, {"uri": "metal%20texture.png"}]
    else:
        images = [{"bufferView": buf.view(raw), "mimeType": "image/png", "name": name.split(".")[0]}
                  for name, raw in external.items()]  # fmt: skip
        external = {}
    nodes = [
        {"name": "Root", **ROOT_TRS, "children": [1], "mesh": 0},
        {"name": "Child", "matrix": CHILD_MATRIX, "mesh": 1, "extras": {"tag": "child"}},
    ]
    if twin:
        nodes.append({"name": "Twin", **TWIN_TRS, "mesh": 1})
    document = {
        "asset": {"version": "2.0", "generator": "stylize tests", "copyright": "test studio"},
        "scene": 0,
        "scenes": [{"nodes": [0, 2] if twin else [0]}],
        "nodes": nodes,
        "meshes": [
            {
                "name": "Body",
                "primitives": [
                    {"attributes": quad_a, "indices": indices_a, "material": 0},
                    {"attributes": quad_b, "indices": indices_b, "material": 0},
                ],
            },
            {"name": "Cap", "primitives": [{"attributes": tetra, "material": 1}]},
        ],  # fmt: skip
        "materials": MATERIALS,
        "samplers": [{"magFilter": 9728, "minFilter": 9728}],
        "textures": [{"source": 0, "sampler": 0}, {"source": 1, "sampler": 0}],
        "images": images,
        "accessors": buf.accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": len(buf.data)}],
    }
    return document, bytes(buf.data), external


def glb_bytes(document: dict, binary: bytes) -> bytes:
    json_chunk = json.dumps(document).encode()
    json_chunk += b" " * ((-len(json_chunk)) % 4)
    binary = binary + b"\0" * ((-len(binary)) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)  # fmt: skip


def write_scene(folder: Path, kind: str = "glb", twin: bool = False, uv_tile: tuple[int, int] = (0, 0)) -> Path:
    """Write the test scene as ``scene.glb`` or ``scene.gltf`` (+ ``scene.bin`` and PNGs) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "glb":
        document, binary, _ = scene_document(twin, uv_tile=uv_tile)
        path = folder / "scene.glb"
        path.write_bytes(glb_bytes(document, binary))
        return path
    document, binary, external = scene_document(twin, images_external=True, uv_tile=uv_tile)
    if kind == "gltf-embedded":  # everything inline as base64 data: URIs
        document["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(binary).decode()
        for image, raw in zip(document["images"], external.values(), strict=False):
            image["uri"] = "data:image/png;base64," + base64.b64encode(raw).decode()
        path = folder / "scene.gltf"
        path.write_text(json.dumps(document))
        return path
    document["buffers"][0]["uri"] = "scene.bin"
    (folder / "scene.bin").write_bytes(binary)
    for name, raw in external.items():
        (folder / name).write_bytes(raw)
    path = folder / "scene.gltf"
    path.write_text(json.dumps(document, indent=1))
    return path


# -- seams and hard edges ----------------------------------------------------------------------


def split_cube() -> dict[str, np.ndarray]:
    """A unit cube as exporters write it: 24 vertices (each corner split in three: one copy per
    face, with that face's normal and UVs), hard edges everywhere. glTF UVs (v down)."""
    positions, normals, uvs, faces = [], [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = np.zeros(3)
            normal[axis] = sign
            u_axis, v_axis = [a for a in range(3) if a != axis]
            start = len(positions)
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                point = np.zeros(3)
                point[axis] = 0.5 * sign
                point[u_axis], point[v_axis] = du - 0.5, dv - 0.5
                positions.append(point)
                normals.append(normal)
                uvs.append([du, 1.0 - dv])
            corner = np.asarray(positions[start : start + 3])
            outward = np.dot(np.cross(corner[1] - corner[0], corner[2] - corner[0]), normal) > 0
            quad = [[0, 1, 2], [0, 2, 3]] if outward else [[0, 2, 1], [0, 3, 2]]
            faces.extend([[start + a for a in tri] for tri in quad])
    return {"POSITION": np.asarray(positions, np.float32), "NORMAL": np.asarray(normals, np.float32),
            "TEXCOORD_0": np.asarray(uvs, np.float32), "faces": np.asarray(faces)}  # fmt: skip


def seamed_sphere(columns: int = 12, rows: int = 8) -> dict[str, np.ndarray]:
    """A latitude-longitude sphere of radius 1 with a UV seam: the last column of vertices copies
    the first (u = 0 and u = 1), and each pole is one copy per column; smooth normals."""
    lat = np.linspace(0.0, np.pi, rows + 1)
    lon = np.linspace(0.0, 2 * np.pi, columns + 1)
    lat_grid, lon_grid = np.meshgrid(lat, lon, indexing="ij")
    positions = np.stack([np.sin(lat_grid) * np.cos(lon_grid), np.cos(lat_grid), -np.sin(lat_grid) * np.sin(lon_grid)], -1)
    positions = positions.reshape(-1, 3)
    positions[np.abs(positions) < 1e-12] = 0.0
    uvs = np.stack([lon_grid / (2 * np.pi), lat_grid / np.pi], -1).reshape(-1, 2)
    index = np.arange((rows + 1) * (columns + 1)).reshape(rows + 1, columns + 1)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]
    faces = np.concatenate([np.stack([a, d, c], -1).reshape(-1, 3), np.stack([a, c, b], -1).reshape(-1, 3)])
    corners = positions[faces]
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    faces = faces[area > 1e-12]  # the poles' zero-area triangles
    # the exported positions are float32; the seam copies are bit-identical as exporters write them
    positions = positions.astype(np.float32)
    positions[index[:, -1]] = positions[index[:, 0]]
    return {"POSITION": positions, "NORMAL": positions / np.linalg.norm(positions, axis=1, keepdims=True),
            "TEXCOORD_0": uvs.astype(np.float32), "faces": faces}  # fmt: skip


def bottle(columns: int = 12) -> list[dict[str, np.ndarray]]:
    """A small game-prop-like bottle in two primitives: a cylinder side (smooth normals, a UV seam
    down one side) and its top and bottom caps (their own vertices with flat normals: a hard edge
    round each rim, and a material border)."""
    angles = np.linspace(0.0, 2 * np.pi, columns + 1)
    ring = np.stack([np.cos(angles), np.zeros_like(angles), -np.sin(angles)], -1)
    ring[-1] = ring[0]
    side_positions = np.concatenate([ring + [0, -1, 0], ring + [0, 1, 0]]).astype(np.float32)
    side_normals = np.concatenate([ring, ring]).astype(np.float32)
    side_uv = np.concatenate([np.stack([angles / (2 * np.pi), np.ones_like(angles)], -1),
                              np.stack([angles / (2 * np.pi), np.zeros_like(angles)], -1)]).astype(np.float32)  # fmt: skip
    n = columns + 1
    side_faces = np.array([[j, j + 1, n + j + 1] for j in range(columns)] + [[j, n + j + 1, n + j] for j in range(columns)])
    cap_positions, cap_normals, cap_uv, cap_faces = [], [], [], []
    for height, up in ((1.0, 1.0), (-1.0, -1.0)):
        start = len(cap_positions)
        centre = [0.0, height, 0.0]
        cap_positions.append(centre)
        cap_uv.append([0.5, 0.5])
        for j in range(columns):
            cap_positions.append((ring[j] + centre).tolist())
            cap_uv.append([0.5 + 0.45 * ring[j, 0], 0.5 + 0.45 * ring[j, 2]])
        cap_normals.extend([[0.0, up, 0.0]] * (columns + 1))
        for j in range(columns):
            a, b = start + 1 + j, start + 1 + (j + 1) % columns
            cap_faces.append([start, a, b] if up > 0 else [start, b, a])
    side = {"POSITION": side_positions, "NORMAL": side_normals, "TEXCOORD_0": side_uv, "faces": side_faces}
    cap = {"POSITION": np.asarray(cap_positions, np.float32), "NORMAL": np.asarray(cap_normals, np.float32),
           "TEXCOORD_0": np.asarray(cap_uv, np.float32), "faces": np.asarray(cap_faces)}  # fmt: skip
    return [side, cap]


def primitives_document(primitives: list[dict[str, np.ndarray]], node: dict | None = None,
                        texture: np.ndarray | None = None) -> tuple[dict, bytes]:  # fmt: skip
    """``(glTF JSON, binary)``: one node (``node``'s TRS / matrix / name) with one mesh of the
    given primitives (attribute name -> array, plus ``faces``), each with its own material; the
    first material has a base-colour ``texture`` (default: :data:`PAINTED`), the others a factor."""
    buf = _Buffer()
    mesh_primitives, materials = [], []
    for index, primitive in enumerate(primitives):
        attributes = {name: buf.accessor(np.asarray(values, np.float32), "VEC3" if values.shape[1] == 3 else
                                         "VEC4" if values.shape[1] == 4 else "VEC2", 5126, bounds=name == "POSITION")
                      for name, values in primitive.items() if name != "faces"}  # fmt: skip
        indices = buf.accessor(np.asarray(primitive["faces"]).reshape(-1).astype(np.uint32), "SCALAR", 5125, target=34963)
        mesh_primitives.append({"attributes": attributes, "indices": indices, "material": index})
        materials.append({"name": f"part{index}", "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.3, 0.2, 1.0],
                                                                          "metallicFactor": 0.0}})  # fmt: skip
    image = buf.view(png_bytes(PAINTED if texture is None else texture))
    materials[0]["pbrMetallicRoughness"] = {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0}
    document = {
        "asset": {"version": "2.0", "generator": "stylize tests"}, "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "Prop", "mesh": 0, **(node or {})}],
        "meshes": [{"name": "Prop", "primitives": mesh_primitives}], "materials": materials,
        "textures": [{"source": 0}], "images": [{"bufferView": image, "mimeType": "image/png"}],
        "accessors": buf.accessors, "bufferViews": buf.views, "buffers": [{"byteLength": len(buf.data)}],
    }  # fmt: skip
    return document, bytes(buf.data)


def write_primitives(path: Path, primitives: list[dict[str, np.ndarray]], node: dict | None = None,
                     texture: np.ndarray | None = None) -> Path:  # fmt: skip
    """Write :func:`primitives_document` as a GLB at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document, binary = primitives_document(primitives, node, texture)
    path.write_bytes(glb_bytes(document, binary))
    return path
