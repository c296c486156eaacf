"""The Python code in a model answer (:func:`extract_code`): fenced blocks, else the bare code."""
from __future__ import annotations

import ast
import re
import textwrap

_PY_LANGS = {"", "python", "py", "python3", "py3", "python 3", "pycon"}
_CODE_START = re.compile(
    r"^(?:(?:async\s+)?def\s+\w+\s*\(|class\s+\w+|import\s+[\w.]|from\s+[\w.]+\s+import\b|@\w)"
)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each ``` fenced block; an unclosed last block runs to the end."""
    blocks, lang, body, inside = [], "", [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            if inside:
                blocks.append((lang, textwrap.dedent("\n".join(body))))
                inside, body = False, []
            else:
                inside, lang, body = True, stripped[3:].strip().lower(), []
            continue
        if inside:
            body.append(line)
    if inside and body:
        blocks.append((lang, textwrap.dedent("\n".join(body))))
    return [(lang, b) for lang, b in blocks if b.strip()]


def _defines(code: str, entry_point: str) -> bool:
    name = re.escape(entry_point)
    return re.search(rf"^[ \t]*(?:(?:async\s+)?def\s+{name}\s*\(|class\s+{name}\b|{name}\s*=)", code, re.M) is not None


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def extract_code(answer: str, entry_point: str | None = None) -> str | None:
    """The Python code in a model answer, or None when there is none.

    1. Fenced blocks (```python, ```py or a bare ```; blocks in other languages
       only when there is nothing else): the first block that defines
       ``entry_point`` if one does, else all blocks joined.  An unclosed final
       fence (a truncated generation) runs to the end of the text.
    2. Otherwise bare code: the whole answer if it parses and contains a
       def/class/import; else the lines from the first line that starts (at
       column 0) with ``def``/``class``/``import``/``from ... import``/a
       decorator onward, cut to the longest prefix that parses (so trailing
       prose is dropped; if no prefix parses the text is returned as is and
       fails with its SyntaxError).
    """
    if not answer or not answer.strip():
        return None
    blocks = _fenced_blocks(answer)
    if blocks:
        python = [b for lang, b in blocks if lang in _PY_LANGS or lang.startswith("python")]
        candidates = python or [b for _, b in blocks]
        if entry_point:
            for block in candidates:
                if _defines(block, entry_point):
                    return block.strip("\n")
        return "\n\n".join(b.strip("\n") for b in candidates)

    tree = _parses(answer)
    if tree is not None and any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)) for n in tree.body):
        return answer.strip("\n")
    lines = answer.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    lines = lines[start:]
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if _parses(candidate) is not None:
            return candidate
    return "\n".join(lines).rstrip()
