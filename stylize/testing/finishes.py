"""Finishes of the test CLIPs' renders: matte, glossy and metallic, shaded with the PBR material.

Instrument v4 teaches the test CLIPs the *finish* of a rendered object (:data:`~stylize.testing.
shapes.FINISHES`) from renders shaded with the project's glTF metallic-roughness shader
(:func:`~stylize.mesh.pbr.shade_metallic_roughness`):

- ``matte``: a rough dielectric (metallic 0, roughness high): no visible highlight;
- ``glossy``: a smooth dielectric (metallic 0, roughness low): the base colour with small white
  highlights and a sheen of the sky;
- ``metallic``: a metal (metallic near 1, roughness low to medium): reflections tinted by the
  base colour, a dark body between them.

A :class:`FinishSet` says how such renders are drawn: the environments (how many directional
lights, their radiance, the sky / ground ambient and the lights' tint, as
:func:`~stylize.mesh.pbr.sample_environment` takes them, or one fixed environment such as
:data:`~stylize.mesh.pbr.STUDIO`) and each finish's roughness / metallic ranges. The two test CLIPs
train on different sets (:data:`FINISH_SETS` ``trainer`` and ``judge``: other light counts,
ranges and highlight sizes), and neither ever sees ``studio``, the light of previews and scores, so
the judge names finishes under lights it did not learn.

Environments are drawn in world space (y up) and turned into each camera's frame with
:meth:`~stylize.mesh.pbr.Environment.rotated`, as the mesh pipeline does.

Example:
    >>> finish_set = get_finish_set("trainer")
    >>> roughness, metallic = sample_finish_parameters(torch.tensor([0, 1, 2]), finish_set, generator)
    >>> env = sample_environments(3, finish_set, generator)  # world space, one row per picture
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stylize.mesh.camera import CameraViews
from stylize.mesh.pbr import STUDIO, Environment, sample_environment, shade_metallic_roughness
from stylize.mesh.renderer import RenderResult
from stylize.testing.shapes import FINISHES

__all__ = ["FINISH_SETS", "FinishSet", "get_finish_set", "sample_environments", "sample_finish_parameters", "shade_finish"]


@dataclass(frozen=True)
class FinishSet:
    """How finished renders are lit and what each finish's material parameters are.

    Attributes:
        name: what the set is for.
        lights: the numbers of directional lights to draw from, uniformly per picture.
        intensity: range of the key light's linear radiance (see :func:`~stylize.mesh.pbr.sample_environment`).
        ambient: range of the sky's radiance.
        tint: how far a light's colour may move from white.
        matte: roughness range of ``matte`` (metallic 0).
        glossy: roughness range of ``glossy`` (metallic 0).
        metal_roughness: roughness range of ``metallic``.
        metal_metallic: metallic range of ``metallic``.
        fixed: one environment for every picture (e.g. :data:`~stylize.mesh.pbr.STUDIO`) instead of
            random ones.
    """

    name: str
    lights: tuple[int, ...] = (3,)
    intensity: tuple[float, float] = (0.6, 1.8)
    ambient: tuple[float, float] = (0.15, 0.5)
    tint: float = 0.25
    matte: tuple[float, float] = (0.7, 1.0)
    glossy: tuple[float, float] = (0.05, 0.3)
    metal_roughness: tuple[float, float] = (0.1, 0.45)
    metal_metallic: tuple[float, float] = (0.9, 1.0)
    fixed: Environment | None = None


FINISH_SETS: dict[str, FinishSet] = {
    # What the trainer learns: the mesh pipeline's own random lights (sample_environment's
    # defaults with the pbr material's tint, 0.1, as drawn per optimisation step) and the
    # finishes' nominal ranges. Trained under lights tinted up to 0.25, a trainer took a bluish
    # grey for grey under a blue light, and pbr runs toward "a blue circle" stalled at grey.
    "trainer": FinishSet("trainer", tint=0.1),
    # What the judge learns: two or four lights, a wider range of key and ambient light, less
    # tint, and other highlight sizes (rougher matte, glossier gloss, sharper and blurrier metal).
    "judge": FinishSet(
        "judge",
        lights=(2, 4),
        intensity=(0.8, 2.3),
        ambient=(0.08, 0.6),
        tint=0.15,
        matte=(0.6, 0.95),
        glossy=(0.02, 0.22),
        metal_roughness=(0.05, 0.35),
        metal_metallic=(0.85, 1.0),
    ),  # fmt: skip
    # Held out from both: the fixed studio light of previews and scores, nominal ranges.
    "studio": FinishSet("studio", fixed=STUDIO),
}


def get_finish_set(name: str | FinishSet) -> FinishSet:
    """A :class:`FinishSet` by name (:data:`FINISH_SETS`), or the set itself."""
    if isinstance(name, FinishSet):
        return name
    if name not in FINISH_SETS:
        raise ValueError(f"expected a finish set in {sorted(FINISH_SETS)}, got {name!r}")
    return FINISH_SETS[name]


def _uniform(bounds: tuple[float, float], n: int, generator: torch.Generator) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * torch.rand(n, generator=generator)


def sample_finish_parameters(
    finish: torch.Tensor, finish_set: FinishSet, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Roughness and metallic of pictures of the given finishes.

    Args:
        finish: index into :data:`~stylize.testing.shapes.FINISHES` per picture.
        finish_set: the ranges (:class:`FinishSet`).
        generator: the random stream.

    Returns:
        ``(roughness, metallic)`` in ``[0, 1]``.

    Shape:
        - finish: ``(N,)``; outputs ``(N,)`` each.
    """
    if finish.dim() != 1 or bool(((finish < 0) | (finish >= len(FINISHES))).any()):
        raise ValueError(f"expected finish indices in [0, {len(FINISHES)}) of shape (N,), got {finish.tolist()}")
    n = finish.shape[0]
    matte, glossy = _uniform(finish_set.matte, n, generator), _uniform(finish_set.glossy, n, generator)
    metal = _uniform(finish_set.metal_roughness, n, generator)
    metalness = _uniform(finish_set.metal_metallic, n, generator)
    roughness = torch.stack([matte, glossy, metal], 1).gather(1, finish.view(-1, 1)).squeeze(1)
    metallic = torch.where(finish == FINISHES.index("metallic"), metalness, torch.zeros(n))
    return roughness, metallic


