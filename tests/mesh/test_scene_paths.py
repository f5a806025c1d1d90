"""One scene model through every output path, on the glTF corpus (tests/assets/gltf_corpus,
made by tools/dev/make_asset_corpus.py): mesh.glb, mesh --bake, stylize bake RUN, stylize apply.

Each output must pass the Khronos validator with no warning its input did not have, and its
structure (stylize.testing.gltf_structure) must differ from the input's only by what the path
intends: the colours (COLOR_0, or a new base-colour texture, with the factor made white), new UVs
where there were none, a new UV set where a layout overlaps (stylize.mesh.uv_layout: the corpus's
box-projected and seamless-sphere UVs claim their texels twice), and no compression.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from gltf_validation import validate_gltf

from stylize import api
from stylize.errors import InputError
from stylize.mesh.gltf.write import write_scene_glb
from stylize.mesh.io import load_mesh
from stylize.testing.gltf_structure import gltf_structure, morphed_positions, sample_node_world, structure_diff

CORPUS = Path(__file__).resolve().parents[1] / "assets" / "gltf_corpus"
ASSETS = sorted(p.name for p in CORPUS.glob("*.glb"))
SMALL = {"iters": 2, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
         "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.score_size": 32,
         "output.bake_size": 32}  # fmt: skip
#: what a stylized output may change: the colour (factor and base-colour texture), compression
COLOUR_CHANGES = ("material:*/pbrMetallicRoughness/baseColorFactor", "material:*/pbrMetallicRoughness/baseColorTexture/*",
                  "extensionsUsed", "extensionsRequired")  # fmt: skip
#: what a bake may add to a primitive: new UVs where it had none, a new set where its layout overlaps
BAKED = {"TEXCOORD_0", "TEXCOORD_1"}


def _warnings(path: Path) -> list[str]:
    report = validate_gltf(path)
    assert report["issues"]["numErrors"] == 0, [m for m in report["issues"]["messages"] if m["severity"] == 0]
    return sorted(m["code"] for m in report["issues"]["messages"] if m["severity"] == 1)


def assert_only_intended(source: Path, output: Path, added_attributes: set[str]) -> list[str]:
    """The output validates with no new warning, and differs from ``source`` only by colour,
    compression and ``added_attributes`` on every primitive; returns the diff lines."""
    assert _warnings(output) == _warnings(source)
    before, after = gltf_structure(source), gltf_structure(output)
    lines = structure_diff(before, after, ignore=[*COLOUR_CHANGES, "mesh:*/p*/attributes"])
    assert lines == [], "\n".join(lines)
    for key, attributes in before.items():
        if fnmatch.fnmatchcase(key, "mesh:*/p*/attributes"):
            assert set(after[key]) - set(attributes) <= added_attributes, (key, attributes, after[key])
            assert set(attributes) <= set(after[key]), (key, attributes, after[key])
    assert after["extensionsRequired"] == [name for name in before["extensionsRequired"] if "compression" not in name]
    return structure_diff(before, after)


# -- the corpus and the structural diff ------------------------------------------------------------


def test_corpus_is_small_and_holds_what_it_says():
    sizes = {name: (CORPUS / name).stat().st_size for name in ASSETS}
    assert len(sizes) >= 7 and max(sizes.values()) < 50_000 and sum(sizes.values()) < 1_000_000
    skinned = gltf_structure(CORPUS / "skinned_animated.glb")
    assert skinned["skin:Rig/joints"] == ["Rig/Root", "Rig/Root/Mid", "Rig/Root/Mid/Tip"]
    assert any(key.startswith("animation:Bend/Rig/Root/Mid.rotation") for key in skinned)
    morph = gltf_structure(CORPUS / "morph_animated.glb")
    assert morph["mesh:MorphCube/target_names"] == ["Bulge", "Pinch"]
    scene = gltf_structure(CORPUS / "instanced_scene.glb")
    assert scene["mesh:Wheel/instances"] == ["Vehicle/WheelBack", "Vehicle/WheelFront"]
    assert scene["node:Lamp/light"] == "LampData" and scene["node:Camera/camera"] == "CameraLens"
    assert scene["node:Vehicle/extras/studio_id"] == "veh-001"
    assert "mesh:Pillar/p0/attributes" in gltf_structure(CORPUS / "no_uv.glb")


def test_structure_diff_names_each_kind_of_change(tmp_path):
    source = CORPUS / "instanced_scene.glb"
    mesh = load_mesh(source, normalize=False)
    out = write_scene_glb(mesh, tmp_path / "same.glb", mesh.file_vertices)
    assert structure_diff(source, out) == []
    before = gltf_structure(source)
    after = dict(before)
    after["node:Vehicle/transform"] = before["node:Vehicle/transform"] + 0.01
    after["mesh:Wheel/instances"] = ["Vehicle/WheelFront"]
    del after["node:Lamp/light"]
    after["material:Paint/extras/new"] = 1
    lines = structure_diff(before, after)
    assert [line.split()[0] + " " + line.split()[1].rstrip(":") for line in lines] == [
        "added material:Paint/extras/new", "changed mesh:Wheel/instances", "removed node:Lamp/light",
        "changed node:Vehicle/transform",
    ]  # fmt: skip
    assert structure_diff(before, after, ignore=["node:*", "mesh:*", "material:*"]) == []


@pytest.mark.parametrize("name", ASSETS)
def test_writing_a_scene_back_unchanged_keeps_all_of_it(tmp_path, name):
    mesh = load_mesh(CORPUS / name, normalize=False)
    out = write_scene_glb(mesh, tmp_path / name, mesh.file_vertices)
    assert_only_intended(CORPUS / name, out, set())
    assert structure_diff(CORPUS / name, out, ignore=["extensionsUsed", "extensionsRequired"]) == []


# -- compressed inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["draco.glb", "meshopt.glb"])
def test_compressed_inputs_decode_like_the_plain_sphere(name, caplog):
    import trimesh

    with caplog.at_level(logging.INFO, logger="stylize.mesh.gltf.asset"):
        mesh = load_mesh(CORPUS / name, normalize=False)
    assert "outputs are written uncompressed" in caplog.text
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    assert mesh.faces.shape == (len(sphere.faces), 3)
    radius = np.linalg.norm(mesh.file_vertices - [0.0, 0.5, 0.0], axis=1)  # the node moves it up 0.5
    np.testing.assert_allclose(radius, 0.5, atol=2e-4)  # Draco quantises to 14 bits
    assert mesh.uv is not None and np.isfinite(mesh.uv).all()


@pytest.mark.parametrize(("name", "package"), [("draco.glb", "DracoPy"), ("meshopt.glb", "meshopt")])
def test_a_missing_decoder_is_one_line_with_the_install_command(monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if it were not installed
    with pytest.raises(InputError) as info:
        load_mesh(CORPUS / name, normalize=False)
    message = str(info.value)
    assert "\n" not in message and name in message and f"pip install {package}" in message and "stylize[compression]" in message


# -- every output path -----------------------------------------------------------------------------


def _run(tmp_path: Path, name: str, clip: str, **overrides) -> Path:
    out = tmp_path / Path(name).stem
    api.stylize_mesh(CORPUS / name, "a red square", out=out, preset="smoke",
                     overrides={"clip": [clip], **SMALL, "output.bake": True, **overrides})  # fmt: skip
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSETS)
def test_a_mesh_run_writes_the_scene_back_on_both_glbs(tmp_path, tiny_clip_spec, name):
    out = _run(tmp_path, name, tiny_clip_spec)
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert_only_intended(CORPUS / name, out / "mesh.glb", {"COLOR_0"})
    assert_only_intended(CORPUS / name, out / "mesh_textured.glb", BAKED)
    assert (out / "mesh_textured_preview.png").is_file()


def test_a_scene_without_uvs_gets_uvs_per_mesh_and_stays_instanced(tmp_path, tiny_clip_spec):
    out = _run(tmp_path, "no_uv.glb", tiny_clip_spec)
    lines = assert_only_intended(CORPUS / "no_uv.glb", out / "mesh_textured.glb", {"TEXCOORD_0"})
    assert "changed mesh:Block/p0/attributes" in "\n".join(lines)
    after = gltf_structure(out / "mesh_textured.glb")
    assert after["mesh:Block/instances"] == ["BlockA", "BlockB"]  # one mesh, two nodes, as in the input
    baked = load_mesh(out / "mesh_textured.glb", normalize=False)
    assert np.isfinite(baked.uv).all() and baked.uv.min() >= 0.0 and baked.uv.max() <= 1.0
    for material in baked.materials:  # each material got its own texture, not a flat colour
        assert material.base_color_texture is not None and material.base_color_texture.shape[:2] == (32, 32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["instanced_scene.glb", "no_uv.glb", "skinned_animated.glb"])
def test_bake_run_and_apply_write_the_scene_back(tmp_path, tiny_clip_spec, name):
    run = _run(tmp_path, name, tiny_clip_spec, **{"output.bake": False})
    baked = tmp_path / "rebaked.glb"
    api.bake(run, out=baked, size=32)
    assert_only_intended(CORPUS / name, baked, BAKED)
    reused = api.bake(run, out=tmp_path / "reused.glb", size=32, uv="reuse").path  # output.uv passed through
    assert_only_intended(CORPUS / name, reused, {"TEXCOORD_0"})
    applied = tmp_path / "applied"
    api.apply_field(run, CORPUS / name, out=applied, bake=True, bake_size=32)
    assert_only_intended(CORPUS / name, applied / "mesh.glb", {"COLOR_0"})
    assert_only_intended(CORPUS / name, applied / "mesh_textured.glb", BAKED)
    # stylize bake MESH on the run's own mesh.glb (vertex colours) keeps the scene too
    assert_only_intended(CORPUS / name, api.bake(run / "mesh.glb", out=tmp_path / "from_glb.glb", size=32).path,
                         {"COLOR_0", *BAKED})  # fmt: skip


# -- rigs, morphs and animations -------------------------------------------------------------------


def _per_input_vertex(written: np.ndarray, count: int) -> np.ndarray:
    """The rows of a one-primitive output that are the input's ``count`` vertices: a new UV set
    (the corpus's layouts overlap) keeps every input vertex's index and appends the copies its
    seams need (stylize.mesh.uv_layout.SceneLayout); each copy must sit on an input vertex's row
    (the seam stays closed, also skinned or morphed)."""
    assert len(written) >= count
    originals, copies = written[:count], written[count:]
    if len(copies):
        gaps = np.linalg.norm(copies[:, None, :] - originals[None, :, :], axis=2).min(axis=1)
        assert gaps.max() < 1e-5, gaps.max()
    return originals


def test_a_skinned_mesh_animates_as_the_input_did(tmp_path, tiny_clip_spec):
    out = _run(tmp_path, "skinned_animated.glb", tiny_clip_spec, **{"field.max_displacement": 0.05})
    source, written = CORPUS / "skinned_animated.glb", out / "mesh_textured.glb"
    for t in (0.0, 11 / 24, 23 / 24, 0.3):  # the keys (frames 1, 12, 24) and between them
        np.testing.assert_allclose(sample_node_world(written, "Tip", "Bend", t), sample_node_world(source, "Tip", "Bend", t),
                                   atol=1e-6)  # fmt: skip
    before, after = gltf_structure(source), gltf_structure(written)
    np.testing.assert_allclose(after["skin:Rig/inverse_bind_matrices"], before["skin:Rig/inverse_bind_matrices"], atol=1e-7)
    original = load_mesh(source, normalize=False)
    mesh = load_mesh(written, normalize=False)
    moved = _per_input_vertex(mesh.file_vertices, len(original.file_vertices)) - original.file_vertices
    assert np.abs(moved).max() > 1e-4  # the surface was displaced (in the bind pose), and still skins
    weights = mesh.source_scene.instances[0].attributes["WEIGHTS_0"]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    count = len(original.file_vertices)
    attributes, before_attributes = mesh.source_scene.instances[0].attributes, original.source_scene.instances[0].attributes
    for name in ("JOINTS_0", "WEIGHTS_0"):  # every vertex, copies included, skins as its input vertex did
        np.testing.assert_allclose(attributes[name][:count], before_attributes[name], atol=1e-6)
    if len(mesh.file_vertices) > count:
        copy_of = np.linalg.norm(mesh.file_vertices[count:, None] - mesh.file_vertices[None, :count], axis=2).argmin(axis=1)
        for name in ("JOINTS_0", "WEIGHTS_0"):
            np.testing.assert_allclose(attributes[name][count:], attributes[name][copy_of], atol=1e-6)


def test_morph_targets_apply_on_top_of_the_displaced_surface(tmp_path, tiny_clip_spec):
    out = _run(tmp_path, "morph_animated.glb", tiny_clip_spec, **{"field.max_displacement": 0.05})
    source = CORPUS / "morph_animated.glb"
    count = len(morphed_positions(source, "MorphCube", "Breathe", 0.0))
    for written in (out / "mesh.glb", out / "mesh_textured.glb"):

        def moved(t: float, written: Path = written) -> np.ndarray:
            after = _per_input_vertex(morphed_positions(written, "MorphCube", "Breathe", t), count)
            return after - morphed_positions(source, "MorphCube", "Breathe", t)

        displacement = moved(0.0)
        assert np.abs(displacement).max() > 1e-4
        for t in (11 / 24, 0.25, 23 / 24):  # Bulge at 1, on its way, back to 0 (Pinch stays at 0.25)
            np.testing.assert_allclose(moved(t), displacement, atol=1e-5)  # the relief rides on the morph
        assert gltf_structure(written)["mesh:MorphCube/target_names"] == ["Bulge", "Pinch"]


# -- OBJ material groups ---------------------------------------------------------------------------


def _two_group_obj(folder: Path, one_material: bool = False) -> Path:
    """A strip of two quads: group ``Painted`` (``map_Kd``, UVs in the left half) and group
    ``Rubber`` (``Kd`` only, UVs in the right half); ``one_material``: both groups use ``Painted``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[..., 1] = 200  # green
    Image.fromarray(pixels).save(folder / "paint.png")
    (folder / "prop.mtl").write_text("newmtl Painted\nKd 1 1 1\nmap_Kd paint.png\nnewmtl Rubber\nKd 0.8 0.1 0.1\n")
    second = "Painted" if one_material else "Rubber"
    (folder / "prop.obj").write_text(
        "mtllib prop.mtl\n"
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nv 2 1 0\n"
        "vt 0 0\nvt 0.5 0\nvt 0.5 1\nvt 0 1\nvt 1 0\nvt 1 1\n"
        "o Front\nusemtl Painted\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n"
        f"o Back\nusemtl {second}\nf 2/2 5/5 6/6\nf 2/2 6/6 3/3\n"
    )  # fmt: skip
    return folder / "prop.obj"


def test_an_obj_with_material_groups_keeps_them_in_every_glb(tmp_path, tiny_clip_spec):
    """Two usemtl groups: one part each, in the file's order, written as one primitive and material per group in mesh.glb and mesh_textured.glb; their UVs
    sit side by side, so the bake gives both one shared texture."""
    from stylize.mesh.gltf.glb import read_glb
    from tests.gltf_validation import assert_valid

    source = _two_group_obj(tmp_path / "in")
    mesh = load_mesh(source, normalize=False)
    assert [mesh.materials[p.material].name for p in mesh.parts] == ["Painted", "Rubber"]
    np.testing.assert_array_equal(np.unique(mesh.file_vertices[mesh.parts[0].vertex_slice], axis=0),
                                  [[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0]])  # fmt: skip
    np.testing.assert_allclose(mesh.colors[mesh.parts[0].vertex_slice], np.tile([0, 200 / 255, 0], (4, 1)), atol=1e-6)
    np.testing.assert_allclose(
        mesh.colors[mesh.parts[1].vertex_slice], np.tile([0.8, 0.1, 0.1], (4, 1)), atol=1 / 255
    )  # trimesh keeps Kd in 8 bits
    out = _run(tmp_path, str(source), tiny_clip_spec)
    for name in ("mesh.glb", "mesh_textured.glb"):
        document = read_glb((out / name).read_bytes())[0]
        assert [len(m["primitives"]) for m in document["meshes"]] == [2], name
        assert [m["name"] for m in document["materials"]] == ["Painted", "Rubber"], name
        assert [p["material"] for p in document["meshes"][0]["primitives"]] == [0, 1], name
        assert_valid(out / name)
    baked = read_glb((out / "mesh_textured.glb").read_bytes())[0]
    assert len(baked["images"]) == 1  # the groups' UVs sit side by side: one shared atlas
    assert json.loads((out / "mesh_textured.json").read_text())["bake"]["shared_atlases"] == [["Painted", "Rubber"]]
    single = load_mesh(_two_group_obj(tmp_path / "one", one_material=True), normalize=False)
    assert len(single.parts) == 1 and single.source_scene is None  # one material: read as before


# -- the explicit re-unwrap ------------------------------------------------------------------------


def _assert_new_set_per_material(source: Path, written: Path) -> None:
    """``written`` keeps ``source``'s scene, TEXCOORD_0 included, with every material's new maps
    in a new unwrap in TEXCOORD_1."""
    from stylize.mesh.gltf.glb import read_glb

    assert_only_intended(source, written, {"TEXCOORD_1"})
    document = read_glb(written.read_bytes())[0]
    assert [m["pbrMetallicRoughness"]["baseColorTexture"].get("texCoord") for m in document["materials"]] == [1, 1]
    for mesh in document["meshes"]:
        assert all({"TEXCOORD_0", "TEXCOORD_1"} <= set(p["attributes"]) for p in mesh["primitives"])
    for instance in load_mesh(written, normalize=False).source_scene.instances:
        assert np.isfinite(instance.attributes["TEXCOORD_1"]).all()
        assert instance.attributes["TEXCOORD_1"].min() >= 0.0 and instance.attributes["TEXCOORD_1"].max() <= 1.0


def test_unwrap_keeps_the_scene_with_a_new_uv_set_per_material(tmp_path):
    """bake_loaded(unwrap=True) (output.bake_unwrap, bake --unwrap) no longer flattens a scene:
    every material's maps go to a new unwrap in TEXCOORD_1; nodes, instancing and TEXCOORD_0 stay."""
    from stylize.mesh.bake_scene import bake_loaded

    source = CORPUS / "instanced_scene.glb"
    mesh = load_mesh(source, normalize=False)
    colors = np.clip(mesh.file_vertices - mesh.file_vertices.min(axis=0), 0.0, 1.0)
    out = bake_loaded(mesh, mesh.file_vertices, colors, tmp_path / "unwrapped.glb", unwrap=True, uv_choice="reuse",
                      size=32).path  # fmt: skip
    _assert_new_set_per_material(source, out)
    assert gltf_structure(out)["mesh:Wheel/instances"] == ["Vehicle/WheelBack", "Vehicle/WheelFront"]


@pytest.mark.slow
def test_a_run_and_its_rebake_with_unwrap_keep_the_scene(tmp_path, tiny_clip_spec):
    name = "instanced_scene.glb"
    out = _run(tmp_path, name, tiny_clip_spec, **{"output.bake_unwrap": True})
    _assert_new_set_per_material(CORPUS / name, out / "mesh_textured.glb")
    _assert_new_set_per_material(CORPUS / name, api.bake(out, out=tmp_path / "rebaked.glb", size=32, unwrap=True).path)
