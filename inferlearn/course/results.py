"""Measured numbers: what a notebook's prose quotes comes from a recorded full-size run.

A notebook calls ``record(key, value, fmt)`` for each number its prose quotes; the value is shown
as a normal output (and carried in the output under ``MIMETYPE``, the way scrapbook's ``glue``
does). ``inferlearn run --full --record`` reads those outputs from the executed copy and writes
``results/<phase>/<notebook>.json``: the values, the model, backend, date and parameters.
``prose_problems`` compares the Markdown cells tagged ``measured`` with that file: each number
such a cell quotes must be a recorded value (as formatted), a parameter of the run or its date,
and every recorded value must be quoted somewhere. ``tests/test_measured_prose.py`` runs it.
Introduced in ``phase1_llm_api/02_structured_outputs``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

MIMETYPE = "application/vnd.inferlearn.result+json"
MEASURED_TAG = "measured"
RESULTS_DIR = "results"
KEY = re.compile(r"^[A-Za-z][\w.-]{0,79}$")
# A number as prose writes it: 34, 0.82, 1,117, 95%; not part of a word (v2, p95, 135M, ACC-1, tool #1).
NUMBER = re.compile(r"(?<![\w.\-/#])\d(?:[\d,]*\d)?(?:\.\d+)?%?(?![\w]|\.\d)")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
CODE_SPAN = re.compile(r"`[^`]*`")
LIST_MARKER = re.compile(r"^\s*\d+\.\s", re.MULTILINE)


def format_value(value: Any, fmt: str = "") -> str:
    """The text prose quotes for ``value``: ``format(value, fmt)``, e.g. ``0.8235`` with ``.2f``."""
    return format(value, fmt)


def record(key: str, value: Any, fmt: str = "") -> Any:
    """Show and record one number the prose quotes; returns ``value`` (notebook ``02_structured_outputs``).

    ``fmt`` is how the prose writes it (``".2f"``, ``".0%"``, ``","``); the recorded text is
    ``format(value, fmt)``. Outside a notebook it prints the line.
    """
    if not isinstance(key, str) or not KEY.match(key):
        raise ValueError(f"record key {key!r}: use letters, digits, '_', '.' or '-' (e.g. 'dev_accuracy')")
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # a numpy scalar: keep the plain number
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"record {key!r}: value {value!r} must be a number or a string")
    text = format_value(value, fmt)
    payload = {"key": key, "value": value, "text": text}
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the course environment
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is not None and get_ipython() is not None:
        display({MIMETYPE: payload, "text/plain": f"recorded {key} = {text}"}, raw=True)
    else:
        print(f"recorded {key} = {text}")
    return value


def recorded_values(nb: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """``{key: {"value", "text"}}`` from the ``record`` outputs of an executed notebook (last wins)."""
    found: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIMETYPE)
            if isinstance(payload, dict) and "key" in payload:
                found[payload["key"]] = {"value": payload["value"], "text": payload["text"]}
    return found


def effective_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameters a run used: the ``parameters`` cell, then papermill's injected cell.

    Values that are not literals are kept as their source text (``local_models = [...]``)."""
    values: dict[str, Any] = {}
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or not {"parameters", "injected-parameters"} & set(tags):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    values[node.targets[0].id] = ast.unparse(node.value)
    return values


def results_path(root: Path, notebook: Path) -> Path:
    """``results/<phase>/<notebook stem>.json`` for a course notebook."""
    relative = notebook.resolve().relative_to(root.resolve())
    return root / RESULTS_DIR / relative.parent / f"{relative.stem}.json"


