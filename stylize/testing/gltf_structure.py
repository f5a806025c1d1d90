"""What a glTF file's scene *is*, as flat comparable keys, and the difference between two files.

:func:`gltf_structure` reads a ``.glb`` / ``.gltf`` and describes its structure by names (indices
change when a writer reorders things; names and hierarchy paths do not):

- ``node:<path>`` (``path``: node names from the root, ``/``-joined; ``#k`` for repeated paths):
  ``transform`` (local ``(4, 4)``, from ``matrix`` or TRS), ``mesh``, ``camera``, ``light``,
  ``skin``, ``weights``, ``extras``, ``extensions``;
- ``mesh:<name>``: ``instances`` (the node paths that use it), ``primitives`` (count),
  ``extras``, ``weights``, ``target_names``; per primitive ``p<i>/material``, ``p<i>/attributes``
  (sorted semantics: the UV sets, ``JOINTS_n``, ...), ``p<i>/targets`` (each target's semantics),
  ``p<i>/mode``, ``p<i>/extras``;
- ``material:<name>/<property path>``: every property, texture infos with their ``texCoord``,
  ``scale``, ``strength`` and a ``<texture>`` marker for the index;
- ``camera:<name>/...``, ``light:<name>/...`` (``KHR_lights_punctual``);
- ``skin:<name>``: ``joints`` (node paths), ``skeleton``, ``inverse_bind_matrices`` (numbers),
  ``users``;
- ``animation:<name>/<node path>.<path>``: ``interpolation``, ``input`` (key times) and ``output``
  (values);
- ``extensionsUsed``, ``extensionsRequired``, ``extras`` (the document's), ``copyright``.

:func:`structure_diff` compares two structures (or files) and returns one line per difference
("added", "removed" or "changed"), numbers compared with a tolerance, so a test can assert that
input and output differ by exactly the changes a run intends. :func:`sample_node_world` and
:func:`morphed_positions` evaluate an animation at a time, to check that a written file animates
as its input did.

Example:
    >>> changes = structure_diff("in.glb", "out.glb", ignore=["material:*/pbrMetallicRoughness/baseColorTexture*"])
    >>> assert changes == [], changes
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import numpy as np

from stylize.mesh.gltf.asset import GltfAsset
from stylize.mesh.gltf.nodes import node_matrix

__all__ = ["gltf_structure", "morphed_positions", "sample_node_world", "structure_diff"]

_TEXTURE = "<texture>"


def _node_paths(document: dict[str, Any]) -> dict[int, str]:
    """Node index -> hierarchy path of names (roots are nodes no other node lists as a child)."""
    nodes = document.get("nodes") or []
    children = {int(c) for node in nodes for c in node.get("children", [])}
    paths: dict[int, str] = {}
    seen: dict[str, int] = {}
    stack = [(i, "") for i in reversed(range(len(nodes))) if i not in children]
    while stack:
        index, parent = stack.pop()
        if index in paths:
            continue
        path = f"{parent}/{nodes[index].get('name') or f'node{index}'}".lstrip("/")
        seen[path] = seen.get(path, 0) + 1
        paths[index] = path if seen[path] == 1 else f"{path}#{seen[path] - 1}"
        stack.extend((int(c), paths[index]) for c in reversed(nodes[index].get("children", [])))
    return paths


def _name(items: list[dict[str, Any]], index: int, kind: str) -> str:
    return str(items[index].get("name") or f"{kind}{index}")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """``out[prefix/key/...] = leaf`` for nested dicts; texture infos get a marker for their index."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            if key == "index" and prefix.endswith("Texture"):
                child = _TEXTURE
            _flatten(f"{prefix}/{key}", child, out)
    else:
        out[prefix] = value


