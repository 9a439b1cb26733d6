"""Grading round trips and the bad-submission batch, on nbgrader 0.9.6 with the course config.

The fixture phase (tests/fixtures/course/phase0_fixture) runs always; every real phase folder
with notebooks gets the same round trip. Each test builds a private course in a temp folder.

The round trip is where ``make test`` executes each phase notebook, three times and no more, in
one grading batch with two workers: the source (full marks, and no cell may raise: the check
nbval-lax made), the release as is (zero) and the source with every wrong answer on file
swapped in (each loses points). ``tests/test_notebooks.py`` runs nbval on ``notebooks/`` only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fixtures.course.submissions import (
    FIXTURE_PHASE,
    at_ci_size,
    drop_cell,
    error_cells,
    good_submission,
    hidden_lines,
    html_text,
    leaked_lines,
    load,
    output_text,
    set_source,
    submit,
    with_wrong_answers,
    wrong_answers,
)
from nbformat.v4 import new_code_cell, new_notebook, new_output

from inferlearn.cli import main
from inferlearn.course import sandbox
from inferlearn.course.grading import Options, grade_course
from inferlearn.course.layout import Course
from inferlearn.course.release import release_course
from inferlearn.course.scores import COULD_NOT_GRADE, GRADED, NOT_SUBMITTED

REPO = Path(__file__).resolve().parent.parent
REAL_PHASES = [REPO / name for name in Course(REPO).phases()]
PHASES = [pytest.param(FIXTURE_PHASE, id=FIXTURE_PHASE.name)] + [
    pytest.param(path, id=path.name, marks=pytest.mark.slow) for path in REAL_PHASES
]
pytestmark = pytest.mark.timeout(1800)


def submit_round_trip(course: Course, phase: str) -> dict[str, list[str]]:
    """Student "solution" hands in the source notebooks, "blank" the release as is, "wrong" the
    source with every wrong answer on file swapped in; all at CI size (the notebook's
    ``ci_parameters`` injected, as ``inferlearn run`` does). Returns what "wrong" must fail."""
    wrong, expected = wrong_answers(phase), {}
    for source in course.phase_notebooks(phase):
        submit(course.submitted_dir, "solution", phase, source.name, at_ci_size(load(source)))
        submit(course.submitted_dir, "blank", phase, source.name,
               at_ci_size(load(course.release_dir / phase / source.name)))
        if wrong:
            nb = load(source)
            expected.update(with_wrong_answers(nb, wrong))
            submit(course.submitted_dir, "wrong", phase, source.name, at_ci_size(nb))
    return expected


def assert_no_hidden_text(course: Course, phase: str) -> None:
    """No hidden test line in the release, in any student's autograded outputs or feedback HTML."""
    for source in course.phase_notebooks(phase):
        lines = hidden_lines(load(source))
        places = {"release": (course.release_dir / phase / source.name).read_text()}
        for student in sorted(p.name for p in course.autograded_dir.iterdir()):
            places[f"autograded outputs ({student})"] = output_text(
                load(course.autograded_dir / student / phase / source.name))
            feedback = course.feedback_dir / student / phase / f"{source.stem}.html"
            places[f"feedback ({student})"] = html_text(feedback.read_text())
        for where, text in places.items():
            leaked = leaked_lines(lines, text)
            assert not leaked, f"hidden test text of {source.name} in the {where}: {leaked}"


@pytest.mark.slow
@pytest.mark.parametrize("phase_dir", PHASES)
def test_round_trip_source_full_marks_release_zero_wrong_answers_lose_no_hidden_text(make_course, phase_dir):
    course = make_course(phase_dir, name=f"rt-{phase_dir.name}")
    phase = phase_dir.name
    release_course(course, [phase], log=lambda *_: None)
    if phase_dir == FIXTURE_PHASE:  # else the leak check below would prove nothing
        assert all(hidden_lines(load(s)) for s in course.phase_notebooks(phase))
    expected = submit_round_trip(course, phase)
    assert expected or phase_dir == FIXTURE_PHASE, f"{phase}: no wrong answer was swapped in"

    rows = grade_course(course, log=lambda *_: None, opts=Options(timeout=900, jobs=2, sandbox=False))

    by_student = {(r.student, r.notebook): r for r in rows}
    for source in course.phase_notebooks(phase):
        full = by_student[("solution", source.stem)]
        assert full.status == GRADED and full.score == full.max_score, (
            f"{phase}/{source.name}: the source notebook should autograde to full marks: {full}")
        raised = error_cells(load(course.autograded_dir / "solution" / phase / source.name))
        assert not raised, f"{phase}/{source.name}: cells raised at CI size (index, error): {raised}"
        blank = by_student[("blank", source.stem)]
        assert blank.status == GRADED and blank.score == 0, (
            f"{phase}/{source.name}: the release should execute and score 0: {blank}")
    assert_wrong_answers_lose_points([r for r in rows if r.student == "wrong"], expected)
    assert_no_hidden_text(course, phase)


