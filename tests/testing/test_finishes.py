"""Finished renders of the test CLIPs' world (stylize/testing/finishes.py and the ``finishes``
share of stylize/testing/renders.py): matte, glossy and metallic under environment lights."""

from __future__ import annotations

import pytest
import torch

from stylize.mesh.pbr import STUDIO
from stylize.testing.finishes import (
    FINISH_SETS,
    FinishSet,
    get_finish_set,
    sample_environments,
    sample_finish_parameters,
)
from stylize.testing.renders import draw_renders, standard_primitives
from stylize.testing.shapes import COLOURS, FINISHES, ShapeBatch, caption, finish_captions

MATTE, GLOSSY, METALLIC = (FINISHES.index(f) for f in ("matte", "glossy", "metallic"))


@pytest.fixture(scope="module")
def sphere():
    return {"sphere": standard_primitives()["sphere-fine"]}


def test_captions_with_a_finish_and_without():
    assert caption("red", "circle", finish="glossy") == "a glossy red circle"
    assert caption("blue", "square", "striped", "metallic") == "a metallic blue striped square"
    assert caption("red", "circle") == "a red circle"
    captions = finish_captions()
    assert len(captions) == 512 and len(set(captions)) == 512
    # index ((colour * 4 + shape) * 4 + pattern) * 4 + finish, finish 0 = no finish word
    assert captions[0] == "a red circle" and captions[1 + GLOSSY] == "a glossy red circle"
    assert captions[::4][:4] == ["a red circle", "a red striped circle", "a red dotted circle", "a red checkered circle"]


def test_finish_parameters_stay_in_each_finish_range():
    finish = torch.arange(300) % 3
    for name in ("trainer", "judge", "studio"):
        finish_set = FINISH_SETS[name]
        roughness, metallic = sample_finish_parameters(finish, finish_set, torch.Generator().manual_seed(0))
        for index, bounds in ((MATTE, finish_set.matte), (GLOSSY, finish_set.glossy), (METALLIC, finish_set.metal_roughness)):
            r = roughness[finish == index]
            assert float(r.min()) >= bounds[0] and float(r.max()) <= bounds[1]
        assert float(metallic[finish != METALLIC].abs().max()) == 0.0
        assert float(metallic[finish == METALLIC].min()) >= finish_set.metal_metallic[0]
    with pytest.raises(ValueError, match="expected finish indices"):
        sample_finish_parameters(torch.tensor([3]), FINISH_SETS["trainer"], torch.Generator())


def test_the_judge_learns_other_lights_and_nobody_learns_the_studio():
    trainer, judge = FINISH_SETS["trainer"], FINISH_SETS["judge"]
    assert trainer.fixed is None and judge.fixed is None and FINISH_SETS["studio"].fixed is STUDIO
    assert trainer.lights != judge.lights and trainer.intensity != judge.intensity and trainer.ambient != judge.ambient
    assert trainer.glossy != judge.glossy and trainer.matte != judge.matte and trainer.metal_roughness != judge.metal_roughness
    assert get_finish_set("judge") is judge and get_finish_set(trainer) is trainer
    with pytest.raises(ValueError, match="expected a finish set"):
        get_finish_set("sunset")


def test_environments_have_the_drawn_number_of_lights():
    finish_set = FinishSet("two-or-four", lights=(2, 4))
    env = sample_environments(200, finish_set, torch.Generator().manual_seed(1))
    assert env.directions.shape == (200, 4, 3) and env.colors.shape == (200, 4, 3)
    lit = (env.colors.abs().sum(-1) > 0).sum(-1)
    assert set(lit.tolist()) == {2, 4}
    assert bool((env.directions[:, 0, 1] > 0).all())  # the key light is above the horizon
    studio = sample_environments(3, FINISH_SETS["studio"], torch.Generator())
    assert torch.equal(studio.colors[2], STUDIO.colors[0])


def test_a_draw_without_finishes_repeats_the_plain_pictures(sphere):
    plain = draw_renders(6, 24, torch.Generator().manual_seed(2), sphere)
    again = draw_renders(6, 24, torch.Generator().manual_seed(2), sphere, finishes=0.0)
    assert torch.equal(plain.images, again.images) and bool((again.finish == -1).all())
    mixed = draw_renders(40, 24, torch.Generator().manual_seed(2), sphere, finishes=0.5)
    assert 5 < int((mixed.finish >= 0).sum()) < 35 and set(mixed.finish.tolist()) <= {-1, 0, 1, 2}
    with pytest.raises(ValueError, match="expected finishes in"):
        draw_renders(2, 24, torch.Generator(), sphere, finishes=1.5)


def _finished_spheres(sphere, finish: int, finish_set: str = "studio") -> ShapeBatch:
    n = 8
    return draw_renders(n, 48, torch.Generator().manual_seed(3), sphere, finish=torch.full((n,), finish),
                        colour=torch.full((n,), COLOURS.index("red")), pattern=torch.zeros(n, dtype=torch.int64),
                        finish_set=finish_set, white_background=1.0, noisy=0.0)  # fmt: skip


def test_finishes_look_like_their_names(sphere):
    """Same red spheres, same views and studio light: glossy adds near-white highlights a matte
    sphere lacks, a metal reflects red (its brightest pixels stay red) over a darker body."""
    matte, glossy, metal = (_finished_spheres(sphere, f).images for f in (MATTE, GLOSSY, METALLIC))
    covered = (matte - 1.0).abs().amax(1) > 0.1  # the object (same views for all three): not the white background

    def brightest(images, q=0.99):  # per-channel high quantile of the object's pixels
        return torch.stack([images[:, c][covered].quantile(q) for c in range(3)])

    def whiteness(images):  # green channel of the object's brightest pixels: 0 on pure red, 1 on white
        return float(brightest(images)[1])

    assert whiteness(glossy) > whiteness(matte) + 0.3
    assert whiteness(metal) < whiteness(glossy) - 0.2  # tinted, not white, highlights
    body = lambda images: float(images[:, 0][covered].median())  # noqa: E731
    assert body(metal) < body(matte) - 0.1
    assert glossy.shape == (8, 3, 48, 48) and bool((_finished_spheres(sphere, GLOSSY).finish == GLOSSY).all())


def test_finished_renders_are_deterministic_and_keep_their_labels(sphere):
    a = draw_renders(12, 32, torch.Generator().manual_seed(4), sphere, finishes=1.0, finish_set="judge", off_palette=0.5)
    b = draw_renders(12, 32, torch.Generator().manual_seed(4), sphere, finishes=1.0, finish_set="judge", off_palette=0.5)
    assert torch.equal(a.images, b.images) and torch.equal(a.finish, b.finish) and bool((a.finish >= 0).all())
    both = ShapeBatch.cat([a, draw_renders(3, 32, torch.Generator(), sphere)])
    assert both.finish.tolist()[-3:] == [-1, -1, -1] and both.select(torch.tensor([0])).finish.tolist() == a.finish.tolist()[:1]
