"""glTF metallic-roughness shading under environment light: the PBR material's renderer.

The BRDF is glTF 2.0's (Appendix B of the specification): per light,

- ``F0 = 0.04 (1 - m) + base m``; Schlick's Fresnel ``F = F0 + (1 - F0) (1 - v.h)^5``;
- diffuse ``(1 - F) (1 - m) base / pi``;
- specular ``D G F / (4 |n.l| |n.v|)`` with the GGX (Trowbridge-Reitz) distribution, alpha =
  roughness^2 (clamped below at :data:`MIN_ALPHA` so a mirror-smooth surface keeps a finite
  highlight) and the height-correlated Smith visibility;

each times the light's radiance and ``n.l``. Ambient light is a sky / ground hemisphere (one
colour from above, one from below, blended by the normal's height): its diffuse part lights the
diffuse term, and its value in the reflected direction, weighted by an analytic fit of the
pre-integrated environment BRDF (Karis 2014), gives the specular part. That ambient reflection is
what makes a metal read as metal (tinted reflections) rather than black between highlights.

Colours follow glTF: the base colour is sRGB-encoded and shaded in linear light, the result is
clamped to ``[0, 1]`` and encoded back to sRGB.

Lights (:class:`Environment`) are sampled at random for each optimisation step
(:func:`sample_environment`) so the field cannot bake one light's shading into the base colour;
:data:`STUDIO` is the fixed light of previews and scores. Environments are given in world space
(y up) and rotated into each view's camera space (:meth:`Environment.rotated`) before shading, so
every view of one step sees the same light on the object.

Example:
    >>> env = sample_environment(torch.Generator().manual_seed(0)).rotated(view_rotations)
    >>> rgb = shade_metallic_roughness(base, roughness, metallic, normals, view_dirs, env)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "MIN_ALPHA", "STUDIO", "Environment", "linear_to_srgb", "perturb_normals", "sample_environment",
    "shade_metallic_roughness", "srgb_to_linear", "tilt_tangents",
]  # fmt: skip

#: The smallest GGX alpha (= roughness^2) shaded: below it a highlight is narrower than a pixel.
MIN_ALPHA = 0.02
_EPS = 1e-6


def srgb_to_linear(color: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values in ``[0, 1]`` -> linear light (the exact piecewise sRGB curve)."""
    color = color.clamp(0.0, 1.0)
    return torch.where(color <= 0.04045, color / 12.92, ((color + 0.055) / 1.055).clamp(min=_EPS) ** 2.4)


def linear_to_srgb(color: torch.Tensor) -> torch.Tensor:
    """Linear light, clamped to ``[0, 1]`` -> sRGB-encoded values (the exact piecewise sRGB curve)."""
    color = color.clamp(0.0, 1.0)
    return torch.where(color <= 0.0031308, color * 12.92, 1.055 * color.clamp(min=1e-8) ** (1 / 2.4) - 0.055)


@dataclass(frozen=True)
class Environment:
    """Directional lights plus a sky / ground ambient hemisphere, in one coordinate frame.

    Every tensor has a leading batch dimension ``N``: 1 (one light for every image) or one row
    per image (after :meth:`rotated` into each view's camera space).

    Attributes:
        directions: ``(N, K, 3)`` unit vectors from the surface towards each light.
        colors: ``(N, K, 3)`` each light's linear radiance (1 = a white light that shows a white
            diffuse surface facing it at full brightness).
        sky: ``(N, 3)`` linear ambient radiance from the ``up`` side.
        ground: ``(N, 3)`` linear ambient radiance from below.
        up: ``(N, 3)`` unit up direction.
    """

    directions: torch.Tensor
    colors: torch.Tensor
    sky: torch.Tensor
    ground: torch.Tensor
    up: torch.Tensor

    def __post_init__(self) -> None:
        n, k = self.directions.shape[:2]
        expected = {"directions": (n, k, 3), "colors": (n, k, 3), "sky": (n, 3), "ground": (n, 3), "up": (n, 3)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"expected Environment.{name} of shape {shape}, got {tuple(getattr(self, name).shape)}")

    def to(self, like: torch.Tensor) -> Environment:
        """The environment on ``like``'s device and dtype."""
        return Environment(*(t.to(device=like.device, dtype=like.dtype) for t in self._parts()))

    def _parts(self) -> tuple[torch.Tensor, ...]:
        return self.directions, self.colors, self.sky, self.ground, self.up

    def rotated(self, rotations: torch.Tensor) -> Environment:
        """The environment seen from ``B`` cameras: directions rotated by ``rotations``
        ``(B, 3, 3)`` (world -> camera, ``x_cam = R x_world``), one row per view."""
        if rotations.dim() != 3 or rotations.shape[1:] != (3, 3):
            raise ValueError(f"expected rotations of shape (B, 3, 3), got {tuple(rotations.shape)}")
        env = self.to(rotations)
        batch = rotations.shape[0]
        if env.directions.shape[0] not in (1, batch):
            raise ValueError(f"expected an environment of 1 or {batch} rows, got {env.directions.shape[0]}")
        directions = torch.einsum("bij,bkj->bki", rotations, env.directions.expand(batch, -1, -1))
        up = torch.einsum("bij,bj->bi", rotations, env.up.expand(batch, -1))
        return Environment(directions, env.colors.expand(batch, -1, -1), env.sky.expand(batch, -1),
                           env.ground.expand(batch, -1), up)  # fmt: skip