def assert_wrong_answers_lose_points(rows: list, expected: dict[str, list[str]]) -> None:
    """Every wrong answer made at least one of the test cells after it fail."""
    assert all(r.status == GRADED for r in rows), [r for r in rows if r.status != GRADED]
    failed = {f.grade_id for r in rows for f in r.failed}
    survivors = {gid: tests for gid, tests in expected.items() if not set(tests) & failed}
    assert not survivors, f"these wrong answers kept full points (their tests cannot catch them): {survivors}"


def test_error_cells_finds_a_raised_cell_unless_tagged_raises_exception():
    nb = new_notebook(cells=[new_code_cell("1"), new_code_cell("1/0"), new_code_cell("1/0")])
    for cell in nb.cells[1:]:
        cell.outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    nb.cells[2].metadata["tags"] = ["raises-exception"]
    assert error_cells(nb) == [(1, "ZeroDivisionError: division by zero")]


@pytest.fixture(scope="module")
def batch(make_course):
    """The fixture phase released, then one good and seven bad submissions graded in one batch."""
    course = make_course(name="batch", release=True)
    phase = FIXTURE_PHASE.name

    def good(name):
        return good_submission(course, name)

    inbox = course.submitted_dir
    submit(inbox, "good", phase, "01_basics.ipynb", good("01_basics.ipynb"))
    submit(inbox, "good", phase, "02_text.ipynb", good("02_text.ipynb"))
    submit(inbox, "badjson", phase, "01_basics.ipynb", '{"cells": [ this is not json')
    submit(inbox, "dies", phase, "01_basics.ipynb",
           set_source(good("01_basics.ipynb"), "p0-mean-solution", "import os\nos._exit(1)"))
    submit(inbox, "loop", phase, "01_basics.ipynb",
           set_source(good("01_basics.ipynb"), "p0-mean-solution", "while True:\n    pass"))
    submit(inbox, "deleted", phase, "01_basics.ipynb", drop_cell(good("01_basics.ipynb"), "p0-add-tests"))
    edited = set_source(good("01_basics.ipynb"), "p0-add-solution", "def add(a, b):\n    return a - b")
    submit(inbox, "edited", phase, "01_basics.ipynb", set_source(edited, "p0-add-tests", "assert True"))
    flood = "print('x' * 5_000_000)\nprint('y\\n' * 100_000)\ndef add(a, b):\n    return a + b"
    submit(inbox, "huge", phase, "01_basics.ipynb", set_source(good("01_basics.ipynb"), "p0-add-solution", flood))
    broken = good("02_text.ipynb")
    broken.cells[1].source = "import not_a_module_anywhere\nimport re"
    submit(inbox, "importerr", phase, "02_text.ipynb", broken)

    code = main(["grade", "--root", str(course.root), "--cell-timeout", "10", "--timeout", "180", "--jobs", "2"]
                + ([] if sandbox.probe()[0] else ["--no-sandbox"]))
    with open(course.course_dir / "grades.csv") as handle:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    return course, code, rows


@pytest.mark.slow
def test_batch_finishes_and_exports_grades_and_plot(batch):
    course, code, rows = batch
    assert code == 0
    assert (course.course_dir / "grades.png").stat().st_size > 1000
    assert len({student for student, _ in rows}) == 8


