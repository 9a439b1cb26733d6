"""The learner's workspace: copies of the release, never overwritten, updates written beside."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from fixtures.course.submissions import FIXTURE_PHASE, load

from inferlearn.cli import main
from inferlearn.course.workspace import build_workspace

PHASE = FIXTURE_PHASE.name
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def course(make_course):
    """A private course with the fixture phase and one ungraded notebook in notebooks/."""
    course = make_course(name="ws")
    (course.root / "notebooks").mkdir()
    shutil.copyfile(FIXTURE_PHASE / "02_text.ipynb", course.root / "notebooks" / "00_tour.ipynb")
    return course


def edit(path, text):
    """What a learner does: change a cell and save."""
    nb = load(path)
    nb.cells[0].source = text
    nbformat.write(nb, path)


def test_workspace_gets_release_and_ungraded_notebooks(course):
    build_workspace(course, log=lambda *_: None)
    mine = course.workspace / PHASE / "01_basics.ipynb"
    assert "BEGIN SOLUTION" not in mine.read_text() and "HIDDEN" not in mine.read_text()
    assert (course.workspace / PHASE / "02_text.ipynb").exists()
    assert (course.workspace / "notebooks" / "00_tour.ipynb").exists()


def test_edited_workspace_notebook_survives_a_rebuild(course, capsys):
    assert main(["workspace", "--root", str(course.root)]) == 0
    mine = course.workspace / PHASE / "01_basics.ipynb"
    edit(mine, "# my notes")
    before = mine.read_bytes()

    assert main(["workspace", "--root", str(course.root)]) == 0

    assert mine.read_bytes() == before
    assert not list((course.workspace / PHASE).glob("*.updated*.ipynb"))


def test_newer_course_version_is_written_beside_and_announced(course, capsys):
    build_workspace(course, log=lambda *_: None)
    mine = course.workspace / PHASE / "01_basics.ipynb"
    edit(mine, "# my notes")
    before = mine.read_bytes()
    edit(course.root / PHASE / "01_basics.ipynb", "# 01 · Fixture basics, second edition")

    messages = []
    build_workspace(course, log=messages.append)

    assert mine.read_bytes() == before
    beside = course.workspace / PHASE / "01_basics.updated.ipynb"
    assert "second edition" in beside.read_text()
    assert any("01_basics.updated.ipynb" in m and "untouched" in m for m in messages)


def test_updated_copy_the_learner_edited_is_not_overwritten_either(course):
    build_workspace(course, log=lambda *_: None)
    source = course.root / PHASE / "01_basics.ipynb"
    edit(source, "# second edition")
    build_workspace(course, log=lambda *_: None)
    beside = course.workspace / PHASE / "01_basics.updated.ipynb"
    edit(beside, "# I started working in the updated copy")
    kept = beside.read_bytes()
    edit(source, "# third edition")

    build_workspace(course, log=lambda *_: None)

    assert beside.read_bytes() == kept
    assert "third edition" in (course.workspace / PHASE / "01_basics.updated-2.ipynb").read_text()


def test_deleted_workspace_notebook_is_restored(course):
    build_workspace(course, log=lambda *_: None)
    mine = course.workspace / PHASE / "02_text.ipynb"
    mine.unlink()
    build_workspace(course, log=lambda *_: None)
    assert mine.exists()
