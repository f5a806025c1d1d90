"""Tests for the restyle run (stylize.restyling.restyler), --apply, the CLI and bad input, on tiny
random-init CLIPs (mechanics only; the semantic check with the test CLIPs is test_semantic.py)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
import torch

from stylize.config import resolve_config
from stylize.errors import InputError, Interrupted
from stylize.images import save_image
from stylize.restyling.apply import apply_stylenet
from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig, check_restyle_config
from stylize.restyling.restyler import OUTPUT_NAMES, Restyler
from stylize.testing.restyle_check import disc_picture

TINY = {"size": 32, "crop_size": 16, "num_crops": 3, "iters": 3, "device": "cpu", "log_every": 1, "frame_every": 1}


def _config(image: Path, clip: str, **overrides) -> RestyleConfig:
    values = {"image": str(image), "prompt": "a blue circle", "source": "a red circle", "clip": [clip], **TINY}
    values.update(overrides)
    return resolve_config(RestyleConfig, RESTYLE_PRESETS, "smoke", overrides=values)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    paths = {"red": folder / "red.png", "other": folder / "other.png", "corrupt": folder / "corrupt.png"}
    save_image(paths["red"], disc_picture((40, 48), (0.45, 0.55), 0.3))
    save_image(paths["other"], disc_picture((27, 35), (0.6, 0.4), 0.25))  # odd sides: --apply pads
    paths["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return paths


@pytest.fixture(scope="module")
def tiny_run(pictures, tiny_clip_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("restyle") / "run"
    config = _config(pictures["red"], tiny_clip_spec, content_features="vgg-random")
    steps = []
    result = Restyler(config).run(out, on_step=lambda step, total, metrics: steps.append((step, total, metrics)))
    return result, out, steps


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height (no pixel data): opening it reads only the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.slow
def test_run_folder_outputs_and_callback(tiny_run, pictures):
    result, out, steps = tiny_run
    assert {p.name for p in out.iterdir()} >= set(OUTPUT_NAMES)
    assert [s[:2] for s in steps] == [(1, 3), (2, 3), (3, 3)]
    assert all(isinstance(v, float) for v in steps[0][2].values()) and {"loss", "score", "patch_loss"} <= set(steps[0][2])
    # The longer side becomes size (48 -> 32), the aspect kept, both sides multiples of 8.
    assert result.image.shape == (3, 24, 32) and result.content.shape == (3, 24, 32)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["steps"] == 3 and run["size"] == [24, 32] and run["kind"] == "restyle"
    assert set(run["timings"]["per_iteration"]) >= {"net", "clip", "backward"}
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and "content_loss" in json.loads(lines[0])
    from PIL import Image

    with Image.open(out / "preview.png") as preview:
        assert preview.size == (64, 24)  # before | after
    net = torch.load(out / "net.pt", weights_only=True)
    assert net["prompt"] == "a blue circle" and net["source"] == "a red circle" and net["size"] == [24, 32]
    assert net["config"]["content_features"] == "vgg-random"


@pytest.mark.slow
def test_same_seed_same_result(tiny_run, pictures, tiny_clip_spec):
    result, _, _ = tiny_run
    again = Restyler(_config(pictures["red"], tiny_clip_spec, content_features="vgg-random")).run()
    assert torch.allclose(again.image, result.image, atol=1e-5) and again.out_dir is None and not again.files


@pytest.mark.slow
def test_clip_content_features_and_an_ensemble_run(pictures, tiny_clip_pair):
    first, second = (f"local-dir:{p}" for p in tiny_clip_pair)
    config = _config(pictures["red"], first, content_features="clip", iters=2, judge=[second])
    config.clip = [first, f"{second}@0.5"]
    result = Restyler(config).run()
    assert set(result.scores) == {"trainer", "judge"} and result.steps == 2


@pytest.mark.slow
def test_apply_on_another_picture(tiny_run, pictures, tmp_path):
    result, out, _ = tiny_run
    applied = apply_stylenet(out / "net.pt", pictures["other"], tmp_path / "applied")
    assert applied.image.shape == (3, 27, 35) and applied.status == "applied" and applied.seconds > 0
    assert {p.name for p in (tmp_path / "applied").iterdir()} == {"image.png", "preview.png", "run.json"}
    assert applied.metadata["prompt"] == "a blue circle"
    # The same net on the training picture at the training size gives the run's own result.
    same = apply_stylenet(out, out / "image.png")
    from stylize.restyling.stylenet import stylize_image

    assert torch.allclose(stylize_image(result.net, result.content), result.image, atol=1e-6)
    assert same.image.shape == result.image.shape
    huge = _png_header_only(tmp_path / "huge.png", 4097, 2048)  # one column over MAX_APPLY_PIXELS
    with pytest.raises(InputError, match="over the limit of 8.4 MP"):
        apply_stylenet(out, huge, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    from PIL import Image

    Image.new("RGB", (1, 1), (255, 0, 0)).save(tmp_path / "dot.png")  # was a traceback from instance norm
    with pytest.raises(InputError, match=r"1 x 1 px: restyle --apply needs at least 16 px a side"):
        apply_stylenet(out, tmp_path / "dot.png", tmp_path / "refused-dot")
    assert not (tmp_path / "refused-dot").exists()


@pytest.mark.slow
def test_interrupt_writes_what_exists_then_raises(pictures, tiny_clip_spec, tmp_path):
    def stop(step, total, metrics):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        Restyler(_config(pictures["red"], tiny_clip_spec, content_features="clip", iters=5)).run(tmp_path / "run", on_step=stop)
    assert info.value.result.status == "interrupted" and info.value.result.steps == 2
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "interrupted" and (tmp_path / "run" / "net.pt").is_file()


def test_config_checks():
    good = {"image": "x.png", "prompt": "a blue circle"}
    check_restyle_config(resolve_config(RestyleConfig, RESTYLE_PRESETS, "clipstyler", overrides=good))
    cases = [
        ({"prompt": " "}, "no prompt text"), ({"source": ""}, "no source text"), ({"image": ""}, "no content image"),
        ({"crop_size": 600}, "crop_size"), ({"num_crops": 0}, "num_crops"), ({"threshold": 3.0}, "threshold"),
        ({"lambda_tv": -1.0}, "lambda_tv"), ({"templates": "fancy"}, "unknown text template set"),
        ({"content_features": "gram"}, "unknown content features"), ({"patch_augment": "zoom"}, "augmentation preset"),
    ]  # fmt: skip
    for change, words in cases:
        with pytest.raises(InputError, match=words):
            check_restyle_config(resolve_config(RestyleConfig, RESTYLE_PRESETS, None, overrides={**good, **change}))
    with pytest.raises(InputError, match="unknown config key 'strength'"):
        resolve_config(RestyleConfig, RESTYLE_PRESETS, "smoke", overrides={"strength": 1})


def test_bad_images(pictures, tiny_clip_spec, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        Restyler(_config(tmp_path / "missing.png", tiny_clip_spec))
    with pytest.raises(InputError, match="cannot read content image"):
        Restyler(_config(pictures["corrupt"], tiny_clip_spec))
    huge = _png_header_only(tmp_path / "huge.png", 100_000, 90_000)
    with pytest.raises(InputError, match="over the limit"):
        Restyler(_config(huge, tiny_clip_spec))
    with pytest.raises(InputError, match="smaller than crop_size"):
        Restyler(_config(pictures["red"], tiny_clip_spec, size=32, crop_size=30))


def test_outputs_never_overwrite_the_input(pictures, tiny_clip_spec, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    image = folder / "image.png"
    image.write_bytes(pictures["red"].read_bytes())
    before = image.read_bytes()
    with pytest.raises(InputError, match="would overwrite the input"):
        Restyler(_config(image, tiny_clip_spec, content_features="clip")).run(folder)
    assert image.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["image.png"]
