"""Size limits the issue sets for the library: no module over 400 lines, no function over 60.

An exception is listed here with its reason; an empty list is the goal.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "inferlearn"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# "module.py:function" -> why it may be longer than MAX_FUNCTION_LINES
FUNCTION_EXCEPTIONS: dict[str, str] = {}


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method in ``source`` longer than ``limit`` lines,
    nested ones included (a nested function counts inside its parent too)."""
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_is_over_the_limit():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        found += [f"{rel}:{name} has {lines} lines" for name, lines in long_functions(path.read_text())
                  if f"{rel}:{name}" not in FUNCTION_EXCEPTIONS]
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(found)


def test_no_module_is_over_the_limit():
    found = [f"{p.relative_to(PACKAGE).as_posix()} has {n} lines" for p in sorted(PACKAGE.rglob("*.py"))
             if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not found, f"modules over {MAX_MODULE_LINES} lines (split them):\n" + "\n".join(found)


def test_exceptions_are_still_needed():
    for where in FUNCTION_EXCEPTIONS:
        rel, name = where.split(":")
        lengths = [n for f, n in long_functions((PACKAGE / rel).read_text()) if f == name]
        assert lengths, f"{where} is listed as an exception but is no longer over the limit: unlist it"


@pytest.mark.parametrize("lines, flagged", [(60, False), (61, True)])
def test_the_scan_counts_a_function_from_def_to_its_last_line(lines, flagged):
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 1))
    assert bool(long_functions(f"def f():\n{body}")) is flagged
    assert bool(long_functions(f"class C:\n    async def f(self):\n{body.replace('    ', '        ')}")) is flagged
