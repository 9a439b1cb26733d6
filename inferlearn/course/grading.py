"""``inferlearn grade``: autograde every submission, return feedback, export grades.

Submissions sit where nbgrader's ``collect`` puts them: ``build/course/submitted/<student>/
<phase>/NN_slug.ipynb``. Each notebook is graded in its own nbgrader process with a time limit
and its kernel in the bubblewrap sandbox (``sandbox.py``), so one bad or hostile submission (a
dead kernel, an endless loop, a file that is not JSON, an attack on the grader) becomes one
"could not grade" row or its own zero and never costs anyone else their grade. ``--jobs N``
grades in N workers (``workers.py``).

Outputs: ``build/course/autograded/``, ``build/course/feedback/``, ``build/course/grades.csv``
and ``build/course/grades.png``.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from inferlearn.course import nbg
from inferlearn.course.layout import Course
from inferlearn.course.sandbox import Limits, Spec
from inferlearn.course.scores import (
    COULD_NOT_GRADE,
    GRADED,
    NOT_SUBMITTED,
    NotebookScore,
    assignment_notebooks,
    read_score,
)
from inferlearn.course.workers import Unit, Workers, db_url

CSV_FIELDS = ["student", "phase", "notebook", "score", "max_score", "status", "detail", "failed_tests"]


def find_submissions(course: Course, students: list[str] | None = None) -> dict[tuple[str, str], list[str]]:
    """``{(student, phase): [notebook names]}`` for everything in ``submitted/``."""
    found: dict[tuple[str, str], list[str]] = {}
    if not course.submitted_dir.is_dir():
        return found
    for student_dir in sorted(course.submitted_dir.iterdir()):
        if not student_dir.is_dir() or student_dir.name.startswith("."):
            continue
        if students and student_dir.name not in students:
            continue
        for phase_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            names = sorted(p.stem for p in phase_dir.glob("*.ipynb"))
            found[(student_dir.name, phase_dir.name)] = names
    return found


def ensure_in_gradebook(course: Course, phases: set[str], log=print) -> dict[str, list[str]]:
    """Make sure the gradebook knows each phase (releasing it if not); its notebooks by phase."""
    known = {}
    for phase in sorted(phases):
        if phase not in course.phases():
            known[phase] = []
            continue
        if not assignment_notebooks(course, phase):
            log(f"{phase} is not in the gradebook yet: building its release first")
            nbg.generate_assignment(course, phase)
        known[phase] = assignment_notebooks(course, phase)
    return known


@dataclass(frozen=True)
class Options:
    """How ``inferlearn grade`` grades: time limits, workers, sandbox."""

    timeout: float = nbg.DEFAULT_STEP_TIMEOUT_S
    cell_timeout: float | None = None
    jobs: int = 1
    sandbox: bool = True
    limits: Limits = Limits()
    run_dir: str = ""  # set by grade_course: kernels' run folders, removed after the run


def grade_one(
    course: Course, phase: str, student: str, notebook: str, opts: Options, slot: int, db: Path,
) -> NotebookScore:
    """Autograde one notebook in isolation (worker ``slot``, gradebook ``db``) and read its score."""
    spec = Spec(limits=opts.limits, run_dir=opts.run_dir).to_env() if opts.sandbox else None
    result = nbg.autograde_notebook(course, phase, student, notebook, opts.timeout, opts.cell_timeout,
                                    db_url(db), spec)
    if not result.ok:
        return NotebookScore(student, phase, notebook, None, None, COULD_NOT_GRADE,
                             f"{result.reason(opts.timeout)} (log: {result.log.relative_to(course.root)})")
    return read_score(course, phase, student, notebook, db_url(db))


def unknown_phase_rows(student: str, phase: str, names: list[str]) -> list[NotebookScore]:
    """Rows for a submission to a phase the course does not have."""
    return [NotebookScore(student, phase, name, None, None, COULD_NOT_GRADE,
                          f"the course has no phase folder named {phase!r}") for name in names]


def grade_submission(
    course: Course, unit: Unit, expected: list[str], opts: Options, slot: int, db: Path, bar,
) -> list[NotebookScore]:
    """Grade one student's notebooks of one phase, then write their feedback."""
    student, phase, names = unit.student, unit.phase, list(unit.names)
    rows = []
    for name in names:
        if name not in expected:
            rows.append(NotebookScore(student, phase, name, None, None, COULD_NOT_GRADE,
                                      f"not a notebook of {phase} (expected one of: {', '.join(expected)})"))
        else:
            rows.append(grade_one(course, phase, student, name, opts, slot, db))
        bar.update(1)
    for name in expected:
        if name not in names:
            rows.append(NotebookScore(student, phase, name, 0.0, None, NOT_SUBMITTED))
    if any(r.status != COULD_NOT_GRADE and r.notebook in names for r in rows):
        feedback = nbg.generate_feedback(course, phase, student, db_url=db_url(db))
        if not feedback.ok:
            for row in rows:
                row.detail = (row.detail + "; " if row.detail else "") + "feedback failed: " + feedback.reason()
    return rows


