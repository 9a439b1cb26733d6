"""The library's layering contract, checked over the import graph (imports inside functions too).

Layers, top to bottom; a module may import its own layer and any layer below it, never above:

    course, prod, cli        running and grading the course; the production service
    evals                    metrics, golden sets, judges, runs
    rag                      corpus, chunking, retrieval, answers
    llm                      what a notebook's client needs (starts the server through its daemon)
    server                   the local model server: never imports rag, evals, llm's client side
    base                     config, data, prompts, larkspur, latency, and the model catalogue
                             (inferlearn.llm.models: plain data that every layer, the server
                             included, reads)

Skipping layers downwards is allowed (rag embeds in-process with server.embeddings).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "inferlearn"
LAYERS = {"base": 0, "server": 1, "llm": 2, "rag": 3, "evals": 4, "top": 5}
BASE_MODULES = {"inferlearn", "inferlearn.config", "inferlearn.data", "inferlearn.prompts",
                "inferlearn.larkspur", "inferlearn.latency", "inferlearn.llm.models"}
TOP_AREAS = {"course", "prod", "cli", "__main__"}


def layer_of(module: str) -> str:
    """The layer of a dotted ``inferlearn...`` module name."""
    if module in BASE_MODULES or module.startswith("inferlearn.llm.models."):
        return "base"
    area = module.split(".")[1] if "." in module else ""
    if area in TOP_AREAS:
        return "top"
    if area in LAYERS:
        return area
    return "base"


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every ``inferlearn`` import in ``source``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("inferlearn")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.startswith("inferlearn"):
            found += [(node.lineno, f"{node.module}.{a.name}") if node.module == "inferlearn.llm" and
                      a.name == "models" else (node.lineno, node.module) for a in node.names]
    return found


def violations(module: str, source: str) -> list[str]:
    """Imports in ``source`` (the text of ``module``) that reach a higher layer."""
    mine = LAYERS[layer_of(module)]
    return [f"{module}:{line} imports {target} ({layer_of(module)} -> {layer_of(target)})"
            for line, target in imported_modules(source) if LAYERS[layer_of(target)] > mine]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_a_higher_layer():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += violations(module_name(path), path.read_text())
    assert not found, "layering broken:\n" + "\n".join(found)


@pytest.mark.parametrize("module, line, bad", [
    ("inferlearn.server.app", "from inferlearn.rag.corpus import load_docs", True),
    ("inferlearn.server.chat", "def f():\n    from inferlearn.evals import metrics", True),
    ("inferlearn.llm.client", "import inferlearn.rag.dense", True),
    ("inferlearn.rag.dense", "from inferlearn.course.layout import Course", True),
    ("inferlearn.server.app", "from inferlearn.llm.models import MODELS", False),
    ("inferlearn.server.app", "from inferlearn.llm import models", False),
    ("inferlearn.server.app", "from inferlearn.llm import get_client", True),
    ("inferlearn.rag.dense", "from inferlearn.server.embeddings import get_embedder", False),
    ("inferlearn.course.grading", "from inferlearn.evals.metrics import recall_at_k", False),
])
def test_the_checker_flags_an_import_upwards(module, line, bad):
    assert bool(violations(module, line)) is bad
