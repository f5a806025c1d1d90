"""The package's structure holds: no import cycles, no oversized modules (tools/dev/code_metrics.py)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _metrics():
    spec = importlib.util.spec_from_file_location("code_metrics", ROOT / "tools" / "dev" / "code_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_between_modules():
    metrics = _metrics()
    assert metrics.cycles(metrics.import_graph(ROOT / "stylize")) == []


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def f():\n    from pkg import a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    metrics = _metrics()
    assert metrics.cycles(metrics.import_graph(package)) == [["pkg.a", "pkg.b"]]


def test_no_module_over_600_lines():
    assert [(name, lines) for name, lines in _metrics().module_sizes(ROOT / "stylize") if lines > 600] == []


def test_help_does_not_import_torch():
    code = "import sys; from stylize.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def _top_level_names(path: Path) -> tuple[set[str], set[str]]:
    """Names a module defines at top level (functions, classes, assignments, also under if/try),
    and the names it binds with a plain ``import``."""
    defined: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                defined.update(name.id for name in ast.walk(target) if isinstance(name, ast.Name))
        elif isinstance(node, ast.Import):
            modules.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return defined, modules


def _stylize_imports(folders=("stylize", "tests", "tools")):
    """(file, line, module, name) for every ``from stylize... import name`` in the repository's Python files."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("stylize"):
                    for alias in node.names:
                        yield path.relative_to(ROOT), node.lineno, node.module, alias.name
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("stylize"):
                            yield path.relative_to(ROOT), node.lineno, alias.name, None


def test_names_are_imported_from_the_module_that_defines_them():
    # No compatibility re-exports: `from stylize.a.b import name` names the module that defines it.
    # A package's __init__ may re-export its public names (stylize.mesh.gltf, stylize.vector.svg).
    cache: dict[Path, tuple[set[str], set[str]]] = {}
    through = []
    for file, line, module, name in _stylize_imports():
        source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
        if name is None or not source.is_file():
            continue
        if source not in cache:
            cache[source] = _top_level_names(source)
        defined, modules = cache[source]
        if name not in defined and name not in modules:
            through.append(f"{file}:{line}: {name} from {module}")
    assert through == []


def test_the_old_raster_alias_is_gone():
    # stylize.raster was the name of stylize.painting before 0.2; nothing imports through it any more.
    assert not (ROOT / "stylize" / "raster").exists()
    users = [
        f"{file}:{line}"
        for file, line, module, name in _stylize_imports()
        if module == "stylize.raster" or module.startswith("stylize.raster.") or (module == "stylize" and name == "raster")
    ]
    assert users == []


def test_every_tool_is_listed_under_its_folder_in_tools_readme():
    # tools/ is sorted by audience (tools/README.md): a new script goes into a folder and the list.
    sections = {}
    for section in (ROOT / "tools" / "README.md").read_text(encoding="utf-8").split("\n## ")[1:]:
        folder = section.split("`", 2)[1].rstrip("/")
        sections[folder] = section
    unlisted = []
    for path in sorted((ROOT / "tools").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".sh", ".mjs"):
            folder = path.parent.relative_to(ROOT).as_posix()
            if f"`{path.name}`" not in sections.get(folder, ""):
                unlisted.append(path.relative_to(ROOT).as_posix())
    assert unlisted == []


def test_a_drawing_run_loads_no_svg_reader_and_no_feature_extractor():
    # A text-to-drawing run writes SVG and never reads one, and has no style image: the importer,
    # CSS cascade and paint servers, and the VGG/CLIP-layer extractors stay unloaded (a draw run
    # loaded 33 stylize modules before the SVG package split and loads 29 after it).
    import subprocess
    import sys

    code = ("import sys, stylize.api, stylize.vector.clipdraw; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('stylize'))))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "stylize.vector.svg.write" in loaded
    for heavy in ("stylize.vector.svg.importer", "stylize.vector.svg.css", "stylize.vector.svg.read", "stylize.engine.features"):
        assert heavy not in loaded, heavy
