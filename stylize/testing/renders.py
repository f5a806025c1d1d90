"""Captioned renders of 3D primitives made with the project's own mesh renderer.

The second half of the test CLIPs' world (the first is :mod:`stylize.testing.shapes`): a sphere,
a cube, a torus, a cylinder and the shipped vase, painted plain, striped, dotted or checkered,
either per vertex (the colours Text2Mesh's field writes at vertices, interpolated by the
rasterizer) or per pixel (a *surface* pattern evaluated at each pixel's interpolated position in
the mesh's normalised frame), then lit with spherical harmonics (Text2Mesh's lights or random
ones) from random views over a background, as :func:`~stylize.mesh.shading.render_shaded`
composes them. A share ``finishes`` is instead shaded as a PBR material with a finish (matte,
glossy, metallic) under random environment lights (:mod:`stylize.testing.finishes`); their
``finish`` label says which, -1 for the plain-lit rest.

Captions use the 2D vocabulary: the sphere is ``circle``, the cube ``square``; the torus, cylinder
and vase have no 2D shape name (``shape`` is -1) and teach only colour and pattern.

Example:
    >>> primitives = standard_primitives()
    >>> batch = draw_renders(16, 64, torch.Generator().manual_seed(0), primitives)
    >>> batch.images.shape
    torch.Size([16, 3, 64, 64])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylize.mesh.camera import (
    CameraViews,
    camera_position_from_angles,
    generate_perspective_projection,
    generate_transformation_matrix,
)
from stylize.mesh.geometry import make_cube, make_icosphere, normalize_vertices
from stylize.mesh.lighting import TEXT2MESH_LIGHTS, spherical_harmonic_lighting
from stylize.mesh.pbr import Environment
from stylize.mesh.renderer import RenderResult, composite_background, get_renderer
from stylize.testing.finishes import FinishSet, get_finish_set, sample_environments, sample_finish_parameters, shade_finish
from stylize.testing.shapes import COLOUR_RGB, COLOURS, FINISHES, PATTERN_SHARES, SHAPES, ShapeBatch, sample_colours

__all__ = ["Primitive", "draw_renders", "make_primitive", "pattern_detail", "standard_primitives", "unseen_primitives"]


@dataclass(frozen=True)
class Primitive:
    """A normalised mesh and the 2D shape name it reads as.

    Attributes:
        name: what it is (``"sphere"``, ``"vase"``, ...).
        vertices: ``(V, 3)`` float32 inside the unit ball (Text2Mesh's normalisation).
        faces: ``(F, 3)`` int64.
        shape: index into :data:`~stylize.testing.shapes.SHAPES`, or -1 when none fits.
    """

    name: str
    vertices: torch.Tensor
    faces: torch.Tensor
    shape: int = -1

    @property
    def edge_length(self) -> float:
        """Mean edge length in normalised units (how fine a per-vertex pattern can be)."""
        corners = self.vertices[self.faces]
        return float((corners - corners.roll(1, dims=1)).norm(dim=-1).mean())


def _subdivide(vertices: np.ndarray, faces: np.ndarray, times: int) -> tuple[np.ndarray, np.ndarray]:
    import trimesh.remesh

    for _ in range(times):
        vertices, faces = trimesh.remesh.subdivide(vertices, faces)
    return vertices, faces


def make_primitive(name: str, vertices: np.ndarray, faces: np.ndarray, subdivisions: int = 0) -> Primitive:
    """A :class:`Primitive` from raw arrays: midpoint-subdivided ``subdivisions`` times (so
    per-vertex patterns have vertices to live on), normalised; ``circle``/``square`` by name."""
    vertices, faces = _subdivide(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), subdivisions)
    vertices, _ = normalize_vertices(vertices)
    shape = {"sphere": SHAPES.index("circle"), "cube": SHAPES.index("square")}.get(name.split("-")[0], -1)
    return Primitive(name, torch.as_tensor(vertices, dtype=torch.float32), torch.as_tensor(faces, dtype=torch.int64), shape)


def standard_primitives(vase: str | Path | None = None) -> dict[str, Primitive]:
    """The training primitives: sphere (icosphere level 3 and 4), cube (subdivided 3 times),
    torus, cylinder and, given its path, the vase (``examples/meshes/vase.obj``)."""
    import trimesh

    primitives = [
        make_primitive("sphere", *make_icosphere(3)),
        make_primitive("sphere-fine", *make_icosphere(4)),
        make_primitive("cube", *make_cube(1.0), subdivisions=3),
    ]
    torus = trimesh.creation.torus(0.7, 0.3, major_sections=48, minor_sections=24)
    primitives.append(make_primitive("torus", torus.vertices, torus.faces))
    cylinder = trimesh.creation.cylinder(radius=0.6, height=1.4, sections=32)
    primitives.append(make_primitive("cylinder", cylinder.vertices, cylinder.faces, subdivisions=2))
    if vase is not None:
        mesh = trimesh.load(str(vase), force="mesh", process=False)
        primitives.append(make_primitive("vase", mesh.vertices, mesh.faces))
    return {p.name: p for p in primitives}


def unseen_primitives() -> dict[str, Primitive]:
    """Meshes no training draw uses, for held-out accuracy: an icosphere of level 2, the bare
    8-vertex cube, a cone and a capsule."""
    import trimesh

    cone = trimesh.creation.cone(radius=0.7, height=1.4, sections=32)
    capsule = trimesh.creation.capsule(height=0.9, radius=0.45, count=[24, 24])
    primitives = [
        make_primitive("sphere-coarse", *make_icosphere(2)),
        make_primitive("cube-bare", *make_cube(1.0)),
        make_primitive("cone", cone.vertices, cone.faces, subdivisions=2),
        make_primitive("capsule", capsule.vertices, capsule.faces),
    ]
    return {p.name: p for p in primitives}


def _random_rotations(n: int, generator: torch.Generator, tilt: float) -> torch.Tensor:
    """``(n, 3, 3)`` rotations: any turn about the vertical axis, then a tilt of up to ``tilt`` rad."""
    yaw = torch.rand(n, generator=generator) * 2 * math.pi
    pitch = (torch.rand(n, generator=generator) - 0.5) * 2 * tilt
    roll = (torch.rand(n, generator=generator) - 0.5) * 2 * tilt
    one, zero = torch.ones(n), torch.zeros(n)
    c, s = torch.cos(yaw), torch.sin(yaw)
    about_y = torch.stack([torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1), torch.stack([-s, zero, c], -1)], 1)
    c, s = torch.cos(pitch), torch.sin(pitch)
    about_x = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, c, -s], -1), torch.stack([zero, s, c], -1)], 1)
    c, s = torch.cos(roll), torch.sin(roll)
    about_z = torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1), torch.stack([zero, zero, one], -1)], 1)
    return about_z @ about_x @ about_y


def pattern_detail(points: torch.Tensor, pattern: torch.Tensor, frame: torch.Tensor, period: torch.Tensor) -> torch.Tensor:
    """Where a procedural surface pattern puts its contrasting colour, at points of the mesh.

    Stripes are slabs across ``frame``'s first axis; dots are balls on a cubic lattice; checkers
    are the cells of a 3D checkerboard; each in the rotated frame ``points @ frame``, with cells
    ``period`` wide. Plain is 0 everywhere.

    Args:
        points: positions in the mesh's normalised frame.
        pattern: index into :data:`~stylize.testing.shapes.PATTERNS` per item.
        frame: a rotation per item (orients the pattern on the surface).
        period: cell size per item, in normalised units.

    Returns:
        1 where the pattern's colour goes, 0 elsewhere.

    Shape:
        - points: ``(B, N, 3)``; pattern, period: ``(B,)``; frame: ``(B, 3, 3)``.
        - Output: ``(B, N)``.
    """
    local = points @ frame / period.view(-1, 1, 1)
    stripes = (torch.remainder(local[..., 0], 1.0) < 0.5).float()
    cell = torch.remainder(local, 1.0) - 0.5
    dots = (cell.norm(dim=-1) < 0.3).float()
    checks = (torch.floor(local).sum(-1).remainder(2) == 0).float()
    which = pattern.view(-1, 1)
    zero = torch.zeros_like(stripes)
    return torch.where(which == 1, stripes, torch.where(which == 2, dots, torch.where(which == 3, checks, zero)))


def _colour_field(points: torch.Tensor, waves: torch.Tensor, phases: torch.Tensor, amplitude: torch.Tensor) -> torch.Tensor:
    """Smooth per-channel colour variation ``(B, N, 3)``: a few random sinusoids of the position."""
    # waves (B, K, 3) spatial frequencies, phases (B, K, 3) one per channel, amplitude (B,)
    arguments = points @ waves.transpose(1, 2)  # (B, N, K)
    return amplitude.view(-1, 1, 1) * torch.sin(arguments.unsqueeze(-1) + phases.unsqueeze(1)).mean(2)


def _random_lights(n: int, generator: torch.Generator, share_default: float) -> torch.Tensor:
    """``(n, 9)`` SH light coefficients: Text2Mesh's for a share, else a random brightness and
    direction plus a little second-order light."""
    default = torch.tensor(TEXT2MESH_LIGHTS).expand(n, 9)
    ambient = 0.9 + 1.4 * torch.rand(n, 1, generator=generator)
    direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator) + torch.tensor([0.0, 0.6, 1.0]), dim=-1)
    strength = 0.6 + 1.4 * torch.rand(n, 1, generator=generator)
    linear = direction[:, [0, 2, 1]] * strength  # kaolin's order: x, z, y
    second = 0.3 * (torch.rand(n, 5, generator=generator) - 0.5)
    random = torch.cat([ambient, linear, second], -1)
    return torch.where(torch.rand(n, 1, generator=generator) < share_default, default, random)


def _backgrounds(n: int, generator: torch.Generator, luminance: torch.Tensor, white: float) -> torch.Tensor:
    """``(n,)`` grey levels: white for a share, else light grey or dark. A light object keeps a
    white background (the pipelines' default: shading shows its outline, and it is what a white
    result is judged on) but never a light grey one; a dark object never a dark one."""
    kind = torch.multinomial(
        torch.tensor([white, 0.7 * (1 - white), 0.3 * (1 - white)]), n, replacement=True, generator=generator
    )
    level = torch.where(kind == 0, 1.0, torch.where(kind == 1, 0.7 + 0.25 * torch.rand(n, generator=generator),
                                                     0.1 + 0.25 * torch.rand(n, generator=generator)))  # fmt: skip
    level = torch.where((luminance > 0.8) & (level > 0.6) & (level < 1.0), 0.1 + 0.25 * torch.rand(n, generator=generator), level)
    return torch.where((luminance < 0.1) & (level < 0.5), torch.ones(n), level)


@torch.no_grad()
def draw_renders(
    n: int,
    size: int,
    generator: torch.Generator,
    primitives: Mapping[str, Primitive],
    surface: float = 0.5,
    off_palette: float = 0.0,
    greys: float = 0.0,
    white_background: float = 0.65,
    default_lights: float = 0.4,
    noisy: float = 0.4,
    colour: torch.Tensor | None = None,
    pattern: torch.Tensor | None = None,
    names: Sequence[str] | None = None,
    finishes: float = 0.0,
    finish_set: str | FinishSet = "trainer",
    finish: torch.Tensor | None = None,
    chunk: int = 256,
) -> ShapeBatch:
    """Render ``n`` random captioned pictures of the primitives.

    Args:
        n: number of pictures.
        size: side in pixels.
        generator: the random stream.
        primitives: what to draw, picked uniformly by name (or by ``names``).
        surface: share of per-pixel (surface) colouring; the rest is per vertex.
        off_palette: share of pictures painted in a uniformly random colour.
        greys: share painted an achromatic grey.
        white_background: share on a white background (the pipelines' default).
        default_lights: share lit with Text2Mesh's lights.
        noisy: share with a smooth random colour variation over the surface (what an optimised
            field looks like before it settles), of amplitude up to 0.15.
        colour, pattern: optional fixed (n,) labels.
        names: optional fixed (n,) primitive names.
        finishes: share shaded as a PBR material of a random finish (uniform over
            :data:`~stylize.testing.shapes.FINISHES`) instead of plain SH light; 0 draws exactly
            the pictures it drew before finishes existed.
        finish_set: lights and parameter ranges of those (:data:`~stylize.testing.finishes.FINISH_SETS`).
        finish: optional fixed (n,) finish labels (-1: plain SH light); overrides ``finishes``.
        chunk: pictures per render call (memory).

    Returns:
        :class:`~stylize.testing.shapes.ShapeBatch` with ``rgb`` (the sRGB base colour) and
        ``finish`` set.
    """
    g = generator
    if not 0.0 <= finishes <= 1.0:
        raise ValueError(f"expected finishes in [0, 1], got {finishes}")
    keys = list(primitives)
    chosen = torch.randint(len(keys), (n,), generator=g) if names is None else torch.tensor([keys.index(k) for k in names])
    if colour is None:
        colour, base = sample_colours(n, g, off_palette, greys=greys)
    else:
        base = (torch.tensor([COLOUR_RGB[c] for c in COLOURS])[colour] + 0.07 * (torch.rand(n, 3, generator=g) - 0.5)).clamp(0, 1)
    if pattern is None:
        pattern = torch.multinomial(torch.tensor(PATTERN_SHARES), n, replacement=True, generator=g)
    per_pixel = torch.rand(n, generator=g) < surface
    rotation = _random_rotations(n, g, tilt=0.35)
    frame = _random_rotations(n, g, tilt=math.pi)
    period = 0.28 + 0.22 * torch.rand(n, generator=g)
    # A per-vertex pattern needs a few vertices per cell to be a pattern at all (not label noise).
    finest = torch.tensor([3.5 * primitives[k].edge_length for k in keys])[chosen]
    period = torch.where(per_pixel, period, torch.maximum(period, finest))
    waves = torch.randn(n, 4, 3, generator=g) * 2.5
    phases = torch.rand(n, 4, 3, generator=g) * 2 * math.pi
    amplitude = 0.3 * torch.rand(n, generator=g) * (torch.rand(n, generator=g) < noisy)
    luminance = (base * torch.tensor([0.3, 0.59, 0.11])).sum(-1)
    contrast = torch.where(luminance > 0.55, 0.05, 0.97)
    lights = _random_lights(n, g, default_lights)
    background = _backgrounds(n, g, luminance, white_background)
    azimuth = torch.rand(n, generator=g) * 2 * math.pi
    elevation = -0.45 + 1.5 * torch.rand(n, generator=g)
    position = camera_position_from_angles(elevation, azimuth, 1.0) * (1.8 + 1.0 * torch.rand(n, 1, generator=g))
    transform = generate_transformation_matrix(position, torch.zeros(1, 3), torch.tensor([[0.0, 1.0, 0.0]]))
    projection = generate_perspective_projection(math.pi / 3)
    # Drawn last, and only when asked for, so a draw without finishes repeats the v3 pictures.
    if finish is None:
        finish = torch.full((n,), -1, dtype=torch.int64)
        if finishes > 0:
            shaded = torch.rand(n, generator=g) < finishes
            finish = torch.where(shaded, torch.randint(len(FINISHES), (n,), generator=g), finish)
    elif finish.shape != (n,):
        raise ValueError(f"expected finish of shape ({n},), got {tuple(finish.shape)}")
    material = torch.nonzero(finish >= 0).flatten()
    roughness, metallic = torch.zeros(n), torch.zeros(n)
    environment, env_row = None, torch.full((n,), -1, dtype=torch.int64)
    if len(material):
        chosen_set = get_finish_set(finish_set)
        roughness[material], metallic[material] = sample_finish_parameters(finish[material], chosen_set, g)
        environment = sample_environments(len(material), chosen_set, g)
        env_row[material] = torch.arange(len(material))
    images = torch.empty(n, 3, size, size)
    renderer = get_renderer("torch", height=size)
    for index, key in enumerate(keys):
        primitive = primitives[key]
        for items in torch.nonzero(chosen == index).flatten().split(chunk):
            if len(items) == 0:
                continue
            points = primitive.vertices.expand(len(items), -1, -1)
            vertices = points @ rotation[items].transpose(1, 2)  # the object turns, its pattern with it

            def paint(at: torch.Tensor) -> torch.Tensor:
                detail = pattern_detail(at, pattern[items], frame[items], period[items]).unsqueeze(-1)
                albedo = base[items].unsqueeze(1) + _colour_field(at, waves[items], phases[items], amplitude[items])
                return albedo.clamp(0, 1) * (1 - detail) + contrast[items].view(-1, 1, 1) * detail

            # One pass carries both the per-vertex colours and the position for per-pixel patterns.
            features = torch.cat([paint(points), points, torch.ones_like(points[..., :1])], -1)
            cameras = CameraViews(transform[items], projection, elevation[items], azimuth[items], 2.0)
            out = renderer(vertices, primitive.faces, features, cameras)
            vertex_rgb, position_at, alpha = out.features[..., :3], out.features[..., 3:6], out.features[..., 6:]
            pixel_rgb = paint(position_at.reshape(len(items), -1, 3)).reshape(vertex_rgb.shape)
            rgb = torch.where(per_pixel[items].view(-1, 1, 1, 1), pixel_rgb, vertex_rgb)
            shade = spherical_harmonic_lighting(out.pixel_normals(), lights[items])
            lit = (rgb * shade.unsqueeze(-1)).clamp(0, 1)
            pbr = torch.nonzero(finish[items] >= 0).flatten()
            if len(pbr):
                rows = env_row[items[pbr]]
                env = Environment(*(t[rows] for t in (environment.directions, environment.colors, environment.sky,
                                                      environment.ground, environment.up)))  # fmt: skip
                views = CameraViews(cameras.transform[pbr], projection, elevation[items[pbr]], azimuth[items[pbr]], 2.0)
                part = RenderResult(out.features[pbr], out.mask[pbr], out.face_index[pbr], out.face_normals[pbr])
                lit[pbr] = shade_finish(rgb[pbr], roughness[items[pbr]], metallic[items[pbr]], part, views, env)
            images[items] = composite_background(lit, alpha, 0.0) + background[items].view(-1, 1, 1, 1) * (
                1 - alpha.permute(0, 3, 1, 2)
            )
    images = (images + 0.02 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    shape = torch.tensor([primitives[keys[i]].shape for i in chosen.tolist()], dtype=torch.int64)
    return ShapeBatch(images=images, colour=colour, shape=shape, pattern=pattern, rgb=base, finish=finish)
