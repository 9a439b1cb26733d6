"""``inferlearn run``: execute notebooks headlessly with papermill and report on them.

CI-sized parameters: a notebook's ``parameters`` cell holds the learner's full-size values; its
metadata may hold smaller ones for headless runs, which ``inferlearn run`` (and ``make run``,
``make test``) use unless ``--full`` is given::

    "metadata": {"inferlearn": {"ci_parameters": {"n_samples": 5}}, ...}

(In JupyterLab: the property inspector, "Notebook metadata".) ``-p name=value`` overrides both.
Only names the notebook's parameters cell defines are passed to it.

Executed copies go to ``build/executed/<same path>``; the report to ``build/run-report.json``
and ``build/run-report.md``: notebook, status, seconds, the failing cell and its error.
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import nbformat
from tqdm.auto import tqdm

from inferlearn.config import settings
from inferlearn.course.layout import Course
from inferlearn.llm.models import LOCAL_FAST_MODEL

PARAM_NAME = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=", re.MULTILINE)


@dataclass
class RunResult:
    """How one notebook's run went."""

    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    failing_cell: int | None = None
    error: str = ""
    output: str = ""
    parameters: dict[str, Any] | None = None


def parse_parameter(text: str) -> tuple[str, Any]:
    """``"n_samples=5"`` -> ``("n_samples", 5)``; values are Python literals, else strings."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ValueError(f"parameter {text!r} is not name=value (e.g. -p n_samples=5)")
    try:
        return name, ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        return name, raw.strip()


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The code cell tagged ``parameters``, if any."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def declared_parameters(nb: nbformat.NotebookNode) -> set[str]:
    """Names assigned at the top level of the notebook's parameters cell."""
    cell = parameters_cell(nb)
    return set(PARAM_NAME.findall(cell.source)) if cell else set()


def run_parameters(nb: nbformat.NotebookNode, overrides: dict[str, Any], full: bool) -> dict[str, Any]:
    """What to inject: the notebook's CI parameters (unless ``full``), then ``overrides``,
    kept to the names its parameters cell declares."""
    chosen: dict[str, Any] = {}
    if not full:
        chosen.update(nb.metadata.get("inferlearn", {}).get("ci_parameters", {}))
    chosen.update(overrides)
    declared = declared_parameters(nb)
    return {name: value for name, value in chosen.items() if name in declared}


def first_failure(path: Path) -> tuple[int | None, str]:
    """Index and error of the first cell that failed (or was still running) in an executed copy."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return None, ""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, f"{output.get('ename')}: {output.get('evalue')}"
        if cell.get("metadata", {}).get("papermill", {}).get("status") in ("running", "failed"):
            return index, ""
    return None, ""


def describe_failure(exc: BaseException, output: Path) -> tuple[int | None, str]:
    """The failing cell's index and a one-line error for the report."""
    cell = getattr(exc, "cell_index", None)
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return cell, f"{ename}: {evalue}"
    found_cell, found_error = first_failure(output)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip(" -")]
    error = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    if "Timeout" not in type(exc).__name__ and found_error:
        error = found_error  # a timeout shows up in the cell as a KeyboardInterrupt: say timeout
    return (cell if cell is not None else found_cell), error


def run_notebook(source: str, output: str, overrides: dict[str, Any], full: bool, timeout: float | None) -> RunResult:
    """Execute one notebook with papermill in its own folder; never raises."""
    import papermill

    src, out = Path(source), Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    params: dict[str, Any] = {}
    try:
        params = run_parameters(nbformat.read(src, as_version=4), overrides, full)
        papermill.execute_notebook(
            str(src), str(out), parameters=params, cwd=str(src.parent), execution_timeout=timeout,
            progress_bar=False, log_output=False, request_save_on_cell_execute=True,
        )
    except Exception as exc:  # a notebook's failure is a result, not a crash of the runner
        cell, error = describe_failure(exc, out)
        return RunResult(source, "failed", round(time.monotonic() - started, 2), cell, error[:500], output, params)
    return RunResult(source, "ok", round(time.monotonic() - started, 2), output=output, parameters=params)


def collect(course: Course, paths: list[Path] | None) -> list[Path]:
    """The notebooks to run: the given files and folders, or every source notebook."""
    if not paths:
        return course.source_notebooks()
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.ipynb")))
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path} is neither a notebook nor a folder of notebooks")
    return [p.resolve() for p in found]


def executed_path(course: Course, notebook: Path) -> Path:
    """Where the executed copy of a notebook goes: ``build/executed/<path in the course>``."""
    try:
        relative = notebook.resolve().relative_to(course.root)
    except ValueError:
        relative = Path(notebook.name)
    return course.build / "executed" / relative


def run_all(
    course: Course, notebooks: list[Path], overrides: dict[str, Any] | None = None,
    jobs: int = 1, timeout: float | None = 600, full: bool = False,
) -> list[RunResult]:
    """Run notebooks (``jobs`` at a time, each in its own process when > 1) with a progress bar.

    CI-sized runs (not ``full``) use the fast local model unless ``INFERLEARN_MODEL`` says otherwise.
    """
    if not full and not settings().model:
        os.environ["INFERLEARN_MODEL"] = LOCAL_FAST_MODEL  # the kernels and workers inherit it
        try:
            return run_all(course, notebooks, overrides, jobs, timeout, full)
        finally:
            os.environ.pop("INFERLEARN_MODEL", None)
    tasks = [(str(nb), str(executed_path(course, nb)), overrides or {}, full, timeout) for nb in notebooks]
    results: list[RunResult] = []
    with tqdm(total=len(tasks), desc="notebooks", unit="nb") as bar:
        if jobs <= 1:
            for task in tasks:
                results.append(run_notebook(*task))
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(run_notebook, *task) for task in tasks]
                for future in as_completed(futures):
                    results.append(future.result())
                    bar.update(1)
    order = {task[0]: i for i, task in enumerate(tasks)}
    return sorted(results, key=lambda r: order[r.notebook])


def record_results(course: Course, results: list[RunResult], context: dict[str, Any]) -> list[Path]:
    """``--record``: the results file of every notebook that ran to the end (see ``results.py``)."""
    from inferlearn.course.results import write_results

    return [write_results(course.root, Path(r.notebook), Path(r.output), r.seconds, context)
            for r in results if r.status == "ok"]


def write_report(course: Course, results: list[RunResult]) -> tuple[Path, Path]:
    """``build/run-report.json`` and ``build/run-report.md``."""
    course.build.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        row = asdict(r)
        for key in ("notebook", "output"):
            if row[key]:
                row[key] = relative_to(Path(row[key]), course.root)
        rows.append(row)
    failed = sum(1 for r in results if r.status != "ok")
    summary = {"passed": len(results) - failed, "failed": failed,
               "seconds": round(sum(r.seconds for r in results), 1), "notebooks": rows}
    json_path = course.build / "run-report.json"
    json_path.write_text(json.dumps(summary, indent=2, default=str))
    md_path = course.build / "run-report.md"
    md_path.write_text(format_report(rows, summary))
    return json_path, md_path


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it, else as given."""
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def format_report(rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The Markdown report: one table row per notebook."""
    lines = [
        "# Notebook run report", "",
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['seconds']} s in all.", "",
        "| notebook | status | seconds | failing cell | error |", "|---|---|---:|---:|---|",
    ]
    for row in rows:
        cell = "" if row["failing_cell"] is None else str(row["failing_cell"])
        error = row["error"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {row['notebook']} | {row['status']} | {row['seconds']:.1f} | {cell} | {error} |")
    return "\n".join(lines) + "\n"
