"""Imports point down the layer order of rewardds/layers.py, and only heavy packages wait inside functions.

Every module is parsed (no import runs), and every import at any depth counts: inside functions and
``if TYPE_CHECKING:`` blocks, the package ``__init__`` it runs, and ``"rewardds.x:name"`` strings that
importlib resolves.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from rewardds.layers import DEFERRED, DEFERRED_EXEMPT, LAYERS

PKG = Path(__file__).resolve().parents[1] / "rewardds"
PROGRAMS = "rewardds.eval.sandbox.programs"


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


MODULES = _modules()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (or the top-level package, outside rewardds)
    line: int
    in_function: bool
    how: str  # "import", "package __init__" or "by name"


def _closest_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def _runs_imports(package: str) -> bool:
    """Whether importing ``package`` (its __init__) imports anything."""
    tree = ast.parse(MODULES[package].read_text())
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) and not (isinstance(n, ast.ImportFrom)
               and n.module == "__future__") for n in ast.walk(tree))


def _targets(module: str, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = _absolute(module, node)
    if base == "__future__":
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def imports_of(module: str) -> list[Import]:
    """Every import of ``module``, at any depth, resolved to the module it loads."""
    out: list[Import] = []

    def add(target: str, line: int, in_function: bool, how: str) -> None:
        if target.split(".")[0] != "rewardds":
            out.append(Import(module, target.split(".")[0], line, in_function, how))
            return
        found = _closest_module(target)
        if found is None or found == module:
            return
        out.append(Import(module, found, line, in_function, how))
        parent = found.rpartition(".")[0]
        while parent.count(".") >= 1:  # the packages above it (rewardds/__init__.py itself imports nothing)
            if parent != module and parent in MODULES and _runs_imports(parent):
                out.append(Import(module, parent, line, in_function, "package __init__"))
            parent = parent.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, child):
                    add(target, child.lineno, in_function, "import")
            elif (isinstance(child, ast.Constant) and isinstance(child.value, str)
                  and child.value.startswith("rewardds.") and ":" in child.value):
                add(child.value.split(":")[0], child.lineno, in_function, "by name")
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(MODULES[module].read_text()), False)
    return out


def layer_of(module: str) -> int | None:
    best, layer = -1, None
    for i, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and len(entry) > best:
                best, layer = len(entry), i
    return layer


def _name(i: int) -> str:
    return LAYERS[i][0]


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if m != "rewardds" and layer_of(m) is None]
    assert not missing, f"modules without a layer in rewardds/layers.py: {', '.join(missing)}"
    assert not imports_of("rewardds"), "rewardds/__init__.py imports nothing (every module would load it)"


def test_imports_point_down_the_layers():
    upward = []
    for module in MODULES:
        if module == "rewardds":
            continue
        own = layer_of(module)
        for imp in imports_of(module):
            if imp.target.startswith("rewardds") and layer_of(imp.target) > own:
                where = " (inside a function)" if imp.in_function else ""
                via = "" if imp.how == "import" else f" ({imp.how})"
                upward.append(f"{module}:{imp.line} [{_name(own)}] imports {imp.target}{via} "
                              f"[{_name(layer_of(imp.target))}]{where}")
    upward = list(dict.fromkeys(upward))  # one line per import statement and target
    assert not upward, f"{len(upward)} imports point up the layer order:\n" + "\n".join(upward)


def _exempt(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in DEFERRED_EXEMPT)


def test_only_heavy_or_optional_packages_are_imported_inside_functions():
    hidden = []
    for module in MODULES:
        if _exempt(module):
            continue
        for imp in imports_of(module):
            if imp.in_function and imp.how == "import" and imp.target not in DEFERRED:
                hidden.append(f"{module}:{imp.line} imports {imp.target} inside a function")
    hidden = list(dict.fromkeys(hidden))
    assert not hidden, ("imports inside functions that belong at the top of the module (or, for a heavy or "
                        "optional package, in rewardds.layers.DEFERRED with the reason it waits):\n"
                        + "\n".join(hidden))


def test_every_deferred_package_is_third_party_and_still_deferred_somewhere():
    used = {imp.target for m in MODULES for imp in imports_of(m) if imp.in_function}
    assert not [p for p in DEFERRED if p in sys.stdlib_module_names or p == "rewardds"]
    assert set(DEFERRED) <= used, f"no longer imported inside a function: {sorted(set(DEFERRED) - used)}"


def test_the_sandbox_programs_use_the_standard_library_and_each_other_only():
    programs = {m.rpartition(".")[2] for m in MODULES if m.startswith(PROGRAMS + ".")}
    outside = [f"{imp.module}:{imp.line} imports {imp.target}"
               for m in MODULES if m == PROGRAMS or m.startswith(PROGRAMS + ".") for imp in imports_of(m)
               if imp.target not in sys.stdlib_module_names and imp.target not in programs]
    assert not outside, "the sandbox sees the standard library only:\n" + "\n".join(outside)


def test_the_layer_checker_sees_imports_inside_functions_packages_and_strings(tmp_path):
    # the rules above rest on imports_of: it must find what a plain top-level scan would miss
    found = {(i.target, i.how, i.in_function) for i in imports_of("rewardds.recipes.registry")}
    assert ("rewardds.recipes.rewardds", "by name", False) in found
    found = {(i.target, i.how) for i in imports_of("rewardds.stages.evaluate")}
    assert ("rewardds.eval", "package __init__") in found


def test_the_readme_layout_shows_the_layers_of_rewardds_layers_py():
    text = (PKG.parent / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    shown = [(layer.strip(), tuple(sorted(m.strip(" `") for m in modules.split(","))))
             for layer, modules in rows[1:]]  # rows[0] is the header
    declared = [(layer, tuple(sorted(e.removeprefix("rewardds.") for e in entries)))
                for layer, entries in reversed(LAYERS)]
    assert shown == declared, "README.md's Layout table is out of step with rewardds/layers.py"
