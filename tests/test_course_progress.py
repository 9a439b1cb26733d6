"""``inferlearn progress``: points per phase and notebook from the learner's own check history."""

from __future__ import annotations

import json
import subprocess

import nbformat
import pytest
from fixtures.course.submissions import FIXTURE_PHASE, fill_solutions, load, set_source

from inferlearn.cli import main
from inferlearn.course.progress import (
    NOT_CHECKED,
    format_progress,
    history_path,
    load_history,
    plot_progress,
    progress_table,
    record_check,
)
from inferlearn.course.scores import COULD_NOT_GRADE, GRADED, FailedTest, NotebookScore

PHASE = FIXTURE_PHASE.name


def score(notebook: str, got: float | None, most: float | None, failed=(), status=GRADED):
    return NotebookScore("me", PHASE, notebook, got, most, status, failed=list(failed))


def test_no_history_lists_every_exercise_as_open_and_says_how_to_check(make_course):
    course = make_course(name="fresh")
    table = progress_table(course)
    assert list(table.notebook) == ["01_basics", "02_text"]
    assert list(table.max_points) == [3, 1]
    assert table.points.sum() == 0 and (table.status == NOT_CHECKED).all()
    text = format_progress(table)
    assert "p0-add-tests, p0-mean-tests" in text and "no checks yet: run `make check`" in text


def test_the_latest_check_of_each_notebook_counts(make_course):
    course = make_course(name="history")
    mean_fails = FailedTest("p0-mean-tests", 0, 1, "mean([1, 2, 3]) should be 2")
    record_check(course, [score("01_basics", 0, 3, [FailedTest("p0-add-tests", 0, 2, "h"),
                                                    mean_fails])], when=1000)
    record_check(course, [score("01_basics", 2, 3, [mean_fails]),
                          score("02_text", None, None, status=COULD_NOT_GRADE)], when=2000)
    assert history_path(course).is_relative_to(course.workspace)
    assert len(load_history(course)) == 3
    table = progress_table(course).set_index("notebook")
    assert table.loc["01_basics", "points"] == 2 and table.loc["01_basics", "checks"] == 2
    assert table.loc["01_basics", "open"] == ["p0-mean-tests"]
    assert table.loc["02_text", "open"] == ["p0-slug-tests"], "could not grade: all still open"
    text = format_progress(table.reset_index())
    row = next(line for line in text.splitlines() if line.startswith(f"{PHASE}/01_basics"))
    assert row.split()[1:3] == ["2", "3"]
    assert f"{PHASE}/01_basics: p0-mean-tests" in text and "(could not grade)" in text
    assert "no checks yet" not in text


def test_a_damaged_history_line_is_skipped(make_course):
    course = make_course(name="damaged")
    record_check(course, [score("02_text", 1, 1)], when=5)
    with history_path(course).open("a") as out:
        out.write("{not json\n")
    assert [r["notebook"] for r in load_history(course)] == ["02_text"]
    assert progress_table(course).set_index("notebook").loc["02_text", "open"] == []


def test_the_plot_shows_points_against_the_maximum(make_course, tmp_path):
    course = make_course(name="plot")
    record_check(course, [score("01_basics", 2, 3)])
    fig = plot_progress(progress_table(course), tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    ax = fig.axes[0]
    widths = sorted(bar.get_width() for bar in ax.patches)
    assert widths == [0, 1, 2, 3] and "2 of 4 points" in ax.get_title()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_make_check_then_progress_from_the_command_line(make_course, capsys):
    """The learner's loop: check (records into the workspace), then progress."""
    from inferlearn.course.workspace import build_workspace

    course = make_course(name="loop")
    build_workspace(course, log=lambda *_: None)
    mine = fill_solutions(load(course.workspace / PHASE / "01_basics.ipynb"),
                          load(FIXTURE_PHASE / "01_basics.ipynb"))
    set_source(mine, "p0-mean-solution", "def mean(xs):\n    return sum(xs) / (len(xs) + 1)")
    nbformat.write(mine, course.workspace / PHASE / "01_basics.ipynb")
    assert main(["check", "--root", str(course.root)]) == 0
    lines = history_path(course).read_text().splitlines()
    assert {json.loads(line)["notebook"] for line in lines} == {"01_basics", "02_text"}
    capsys.readouterr()
    assert main(["progress", "--root", str(course.root)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(f"{PHASE}/01_basics"))
    assert row.split()[1:3] == ["2", "3"]
    assert f"{PHASE}/01_basics: p0-mean-tests" in out and f"{PHASE}/02_text: p0-slug-tests" in out
    assert (course.workspace / ".inferlearn" / "progress.png").exists()


def test_the_history_is_never_in_the_repository(repo_root):
    ignored = subprocess.run(["git", "check-ignore", "-q", "workspace/.inferlearn/checks.jsonl"],
                             cwd=repo_root, capture_output=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, "workspace/ must be ignored by git"
