"""Scores from nbgrader's gradebook, and the hints failing tests printed.

nbgrader's ``validate`` always exits 0, so pass/fail is read here: points from the gradebook,
the hint a failing test printed (and its error) from the autograded notebook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from inferlearn.course.layout import Course

ANSI = re.compile(r"\x1b\[[0-9;]*m")

GRADED = "graded"
NEEDS_MANUAL = "needs manual grade"
NOT_SUBMITTED = "not submitted"
COULD_NOT_GRADE = "could not grade"


@dataclass
class FailedTest:
    """One test cell that did not get full points."""

    grade_id: str
    score: float
    max_score: float
    hint: str


@dataclass
class NotebookScore:
    """One row of the grade sheet: a student's notebook, its points and what went wrong."""

    student: str
    phase: str
    notebook: str
    score: float | None
    max_score: float | None
    status: str
    detail: str = ""
    failed: list[FailedTest] = field(default_factory=list)


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes."""
    return ANSI.sub("", text)


def cell_hint(cell: nbformat.NotebookNode, max_lines: int = 3) -> str:
    """What a failing test cell told the learner: its printed hint, else its error."""
    printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    lines = [line.strip() for line in strip_ansi(printed).splitlines() if line.strip()]
    if lines:
        return " / ".join(lines[-max_lines:])
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            if output.get("ename") == "NotImplementedError":
                return "not answered yet (the solution cell still raises NotImplementedError)"
            evalue = strip_ansi(str(output.get("evalue", ""))).strip()
            return f"{output.get('ename', 'Error')}: {evalue}" if evalue else str(output.get("ename"))
    return "no hint printed"


def grade_cells(path: Path) -> dict[str, nbformat.NotebookNode]:
    """The graded cells of an autograded notebook, by ``grade_id``."""
    if not path.exists():
        return {}
    nb = nbformat.read(path, as_version=4)
    found = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id"):
            found[meta["grade_id"]] = cell
    return found


def read_score(
    course: Course, phase: str, student: str, notebook: str, db_url: str | None = None
) -> NotebookScore:
    """The gradebook's (or ``db_url``'s) score for one submitted notebook, with the hints of
    failing tests."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url or course.db_url) as gb:
        try:
            sub = gb.find_submission_notebook(notebook, phase, student)
        except MissingEntry:
            return NotebookScore(student, phase, notebook, None, None, COULD_NOT_GRADE,
                                 "no gradebook entry for this notebook")
        grades = [(g.name, g.score, g.max_score, g.needs_manual_grade) for g in sub.grades]
        score, max_score, manual = sub.score, sub.max_score, sub.needs_manual_grade
    cells = grade_cells(course.autograded_dir / student / phase / f"{notebook}.ipynb")
    failed = [
        FailedTest(name, got, most, cell_hint(cells[name]) if name in cells else "no output")
        for name, got, most, _ in grades if (got or 0) < most
    ]
    status = NEEDS_MANUAL if manual else GRADED
    return NotebookScore(student, phase, notebook, score, max_score, status, failed=failed)


def assignment_notebooks(course: Course, phase: str) -> list[str]:
    """Names of the notebooks the gradebook knows for a phase (empty if it knows none)."""
    from nbgrader.api import Gradebook, MissingEntry

    if not course.gradebook.exists():
        return []
    with Gradebook(course.db_url) as gb:
        try:
            return sorted(nb.name for nb in gb.find_assignment(phase).notebooks)
        except MissingEntry:
            return []
