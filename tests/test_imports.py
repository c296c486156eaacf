"""The package has no import circles, not even ones hidden inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "rewardds"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(f: Path, mods: dict) -> set[str]:
    found = set()
    for n in ast.walk(ast.parse(f.read_text())):  # every import, at any depth
        names = []
        if isinstance(n, ast.ImportFrom) and n.module:
            names = [n.module] + [f"{n.module}.{a.name}" for a in n.names]
        elif isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        found.update(x for x in names if x in mods)
    return found


def test_no_import_circles():
    mods = _modules()
    graph = {m: _imports(f, mods) - {m} for m, f in mods.items()}
    cycles = []

    def visit(node, path):
        for dep in graph[node]:
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                done.add(dep)
                visit(dep, path + [dep])

    for m in sorted(graph):
        done = {m}
        visit(m, [m])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles[:5])
