"""The ``pbr`` material: glTF metallic-roughness channels learned from a prompt, baked as maps.

The field predicts, beside the displacement, a base colour (3, sRGB), a perceptual roughness
(1, starting at 0.6), a metalness (1, starting at 0.05: TANGO's constant start, a rough
dielectric) and a normal tilt (2, starting at 0.5, 0.5: no tilt) bounded to ``max_tilt`` degrees
per axis in the tilt frame of :func:`~stylize.mesh.pbr.tilt_tangents`. Renders are shaded with
glTF's BRDF (:func:`~stylize.mesh.pbr.shade_metallic_roughness`) on the smooth interpolated normal:

- while training, under a random environment per step (:func:`~stylize.mesh.pbr.sample_environment`:
  directional lights of random directions, strengths and tints plus a sky / ground ambient),
  the same world-space light for every view of the step, rotated into each camera: a light
  that keeps changing cannot be painted into the base colour, so the base colour stays albedo;
- for previews, turntables and scores, under the fixed :data:`~stylize.mesh.pbr.STUDIO` light.

Exported maps: ``base_color`` (sRGB) and ``metallic_roughness`` (linear, glTF's packing: R = 1,
G = roughness, B = metalness); the tilt becomes the bake's ``normal`` map (tangent space, OpenGL
+Y), combined with the displacement's relief when that is baked into the map. An input
material's emissive map is cleared (:attr:`PbrMaterial.clears`): it would glow over the new look.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from stylize.mesh.material import BASE_COLOR, Channel, Material
from stylize.mesh.pbr import STUDIO, Environment, perturb_normals, sample_environment, shade_metallic_roughness

__all__ = ["MAX_TILT_LIMIT", "PbrMaterial", "render_metal_rough"]

#: The largest ``pbr.max_tilt`` accepted, degrees (tan grows without bound towards 90).
MAX_TILT_LIMIT = 60.0


class PbrMaterial(Material):
    """glTF metallic-roughness: base colour, roughness, metallic and a bounded normal tilt.

    Args:
        max_tilt: the largest tilt of the shading normal per tangent axis, degrees.
        lights: directional lights per random training environment.
        tint: how far a training light's colour may move from white (see
            :func:`~stylize.mesh.pbr.sample_environment`). Kept small: with the test CLIPs, lights
            tinted by up to 25 % made "an orange circle" converge to blue (the hue a run must
            reach moved with every step's light), 10 % and less reached orange as a diffuse run does.
    """

    name = "pbr"
    channels = (
        BASE_COLOR,
        Channel("roughness", 1, initial=0.6),
        Channel("metallic", 1, initial=0.05),
        Channel("normal_tilt", 2, initial=0.5),
    )
    needs_view_dirs = True
    needs_frame = True
    normal_detail = True
    clears = ("emissive",)

    def __init__(self, max_tilt: float = 20.0, lights: int = 3, tint: float = 0.1) -> None:
        if not 0.0 <= float(max_tilt) <= MAX_TILT_LIMIT:
            raise ValueError(f"expected max_tilt in [0, {MAX_TILT_LIMIT}] degrees, got {max_tilt}")
        if int(lights) < 1:
            raise ValueError(f"expected at least 1 light, got {lights}")
        if not 0.0 <= float(tint) <= 1.0:
            raise ValueError(f"expected a light tint in [0, 1], got {tint}")
        self.max_tilt = float(max_tilt)
        self.lights = int(lights)
        self.tint = float(tint)

    @classmethod
    def from_config(cls, config: Any) -> PbrMaterial:
        return cls(max_tilt=config.pbr.max_tilt, lights=config.pbr.lights, tint=config.pbr.light_tint)

    def options(self) -> dict[str, Any]:
        return {"max_tilt": self.max_tilt, "lights": self.lights, "tint": self.tint}

    def sample_lights(self, generator: torch.Generator) -> Environment:
        return sample_environment(generator, lights=self.lights, tint=self.tint)

    def view_lights(self, lights: Environment | None, world_to_camera: torch.Tensor) -> Environment:
        return (STUDIO if lights is None else lights).rotated(world_to_camera)

    def perturb(self, features: torch.Tensor, normals: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
        return perturb_normals(normals, tangents, features[..., 5:7], math.radians(self.max_tilt))

    def shade(self, features, normals, view_dirs=None, lights=None, tangents=None, **frame):
        if view_dirs is None:
            raise ValueError("the pbr material shades with view directions (view_dirs)")
        environment = STUDIO if lights is None else lights
        # Only covered pixels are shaded (a third to a half of a training view): each image's
        # covered pixels are gathered to the front of a (B, P) block, P the most any image covers.
        batch, height, width, _ = features.shape
        covered = (normals.abs().sum(-1) > 0).reshape(batch, height * width)
        count = int(covered.sum(dim=1).max()) if covered.numel() else 0
        order = torch.argsort((~covered).to(torch.uint8), dim=1, stable=True)[:, : max(count, 1)]

        def gather(values: torch.Tensor) -> torch.Tensor:
            flat = values.reshape(batch, height * width, values.shape[-1])
            return torch.gather(flat, 1, order.unsqueeze(-1).expand(-1, -1, flat.shape[-1])).unsqueeze(2)

        compact, compact_normals = gather(features), gather(normals)
        if tangents is not None:
            compact_normals = self.perturb(compact, compact_normals, gather(tangents))
        parts = self.split(compact)
        rgb = shade_metallic_roughness(parts["base_color"], parts["roughness"], parts["metallic"], compact_normals,
                                       gather(view_dirs), environment)  # fmt: skip
        out = rgb.new_zeros(batch, height * width, 3).scatter(1, order.unsqueeze(-1).expand(-1, -1, 3), rgb.squeeze(2))
        return out.reshape(batch, height, width, 3)

    def export(self, features):
        features = np.asarray(features)
        roughness, metallic = features[..., 3:4], features[..., 4:5]
        packed = np.concatenate([np.ones_like(roughness), roughness, metallic], axis=-1)
        return {"base_color": features[..., :3], "metallic_roughness": packed}


def render_metal_rough(
    renderer: Any,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    normals: torch.Tensor,
    tangents: torch.Tensor,
    uv: torch.Tensor,
    maps: dict[str, torch.Tensor],
    views: Any,
    environment: Environment | None = None,
    background: float = 1.0,
) -> torch.Tensor:
    """Render a baked glTF metal-rough mesh as a glTF viewer shades it: the maps sampled through
    the UVs, the normal map applied in the ``TANGENT`` frame (``B = cross(N, T) w``), glTF's BRDF
    under ``environment`` (world space; default :data:`~stylize.mesh.pbr.STUDIO`).

    Args:
        renderer: a mesh renderer.
        vertices, faces: the baked mesh ``(V, 3)``, ``(F, 3)``.
        normals: ``(V, 3)`` its ``NORMAL``; tangents: ``(V, 4)`` its ``TANGENT``; uv: ``(V, 2)``
            its ``TEXCOORD_0`` (glTF, v down).
        maps: ``base_color`` ``(H, W, 3)`` sRGB, ``metallic_roughness`` ``(H, W, 3)`` (G, B) and
            ``normal`` ``(H, W, 3)`` in ``[-1, 1]``, floats; a missing map is its neutral value.

    Returns:
        Images ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    from stylize.mesh.renderer import composite_background
    from stylize.mesh.shading import sample_texture_torch

    attributes = torch.cat([normals, tangents, uv, torch.ones_like(uv[:, :1])], dim=1).to(vertices)
    views = views.to(vertices.device)
    out = renderer(vertices, faces, attributes, views)
    covered = out.face_index >= 0
    pixel = out.features[covered]
    normal = torch.nn.functional.normalize(pixel[:, :3], dim=-1)
    tangent = pixel[:, 3:6]
    tangent = torch.nn.functional.normalize(tangent - normal * (tangent * normal).sum(-1, keepdim=True), dim=-1)
    bitangent = torch.linalg.cross(normal, tangent) * torch.where(pixel[:, 6:7] < 0, -1.0, 1.0)
    uv_pixel = pixel[:, 7:9]

    def sample(name: str, neutral: tuple[float, float, float]) -> torch.Tensor:
        if name not in maps:
            return pixel.new_tensor(neutral).expand(len(pixel), 3)
        return sample_texture_torch(maps[name].to(pixel), uv_pixel)

    base = sample("base_color", (1.0, 1.0, 1.0))
    packed = sample("metallic_roughness", (1.0, 1.0, 0.0))
    local = sample("normal", (0.0, 0.0, 1.0))
    world = torch.nn.functional.normalize(local[:, :1] * tangent + local[:, 1:2] * bitangent + local[:, 2:3] * normal, dim=-1)
    batch, height, width = covered.shape

    def image(values: torch.Tensor) -> torch.Tensor:
        full = values.new_zeros(batch, height, width, values.shape[1])
        full[covered] = values
        return full

    rotation = views.world_to_camera.to(pixel)
    camera_normals = torch.einsum("bij,bhwj->bhwi", rotation, image(world))
    env = (STUDIO if environment is None else environment).rotated(rotation)
    rgb = shade_metallic_roughness(image(base), image(packed[:, 1:2]), image(packed[:, 2:3]), camera_normals,
                                   out.view_directions(views.projection), env)  # fmt: skip
    return composite_background(rgb, out.features[..., 9:10], background)
