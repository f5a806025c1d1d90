"""Author the glTF test corpus in ``tests/assets/gltf_corpus/``: small game-asset-like files.

Each asset is one function registered with ``@asset("NAME.glb")`` that writes that file; adding an
asset is adding one function. Most are authored in PyPI ``bpy`` (a test dependency) and written by
Blender's own glTF exporter, as an artist's file would be; the compressed ones are encoded here
with DracoPy (``KHR_draco_mesh_compression``) and meshopt (``EXT_meshopt_compression``), which
Blender's exporter cannot write from the PyPI wheel.

| file | what it holds |
| --- | --- |
| ``skinned_animated.glb`` | a bent tube skinned to an armature of 3 joints, one keyframed action |
| ``morph_animated.glb`` | a cube with two named shape keys (morph targets), one weight animated |
| ``multi_material.glb`` | one mesh of three primitives, three materials (one textured), UVs |
| ``instanced_scene.glb`` | a node hierarchy: one mesh instanced by two nodes, a camera, a point light (``KHR_lights_punctual``), extras on nodes, meshes and materials |
| ``no_uv.glb`` | two meshes without UVs (one instanced twice), untextured materials |
| ``draco.glb`` | an icosphere with UVs, Draco-compressed (DracoPy) |
| ``meshopt.glb`` | the same icosphere, its buffer views meshopt-compressed (meshopt) |

Usage (from the repository root, in the venv that has ``bpy``; DracoPy and meshopt for the
compressed ones, ``pip install -e .[compression]``)::

    python tools/dev/make_asset_corpus.py [--out tests/assets/gltf_corpus] [--only NAME ...]

The output is deterministic: the same bytes on every run with the same bpy, DracoPy and meshopt
versions (Blender's exporter writes no dates; the compressed files are built byte by byte here).
A few seconds in all; every file is a few kB.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "assets" / "gltf_corpus"

#: file name -> function(path) that writes it
ASSETS: dict[str, Callable[[Path], None]] = {}


def asset(name: str):
    """Register the decorated function as the writer of ``name``."""

    def register(function: Callable[[Path], None]) -> Callable[[Path], None]:
        ASSETS[name] = function
        return function

    return register


# -- Blender helpers ---------------------------------------------------------------------------------


def _bpy():
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 24
    bpy.context.scene.render.fps = 24
    return bpy


def _export(bpy, path: Path, **options) -> None:
    """Blender's glTF exporter, GLB, with what the corpus needs and nothing that varies by machine."""
    settings = {
        "filepath": str(path), "export_format": "GLB", "export_yup": True, "export_apply": False,
        "export_texcoords": True, "export_normals": True, "export_materials": "EXPORT", "export_cameras": True,
        "export_lights": True, "export_extras": True, "export_skins": True, "export_morph": True,
        "export_animations": True, "export_image_format": "AUTO", "use_selection": False,
        "export_tangents": False, "export_draco_mesh_compression_enable": False,
    }  # fmt: skip
    settings.update(options)
    bpy.ops.export_scene.gltf(**settings)