def fill_max_scores(course: Course, rows: list[NotebookScore]) -> None:
    """Give 'not submitted' rows their notebook's maximum from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gb:
        for row in rows:
            if row.status == NOT_SUBMITTED and row.max_score is None:
                try:
                    row.max_score = gb.find_notebook(row.notebook, row.phase).max_score
                except MissingEntry:
                    pass


def grade_course(
    course: Course, students: list[str] | None = None, timeout: float = nbg.DEFAULT_STEP_TIMEOUT_S,
    cell_timeout: float | None = None, log=print, opts: Options | None = None,
) -> list[NotebookScore]:
    """Autograde every submission (or only ``students``' ones) in ``opts.jobs`` workers, each
    kernel sandboxed unless ``opts.sandbox`` is False; feedback per student and phase. Without
    ``opts`` (the old signature, used for trusted notebooks such as the course's own tests) it
    grades sequentially and unsandboxed; ``inferlearn grade`` always passes ``opts``."""
    opts = opts or Options(timeout=timeout, cell_timeout=cell_timeout, sandbox=False)
    submissions = find_submissions(course, students)
    if not submissions:
        who = f" for {', '.join(students)}" if students else ""
        raise FileNotFoundError(
            f"no submissions{who} in {course.submitted_dir}; put each as "
            "submitted/<student>/<phase>/NN_slug.ipynb (nbgrader collect or zip_collect do this)"
        )
    expected = ensure_in_gradebook(course, {phase for _, phase in submissions}, log)
    rows: list[NotebookScore] = []
    units = []
    for (student, phase), names in submissions.items():
        if expected.get(phase):
            units.append(Unit(student, phase, tuple(names)))
        else:
            rows.extend(unknown_phase_rows(student, phase, names))
    total = sum(len(unit.names) for unit in units)
    with tempfile.TemporaryDirectory(prefix="ilsb-run-", ignore_cleanup_errors=True) as run_dir:  # leftovers too
        os.chmod(run_dir, 0o755)
        graded = grade_units(course, units, expected, replace(opts, run_dir=run_dir), total)
    for unit in units:  # submission order, whatever order the workers finished in
        rows.extend(graded[unit])
    fill_max_scores(course, rows)
    return rows


def grade_units(
    course: Course, units: list[Unit], expected: dict[str, list[str]], opts: Options, total: int,
) -> dict[Unit, list[NotebookScore]]:
    """Grade the units in ``opts.jobs`` workers, with a progress bar (ETA included)."""
    with tqdm(total=total, desc=f"grading ({opts.jobs} worker{'s' * (opts.jobs > 1)})", unit="notebook") as bar:
        def grade_unit(unit: Unit, slot: int, db: Path) -> list[NotebookScore]:
            return grade_submission(course, unit, expected[unit.phase], opts, slot, db, bar)

        done: dict[Unit, list[NotebookScore]] = {}
        Workers(course, max(1, opts.jobs), grade_unit).run(units, lambda unit, got: done.__setitem__(unit, got))
    return done


def write_grades_csv(rows: list[NotebookScore], path: Path) -> Path:
    """One row per student notebook: score, maximum, status and what failed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({
                "student": row.student, "phase": row.phase, "notebook": row.notebook,
                "score": "" if row.score is None else row.score,
                "max_score": "" if row.max_score is None else row.max_score,
                "status": row.status, "detail": row.detail,
                "failed_tests": ";".join(f.grade_id for f in row.failed),
            })
    return path


def percent_by_submission(rows: list[NotebookScore]) -> dict[tuple[str, str], float]:
    """Each student's share of a phase's automatic points, in percent; a submission with a
    notebook that could not be graded is left out (its total would be wrong)."""
    got: dict[tuple[str, str], float] = defaultdict(float)
    most: dict[tuple[str, str], float] = defaultdict(float)
    incomplete = {(r.student, r.phase) for r in rows if r.status not in (GRADED, NOT_SUBMITTED)}
    for row in rows:
        key = (row.student, row.phase)
        if key not in incomplete and row.max_score:
            got[key] += row.score or 0.0
            most[key] += row.max_score
    return {key: 100.0 * got[key] / most[key] for key in most if most[key]}


def plot_distribution(rows: list[NotebookScore], path: Path) -> Path:
    """A histogram of students' percentage scores, one colour per phase, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    percents = percent_by_submission(rows)
    by_phase: dict[str, list[float]] = defaultdict(list)
    for (_, phase), value in percents.items():
        by_phase[phase].append(value)
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = list(range(0, 101, 10))
    for phase, values in sorted(by_phase.items()):
        ax.hist(values, bins=bins, alpha=0.6, label=phase, edgecolor="black")
    left_out = len({(r.student, r.phase) for r in rows}) - len(percents)
    ax.set_title(f"Grade distribution: {len(percents)} submissions ({left_out} left out: not fully graded)")
    ax.set_xlabel("score (% of automatic points)")
    ax.set_ylabel("submissions")
    ax.set_xlim(0, 100)
    if by_phase:
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def format_rows(rows: list[NotebookScore]) -> str:
    """A plain-text table of the grade sheet."""
    lines = [f"{'student':<14} {'phase':<20} {'notebook':<28} {'points':>9}  status"]
    for row in rows:
        points = "-" if row.score is None else f"{row.score:g}/{row.max_score or 0:g}"
        note = f"  ({row.detail})" if row.detail else ""
        lines.append(f"{row.student:<14} {row.phase:<20} {row.notebook:<28} {points:>9}  {row.status}{note}")
    return "\n".join(lines)
