"""Structure figures of the package: import cycles, the largest modules and the longest functions.

Reads the source as text (``ast``), runs nothing of the project. An import counts wherever it
stands (module level or inside a function), because a lazy import still ties two modules
together; ``if TYPE_CHECKING:`` imports are left out (they never run).

Usage::

    python tools/dev/code_metrics.py                 # cycles + top 10 modules and functions
    python tools/dev/code_metrics.py --top 20 --json # machine-readable

Exit code 1 when there is an import cycle, so CI or a test can hold the line.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``module`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                found.add(base)
                for alias in child.names:
                    found.add(f"{base}.{alias.name}")
            visit(child)

    visit(tree)
    resolved = set()
    for name in found:
        # "stylize.mesh.io.load_mesh" -> the longest known module prefix
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            candidate = ".".join(parts[:cut])
            if candidate in known:
                resolved.add(candidate)
                break
    resolved.discard(module)
    # Importing a submodule runs its package's __init__, but that is not an edge we count: a
    # package importing its own children is the normal direction.
    return {name for name in resolved if not module.startswith(name + ".")}


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    files = sorted(package_dir.rglob("*.py"))
    root = package_dir.parent
    names = {module_name(path, root): path for path in files}
    graph = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = _imports(tree, name, path.name == "__init__.py", set(names))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return sorted(found)


def module_sizes(package_dir: Path) -> list[tuple[str, int]]:
    sizes = [
        (str(p.relative_to(package_dir.parent)), len(p.read_text(encoding="utf-8").splitlines()))
        for p in package_dir.rglob("*.py")
    ]
    return sorted(sizes, key=lambda item: -item[1])


def function_sizes(package_dir: Path) -> list[tuple[str, int]]:
    sizes = []
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                sizes.append((f"{path.relative_to(package_dir.parent)}:{node.name}", node.end_lineno - node.lineno + 1))
    return sorted(sizes, key=lambda item: -item[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default=str(ROOT / "stylize"), help="package folder (default: stylize/)")
    parser.add_argument("--top", type=int, default=10, help="how many modules and functions to list")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    package = Path(args.package)
    found = cycles(import_graph(package))
    modules, functions = module_sizes(package)[: args.top], function_sizes(package)[: args.top]
    if args.json:
        print(json.dumps({"cycles": found, "modules": modules, "functions": functions}))
    else:
        print(f"import cycles: {len(found)}")
        for component in found:
            print("  " + " <-> ".join(component))
        print("largest modules (lines):")
        for name, lines in modules:
            print(f"  {lines:5d}  {name}")
        print("longest functions (lines):")
        for name, lines in functions:
            print(f"  {lines:5d}  {name}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