def _material(bpy, name: str, rgba, metallic: float = 0.0, roughness: float = 0.6, image=None):
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = rgba
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Roughness"].default_value = roughness
    if image is not None:
        texture = material.node_tree.nodes.new("ShaderNodeTexImage")
        texture.image = image
        material.node_tree.links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def _checker_image(bpy, name: str, size: int = 8):
    """A small packed PNG checker (so the exporter embeds it; no file on disk)."""
    image = bpy.data.images.new(name, size, size, alpha=False)
    cells = (np.add.outer(np.arange(size), np.arange(size)) // 2) % 2
    pixels = np.ones((size, size, 4), dtype=np.float32)
    pixels[..., 0] = np.where(cells, 0.9, 0.2)
    pixels[..., 1] = np.where(cells, 0.7, 0.3)
    pixels[..., 2] = 0.25
    image.pixels.foreach_set(pixels.reshape(-1))
    image.file_format = "PNG"
    image.pack()
    return image


def _mesh_object(bpy, name: str, vertices, faces, uv: bool = True, collection=None):
    """An object with a mesh from ``vertices`` / polygon ``faces`` (smooth), with a box-projected UV
    map unless ``uv`` is False."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(map(float, v)) for v in vertices], [], [tuple(map(int, f)) for f in faces])
    mesh.update()
    for polygon in mesh.polygons:
        polygon.use_smooth = True
    if uv:
        layer = mesh.uv_layers.new(name="UVMap")
        points = np.asarray(vertices, dtype=np.float64)
        low, high = points.min(axis=0), points.max(axis=0)
        span = np.where(high - low > 0, high - low, 1.0)
        for loop in mesh.loops:
            p = (points[loop.vertex_index] - low) / span
            layer.data[loop.index].uv = (0.05 + 0.9 * p[0], 0.05 + 0.9 * (0.5 * p[1] + 0.5 * p[2]))
    obj = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def _tube(rings: int = 6, sides: int = 8, radius: float = 0.25, height: float = 2.0):
    """A capped tube along +Z: ``(vertices, quads and caps)``."""
    vertices, faces = [], []
    for ring in range(rings + 1):
        z = height * ring / rings
        for side in range(sides):
            angle = 2 * math.pi * side / sides
            vertices.append((radius * math.cos(angle), radius * math.sin(angle), z))
    for ring in range(rings):
        for side in range(sides):
            a, b = ring * sides + side, ring * sides + (side + 1) % sides
            faces.append((a, b, b + sides, a + sides))
    faces.append(tuple(reversed(range(sides))))
    faces.append(tuple(rings * sides + s for s in range(sides)))
    return vertices, faces


def _cube(size: float = 1.0):
    h = size / 2
    vertices = [(x, y, z) for x in (-h, h) for y in (-h, h) for z in (-h, h)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return vertices, faces


# -- assets ------------------------------------------------------------------------------------------


@asset("skinned_animated.glb")
def skinned_animated(path: Path) -> None:
    """A tube skinned to a chain of 3 bones, bending over 24 frames (keys at 1, 12, 24)."""
    bpy = _bpy()
    armature = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", armature)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    names = ("Root", "Mid", "Tip")
    parent = None
    for index, name in enumerate(names):
        bone = armature.edit_bones.new(name)
        bone.head, bone.tail = (0, 0, 2.0 * index / 3), (0, 0, 2.0 * (index + 1) / 3)
        if parent is not None:
            bone.parent, bone.use_connect = parent, True
        parent = bone
    bpy.ops.object.mode_set(mode="OBJECT")
    vertices, faces = _tube()
    body = _mesh_object(bpy, "Tube", vertices, faces)
    body.data.materials.append(_material(bpy, "Skin", (0.8, 0.5, 0.4, 1.0)))
    body.parent = rig
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = rig
    for index, name in enumerate(names):
        group = body.vertex_groups.new(name=name)
        for vertex, (_, _, z) in enumerate(vertices):
            weight = max(0.0, 1.0 - abs(z - 2.0 * (index + 0.5) / 3) / (2.0 / 3))
            if weight > 0:
                group.add([vertex], weight, "REPLACE")
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="POSE")
    for frame, angle in ((1, 0.0), (12, 0.6), (24, -0.4)):
        for name in ("Mid", "Tip"):
            bone = rig.pose.bones[name]
            bone.rotation_mode = "XYZ"
            bone.rotation_euler = (angle, 0.0, 0.0)
            bone.keyframe_insert("rotation_euler", frame=frame)
    bpy.ops.object.mode_set(mode="OBJECT")
    rig.animation_data.action.name = "Bend"
    _export(bpy, path, export_animation_mode="ACTIONS")


@asset("morph_animated.glb")
def morph_animated(path: Path) -> None:
    """A cube with shape keys ``Bulge`` (top face up) and ``Pinch`` (a side in); ``Bulge`` keyed 0 -> 1 -> 0."""
    bpy = _bpy()
    vertices, faces = _cube()
    cube = _mesh_object(bpy, "MorphCube", vertices, faces)
    cube.data.materials.append(_material(bpy, "Clay", (0.6, 0.6, 0.7, 1.0)))
    cube.shape_key_add(name="Basis")
    bulge = cube.shape_key_add(name="Bulge")
    pinch = cube.shape_key_add(name="Pinch")
    for index, (x, _, z) in enumerate(vertices):
        if z > 0:
            bulge.data[index].co.z += 0.5
        if x > 0:
            pinch.data[index].co.x -= 0.3
    for frame, value in ((1, 0.0), (12, 1.0), (24, 0.0)):
        bulge.value = value
        bulge.keyframe_insert("value", frame=frame)
    pinch.value = 0.25
    cube.data.shape_keys.animation_data.action.name = "Breathe"
    _export(bpy, path, export_animation_mode="ACTIONS")


@asset("multi_material.glb")
def multi_material(path: Path) -> None:
    """One mesh (a box of 6 quads) with three materials: painted (8 px texture), metal, rubber."""
    bpy = _bpy()
    vertices, faces = _cube(1.5)
    box = _mesh_object(bpy, "Crate", vertices, faces)
    materials = [
        _material(bpy, "Painted", (1, 1, 1, 1), image=_checker_image(bpy, "crate_paint")),
        _material(bpy, "Metal", (0.7, 0.7, 0.75, 1), metallic=1.0, roughness=0.3),
        _material(bpy, "Rubber", (0.05, 0.05, 0.05, 1), roughness=0.9),
    ]
    for material in materials:
        box.data.materials.append(material)
    for index, polygon in enumerate(box.data.polygons):
        polygon.material_index = index % 3
    _export(bpy, path)


@asset("instanced_scene.glb")
def instanced_scene(path: Path) -> None:
    """``Vehicle`` (an empty, extras) > ``Body`` and two wheels sharing one mesh ``Wheel``; a camera and
    a point light at the root; extras on objects, a mesh and a material."""
    bpy = _bpy()
    vehicle = bpy.data.objects.new("Vehicle", None)
    bpy.context.scene.collection.objects.link(vehicle)
    vehicle["studio_id"] = "veh-001"
    vehicle.location = (0.5, 0.0, 0.25)
    vehicle.rotation_euler = (0.0, 0.0, 0.3)
    vertices, faces = _cube(1.0)
    body = _mesh_object(bpy, "Body", [(2 * x, y, 0.6 * z + 0.4) for x, y, z in vertices], faces)
    body.data.materials.append(_material(bpy, "Paint", (0.1, 0.3, 0.8, 1.0), roughness=0.4))
    body.data["lod"] = 0
    body.parent = vehicle
    tube_vertices, tube_faces = _tube(rings=1, sides=10, radius=0.3, height=0.2)
    wheel_front = _mesh_object(bpy, "WheelFront", tube_vertices, tube_faces)
    tyre = _material(bpy, "Tyre", (0.05, 0.05, 0.05, 1.0), roughness=0.95)
    tyre["surface"] = "rubber"
    wheel_front.data.materials.append(tyre)
    wheel_front.data.name = "Wheel"
    wheel_front.parent = vehicle
    wheel_front.location = (0.8, -0.6, 0.0)
    wheel_front.rotation_euler = (math.pi / 2, 0.0, 0.0)
    wheel_back = bpy.data.objects.new("WheelBack", wheel_front.data)  # the same mesh: an instance
    bpy.context.scene.collection.objects.link(wheel_back)
    wheel_back.parent = vehicle
    wheel_back.location = (-0.8, -0.6, 0.0)
    wheel_back.rotation_euler = (math.pi / 2, 0.0, 0.0)
    wheel_back.scale = (1.2, 1.2, 1.0)
    wheel_back["axle"] = "rear"
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("CameraLens"))
    camera.data.lens = 35.0
    bpy.context.scene.collection.objects.link(camera)
    camera.location = (4.0, -4.0, 3.0)
    camera.rotation_euler = (1.1, 0.0, 0.8)
    light = bpy.data.objects.new("Lamp", bpy.data.lights.new("LampData", "POINT"))
    light.data.energy = 500.0
    light.data.color = (1.0, 0.9, 0.8)
    bpy.context.scene.collection.objects.link(light)
    light.location = (2.0, 2.0, 3.0)
    _export(bpy, path)


@asset("no_uv.glb")
def no_uv(path: Path) -> None:
    """Two meshes without UV maps: ``Pillar`` (a tube), and ``Block`` (a cube) instanced twice."""
    bpy = _bpy()
    vertices, faces = _tube(rings=3, sides=8, radius=0.3, height=1.5)
    pillar = _mesh_object(bpy, "Pillar", vertices, faces, uv=False)
    pillar.data.materials.append(_material(bpy, "Stone", (0.5, 0.5, 0.45, 1.0)))
    cube_vertices, cube_faces = _cube(0.6)
    block = _mesh_object(bpy, "BlockA", cube_vertices, cube_faces, uv=False)
    block.data.name = "Block"
    block.data.materials.append(_material(bpy, "Brick", (0.6, 0.25, 0.2, 1.0)))
    block.location = (1.2, 0.0, 0.3)
    twin = bpy.data.objects.new("BlockB", block.data)
    bpy.context.scene.collection.objects.link(twin)
    twin.location = (-1.2, 0.0, 0.3)
    twin.rotation_euler = (0.0, 0.0, 0.5)
    _export(bpy, path)


# -- compressed assets (built here byte by byte) ----------------------------------------------------


def _icosphere():
    """``(positions (V, 3) float32, normals, uv (V, 2) glTF v-down, faces (F, 3) uint32)``."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    positions = np.asarray(sphere.vertices, dtype=np.float32)
    normals = positions / np.linalg.norm(positions, axis=1, keepdims=True)
    uv = np.column_stack([0.5 + np.arctan2(normals[:, 2], normals[:, 0]) / (2 * np.pi), 0.5 - np.arcsin(normals[:, 1]) / np.pi])
    return positions, normals.astype(np.float32), uv.astype(np.float32), np.asarray(sphere.faces, dtype=np.uint32)


def _glb_bytes(document: dict, binary: bytes, more_buffers: tuple[dict, ...] = ()) -> bytes:
    """A GLB of ``document`` whose buffer 0 is ``binary`` (``more_buffers`` follow it)."""
    binary += b"\0" * ((-len(binary)) % 4)
    document["buffers"] = [{"byteLength": len(binary)}, *more_buffers]
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * ((-len(text)) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(text), b"JSON") + text + \
        struct.pack("<I4s", len(binary), b"BIN\0") + binary  # fmt: skip


def _compressed_base(name: str) -> dict:
    return {
        "asset": {"version": "2.0", "generator": "stylize tools/dev/make_asset_corpus.py"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": name, "mesh": 0, "translation": [0.0, 0.5, 0.0]}],
        "materials": [{"name": "Glaze", "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.4, 0.2, 1.0],
                                                                "metallicFactor": 0.0, "roughnessFactor": 0.5}}],
    }  # fmt: skip


def _accessor(count: int, kind: str, component: int = 5126, view: int | None = None, bounds=None) -> dict:
    accessor = {"componentType": component, "count": int(count), "type": kind}
    if view is not None:
        accessor["bufferView"] = view
    if bounds is not None:
        accessor["min"], accessor["max"] = [float(v) for v in bounds.min(axis=0)], [float(v) for v in bounds.max(axis=0)]
    return accessor


@asset("draco.glb")
def draco(path: Path) -> None:
    """The icosphere Draco-compressed (``KHR_draco_mesh_compression``, required), via DracoPy."""
    import DracoPy

    positions, normals, uv, faces = _icosphere()
    encoded = DracoPy.encode(positions, faces, quantization_bits=14, compression_level=7, preserve_order=True,
                             tex_coord=uv.astype(np.float64), normals=normals.astype(np.float64))  # fmt: skip
    decoded = DracoPy.decode(encoded)
    semantics = {0: "POSITION", 1: "NORMAL", 3: "TEXCOORD_0"}  # Draco's attribute types
    ids = {semantics[a["attribute_type"]]: a["unique_id"] for a in decoded.attributes}
    if not np.allclose(np.asarray(decoded.points), positions, atol=1e-3):
        raise RuntimeError("DracoPy did not keep the vertex order (preserve_order)")
    document = _compressed_base("DracoSphere")
    document["bufferViews"] = [{"buffer": 0, "byteOffset": 0, "byteLength": len(encoded)}]
    document["accessors"] = [
        _accessor(len(faces) * 3, "SCALAR", 5125),
        _accessor(len(positions), "VEC3", bounds=positions),
        _accessor(len(positions), "VEC3"),
        _accessor(len(positions), "VEC2"),
    ]
    document["meshes"] = [{"name": "DracoSphere", "primitives": [{
        "attributes": {"POSITION": 1, "NORMAL": 2, "TEXCOORD_0": 3}, "indices": 0, "material": 0, "mode": 4,
        "extensions": {"KHR_draco_mesh_compression": {"bufferView": 0, "attributes": ids}}}]}]  # fmt: skip
    document["extensionsUsed"] = document["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    path.write_bytes(_glb_bytes(document, encoded))


@asset("meshopt.glb")
def meshopt_sphere(path: Path) -> None:
    """The icosphere with meshopt-compressed buffer views (``EXT_meshopt_compression``, required; no
    fallback buffer), via the ``meshopt`` package."""
    import meshopt

    positions, normals, uv, faces = _icosphere()
    arrays = [(np.ascontiguousarray(faces.reshape(-1, 3)), "TRIANGLES", 34963, 4),
              (positions, "ATTRIBUTES", 34962, 12), (normals, "ATTRIBUTES", 34962, 12), (uv, "ATTRIBUTES", 34962, 8)]  # fmt: skip
    blobs, views = [], []
    offset = fallback_offset = 0
    for array, mode, target, stride in arrays:
        data = meshopt.encode_gltf_buffer(array if mode != "TRIANGLES" else array.reshape(-1), mode)
        views.append({"buffer": 1, "byteOffset": fallback_offset, "byteLength": array.nbytes, "target": target,
                      **({"byteStride": stride} if mode == "ATTRIBUTES" else {}),
                      "extensions": {"EXT_meshopt_compression": {
                          "buffer": 0, "byteOffset": offset, "byteLength": len(data), "byteStride": stride,
                          "count": len(array) if mode == "ATTRIBUTES" else array.size, "mode": mode}}})  # fmt: skip
        blobs.append(data + b"\0" * ((-len(data)) % 4))
        offset += len(blobs[-1])
        fallback_offset += array.nbytes
    binary = b"".join(blobs)
    document = _compressed_base("MeshoptSphere")
    document["bufferViews"] = views
    document["accessors"] = [
        _accessor(faces.size, "SCALAR", 5125, 0),
        _accessor(len(positions), "VEC3", view=1, bounds=positions),
        _accessor(len(positions), "VEC3", view=2),
        _accessor(len(positions), "VEC2", view=3),
    ]
    document["meshes"] = [{"name": "MeshoptSphere", "primitives": [{
        "attributes": {"POSITION": 1, "NORMAL": 2, "TEXCOORD_0": 3}, "indices": 0, "material": 0, "mode": 4}]}]  # fmt: skip
    document["extensionsUsed"] = document["extensionsRequired"] = ["EXT_meshopt_compression"]
    # Buffer 1 has no data of its own: the spec's fallback buffer, which decoders fill.
    fallback = {"byteLength": sum(a.nbytes for a, *_ in arrays), "extensions": {"EXT_meshopt_compression": {"fallback": True}}}
    path.write_bytes(_glb_bytes(document, binary, (fallback,)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the files (default: %(default)s)")
    parser.add_argument("--only", nargs="*", choices=sorted(ASSETS), help="write only these assets")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or ASSETS:
        with tempfile.TemporaryDirectory() as scratch:  # written beside, then moved: no half files
            tmp = Path(scratch) / name
            ASSETS[name](tmp)
            (args.out / name).write_bytes(tmp.read_bytes())
        print(f"{name}: {(args.out / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
