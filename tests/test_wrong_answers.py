"""A test of the tests: a plausible wrong answer to each graded exercise loses points.

``tests/wrong_answers/phaseN_*.py`` (``phaseN`` as in the phase folder's name) each hold ``WRONG = {solution grade_id: wrong source}``.
For every phase folder, one student hands in the source notebooks with every wrong answer
swapped in; the test cells that follow each swapped solution must not all get full points.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fixtures.course.submissions import grade_id, load, set_source, submit

from inferlearn.course.grading import grade_course
from inferlearn.course.layout import Course
from inferlearn.course.release import release_course
from inferlearn.course.scores import GRADED

REPO = Path(__file__).resolve().parent.parent
WRONG_DIR = Path(__file__).resolve().parent / "wrong_answers"
pytestmark = pytest.mark.timeout(1800)


def wrong_answers(phase: str) -> dict[str, str]:
    """Every ``WRONG`` entry written for ``phase``."""
    merged: dict[str, str] = {}
    for path in sorted(WRONG_DIR.glob(f"{phase.split('_')[0]}_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        merged.update(module.WRONG)
    return merged


def following_tests(nb, solution_id: str) -> list[str]:
    """grade_ids of the graded test cells between a solution cell and the next solution cell."""
    found, out = False, []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if grade_id(cell) == solution_id:
            found = True
        elif found and meta.get("solution"):
            break
        elif found and meta.get("grade"):
            out.append(grade_id(cell))
    return out


PHASES = [name for name in Course(REPO).phases() if wrong_answers(name)]


@pytest.mark.parametrize("phase", PHASES)
def test_every_exercise_has_a_wrong_answer_on_file(phase):
    solutions = {grade_id(c) for nb in Course(REPO).phase_notebooks(phase) for c in load(nb).cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    wrong = wrong_answers(phase)
    assert set(wrong) <= solutions, f"WRONG names cells that do not exist: {set(wrong) - solutions}"
    assert solutions <= set(wrong), f"exercises without a wrong answer on file: {solutions - set(wrong)}"


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
def test_each_wrong_answer_loses_points(make_course, phase):
    course = make_course(REPO / phase, name=f"wrong-{phase}")
    release_course(course, [phase], log=lambda *_: None)
    wrong = wrong_answers(phase)
    expected: dict[str, list[str]] = {}
    for source in course.phase_notebooks(phase):
        nb = load(source)
        mine = [gid for gid in wrong if following_tests(nb, gid)]
        for gid in mine:
            set_source(nb, gid, wrong[gid])
            expected[gid] = following_tests(nb, gid)
        submit(course.submitted_dir, "wrong", phase, source.name, nb)
    rows = grade_course(course, timeout=900, log=lambda *_: None)
    failed = {f.grade_id for r in rows for f in r.failed}
    assert all(r.status == GRADED for r in rows), [r for r in rows if r.status != GRADED]
    survivors = {gid: tests for gid, tests in expected.items() if not set(tests) & failed}
    assert not survivors, f"these wrong answers kept full points (their tests cannot catch them): {survivors}"