def _environment(directions, colors, sky, ground) -> Environment:
    directions = F.normalize(torch.as_tensor(directions, dtype=torch.float32), dim=-1)
    return Environment(
        directions.unsqueeze(0),
        torch.as_tensor(colors, dtype=torch.float32).unsqueeze(0),
        torch.as_tensor(sky, dtype=torch.float32).unsqueeze(0),
        torch.as_tensor(ground, dtype=torch.float32).unsqueeze(0),
        torch.tensor([[0.0, 1.0, 0.0]]),
    )


#: The fixed light of previews, turntables and scores: a warm key light from the upper front
#: right, a cool fill from the left, a rim light from behind, a bright sky over a dim ground.
STUDIO: Environment = _environment(
    directions=[[0.5, 0.7, 0.6], [-0.7, 0.2, 0.4], [0.0, 0.4, -1.0]],
    colors=[[1.6, 1.5, 1.4], [0.45, 0.5, 0.6], [0.5, 0.5, 0.5]],
    sky=[0.45, 0.47, 0.5],
    ground=[0.15, 0.14, 0.13],
)


def sample_environment(
    generator: torch.Generator | None = None,
    lights: int = 3,
    intensity: tuple[float, float] = (0.6, 1.8),
    ambient: tuple[float, float] = (0.15, 0.5),
    tint: float = 0.25,
) -> Environment:
    """A random environment: ``lights`` directional lights from uniformly random directions (the
    first, the key light, from the upper hemisphere, so the object is never lit only from below),
    with random intensities and tints, and a random sky / ground ambient.

    Args:
        generator: the random source (one draw per optimisation step; the same for every view).
        lights: number of directional lights.
        intensity: range of the key light's radiance; the others get a random share of it.
        ambient: range of the sky's radiance (the ground gets 20-60 % of it).
        tint: how far a light's colour may move from white (0: white lights only).

    Returns:
        An :class:`Environment` of one row, in world space (y up).
    """
    if lights < 1:
        raise ValueError(f"expected at least 1 light, got {lights}")

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    directions = F.normalize(torch.randn(lights, 3, generator=generator), dim=-1)
    directions[0, 1] = directions[0, 1].abs() + 0.2  # key light from above the horizon
    directions = F.normalize(directions, dim=-1)
    low, high = intensity
    strength = low + (high - low) * uniform(lights)
    strength[1:] = strength[1:] * (0.15 + 0.6 * uniform(lights - 1))
    colors = strength[:, None] * (1.0 + tint * (2.0 * uniform(lights, 3) - 1.0))
    sky = (ambient[0] + (ambient[1] - ambient[0]) * uniform(1)) * (1.0 + tint * (2.0 * uniform(3) - 1.0))
    ground = sky * (0.2 + 0.4 * uniform(1))
    return Environment(directions[None], colors[None], sky[None], ground[None], torch.tensor([[0.0, 1.0, 0.0]]))


def _hemisphere(env: Environment, direction: torch.Tensor) -> torch.Tensor:
    """Ambient radiance ``(B, P, 3)`` from ``direction`` ``(B, P, 3)``: sky and ground blended by height."""
    height = (direction * env.up[:, None, :]).sum(-1, keepdim=True)
    weight = 0.5 + 0.5 * height
    return env.ground[:, None, :] + weight * (env.sky - env.ground)[:, None, :]


