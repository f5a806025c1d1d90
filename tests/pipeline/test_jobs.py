"""Jobs files: defaults, globs, relative paths, content hashes, derived seeds and up-front errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stylize.cli import main
from stylize.errors import InputError
from stylize.mesh.geometry import make_cube, make_icosphere
from stylize.mesh.io import save_mesh
from stylize.pipeline.jobs import load_jobs, parse_jobs
from stylize.pipeline.kinds import JOB_KINDS

CLIP = "ViT-B-32:random"  # never loaded here: parsing only resolves configs


@pytest.fixture()
def meshes(tmp_path) -> Path:
    folder = tmp_path / "meshes"
    folder.mkdir()
    save_mesh(folder / "b_cube.obj", *make_cube(1.0))
    save_mesh(folder / "a_ball.obj", *make_icosphere(1))
    return folder


def _write(tmp_path: Path, text: str, name: str = "jobs.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_apply_per_kind_and_globs_expand_in_sorted_order(tmp_path, meshes):
    jobs = load_jobs(
        _write(
            tmp_path,
            f"""
[defaults]
clip = "{CLIP}"
iters = 7
views = 2            # mesh only: left out of the draw job
[defaults.draw]
paths = 5
[defaults.set]
seed = 3

[[jobs]]
kind = "mesh"
name = "props"
input = "meshes/*.obj"
prompt = "a red circle"
preset = "smoke"
set = {{ "field.sigma" = 3.5 }}

[[jobs]]
kind = "draw"
prompt = ["a blue square", "a blue star"]
negative = "a mess"
iters = 2
""",
        )
    )
    assert [job.kind for job in jobs] == ["mesh", "mesh", "draw"]
    ball, cube, drawing = jobs
    assert ball.input == str(meshes / "a_ball.obj") and cube.input == str(meshes / "b_cube.obj")
    assert ball.name == "props:a_ball" and drawing.name == "a blue square | a blue star"
    assert ball.config["iters"] == 7 and ball.config["views"]["n_views"] == 2 and ball.config["field"]["sigma"] == 3.5
    assert ball.config["render_size"] == 64  # the smoke preset under the job's keys
    assert ball.config["clip"] == [CLIP] and ball.config["prompt"] == "a red circle"
    assert drawing.config["iters"] == 2 and drawing.config["paths"] == 5 and drawing.config["negatives"] == ["a mess"]
    assert drawing.config["prompts"] == ["a blue square", "a blue star"] and "progress" not in drawing.config
    assert ball.id != cube.id and ball.id.startswith("mesh-") and drawing.id.startswith("draw-")


def _one(tmp_path: Path, job: str, name: str = "jobs.toml") -> object:
    (job_,) = load_jobs(_write(tmp_path, f'[defaults]\nclip = "{CLIP}"\npreset = "smoke"\n[[jobs]]\n{job}\n', name))
    return job_


def test_identity_is_content_not_names_order_or_device(tmp_path, meshes):
    base = _one(tmp_path, 'kind = "mesh"\ninput = "meshes/b_cube.obj"\nprompt = "a red circle"')
    # Same bytes under another name and folder, listed after another job, another device: same job.
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(meshes / "b_cube.obj", other / "renamed.obj")
    jobs = load_jobs(
        _write(
            other,
            f"""
[[jobs]]
kind = "draw"
prompt = "a red circle"
clip = "{CLIP}"
[[jobs]]
kind = "mesh"
input = "renamed.obj"
prompt = "a red circle"
clip = "{CLIP}"
preset = "smoke"
device = "auto"   # the smoke preset says cpu
""",
        )
    )
    assert jobs[1].id == base.id and jobs[1].seed == base.seed and jobs[1].config["seed"] == base.seed
    changed = {
        "prompt": 'kind = "mesh"\ninput = "meshes/b_cube.obj"\nprompt = "a blue circle"',
        "config": 'kind = "mesh"\ninput = "meshes/b_cube.obj"\nprompt = "a red circle"\niters = 4',
        "seed": 'kind = "mesh"\ninput = "meshes/b_cube.obj"\nprompt = "a red circle"\nseed = 1',
        "input": 'kind = "mesh"\ninput = "meshes/a_ball.obj"\nprompt = "a red circle"',
    }
    ids = {what: _one(tmp_path, text) for what, text in changed.items()}
    assert len({job.id for job in ids.values()} | {base.id}) == 5
    assert len({job.seed for job in ids.values()} | {base.seed}) == 5
    # Changing the input file's bytes changes the job.
    save_mesh(meshes / "b_cube.obj", *make_cube(2.0))
    assert _one(tmp_path, 'kind = "mesh"\ninput = "meshes/b_cube.obj"\nprompt = "a red circle"').id != base.id


def test_relative_paths_are_relative_to_the_jobs_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "style.png").write_bytes(b"not read while parsing")
    job = _one(tmp_path / "sub", 'kind = "draw"\nprompt = "a cat"\nstyle = "style.png"\njudge = "local-dir:clips/j@0.5"')
    assert job.config["style"] == str(tmp_path / "sub" / "style.png")
    assert job.config["judge"] == [f"local-dir:{tmp_path / 'sub' / 'clips' / 'j'}@0.5"]


def test_a_missing_input_or_empty_glob_is_a_job_not_an_error(tmp_path):
    jobs = load_jobs(
        _write(
            tmp_path,
            f"""