def sample_environments(n: int, finish_set: FinishSet, generator: torch.Generator) -> Environment:
    """``n`` world-space environments, one row per picture, each with ``max(finish_set.lights)``
    lights (those beyond the picture's own count are dark), or ``finish_set.fixed`` repeated."""
    if finish_set.fixed is not None:
        fixed = finish_set.fixed
        return Environment(
            *(t.expand(n, *t.shape[1:]) for t in (fixed.directions, fixed.colors, fixed.sky, fixed.ground, fixed.up))
        )
    most = max(finish_set.lights)
    counts = torch.tensor(finish_set.lights)[torch.randint(len(finish_set.lights), (n,), generator=generator)]
    rows = [
        sample_environment(
            generator, lights=most, intensity=finish_set.intensity, ambient=finish_set.ambient, tint=finish_set.tint
        )
        for _ in range(n)
    ]
    parts = [torch.cat([getattr(row, k) for row in rows]) for k in ("directions", "colors", "sky", "ground", "up")]
    lit = (torch.arange(most).view(1, -1) < counts.view(-1, 1)).unsqueeze(-1)
    parts[1] = parts[1] * lit
    return Environment(*parts)


def shade_finish(
    base_color: torch.Tensor,
    roughness: torch.Tensor,
    metallic: torch.Tensor,
    result: RenderResult,
    cameras: CameraViews,
    environment: Environment,
) -> torch.Tensor:
    """Shade rendered pictures as glTF metallic-roughness materials under world-space lights.

    Args:
        base_color: sRGB base colour per pixel in ``[0, 1]``.
        roughness, metallic: one value per picture.
        result: the rasterizer's output for these pictures (flat face normals, as the mesh
            pipeline shades them).
        cameras: the pictures' cameras (their rotations turn the lights into camera space).
        environment: world-space lights, one row per picture (:func:`sample_environments`).

    Returns:
        sRGB colours, black where nothing is drawn.

    Shape:
        - base_color: ``(B, H, W, 3)``; roughness, metallic: ``(B,)``; output ``(B, H, W, 3)``.
    """
    batch = base_color.shape[0]
    if roughness.shape != (batch,) or metallic.shape != (batch,):
        raise ValueError(
            f"expected roughness and metallic of shape ({batch},), got {tuple(roughness.shape)}, {tuple(metallic.shape)}"
        )
    rotations = cameras.transform[:, :3, :].transpose(1, 2)  # x_cam = R x_world (kaolin's row-vector transform)
    camera_env = environment.rotated(rotations)
    per_pixel = base_color.shape[:-1] + (1,)
    return shade_metallic_roughness(
        base_color,
        roughness.view(-1, 1, 1, 1).expand(per_pixel),
        metallic.view(-1, 1, 1, 1).expand(per_pixel),
        result.pixel_normals(),
        result.view_directions(cameras.projection),
        camera_env,
    )
