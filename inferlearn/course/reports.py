"""Instructor reports of ``inferlearn grade``: the stored grade sheet and per-exercise pass rates.

Every run stores its rows in ``build/course/grading/rows.json`` by student and phase, so a
``--student`` regrade replaces only that student's rows and ``grades.csv`` always lists everyone.
The pass-rate table (``pass_rates.csv``, ``pass_rates.png``) gives, for each test cell, the share
of graded submissions that got its full points: the exercise most students fail is the one to
look at. Described in README "For instructors".
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from inferlearn.course.layout import Course
from inferlearn.course.scores import GRADED, NEEDS_MANUAL, FailedTest, NotebookScore


def rows_path(course: Course) -> Path:
    """Where the grade sheet of every run is kept."""
    return course.course_dir / "grading" / "rows.json"


def load_rows(course: Course) -> list[NotebookScore]:
    """Every stored row (empty before the first run)."""
    path = rows_path(course)
    if not path.exists():
        return []
    rows = []
    for item in json.loads(path.read_text()):
        failed = [FailedTest(**f) for f in item.pop("failed", [])]
        rows.append(NotebookScore(**item, failed=failed))
    return rows


def store_rows(course: Course, new: list[NotebookScore]) -> list[NotebookScore]:
    """Replace the stored rows of each (student, phase) in ``new``; return all rows, sorted."""
    replaced = {(r.student, r.phase) for r in new}
    kept = [r for r in load_rows(course) if (r.student, r.phase) not in replaced]
    rows = sorted(kept + new, key=lambda r: (r.student, r.phase, r.notebook))
    path = rows_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return rows


@dataclass
class PassRate:
    """How many graded submissions got full points on one test cell."""

    phase: str
    notebook: str
    grade_id: str
    passed: int
    graded: int

    @property
    def share(self) -> float:
        """Passed / graded, 0 when nothing was graded."""
        return self.passed / self.graded if self.graded else 0.0


def pass_rates(course: Course, rows: list[NotebookScore]) -> list[PassRate]:
    """Per test cell, from the gradebook: full points among the notebooks graded in ``rows``."""
    from nbgrader.api import Gradebook, MissingEntry

    graded = [(r.phase, r.notebook, r.student) for r in rows if r.status in (GRADED, NEEDS_MANUAL)]
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    with Gradebook(course.db_url) as gb:
        for phase, notebook, student in graded:
            try:
                sub = gb.find_submission_notebook(notebook, phase, student)
            except MissingEntry:
                continue
            for grade in sub.grades:
                if not grade.max_score or grade.needs_manual_grade:
                    continue
                count = counts[(phase, notebook, grade.name)]
                count[0] += int((grade.score or 0) >= grade.max_score)
                count[1] += 1
    return [PassRate(*key, *value) for key, value in sorted(counts.items())]


def write_pass_rates(rates: list[PassRate], path: Path) -> Path:
    """``pass_rates.csv``: phase, notebook, test, passed, graded, share."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phase", "notebook", "grade_id", "passed", "graded", "share"])
        for rate in rates:
            writer.writerow([rate.phase, rate.notebook, rate.grade_id, rate.passed, rate.graded,
                             f"{rate.share:.3f}"])
    return path


def format_pass_rates(rates: list[PassRate]) -> str:
    """The pass-rate table as text, hardest test first."""
    lines = [f"{'test':<28} {'notebook':<28} {'passed':>11}"]
    for rate in sorted(rates, key=lambda r: (r.share, r.grade_id)):
        lines.append(f"{rate.grade_id:<28} {rate.notebook:<28} {rate.passed:>3}/{rate.graded:<3} {rate.share:>4.0%}")
    return "\n".join(lines)


def plot_pass_rates(rates: list[PassRate], path: Path) -> Path:
    """A horizontal bar per test cell: the share of graded submissions that passed it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(rates, key=lambda r: (r.phase, r.notebook, r.grade_id), reverse=True)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(ordered) + 1)))
    ax.barh([r.grade_id for r in ordered], [100 * r.share for r in ordered], color="tab:blue")
    for index, rate in enumerate(ordered):
        ax.text(min(100 * rate.share + 1, 90), index, f"{rate.passed}/{rate.graded}", va="center", fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("graded submissions with full points (%)")
    ax.set_title("Pass rate per test: the short bars are the hard exercises")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


NO_SANDBOX_WARNING = ("WARNING: graded WITHOUT the sandbox (--no-sandbox): submissions ran with your rights and "
                      "could read the hidden tests, the gradebook and other submissions. Only for code you trust.")


def write_reports(course: Course, graded: list[NotebookScore], opts, seconds: float) -> str:
    """Store this run's rows, write grades.csv, the grade plot and the pass rates; the report text."""
    from inferlearn.course.grading import format_rows, plot_distribution, write_grades_csv
    from inferlearn.course.scores import COULD_NOT_GRADE

    rows = store_rows(course, graded)
    csv_path = write_grades_csv(rows, course.course_dir / "grades.csv")
    png_path = plot_distribution(rows, course.course_dir / "grades.png")
    rates = pass_rates(course, rows)
    rates_csv = write_pass_rates(rates, course.course_dir / "pass_rates.csv")
    rates_png = plot_pass_rates(rates, course.course_dir / "pass_rates.png")
    lines = [NO_SANDBOX_WARNING] if not opts.sandbox else []
    lines += [format_rows(graded), "", "pass rate per test (all stored grades):", format_pass_rates(rates)]
    bad = [r for r in graded if r.status == COULD_NOT_GRADE]
    if bad:
        lines.append(f"\n{len(bad)} notebook(s) could not be graded: see the detail column and logs in "
                     f"{course.build / 'logs' / 'autograde'}")
    lines.append(f"graded {len(graded)} notebook row(s) in {seconds:.0f} s with {opts.jobs} worker(s), "
                 f"{'NO sandbox' if not opts.sandbox else 'each kernel sandboxed'}")
    lines.append(f"grades: {csv_path}\nplot: {png_path}\npass rates: {rates_csv} and {rates_png}\n"
                 f"feedback: {course.feedback_dir}")
    if not opts.sandbox:
        lines.append(NO_SANDBOX_WARNING)
    return "\n".join(lines)
