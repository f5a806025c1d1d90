"""Skins, morph targets and animations written back beside a scene's new geometry.

The scene writer (:func:`~stylize.mesh.gltf.write.write_scene_glb`) calls these to carry what a
run does not change: each primitive's ``JOINTS_n`` / ``WEIGHTS_n`` and morph-target deltas (per
written vertex, from the file vertex it came from), the skins (joints, inverse bind matrices,
skeleton) and the animations (channels and their keys), with node indices remapped to the written
nodes. Displacement moves the base positions only (in the bind pose), so skinning and morph deltas
apply on top of the stylized surface as they did on the original one.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from stylize.mesh.gltf.glb import GlbBuilder
from stylize.mesh.gltf.scene import PrimitiveInstance, SceneSource

__all__ = ["add_skin_attributes", "add_targets", "skin_arrays", "target_arrays", "write_animations", "write_skins"]

logger = logging.getLogger(__name__)


def skin_arrays(instance: PrimitiveInstance, origin: np.ndarray) -> dict[str, np.ndarray]:
    """``JOINTS_n`` (uint8 or uint16) and ``WEIGHTS_n`` (float32, each vertex's weights summing to
    1 over all its sets) of the written vertices, which copy file vertices ``origin`` ``(N,)``."""
    out: dict[str, np.ndarray] = {}
    weights = {name: values[origin] for name, values in instance.attributes.items() if name.startswith("WEIGHTS_")}
    total = sum(w.sum(axis=1) for w in weights.values()) if weights else None
    for name, values in weights.items():
        scale = np.where(total > 0, total, 1.0)[:, None]
        out[name] = np.ascontiguousarray(values / scale, dtype=np.float32)
    for name, values in instance.attributes.items():
        if name.startswith("JOINTS_"):
            joints = values[origin]
            out[name] = np.ascontiguousarray(joints, dtype=np.uint8 if joints.max(initial=0) < 256 else np.uint16)
    return out


def target_arrays(instance: PrimitiveInstance, origin: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The morph targets' deltas of the written vertices (float32, local frame)."""
    return [{name: np.ascontiguousarray(values[origin], dtype=np.float32) for name, values in target.items()}
            for target in instance.targets]  # fmt: skip


def add_skin_attributes(glb: GlbBuilder, arrays: dict[str, np.ndarray]) -> dict[str, int]:
    return {name: glb.add_accessor(values) for name, values in arrays.items()}


def add_targets(glb: GlbBuilder, targets: list[dict[str, np.ndarray]]) -> list[dict[str, int]]:
    """Accessors of morph targets (``POSITION`` deltas with their bounds, as the spec requires)."""
    return [{name: glb.add_accessor(values, bounds=name == "POSITION") for name, values in target.items()}
            for target in targets]  # fmt: skip


def write_skins(source: SceneSource, glb: GlbBuilder, remap: dict[int, int]) -> dict[int, int]:
    """Add the skins whose joints are all written; returns ``source skin -> written skin``."""
    written: dict[int, int] = {}
    skins = []
    for index, skin in enumerate(source.document.get("skins") or []):
        joints = skin.get("joints") or []
        if not joints or any(j not in remap for j in joints):
            logger.warning("%s: skin %s has joints outside the written scene; it is not written",
                           source.path, skin.get("name", index))  # fmt: skip
            continue
        out: dict[str, Any] = {key: copy.deepcopy(skin[key]) for key in ("name", "extras") if key in skin}
        out["joints"] = [remap[j] for j in joints]
        if "skeleton" in skin and skin["skeleton"] in remap:
            out["skeleton"] = remap[skin["skeleton"]]
        matrices = source.inverse_bind_matrices[index] if index < len(source.inverse_bind_matrices) else None
        if matrices is not None:
            out["inverseBindMatrices"] = glb.add_accessor(np.ascontiguousarray(matrices, dtype=np.float32), target=None)
        written[index] = len(skins)
        skins.append(out)
    if skins:
        glb.top_level["skins"] = skins
    return written


def write_animations(source: SceneSource, glb: GlbBuilder, remap: dict[int, int], morphing: set[int]) -> None:
    """Add the animations, their channels re-targeted to the written nodes (``remap``: source ->
    written node). Channels on nodes that are not written, and morph-weight channels on written
    nodes whose mesh has no morph targets left (``morphing``: the written nodes that have them),
    are left out, said in one line."""
    animations = []
    dropped = 0
    for index, animation in enumerate(source.document.get("animations") or []):
        keys = source.animation_keys[index] if index < len(source.animation_keys) else []
        samplers: dict[int, int] = {}
        out_samplers, channels = [], []
        for channel in animation.get("channels") or []:
            target = channel.get("target") or {}
            if target.get("node") not in remap or (target.get("path") == "weights" and remap[target["node"]] not in morphing):
                dropped += 1
                continue
            number = channel["sampler"]
            if number not in samplers:
                sampler = animation["samplers"][number]
                times, values = keys[number]
                item: dict[str, Any] = {
                    "input": glb.add_accessor(np.ascontiguousarray(times, dtype=np.float32), target=None, bounds=True),
                    "output": glb.add_accessor(np.ascontiguousarray(values, dtype=np.float32), target=None),
                    "interpolation": sampler.get("interpolation", "LINEAR"),
                }  # fmt: skip
                samplers[number] = len(out_samplers)
                out_samplers.append(item)
            written_target = {**copy.deepcopy(target), "node": remap[target["node"]]}
            channels.append({"sampler": samplers[number], "target": written_target,
                             **({"extras": copy.deepcopy(channel["extras"])} if "extras" in channel else {})})  # fmt: skip
        if channels:
            out = {key: copy.deepcopy(animation[key]) for key in ("name", "extras") if key in animation}
            animations.append({**out, "channels": channels, "samplers": out_samplers})
    if dropped:
        logger.warning("%s: %d animation channel(s) target nodes outside the written scene and are not written",
                       source.path, dropped)  # fmt: skip
    if animations:
        glb.top_level["animations"] = animations