def _environment_brdf(roughness: torch.Tensor, n_dot_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Karis's analytic fit of the pre-integrated GGX environment BRDF: ``(scale, bias)`` with
    specular ambient = ``radiance (F0 scale + bias)``."""
    c0 = roughness.new_tensor([-1.0, -0.0275, -0.572, 0.022])
    c1 = roughness.new_tensor([1.0, 0.0425, 1.04, -0.04])
    r = roughness.unsqueeze(-1) * c0 + c1
    a004 = torch.minimum(r[..., 0] * r[..., 0], torch.exp2(-9.28 * n_dot_v)) * r[..., 0] + r[..., 1]
    return a004 * -1.04 + r[..., 2], a004 * 1.04 + r[..., 3]


def shade_metallic_roughness(
    base_color: torch.Tensor,
    roughness: torch.Tensor,
    metallic: torch.Tensor,
    normals: torch.Tensor,
    view_dirs: torch.Tensor,
    environment: Environment,
) -> torch.Tensor:
    """Shade per-pixel glTF metallic-roughness parameters under an environment.

    Args:
        base_color: sRGB-encoded base colour in ``[0, 1]``.
        roughness: perceptual roughness in ``[0, 1]``.
        metallic: metalness in ``[0, 1]``.
        normals: unit shading normals (0 where nothing is drawn: those pixels come out black).
        view_dirs: unit directions from the surface towards the camera.
        environment: lights in the same frame as ``normals`` and ``view_dirs``, one row or one
            per image (:meth:`Environment.rotated`).

    Returns:
        sRGB-encoded colours in ``[0, 1]``, differentiable w.r.t. every input.

    Shape:
        - base_color, normals, view_dirs: ``(B, H, W, 3)``; roughness, metallic: ``(B, H, W, 1)``.
        - Output: ``(B, H, W, 3)``.
    """
    if base_color.dim() != 4 or base_color.shape[-1] != 3:
        raise ValueError(f"expected base_color of shape (B, H, W, 3), got {tuple(base_color.shape)}")
    for name, value, width in (("roughness", roughness, 1), ("metallic", metallic, 1), ("normals", normals, 3),
                               ("view_dirs", view_dirs, 3)):  # fmt: skip
        if tuple(value.shape) != (*base_color.shape[:-1], width):
            raise ValueError(f"expected {name} of shape {(*base_color.shape[:-1], width)}, got {tuple(value.shape)}")
    batch, height, width, _ = base_color.shape
    env = environment.to(base_color)
    if env.directions.shape[0] not in (1, batch):
        raise ValueError(f"expected an environment of 1 or {batch} rows, got {env.directions.shape[0]}")
    if env.directions.shape[0] == 1 and batch > 1:
        env = Environment(*(t.expand(batch, *t.shape[1:]) for t in env._parts()))

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(batch, height * width, t.shape[-1])

    base = srgb_to_linear(flat(base_color))
    rough = flat(roughness).clamp(0.0, 1.0)
    metal = flat(metallic).clamp(0.0, 1.0)
    n, v = flat(normals), flat(view_dirs)
    alpha = (rough * rough).clamp(min=MIN_ALPHA)
    alpha2 = alpha * alpha
    f0 = 0.04 * (1.0 - metal) + base * metal
    diffuse_color = base * (1.0 - metal)
    n_dot_v = (n * v).sum(-1, keepdim=True).clamp(min=1e-4)

    # Directional lights: (B, P, K) dot products, one light at a time in the K axis.
    to_light = env.directions  # (B, K, 3)
    n_dot_l = torch.einsum("bpc,bkc->bpk", n, to_light).clamp(min=0.0)
    h = F.normalize(v.unsqueeze(2) + to_light.unsqueeze(1), dim=-1, eps=_EPS)  # (B, P, K, 3)
    n_dot_h = (n.unsqueeze(2) * h).sum(-1).clamp(min=0.0)
    v_dot_h = (v.unsqueeze(2) * h).sum(-1).clamp(min=0.0)
    fresnel = f0.unsqueeze(2) + (1.0 - f0.unsqueeze(2)) * (1.0 - v_dot_h).pow(5).unsqueeze(-1)  # (B, P, K, 3)
    denom = n_dot_h * n_dot_h * (alpha2 - 1.0) + 1.0
    distribution = alpha2 / (math.pi * denom * denom).clamp(min=_EPS)
    visibility = 0.5 / (
        n_dot_l * torch.sqrt(n_dot_v * n_dot_v * (1.0 - alpha2) + alpha2)
        + n_dot_v * torch.sqrt(n_dot_l * n_dot_l * (1.0 - alpha2) + alpha2)
    ).clamp(min=_EPS)
    specular = fresnel * (distribution * visibility).unsqueeze(-1)
    diffuse = (1.0 - fresnel) * diffuse_color.unsqueeze(2) / math.pi
    # Radiance x n.l x pi: a light of radiance 1 shows a white diffuse surface facing it as 1.
    direct = ((diffuse + specular) * (math.pi * n_dot_l).unsqueeze(-1) * env.colors.unsqueeze(1)).sum(2)

    ambient_diffuse = _hemisphere(env, n) * diffuse_color
    reflected = 2.0 * n_dot_v * n - v
    scale, bias = _environment_brdf(rough.squeeze(-1), n_dot_v.squeeze(-1))
    ambient_specular = _hemisphere(env, reflected) * (f0 * scale.unsqueeze(-1) + bias.unsqueeze(-1))

    covered = (n.abs().sum(-1, keepdim=True) > 0).to(base.dtype)
    color = (direct + ambient_diffuse + ambient_specular) * covered
    return linear_to_srgb(color).reshape(batch, height, width, 3)


def perturb_normals(normals: torch.Tensor, tangents: torch.Tensor, tilt: torch.Tensor, max_tilt: float) -> torch.Tensor:
    """Tilt unit ``normals`` in their tangent frame: ``n' = normalize(n + k (x t + y b))`` with
    ``b = n x t`` and ``(x, y) = 2 tilt - 1`` in ``[-1, 1]`` per axis, ``k = tan(max_tilt)``: a
    tangent-space normal map's ``(x, y, 1)`` before normalisation, bounded to ``max_tilt``
    radians per axis.

    Args:
        normals: unit normals.
        tangents: unit tangents (orthogonalised against ``normals`` here).
        tilt: the field's two tilt channels in ``[0, 1]`` (0.5, 0.5: no tilt).
        max_tilt: the largest tilt per axis, radians, below pi / 2.

    Shape:
        - normals, tangents: ``(..., 3)``; tilt: ``(..., 2)``; output ``(..., 3)``.
    """
    if not 0.0 <= max_tilt < math.pi / 2:
        raise ValueError(f"expected max_tilt in [0, pi/2), got {max_tilt}")
    if normals.shape != tangents.shape or normals.shape[-1] != 3 or tilt.shape != (*normals.shape[:-1], 2):
        raise ValueError(
            f"expected normals and tangents (..., 3) and tilt (..., 2), got {tuple(normals.shape)}, "
            f"{tuple(tangents.shape)} and {tuple(tilt.shape)}"
        )
    tangent = F.normalize(tangents - normals * (tangents * normals).sum(-1, keepdim=True), dim=-1, eps=_EPS)
    bitangent = torch.linalg.cross(normals, tangent, dim=-1)
    offset = (2.0 * tilt - 1.0) * math.tan(max_tilt)
    tilted = normals + offset[..., :1] * tangent + offset[..., 1:] * bitangent
    empty = normals.abs().sum(-1, keepdim=True) == 0
    return torch.where(empty, normals, F.normalize(tilted, dim=-1, eps=_EPS))


#: Below this horizontal share of a normal (sine of ~11.5 degrees from vertical) the tilt frame
#: takes the world x axis instead of the direction around the vertical axis.
POLE_THRESHOLD = 0.2


def tilt_tangents(normals: torch.Tensor) -> torch.Tensor:
    """The tangent of the frame the normal tilt is learned in, from world-space unit normals.

    The frame depends on the normal alone, not on any UV layout, so it is the same in every view,
    every field kind and every mesh a field is applied to, and a bake converts it into whatever
    UV tangent space it writes exactly (the tilted normal is built in this frame, then written in
    the bake's ``(T, B, N)``; no seams follow the UV charts). The tangent runs horizontally around
    the vertical (+y) axis, ``normalize(-n_z, 0, n_x)`` (increasing azimuth); within about 11.5
    degrees of straight up or down (:data:`POLE_THRESHOLD`), where that direction is undefined,
    it is the world +x axis projected into the tangent plane. (A smooth tangent field without
    such a switch does not exist on a closed surface: the hairy-ball theorem.) The bitangent is
    ``cross(n, t)``, as :func:`perturb_normals` builds it.

    Shape:
        - normals: ``(..., 3)``; output ``(..., 3)`` unit (0 where the normal is 0).
    """
    if normals.shape[-1] != 3:
        raise ValueError(f"expected normals of shape (..., 3), got {tuple(normals.shape)}")
    around = torch.stack([-normals[..., 2], torch.zeros_like(normals[..., 0]), normals[..., 0]], dim=-1)
    x_axis = torch.zeros_like(normals)
    x_axis[..., 0] = 1.0
    projected = x_axis - normals * normals[..., :1]
    horizontal = around.norm(dim=-1, keepdim=True)
    tangent = torch.where(horizontal >= POLE_THRESHOLD, around, projected)
    return F.normalize(tangent, dim=-1, eps=_EPS)
