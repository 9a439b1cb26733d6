"""Docstrings name the notebook that introduces a name, d2l style, and that notebook imports it.

The rule (README, "The library"): a public function or class that a course notebook imports says
``Introduced in ``<folder>/<notebook>``.`` in its own docstring, or its module's docstring says
so for the whole module; the notebook named is the first one, in course order, that imports it.
A name no notebook imports is library only: its docstring names no notebook.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "inferlearn"
TAG = re.compile(r"[Ii]ntroduced in\s+``([\w./-]+?)(?:\.ipynb)?``")
# (module, name or "" for the module docstring) -> why its tag may name a notebook that does not
# import it. Keep this short: each entry is a known defect with its plan.
TAG_EXCEPTIONS: dict[tuple[str, str], str] = {}


def course_notebooks() -> list[Path]:
    """Every course notebook, in course order (start here, then phase by phase)."""
    return sorted([*REPO.glob("notebooks/*.ipynb"), *REPO.glob("phase*/*.ipynb")],
                  key=lambda p: p.relative_to(REPO).as_posix())


def notebook_key(path: Path) -> str:
    return path.relative_to(REPO).with_suffix("").as_posix()


def module_path(module: str) -> Path | None:
    base = REPO / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def module_tree(module: str) -> ast.Module | None:
    path = module_path(module)
    return ast.parse(path.read_text()) if path else None


def definition(module: str, name: str, depth: int = 0) -> tuple[str, ast.AST | None] | None:
    """(defining module, def/class node or None for other assignments) of ``module.name``,
    following ``from inferlearn... import name`` re-exports; None when it is not found."""
    tree = module_tree(module)
    if tree is None or depth > 5:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return module, node
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return module, None
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inferlearn"):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return definition(node.module, alias.name, depth + 1)
    return None


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["\n".join(line for line in "".join(c["source"]).splitlines()
                      if not line.lstrip().startswith(("%", "!")))
            for c in cells if c["cell_type"] == "code"]


@cache
def notebook_imports(path: Path) -> frozenset[tuple[str, str]]:
    """(module, name) of every inferlearn name a notebook uses: ``from m import name`` and
    ``alias.name`` where ``alias`` is an imported inferlearn module."""
    found: set[tuple[str, str]] = set()
    modules: dict[str, str] = {}
    trees = []
    for source in code_cells(path):
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            continue
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inferlearn"):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    if module_path(submodule):
                        modules[alias.asname or alias.name] = submodule
                    else:
                        found.add((node.module, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("inferlearn") and alias.asname:
                        modules[alias.asname] = alias.name
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id in modules:
                found.add((modules[node.value.id], node.attr))
    found |= {(module, "") for module in modules.values()}
    return frozenset(found)


def defined_names(path: Path) -> set[tuple[str, str]]:
    """(defining module, name) of every def/class a notebook uses from inferlearn."""
    out = set()
    for module, name in notebook_imports(path):
        if name:
            found = definition(module, name)
            if found and found[1] is not None:
                out.add((found[0], name))
    return out


def tags(text: str | None) -> list[str]:
    return TAG.findall(text or "")


def first_notebooks() -> dict[tuple[str, str], str]:
    """(defining module, name) -> the first notebook, in course order, that uses it."""
    first: dict[tuple[str, str], str] = {}
    for path in course_notebooks():
        for key in defined_names(path):
            first.setdefault(key, notebook_key(path))
    return first


def all_tags() -> list[tuple[str, str, str]]:
    """(module, name or "" for the module docstring, notebook) of every tag in the library."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        found += [(module, "", nb) for nb in tags(ast.get_docstring(tree))]
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found += [(module, node.name, nb) for nb in tags(ast.get_docstring(node))]
    return found


def test_every_named_notebook_exists():
    missing = [f"{m}{'.' + n if n else ''} names {nb}" for m, n, nb in all_tags()
               if not (REPO / f"{nb}.ipynb").is_file()]
    assert not missing, "tags naming no notebook (write ``folder/NN_slug``):\n" + "\n".join(missing)


def modules_used(path: Path) -> set[str]:
    """Modules a notebook imports, or imports a name from (where that name is defined too)."""
    used = set()
    for module, name in notebook_imports(path):
        used.add(module)
        found = definition(module, name) if name else None
        if found:
            used.add(found[0])
    return used


def test_every_named_notebook_imports_what_it_introduces():
    wrong = []
    for module, name, nb in all_tags():
        path = REPO / f"{nb}.ipynb"
        if (module, name) in TAG_EXCEPTIONS:
            continue
        if path.is_file() and ((module, name) not in defined_names(path) if name
                               else module not in modules_used(path)):
            wrong.append(f"{module}{'.' + name if name else ''}: {nb} does not import it")
    assert not wrong, "tags naming a notebook that does not import the name:\n" + "\n".join(wrong)


def test_every_name_a_notebook_uses_names_its_first_notebook():
    missing = []
    for (module, name), nb in sorted(first_notebooks().items()):
        _, node = definition(module, name)
        own = tags(ast.get_docstring(node))
        module_tags = tags(ast.get_docstring(module_tree(module)))
        if nb not in own and not (not own and nb in module_tags):
            missing.append(f"{module}.{name}: first used in {nb}; its docstring says {own or module_tags or 'nothing'}")
    assert not missing, ("say 'Introduced in ``<notebook>``' in the docstring of (or the module of):\n"
                         + "\n".join(missing))


@pytest.mark.parametrize("source, expected", [
    ("from inferlearn.rag.chunking import chunk_docs as cd", {("inferlearn.rag.chunking", "chunk_docs")}),
    ("from inferlearn.rag import ann\nann.hnsw_search(c, 3)", {("inferlearn.rag.ann", "hnsw_search"),
                                                               ("inferlearn.rag.ann", "")}),
])
def test_the_scan_sees_names_and_module_attributes(tmp_path, source, expected):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": source}]}))
    assert notebook_imports(notebook) == frozenset(expected)
