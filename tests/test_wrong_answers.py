"""A test of the tests: a plausible wrong answer to each graded exercise loses points.

``tests/wrong_answers/phaseN_*.py`` (``phaseN`` as in the phase folder's name) each hold
``WRONG = {solution grade_id: wrong source}``. Here: every exercise has one on file. The grading
round trip (``test_course_grading.py``) hands them in, all swapped into the source notebooks, as
student "wrong" in the same batch as the solution and the blank release, and checks that the
test cells that follow each swapped solution do not all get full points.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.course.submissions import grade_id, load, wrong_answers

from inferlearn.course.layout import Course

REPO = Path(__file__).resolve().parent.parent
PHASES = [name for name in Course(REPO).phases() if wrong_answers(name)]


def test_every_phase_has_wrong_answers_on_file():
    assert PHASES == Course(REPO).phases(), "a phase folder has no tests/wrong_answers/phaseN_*.py"


@pytest.mark.parametrize("phase", PHASES)
def test_every_exercise_has_a_wrong_answer_on_file(phase):
    solutions = {grade_id(c) for nb in Course(REPO).phase_notebooks(phase) for c in load(nb).cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    wrong = wrong_answers(phase)
    assert set(wrong) <= solutions, f"WRONG names cells that do not exist: {set(wrong) - solutions}"
    assert solutions <= set(wrong), f"exercises without a wrong answer on file: {solutions - set(wrong)}"
