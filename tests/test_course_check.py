"""``inferlearn check``: a score table for the learner's own notebooks, files left untouched."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from fixtures.course.submissions import FIXTURE_PHASE, fill_solutions, load, set_source

from inferlearn.cli import main
from inferlearn.course.workspace import build_workspace

PHASE = FIXTURE_PHASE.name
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def course(make_course):
    """A course whose workspace holds a half-right 01_basics and an untouched 02_text."""
    course = make_course(name="check")
    build_workspace(course, log=lambda *_: None)
    mine = fill_solutions(load(course.workspace / PHASE / "01_basics.ipynb"), load(FIXTURE_PHASE / "01_basics.ipynb"))
    set_source(mine, "p0-mean-solution", "def mean(xs):\n    return sum(xs) / (len(xs) + 1)")
    nbformat.write(mine, course.workspace / PHASE / "01_basics.ipynb")
    return course


def test_check_prints_points_max_and_the_failing_tests_hint(course, capsys):
    code = main(["check", "--root", str(course.root)])
    out = capsys.readouterr().out
    assert code == 0
    assert "notebook" in out and "points" in out and "max" in out
    assert f"{PHASE}/01_basics" in out and f"{PHASE}/02_text" in out
    row = next(line for line in out.splitlines() if line.startswith(f"{PHASE}/01_basics"))
    assert row.split()[1:] == ["2", "3"]
    assert "p0-mean-tests (0/1): mean([1, 2, 3]) should be 2, not 1.5" in out
    assert "p0-slug-tests (0/1): not answered yet" in out
    assert "total" in out


def test_check_never_modifies_the_learners_files(course, capsys):
    files = sorted((course.workspace / PHASE).glob("*.ipynb"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    main(["check", "--root", str(course.root), str(files[0])])
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    assert sorted((course.workspace / PHASE).iterdir()) == files
    assert not (course.root / "build" / "course" / "submitted").exists()


def test_check_of_a_broken_file_says_could_not_grade_and_exits_1(course, tmp_path, capsys):
    folder = tmp_path / PHASE
    folder.mkdir()
    (folder / "01_basics.ipynb").write_text("{ not json")
    assert main(["check", "--root", str(course.root), str(folder / "01_basics.ipynb")]) == 1
    assert "could not grade: the notebook file is not valid JSON" in capsys.readouterr().out


def test_check_of_a_notebook_outside_a_phase_folder_explains(course, tmp_path, capsys):
    stray = tmp_path / "01_basics.ipynb"
    shutil.copyfile(FIXTURE_PHASE / "01_basics.ipynb", stray)
    assert main(["check", "--root", str(course.root), str(stray)]) == 2
    err = capsys.readouterr().err
    assert "not in a phase folder" in err and PHASE in err
