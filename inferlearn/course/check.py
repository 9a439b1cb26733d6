"""``inferlearn check``: grade the learner's own notebooks, locally and privately.

Each check builds a throw-away nbgrader course in a temporary folder (the phase's source
notebooks, the course's settings, one student called "me"), copies the learner's notebooks in as
a submission, autogrades them notebook by notebook and reads the points from the gradebook. The
learner's files are only ever read. Output: a table of notebook, points, maximum, and each
failing test with the hint it printed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from inferlearn.course import nbg
from inferlearn.course.layout import Course
from inferlearn.course.scores import COULD_NOT_GRADE, NotebookScore, read_score
from inferlearn.course.workspace import UPDATED_SUFFIX

STUDENT = "me"


def workspace_notebooks(course: Course) -> list[Path]:
    """The learner's graded notebooks: ``workspace/<phase>/*.ipynb`` without ``.updated`` copies."""
    found = []
    for phase in course.phases():
        found.extend(p for p in sorted((course.workspace / phase).glob("*.ipynb"))
                     if not p.name.endswith(UPDATED_SUFFIX) and ".updated-" not in p.name)
    if not found:
        raise FileNotFoundError(
            f"no notebooks in {course.workspace}/<phase>/ to check; run `make lab` (or "
            "`inferlearn workspace`) to get your copies, or name notebooks: inferlearn check PATH"
        )
    return found


def group_by_phase(course: Course, paths: list[Path]) -> dict[str, list[Path]]:
    """``{phase: [notebooks]}``, the phase read from each notebook's folder name."""
    grouped: dict[str, list[Path]] = defaultdict(list)
    phases = course.phases()
    for path in paths:
        files = sorted(path.glob("*.ipynb")) if path.is_dir() else [path]
        for file in files:
            if not file.is_file():
                raise FileNotFoundError(f"{file} does not exist")
            if file.parent.name not in phases:
                raise ValueError(
                    f"{file} is not in a phase folder, so its assignment is unknown; keep it in "
                    f"a folder named after its phase ({', '.join(phases) or 'none yet'}), "
                    "e.g. workspace/<phase>/"
                )
            grouped[file.parent.name].append(file.resolve())
    return dict(grouped)


def check_phase(private: Course, phase: str, files: list[Path], cell_timeout: float | None) -> list[NotebookScore]:
    """Grade one phase's notebooks in the private course."""
    nbg.generate_assignment(private, phase)
    known = {p.stem for p in private.phase_notebooks(phase)}
    inbox = private.submitted_dir / STUDENT / phase
    inbox.mkdir(parents=True, exist_ok=True)
    rows = []
    for file in files:
        if file.stem not in known:
            rows.append(NotebookScore(STUDENT, phase, file.stem, None, None, COULD_NOT_GRADE,
                                      f"the course has no notebook {file.name} in {phase}; "
                                      f"checkable names: {', '.join(sorted(known))}"))
            continue
        shutil.copyfile(file, inbox / file.name)
        result = nbg.autograde_notebook(private, phase, STUDENT, file.stem, cell_timeout=cell_timeout)
        if result.ok:
            rows.append(read_score(private, phase, STUDENT, file.stem))
        else:
            rows.append(NotebookScore(STUDENT, phase, file.stem, None, None, COULD_NOT_GRADE,
                                      result.reason()))
    return rows


def check_notebooks(
    course: Course, paths: list[Path] | None = None, cell_timeout: float | None = None
) -> list[NotebookScore]:
    """Autograde the given notebooks (default: the whole workspace) in a private course."""
    grouped = group_by_phase(course, paths or workspace_notebooks(course))
    rows: list[NotebookScore] = []
    with tempfile.TemporaryDirectory(prefix="inferlearn-check-") as tmp:
        private = nbg.make_private_course(
            Path(tmp), [course.root / phase for phase in grouped], course.root / "nbgrader_config.py"
        )
        for phase, files in grouped.items():
            rows.extend(check_phase(private, phase, files, cell_timeout))
    return rows


def format_check(rows: list[NotebookScore]) -> str:
    """The learner's score table: notebook, points, max, then each failing test and its hint."""
    lines = [f"{'notebook':<40} {'points':>6} {'max':>5}", "-" * 53]
    for row in rows:
        name = f"{row.phase}/{row.notebook}"
        if row.status == COULD_NOT_GRADE:
            lines.append(f"{name:<40} {'-':>6} {'-':>5}   could not grade: {row.detail}")
            continue
        lines.append(f"{name:<40} {row.score or 0:>6g} {row.max_score or 0:>5g}")
        for test in row.failed:
            lines.append(f"    {test.grade_id} ({test.score or 0:g}/{test.max_score:g}): {test.hint}")
    got = sum(r.score or 0 for r in rows)
    most = sum(r.max_score or 0 for r in rows)
    lines.append("-" * 53)
    lines.append(f"{'total':<40} {got:>6g} {most:>5g}")
    return "\n".join(lines)