@pytest.mark.slow
def test_good_submission_keeps_full_marks_beside_bad_ones(batch):
    _, _, rows = batch
    for name in ("01_basics", "02_text"):
        row = rows[("good", name)]
        assert row["status"] == GRADED
        assert float(row["score"]) == float(row["max_score"]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("student, words", [
    ("badjson", "not valid JSON"),
    ("dies", "kernel died"),
])
def test_unreadable_or_crashing_submission_is_a_clear_could_not_grade_row(batch, student, words):
    _, _, rows = batch
    row = rows[(student, "01_basics")]
    assert row["status"] == COULD_NOT_GRADE and row["score"] == ""
    assert words in row["detail"] and "log:" in row["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("student, notebook, score, failed", [
    ("loop", "01_basics", 2.0, "p0-mean-tests"),      # the endless cell is interrupted after 10 s
    ("deleted", "01_basics", 3.0, ""),                # the deleted test cell is put back and run
    ("edited", "01_basics", 1.0, "p0-add-tests"),     # the edited locked test is restored
    ("huge", "01_basics", 3.0, ""),                   # a flood of output is graded, not fatal
    ("importerr", "02_text", 0.0, "p0-slug-tests"),   # a failing import costs what depends on it
])
def test_bad_submission_gets_the_right_score(batch, student, notebook, score, failed):
    _, _, rows = batch
    row = rows[(student, notebook)]
    assert row["status"] == GRADED, row
    assert float(row["score"]) == score
    assert row["failed_tests"] == failed


@pytest.mark.slow
def test_missing_notebook_is_zero_not_submitted(batch):
    _, _, rows = batch
    row = rows[("importerr", "01_basics")]
    assert (row["status"], float(row["score"]), float(row["max_score"])) == (NOT_SUBMITTED, 0.0, 3.0)


@pytest.mark.slow
def test_huge_output_is_capped_in_autograded_notebook_and_feedback(batch):
    course, _, _ = batch
    graded = course.autograded_dir / "huge" / FIXTURE_PHASE.name / "01_basics.ipynb"
    feedback = course.feedback_dir / "huge" / FIXTURE_PHASE.name / "01_basics.html"
    assert graded.stat().st_size < 500_000
    assert feedback.stat().st_size < 2_000_000
    assert "output truncated" in graded.read_text()


@pytest.mark.slow
def test_batch_feedback_never_shows_hidden_tests(batch):
    course, _, _ = batch
    lines = hidden_lines(load(FIXTURE_PHASE / "01_basics.ipynb"))
    pages = list(course.feedback_dir.rglob("*.html"))
    assert len(pages) >= 6
    for page in pages:
        assert not leaked_lines(lines, html_text(page.read_text())), page


@pytest.mark.slow
def test_batch_pass_rate_table_counts_full_points_per_test(batch):
    course, _, _ = batch
    with open(course.course_dir / "pass_rates.csv") as handle:
        rates = {r["grade_id"]: (int(r["passed"]), int(r["graded"])) for r in csv.DictReader(handle)}
    # graded 01_basics: good, loop, deleted, edited, huge (badjson and dies could not be graded)
    assert rates == {"p0-add-tests": (4, 5), "p0-mean-tests": (4, 5), "p0-slug-tests": (1, 2)}
    assert (course.course_dir / "pass_rates.png").stat().st_size > 1000


@pytest.mark.slow
def test_student_regrade_touches_no_one_else(batch):
    course, _, rows = batch
    others = {p: p.stat().st_mtime_ns for p in course.autograded_dir.rglob("*.ipynb") if "/good/" not in str(p)}
    feedback = {p: p.stat().st_mtime_ns for p in course.feedback_dir.rglob("*.html") if "/good/" not in str(p)}
    code = main(["grade", "--root", str(course.root), "--student", "good", "--cell-timeout", "10"]
                + ([] if sandbox.probe()[0] else ["--no-sandbox"]))
    assert code == 0
    assert others == {p: p.stat().st_mtime_ns for p in others}
    assert feedback == {p: p.stat().st_mtime_ns for p in feedback}
    with open(course.course_dir / "grades.csv") as handle:
        again = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    assert again.keys() == rows.keys()  # everyone still listed
    assert {k: v for k, v in again.items()} == rows  # same grades, the regraded student's included
