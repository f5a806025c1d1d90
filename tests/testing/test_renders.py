"""The 3D half of the test CLIPs' world (stylize/testing/renders.py) and the colour naming of
stylize/testing/shapes.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from stylize.testing.renders import draw_renders, make_primitive, pattern_detail, standard_primitives, unseen_primitives
from stylize.testing.shapes import (
    COLOUR_RGB,
    COLOURS,
    PATTERNS,
    SHAPES,
    all_captions,
    colour_weights,
    draw_shapes,
    sample_colours,
)

ROOT = Path(__file__).resolve().parents[2]
IDENTITY = torch.eye(3).expand(1, 3, 3)


@pytest.fixture(scope="module")
def primitives():
    return standard_primitives(ROOT / "examples" / "meshes" / "vase.obj")


def test_named_colours_name_themselves_and_grey_is_no_colour():
    named = torch.tensor([COLOUR_RGB[c] for c in COLOURS])
    weights = colour_weights(named)
    assert weights.shape == (8, 8) and torch.allclose(weights.sum(-1), torch.ones(8))
    assert bool((weights.diag() > 0.99).all()), weights.diag()
    grey = colour_weights(torch.tensor([[0.5, 0.5, 0.5]]))[0]
    # mid grey is shared between black and white, not claimed by a hue
    assert float(grey[COLOURS.index("black")] + grey[COLOURS.index("white")]) > 0.95
    magenta = colour_weights(torch.tensor([[1.0, 0.0, 1.0]]))[0]
    assert COLOURS[int(magenta.argmax())] == "purple"  # not blue: a magenta result for "blue" fails
    with pytest.raises(ValueError, match=r"expected rgb of shape \(B, 3\)"):
        colour_weights(torch.zeros(3))


def test_training_colours_name_grey_so_light_grey_is_not_white():
    from stylize.testing.shapes import TRAINING_COLOURS

    assert TRAINING_COLOURS[:8] == COLOURS and TRAINING_COLOURS[8] == "grey"
    assert len(all_captions(TRAINING_COLOURS)) == 144 and "a grey dotted star" in all_captions(TRAINING_COLOURS)
    levels = torch.tensor([[0.5] * 3, [0.75] * 3, [0.95] * 3])
    weights = colour_weights(levels, names=TRAINING_COLOURS)
    white, grey = TRAINING_COLOURS.index("white"), TRAINING_COLOURS.index("grey")
    assert float(weights[0, grey]) > 0.95  # mid grey is grey ...
    assert float(weights[1, white]) < 0.8 and float(weights[1, grey]) > 0.2  # ... light grey only partly white ...
    assert float(weights[2, white]) > 0.95  # ... and white is white: "a white ..." rises all the way
    assert float(colour_weights(levels[1:2])[0, COLOURS.index("white")]) > 0.99  # (without grey: all white)


def test_sample_colours_draws_greys_of_any_lightness():
    label, rgb = sample_colours(400, torch.Generator().manual_seed(1), greys=1.0)
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2])
    assert float(rgb.min()) >= 0.1 and float(rgb.max()) <= 1.0 and float(rgb[:, 0].std()) > 0.2
    assert set(label.tolist()) == {COLOURS.index("black"), COLOURS.index("white")}
    assert torch.equal(label, colour_weights(rgb).argmax(-1))


def test_light_objects_are_rendered_on_white_backgrounds_but_never_light_grey_ones():
    from stylize.testing.renders import _backgrounds

    light = _backgrounds(2000, torch.Generator().manual_seed(2), torch.full((2000,), 0.9), white=0.65)
    assert float((light == 1.0).float().mean()) > 0.5  # the pipelines' background: what a white result is judged on
    assert bool(((light == 1.0) | (light < 0.4)).all())  # no light grey behind a light object
    dark = _backgrounds(2000, torch.Generator().manual_seed(2), torch.full((2000,), 0.05), white=0.65)
    assert bool((dark > 0.6).all())


def test_sample_colours_labels_off_palette_colours_by_weight():
    label, rgb = sample_colours(500, torch.Generator().manual_seed(0), off_palette=1.0)
    assert torch.equal(label, colour_weights(rgb).argmax(-1))
    label, rgb = sample_colours(500, torch.Generator().manual_seed(0), off_palette=0.0)
    named = torch.tensor([COLOUR_RGB[c] for c in COLOURS])[label]
    assert float((rgb - named).abs().max()) <= 0.035 + 1e-6


def test_pattern_detail_by_hand():
    # points in units of one period (period 1, identity frame)
    points = torch.tensor([[[0.25, 0.0, 0.0], [0.75, 0.0, 0.0], [0.5, 0.5, 0.5], [0.1, 0.1, 0.1], [1.5, 0.5, 0.5]]])
    period = torch.ones(1)
    stripes = pattern_detail(points, torch.tensor([1]), IDENTITY, period)
    assert stripes.tolist() == [[1.0, 0.0, 0.0, 1.0, 0.0]]
    dots = pattern_detail(points, torch.tensor([2]), IDENTITY, period)
    assert dots.tolist() == [[0.0, 0.0, 1.0, 0.0, 1.0]]  # the centre of a lattice cell is a dot
    checks = pattern_detail(points, torch.tensor([3]), IDENTITY, period)
    assert checks.tolist() == [[1.0, 1.0, 1.0, 1.0, 0.0]]  # cell (1, 0, 0) is the other colour
    assert pattern_detail(points, torch.tensor([0]), IDENTITY, period).abs().sum() == 0
    # the frame turns the pattern: stripes across y instead of x
    swap = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    turned = pattern_detail(torch.tensor([[[0.0, 0.75, 0.0], [0.75, 0.25, 0.0]]]), torch.tensor([1]), swap, period)
    assert turned.tolist() == [[0.0, 1.0]]


def test_primitives_are_normalised_and_named(primitives):
    assert {"sphere", "cube", "torus", "cylinder", "vase"} <= set(primitives)
    for primitive in [*primitives.values(), *unseen_primitives().values()]:
        radius = primitive.vertices.norm(dim=-1).max()
        assert abs(float(radius) - 1.0) < 1e-5, primitive.name
        assert primitive.faces.dtype == torch.int64 and int(primitive.faces.max()) < len(primitive.vertices)
    assert primitives["sphere"].shape == SHAPES.index("circle") and primitives["cube"].shape == SHAPES.index("square")
    assert primitives["torus"].shape == -1 and primitives["vase"].shape == -1
    assert len(primitives["cube"].vertices) > 8  # subdivided, so vertex patterns have somewhere to live


def test_renders_are_deterministic_labelled_pictures(primitives):
    first = draw_renders(12, 32, torch.Generator().manual_seed(3), primitives, off_palette=0.5)
    again = draw_renders(12, 32, torch.Generator().manual_seed(3), primitives, off_palette=0.5)
    assert first.images.shape == (12, 3, 32, 32)
    assert float(first.images.min()) >= 0 and float(first.images.max()) <= 1
    assert torch.equal(first.images, again.images) and torch.equal(first.colour, again.colour)
    assert set(first.shape.tolist()) <= {-1, 0, 1}
    assert first.rgb.shape == (12, 3) and torch.equal(first.colour, colour_weights(first.rgb).argmax(-1))


def test_a_red_sphere_on_white_is_red_in_the_middle_and_white_in_the_corners(primitives):
    n = 4
    batch = draw_renders(n, 48, torch.Generator().manual_seed(0), primitives, white_background=1.0, default_lights=1.0,
                         noisy=0.0, colour=torch.full((n,), COLOURS.index("red")), pattern=torch.zeros(n, dtype=torch.long),
                         names=["sphere"] * n)  # fmt: skip
    corners = batch.images[:, :, :3, :3].mean((2, 3))
    assert torch.allclose(corners, torch.ones(n, 3), atol=0.03)
    centre = batch.images[:, :, 20:28, 20:28].mean((2, 3))
    assert bool((centre[:, 0] > centre[:, 1] + 0.3).all() and (centre[:, 0] > centre[:, 2] + 0.3).all()), centre


@pytest.mark.parametrize("surface", [1.0, 0.0])
def test_a_striped_cube_has_both_colours_on_it(primitives, surface):
    n = 6
    batch = draw_renders(n, 64, torch.Generator().manual_seed(1), primitives, surface=surface, white_background=1.0,
                         default_lights=1.0, noisy=0.0, colour=torch.full((n,), COLOURS.index("blue")),
                         pattern=torch.full((n,), PATTERNS.index("striped")), names=["cube"] * n)  # fmt: skip
    inside = batch.images[:, :, 24:40, 24:40]
    blue = (inside[:, 2] > inside[:, 0] + 0.3).float().mean((1, 2))
    white = (
        ((inside.min(1).values > 0.45) & ((inside[:, 2] - inside[:, 0]).abs() < 0.15)).float().mean((1, 2))
    )  # lit grey to white
    # most views show both colours in the middle (a face may be in shadow, or one wide stripe)
    assert int(((blue > 0.05) & (white > 0.05)).sum()) >= 4, (blue, white)
    assert float(blue.mean()) > 0.2 and float(white.mean()) > 0.2, (blue, white)


def test_two_d_world_has_checkers_and_128_captions():
    assert PATTERNS == ("plain", "striped", "dotted", "checkered")
    assert len(all_captions()) == 128 and "a green checkered star" in all_captions()
    batch = draw_shapes(64, 32, torch.Generator().manual_seed(0), off_palette=0.3)
    assert set(batch.pattern.tolist()) == {0, 1, 2, 3}
    assert batch.rgb.shape == (64, 3) and torch.equal(batch.colour, colour_weights(batch.rgb).argmax(-1))


def test_make_primitive_subdivides_and_normalises():
    vertices = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]]).numpy()
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]).numpy()
    primitive = make_primitive("tetra", vertices, faces, subdivisions=1)
    assert primitive.faces.shape == (16, 3) and primitive.shape == -1
    assert math.isclose(float(primitive.vertices.norm(dim=-1).max()), 1.0, rel_tol=1e-6)