def _commit(root: Path) -> str | None:
    """The checkout's commit, or None outside git."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def run_context() -> dict[str, Any]:
    """What a recorded run ran on: backend, default model, thread setting, load."""
    from inferlearn.config import backend, setting
    from inferlearn.llm import default_model

    return {"backend": backend(), "model": default_model(),
            "llm_threads": setting("INFERLEARN_LLM_THREADS"), "load_average": [round(x, 2) for x in os.getloadavg()]}


def write_results(root: Path, notebook: Path, executed: Path, seconds: float,
                  context: dict[str, Any]) -> Path:
    """Write the results file of one executed full-size run; returns its path."""
    nb = nbformat.read(executed, as_version=4)
    values = recorded_values(nb)
    if not values:
        raise ValueError(f"{notebook.name} recorded no values: call inferlearn.course.results.record(...) "
                         "for each number its prose quotes")
    now = datetime.now(timezone.utc)
    payload = {
        "notebook": str(notebook.resolve().relative_to(root.resolve())),
        "recorded_at": now.isoformat(timespec="seconds"), "date": now.date().isoformat(),
        "commit": _commit(root), **context, "seconds": round(seconds, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "parameters": effective_parameters(nb), "values": values,
    }
    path = results_path(root, notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return path


def numbers_in(markdown: str) -> list[str]:
    """The numbers a Markdown cell quotes, outside code spans, list markers and ISO dates."""
    text = LIST_MARKER.sub(" ", CODE_SPAN.sub(" ", markdown))
    return NUMBER.findall(ISO_DATE.sub(" ", text))


def _norm(number: str) -> str:
    return number.rstrip("%")


def allowed_numbers(results: dict[str, Any]) -> set[str]:
    """Numbers a measured cell may quote: recorded texts, numeric parameters (as written)."""
    allowed = {_norm(v["text"]) for v in results.get("values", {}).values()}
    for value in results.get("parameters", {}).values():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            allowed |= {str(value), f"{value:,}"}
    return allowed


def recorded_keys_in_source(nb: nbformat.NotebookNode) -> set[str]:
    """Keys the notebook's code passes to ``record("...")`` literally."""
    pattern = re.compile(r"\brecord\(\s*[\"']([A-Za-z][\w.-]*)[\"']")
    return {key for cell in nb.cells if cell.cell_type == "code" for key in pattern.findall(cell.source)}


def measured_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(index, source) of the Markdown cells tagged ``measured``."""
    return [(i, c.source) for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and MEASURED_TAG in c.get("metadata", {}).get("tags", [])]


def prose_problems(nb: nbformat.NotebookNode, results: dict[str, Any] | None) -> list[str]:
    """Where the notebook's measured prose and its recorded results disagree (empty: they agree)."""
    cells, in_source = measured_cells(nb), recorded_keys_in_source(nb)
    if results is None:
        return ["measured cells but no results file: run `inferlearn run --full --record` on it"] \
            if cells or in_source else []
    problems: list[str] = []
    values = results.get("values", {})
    if set(values) != in_source:
        problems.append(f"recorded keys {sorted(set(values) ^ in_source)} are in only one of the results "
                        "file and the notebook's record() calls: re-run with --record")
    allowed, dates = allowed_numbers(results), {results.get("date")}
    quoted: set[str] = set()
    for index, source in cells:
        numbers = {_norm(n) for n in numbers_in(source)}
        quoted |= numbers
        stale = sorted(numbers - allowed)
        if stale:
            problems.append(f"cell {index} quotes {stale}, which the results file does not hold")
        for day in set(ISO_DATE.findall(source)) - dates:
            problems.append(f"cell {index} names the date {day}; the results were recorded {results.get('date')}")
    prose = "\n".join(source for _, source in cells)
    unquoted = sorted(k for k, v in values.items()
                      if not (_norm(v["text"]) in quoted or (not NUMBER.fullmatch(v["text"]) and v["text"] in prose)))
    if unquoted:
        problems.append(f"recorded values {unquoted} are quoted in no measured cell")
    return problems


def check_notebook(root: Path, notebook: Path) -> list[str]:
    """``prose_problems`` for a course notebook and its results file."""
    path = results_path(root, notebook)
    results = json.loads(path.read_text()) if path.exists() else None
    return [f"{notebook.name}: {p}" for p in prose_problems(nbformat.read(notebook, as_version=4), results)]