def gltf_structure(path: str | Path) -> dict[str, Any]:
    """The structure of a glTF file as flat ``key -> value`` (see the module docstring)."""
    asset = GltfAsset(path)
    document = asset.document
    nodes = document.get("nodes") or []
    meshes = document.get("meshes") or []
    materials = document.get("materials") or []
    skins = document.get("skins") or []
    cameras = document.get("cameras") or []
    lights = ((document.get("extensions") or {}).get("KHR_lights_punctual") or {}).get("lights") or []
    paths = _node_paths(document)
    out: dict[str, Any] = {}
    for key in ("extensionsUsed", "extensionsRequired"):
        out[key] = sorted(document.get(key) or [])
    out["copyright"] = (document.get("asset") or {}).get("copyright")
    if "extras" in document:
        _flatten("extras", document["extras"], out)
    scenes = document.get("scenes") or []
    if scenes:
        out["scene/roots"] = sorted(paths[int(n)] for n in scenes[document.get("scene", 0)].get("nodes", []))
    instances: dict[int, list[str]] = {}
    for index, node in enumerate(nodes):
        key = f"node:{paths.get(index, f'node{index}')}"
        out[f"{key}/transform"] = node_matrix(node)
        if "mesh" in node:
            out[f"{key}/mesh"] = _name(meshes, node["mesh"], "mesh")
            instances.setdefault(node["mesh"], []).append(paths.get(index, ""))
        if "camera" in node:
            out[f"{key}/camera"] = _name(cameras, node["camera"], "camera")
        light = ((node.get("extensions") or {}).get("KHR_lights_punctual") or {}).get("light")
        if light is not None:
            out[f"{key}/light"] = _name(lights, light, "light")
        if "skin" in node:
            out[f"{key}/skin"] = _name(skins, node["skin"], "skin")
        if "weights" in node:
            out[f"{key}/weights"] = node["weights"]
        if "extras" in node:
            _flatten(f"{key}/extras", node["extras"], out)
        out[f"{key}/extensions"] = sorted(node.get("extensions") or {})
    for index, mesh in enumerate(meshes):
        key = f"mesh:{_name(meshes, index, 'mesh')}"
        out[f"{key}/instances"] = sorted(instances.get(index, []))
        primitives = mesh.get("primitives") or []
        out[f"{key}/primitives"] = len(primitives)
        for number, primitive in enumerate(primitives):
            where = f"{key}/p{number}"
            material = primitive.get("material")
            out[f"{where}/material"] = None if material is None else _name(materials, material, "material")
            out[f"{where}/attributes"] = sorted(primitive.get("attributes") or {})
            out[f"{where}/targets"] = [sorted(target) for target in primitive.get("targets") or []]
            out[f"{where}/mode"] = primitive.get("mode", 4)
            if "extras" in primitive:
                _flatten(f"{where}/extras", primitive["extras"], out)
        if "weights" in mesh:
            out[f"{key}/weights"] = mesh["weights"]
        extras = dict(mesh.get("extras") or {})
        if "targetNames" in extras:
            out[f"{key}/target_names"] = extras.pop("targetNames")
        if extras:
            _flatten(f"{key}/extras", extras, out)
    for index, material in enumerate(materials):
        _flatten(f"material:{_name(materials, index, 'material')}", {k: v for k, v in material.items() if k != "name"}, out)
    for index, camera in enumerate(cameras):
        _flatten(f"camera:{_name(cameras, index, 'camera')}", {k: v for k, v in camera.items() if k != "name"}, out)
    for index, light in enumerate(lights):
        _flatten(f"light:{_name(lights, index, 'light')}", {k: v for k, v in light.items() if k != "name"}, out)
    for index, skin in enumerate(skins):
        key = f"skin:{_name(skins, index, 'skin')}"
        out[f"{key}/joints"] = [paths.get(int(j)) for j in skin.get("joints", [])]
        out[f"{key}/skeleton"] = paths.get(skin["skeleton"]) if "skeleton" in skin else None
        if "inverseBindMatrices" in skin:
            out[f"{key}/inverse_bind_matrices"] = asset.accessor(skin["inverseBindMatrices"], matrix=True).astype(np.float64)
        out[f"{key}/users"] = sorted(paths[i] for i, node in enumerate(nodes) if node.get("skin") == index)
    for index, animation in enumerate(document.get("animations") or []):
        key = f"animation:{_name(document['animations'], index, 'animation')}"
        samplers = animation.get("samplers") or []
        for channel in animation.get("channels") or []:
            target = channel.get("target") or {}
            sampler = samplers[channel["sampler"]]
            where = f"{key}/{paths.get(target.get('node'), 'node?')}.{target.get('path')}"
            out[f"{where}/interpolation"] = sampler.get("interpolation", "LINEAR")
            out[f"{where}/input"] = asset.float_accessor(sampler["input"]).reshape(-1)
            out[f"{where}/output"] = asset.float_accessor(sampler["output"])
    return out


def _same(a: Any, b: Any, atol: float) -> bool:
    numeric = (int, float, list, tuple, np.ndarray)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        try:
            x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            return a == b
        return x.shape == y.shape and bool(np.allclose(x, y, rtol=0.0, atol=atol))
    return a == b


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.size > 16 else json.dumps(np.round(value, 5).tolist())
    return json.dumps(value, default=str)[:200]