[defaults]
clip = "{CLIP}"
[[jobs]]
kind = "mesh"
input = "nope.obj"
prompt = "a cat"
[[jobs]]
kind = "mesh"
input = "nothing/*.obj"
prompt = "a cat"
""",
        )
    )
    assert [Path(job.input).name for job in jobs] == ["nope.obj", "*.obj"]


def test_identical_jobs_run_once(tmp_path):
    text = f'[[jobs]]\nkind = "paint"\nprompt = "a cat"\nclip = "{CLIP}"\n'
    jobs = load_jobs(_write(tmp_path, text * 2 + text.replace("a cat", "a dog")))
    assert len(jobs) == 2 and jobs[0].index == 1 and jobs[1].index == 3


@pytest.mark.parametrize(
    "text, words",
    [
        ('[[jobs]]\nkind = "sculpt"\nprompt = "x"', ["job 1", "'kind'", "sculpt"]),
        ('[[jobs]]\nprompt = "x"', ["job 1", "missing key 'kind'"]),
        (
            '[[jobs]]\nkind = "paint"\nprompt = "x"\n[[jobs]]\nkind = "draw"\nprompt = "x"\ncolour = 3',
            ["job 2", "'colour'", "draw"],
        ),
        ('[[jobs]]\nkind = "draw"\nprompt = "x"\nviews = 3', ["job 1", "'views'"]),
        ('[[jobs]]\nkind = "mesh"\nprompt = "x"', ["job 1", "'input'"]),
        ('[[jobs]]\nkind = "mesh"\ninput = "a.obj"\nprompt = ["x", "y"]', ["job 1", "'prompt'", "one prompt"]),
        ('[[jobs]]\nname = "fox"\nkind = "draw"\nprompt = "x"\niters = "many"', ["job 1 (fox)", "'iters'", "integer"]),
        ('[[jobs]]\nkind = "draw"\nprompt = "x"\nset = { "field.sigma" = 3 }', ["job 1", "'field.sigma'"]),
        ('[[jobs]]\nkind = "draw"\nprompt = "x"\npreset = "slow"', ["job 1", "unknown preset"]),
        ('[[jobs]]\nkind = "paint"\nprompt = ""', ["job 1", "no prompt"]),
        ('[[jobs]]\nkind = "paint"\nprompt = 3', ["job 1", "'prompt'"]),
        ('[[jobs]]\nkind = "draw"\nprompt = "x"\ninput = "a.svg"\ninit = "b.svg"', ["job 1", "'init'"]),
        ('[defaults]\nspeed = 2\n[[jobs]]\nkind = "draw"\nprompt = "x"', ["[defaults]", "'speed'"]),
        ('[defaults.mesh]\npaths = 2\n[[jobs]]\nkind = "draw"\nprompt = "x"', ["[defaults.mesh]", "'paths'"]),
        ("jobs = []", ["no jobs"]),
        ('[[job]]\nkind = "draw"', ["'job'"]),
        ("[[jobs]\nkind = ", ["not valid TOML"]),
    ],
)
def test_bad_jobs_files_are_one_line_errors_naming_job_and_key(tmp_path, capsys, text, words):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_jobs(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message, (word, message)
    assert main(["batch", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize: error:") and "\n" not in err and words[-1] in err
    assert not (tmp_path / "out").exists()


def test_parse_jobs_takes_data_and_every_kind_names_its_artefacts():
    jobs = parse_jobs({"jobs": [{"kind": "paint", "prompt": "a cat", "clip": CLIP, "size": 16}]})
    assert jobs[0].config["size"] == 16 and jobs[0].to_dict()["kind"] == "paint"
    for kind in JOB_KINDS.values():
        assert "preview.png" in kind.artefacts
    with pytest.raises(InputError, match="expected a table"):
        parse_jobs(["not", "a", "table"])  # type: ignore[arg-type]


def test_the_example_jobs_file_parses():
    root = Path(__file__).resolve().parents[2]
    jobs = load_jobs(root / "examples" / "jobs.toml")
    assert [job.kind for job in jobs] == ["mesh", "mesh", "draw", "paint", "restyle"]
    assert all(Path(job.input).is_file() for job in jobs if job.input)
    assert jobs[0].input == str(root / "examples" / "meshes" / "vase.obj") and jobs[0].config["iters"] == 300  # fast
    assert jobs[1].config["field"]["sigma"] == 8.0 and jobs[3].config["init"] == str(root / "examples" / "red_circle.png")
    assert jobs[4].config["image"] == str(root / "examples" / "red_circle.png") and jobs[4].config["iters"] == 200  # the paper's


def test_a_glob_over_the_whole_disk_is_refused_quickly(tmp_path):
    import time

    from stylize.pipeline.jobs import bounded_glob

    started = time.perf_counter()
    with pytest.raises(InputError, match="looks through more than"):
        parse_jobs({"jobs": [{"kind": "mesh", "input": "/**", "prompt": "a cube"}]}, tmp_path)
    with pytest.raises(InputError, match="looks through more than 10"):
        bounded_glob("/**/*.obj", tmp_path, budget=10)
    assert time.perf_counter() - started < 30


def test_bounded_glob_finds_what_glob_finds(tmp_path):
    import glob

    from stylize.pipeline.jobs import bounded_glob

    for name in ("a.obj", "b.obj", ".hidden.obj", "sub/c.obj", "sub/deeper/d.obj", "sub/e.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    for pattern in ("*.obj", "**/*.obj", "sub/*", "sub/**", "s*/*.obj", "**", ".*.obj"):
        expected = sorted(str(tmp_path / m) for m in glob.glob(pattern, root_dir=tmp_path, recursive=True))
        assert [m.rstrip("/") for m in bounded_glob(pattern, tmp_path)] == [m.rstrip("/") for m in expected], pattern


def test_a_pseudo_file_input_is_refused_before_it_is_read():
    with pytest.raises(InputError, match="not a regular file"):
        parse_jobs({"jobs": [{"kind": "mesh", "input": "/proc/self/pagemap", "prompt": "a cube"}]}, ".")
