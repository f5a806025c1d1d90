from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from stylize.config import apply_overrides, dumps_toml, load_toml, parse_set_items, resolve_config, to_dict, tomllib
from stylize.errors import InputError


@dataclass
class Render:
    size: int = 224
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class Demo:
    lr: float = 5e-4
    iters: int = 1500
    prompt: str = "a cat"
    clip: list[str] = field(default_factory=lambda: ["ViT-B-32:openai"])
    symmetry: str | None = None
    loss: Literal["cosine", "spherical"] = "cosine"
    progressive: bool = True
    render: Render = field(default_factory=Render)


PRESETS = {"fast": {"iters": 300, "lr": 1e-3}, "tiny": {"iters": 2, "render": {"size": 32}}}


def test_defaults_preset_file_and_set_compose_in_order(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "fast"\nlr = 0.002\n[render]\nsize = 64\n')
    config = resolve_config(
        Demo, PRESETS, config_file=path, overrides=parse_set_items(["iters=7", "render.background=[0, 0, 0]"])
    )
    assert (config.lr, config.iters, config.render.size, config.render.background) == (0.002, 7, 64, (0.0, 0.0, 0.0))
    # an explicit preset wins over the file's
    assert resolve_config(Demo, PRESETS, preset="tiny", config_file=path).render.size == 64
    assert resolve_config(Demo, PRESETS, preset="tiny").iters == 2


def test_set_values_parse_as_toml():
    assert parse_set_items(["a=3", "b=0.5", "c=true", "d=[1, 2]", "e=hello world", 'f="x=y"']) == {
        "a": 3,
        "b": 0.5,
        "c": True,
        "d": [1, 2],
        "e": "hello world",
        "f": "x=y",
    }
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_set_items(["novalue"])


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"nope": 1}, "unknown config key 'nope'"),
        ({"render.nope": 1}, "unknown config key 'render.nope'"),
        ({"iters": "many"}, "expected an integer"),
        ({"lr": "fast"}, "expected a number"),
        ({"progressive": 1}, "expected true or false"),
        ({"loss": "l2"}, "expected one of"),
        ({"render": 3}, "is a section"),
        ({"clip": [1]}, "expected a string"),
    ],
)
def test_bad_overrides_name_the_key(overrides, words):
    with pytest.raises(InputError, match=words):
        apply_overrides(Demo(), overrides)


def test_lossless_coercions_and_optional():
    config = apply_overrides(Demo(), {"lr": 1, "iters": 5.0, "symmetry": "x", "clip": "local-dir:/m"})
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.iters == 5 and config.symmetry == "x"
    assert config.clip == ["local-dir:/m"]


def test_toml_round_trip(tmp_path):
    config = apply_overrides(Demo(), {"prompt": 'a "quoted" cat', "symmetry": None})
    text = dumps_toml(to_dict(config))
    data = tomllib.loads(text)
    assert "symmetry" not in data  # None is left out, and the default is None
    assert apply_overrides(Demo(), data) == config


def test_unknown_preset_and_bad_file(tmp_path):
    with pytest.raises(InputError, match="unknown preset 'slow'"):
        resolve_config(Demo, PRESETS, preset="slow")
    bad = tmp_path / "bad.toml"
    bad.write_text("iters = = 3")
    with pytest.raises(InputError, match="not valid TOML"):
        load_toml(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_component_names_are_checked_when_the_config_is_resolved(monkeypatch):
    """Unknown renderer / augmentation / style-feature names fail at resolution, before any model loads."""
    import pytest

    from stylize.engine import models
    from stylize.errors import InputError
    from stylize.mesh.config import resolve_mesh_config
    from stylize.painting.config import PaintConfig, check_paint_config
    from stylize.vector.config import DrawConfig, check_draw_config

    monkeypatch.setattr(models, "load_clip", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(InputError, match="'renderer': unknown mesh renderer 'opengl'"):
        resolve_mesh_config("a cat", "smoke", None, {"renderer": "opengl"})
    for key, value, words in [("renderer", "cairo", "vector renderer"), ("augment", "mixup", "augmentation preset"),
                              ("style_features", "gram", "style features")]:  # fmt: skip
        with pytest.raises(InputError, match=f"'{key}': unknown {words} '{value}'"):
            check_draw_config(DrawConfig(prompts=["a cat"], **{key: value}))
    with pytest.raises(InputError, match="'augment': unknown augmentation preset"):
        check_paint_config(PaintConfig(prompts=["a cat"], augment="none2"))


def test_a_run_config_written_by_an_older_version_still_loads(tmp_path):
    from stylize.config import resolve_config
    from stylize.vector.config import DRAW_PRESETS, DrawConfig

    (tmp_path / "old.toml").write_text('prompts = ["a cat"]\nprogress = false\niters = 3\n')
    config = resolve_config(DrawConfig, DRAW_PRESETS, config_file=tmp_path / "old.toml")
    assert config.iters == 3 and not hasattr(config, "progress")