def structure_diff(
    before: str | Path | dict[str, Any],
    after: str | Path | dict[str, Any],
    *,
    atol: float = 1e-5,
    ignore: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """The differences between two glTF structures (:func:`gltf_structure`, or files), sorted.

    Args:
        before, after: structures or files.
        atol: absolute tolerance for numbers (transforms, matrices, key times and values).
        ignore: ``fnmatch`` patterns of keys whose differences are intended.

    Returns:
        One line per difference: ``"removed KEY = VALUE"``, ``"added KEY = VALUE"`` or
        ``"changed KEY: OLD -> NEW"``.
    """
    old = before if isinstance(before, dict) else gltf_structure(before)
    new = after if isinstance(after, dict) else gltf_structure(after)
    lines = []
    for key in sorted(set(old) | set(new)):
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in ignore):
            continue
        if key not in new:
            lines.append(f"removed {key} = {_show(old[key])}")
        elif key not in old:
            lines.append(f"added {key} = {_show(new[key])}")
        elif not _same(old[key], new[key], atol):
            lines.append(f"changed {key}: {_show(old[key])} -> {_show(new[key])}")
    return lines


# -- evaluating animations ----------------------------------------------------------------------------


def _quaternion_matrix(q: np.ndarray) -> np.ndarray:
    return node_matrix({"rotation": list(q)})[:3, :3]


def _sample(times: np.ndarray, values: np.ndarray, interpolation: str, t: float, path: str) -> np.ndarray:
    """The channel's value at ``t`` (STEP / LINEAR; CUBICSPLINE at its keys' values)."""
    if interpolation == "CUBICSPLINE":
        values = values.reshape(len(times), 3, -1)[:, 1]
    else:
        values = values.reshape(len(times), -1)
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    k = int(np.searchsorted(times, t, side="right")) - 1
    if interpolation == "STEP":
        return values[k]
    s = (t - times[k]) / (times[k + 1] - times[k])
    a, b = values[k], values[k + 1]
    if path == "rotation":  # slerp, as the spec says
        dot = float(np.dot(a, b))
        if dot < 0:
            b, dot = -b, -dot
        if dot > 0.9995:
            q = a + s * (b - a)
        else:
            angle = np.arccos(dot)
            q = (np.sin((1 - s) * angle) * a + np.sin(s * angle) * b) / np.sin(angle)
        return q / np.linalg.norm(q)
    return a + s * (b - a)


def _animated_nodes(asset: GltfAsset, animation: int | str, t: float) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
    """The document's nodes with ``animation``'s TRS values at time ``t``, and its morph weights by node."""
    document = asset.document
    animations = document.get("animations") or []
    if isinstance(animation, str):
        animation = next(i for i, a in enumerate(animations) if a.get("name") == animation)
    nodes = [dict(node) for node in document.get("nodes") or []]
    weights: dict[int, np.ndarray] = {}
    samplers = animations[animation].get("samplers") or []
    for channel in animations[animation].get("channels") or []:
        target, sampler = channel["target"], samplers[channel["sampler"]]
        times = asset.float_accessor(sampler["input"]).reshape(-1)
        value = _sample(times, asset.float_accessor(sampler["output"]), sampler.get("interpolation", "LINEAR"), t,
                        target["path"])  # fmt: skip
        node = nodes[target["node"]]
        if target["path"] == "weights":
            weights[target["node"]] = value
        else:
            node.pop("matrix", None)
            node[target["path"]] = list(map(float, value))
    return nodes, weights


def sample_node_world(path: str | Path, node_name: str, animation: int | str, t: float) -> np.ndarray:
    """The ``(4, 4)`` world matrix of the node named ``node_name`` at time ``t`` of ``animation``."""
    asset = GltfAsset(path)
    nodes, _ = _animated_nodes(asset, animation, t)
    parents = {int(c): i for i, node in enumerate(nodes) for c in node.get("children", [])}
    index = next(i for i, node in enumerate(nodes) if node.get("name") == node_name)
    world = np.eye(4)
    while index is not None:
        world = node_matrix(nodes[index]) @ world
        index = parents.get(index)
    return world


def morphed_positions(path: str | Path, node_name: str, animation: int | str, t: float) -> np.ndarray:
    """Local positions ``(N, 3)`` of every primitive of the node's mesh (concatenated) with the
    morph weights ``animation`` gives at time ``t`` (the node's or mesh's default weights when it
    does not animate them)."""
    asset = GltfAsset(path)
    nodes, animated = _animated_nodes(asset, animation, t)
    index = next(i for i, node in enumerate(nodes) if node.get("name") == node_name)
    mesh = asset.document["meshes"][nodes[index]["mesh"]]
    weights = animated.get(index)
    if weights is None:
        weights = np.asarray(nodes[index].get("weights", mesh.get("weights", [])), dtype=np.float64)
    blocks = []
    for primitive in mesh["primitives"]:
        positions = asset.float_accessor(primitive["attributes"]["POSITION"]).copy()
        for weight, target in zip(weights, primitive.get("targets") or [], strict=False):
            if "POSITION" in target:
                positions += weight * asset.float_accessor(target["POSITION"])
        blocks.append(positions)
    return np.concatenate(blocks)
