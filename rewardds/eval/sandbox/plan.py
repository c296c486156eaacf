"""Splitting each test between the judge and the solution process (trusted, in the evaluating process).

Each test becomes a list of steps for the judge: ``{"exec": statement, "judge": bool}`` runs a
statement in the solution process (a stdlib import also in the judge), ``{"assert": expression}`` is
evaluated by the judge, where each call ``__rewardds_hole__(k, *locals)`` asks the solution process
for the value of ``holes[k]`` = [source, names of the judge's local variables it uses].
"""
from __future__ import annotations

import ast
import builtins
import copy
import functools
import sys

from rewardds.eval.sandbox.result import short

_HOLE = "__rewardds_hole__"
_BUILTIN_NAMES = frozenset(dir(builtins))
_STDLIB = frozenset(sys.stdlib_module_names)
# single-argument conversions of a solution value: computed in the solution process
_CONVERT = frozenset(("list", "tuple", "set", "frozenset", "sorted", "len", "str", "repr", "bool", "int", "float",
                      "dict", "sum", "min", "max", "abs", "round", "complex", "bytes", "bytearray", "any", "all",
                      "hash", "next"))
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _params(args: ast.arguments) -> set[str]:
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    return names | {a.arg for a in (args.vararg, args.kwarg) if a is not None}


def _free(node: ast.AST) -> set[str]:
    """Names an expression reads that it does not bind itself (lambda parameters, comprehension targets)."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, ast.Lambda):
        out = _free(node.body) - _params(node.args)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            out |= _free(default)
        return out
    if isinstance(node, _COMPREHENSIONS):
        bound, out = set(), set()
        for gen in node.generators:
            out |= _free(gen.iter) - bound
            bound |= _targets(gen.target)
            for cond in gen.ifs:
                out |= _free(cond) - bound
        for part in ([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]):
            out |= _free(part) - bound
        return out
    out = set()
    for child in ast.iter_child_nodes(node):
        out |= _free(child)
    return out


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the namespace it runs in."""
    out: set[str] = set()

    def visit(n):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
            return
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
            return
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        if isinstance(n, (ast.Lambda,) + _COMPREHENSIONS):
            return
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(stmt)
    return out


def _stdlib_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import):
        return all(a.name.split(".")[0] in _STDLIB for a in stmt.names)
    return (isinstance(stmt, ast.ImportFrom) and not stmt.level and bool(stmt.module)
            and stmt.module.split(".")[0] in _STDLIB and all(a.name != "*" for a in stmt.names))


class _Splitter:
    """Splits one task's tests between the judge and the solution process.

    A name belongs to the solution process when it is the entry point, when a
    test statement bound it there, or when it is neither a builtin nor a
    stdlib module (nor a name a test's stdlib import bound in the judge).  A
    sub-expression is computed there as a whole when it is rooted in such a
    name: the name itself, a call of a solution callable (with all its
    arguments), an attribute or subscript of a solution value, or a
    single-argument conversion (``list``, ``str``, ``len``, ...) of one.
    Everything around it, comparisons above all, is evaluated by the judge.
    """

    def __init__(self, entry_point: str):
        self.entry_point = entry_point
        self.in_solution: set[str] = set()
        self.in_judge: set[str] = set()
        self.holes: list[list] = []
        self.modules: set[str] = set()

    def is_solution_name(self, name: str) -> bool:
        if name == self.entry_point or name in self.in_solution:
            return True
        return name not in self.in_judge and name not in _BUILTIN_NAMES and name not in _STDLIB

    def involves_solution(self, node, local) -> bool:
        return any(self.is_solution_name(n) for n in _free(node) - local)

    def solution_rooted(self, node, local) -> bool:
        if isinstance(node, ast.Name):
            return True
        if isinstance(node, ast.Call):
            if self.involves_solution(node.func, local):
                return True
            return (isinstance(node.func, ast.Name) and node.func.id in _CONVERT and len(node.args) == 1
                    and not node.keywords and not isinstance(node.args[0], ast.Starred)
                    and self.solution_rooted(node.args[0], local))
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return self.involves_solution(node.value, local)
        return False

    def hole(self, node, local) -> ast.Call:
        names = sorted(_free(node) & local)
        self.holes.append([ast.unparse(node), names])
        call = ast.Call(func=ast.Name(_HOLE, ast.Load()),
                        args=[ast.Constant(len(self.holes) - 1)] + [ast.Name(n, ast.Load()) for n in names], keywords=[])
        return ast.copy_location(call, node)

    def split(self, node, local):
        """``node`` with each solution-rooted sub-expression replaced by a request for its value."""
        if not self.involves_solution(node, local):
            return node
        if self.solution_rooted(node, local):
            return self.hole(node, local)
        new = copy.copy(node)
        if isinstance(node, ast.Lambda):
            new.body = self.split(node.body, local | _params(node.args))
            return new
        if isinstance(node, _COMPREHENSIONS):
            inner, gens = set(local), []
            for gen in node.generators:
                g = copy.copy(gen)
                g.iter = self.split(gen.iter, frozenset(inner))
                inner |= _targets(gen.target)
                g.ifs = [self.split(c, frozenset(inner)) for c in gen.ifs]
                gens.append(g)
            new.generators, inner = gens, frozenset(inner)
            if isinstance(node, ast.DictComp):
                new.key, new.value = self.split(node.key, inner), self.split(node.value, inner)
            else:
                new.elt = self.split(node.elt, inner)
            return new
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(new, field, self.split(value, local))
            elif isinstance(value, list):
                setattr(new, field, [self.split_part(v, local) for v in value])
        return new

    def split_part(self, value, local):
        if isinstance(value, ast.expr):
            return self.split(value, local)
        if isinstance(value, ast.keyword):
            kw = copy.copy(value)
            kw.value = self.split(value.value, local)
            return kw
        return value

    def step(self, stmt: ast.stmt, src: str) -> dict:
        if isinstance(stmt, ast.Assert):
            holes = len(self.holes)
            try:
                expr = self.split(stmt.test, frozenset())
                text = ast.unparse(ast.fix_missing_locations(expr))
                compile(text, "<assert>", "eval", dont_inherit=True)
            except Exception:  # not expressible for the judge (e.g. an f-string unparse cannot write)
                del self.holes[holes:]
                return {"exec": ast.get_source_segment(src, stmt) or ast.unparse(stmt), "judge": False}
            self.modules.update(n for n in _free(expr) if n in _STDLIB and not self.is_solution_name(n))
            return {"assert": text}
        names = _bound_names(stmt)
        judge = _stdlib_import(stmt)
        if judge:
            self.in_solution -= names
            self.in_judge |= names
        else:
            self.in_solution |= names
            self.in_judge -= names
        return {"exec": ast.get_source_segment(src, stmt) or ast.unparse(stmt), "judge": judge}


@functools.lru_cache(maxsize=256)
def plan_tests(tests: tuple, entry_point: str) -> dict | str:
    """The judge's program for these tests, or the detail of a test that does not compile."""
    splitter = _Splitter(entry_point)
    steps = []
    for i, src in enumerate(tests, 1):
        try:
            compile(src, f"<test {i}>", "exec", dont_inherit=True)
            tree = ast.parse(src)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            return short(f"test {i} does not compile ({type(exc).__name__}: {exc}): {src}")
        steps.append([splitter.step(stmt, src) for stmt in tree.body])
    return {"tests": steps, "holes": splitter.holes, "modules": sorted(splitter.modules)}
