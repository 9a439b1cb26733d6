"""``inferlearn run``: papermill with CI-sized parameters, executed copies and a report."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from fixtures.course.submissions import FIXTURE_PHASE
from nbformat.v4 import new_code_cell, new_notebook

from inferlearn.cli import main
from inferlearn.course.runner import declared_parameters, parse_parameter, run_parameters


def notebook(*sources: str, params: str = "n = 10", ci: dict | None = None) -> nbformat.NotebookNode:
    """A small notebook: a parameters cell, then the given code cells."""
    cells = [new_code_cell(params, metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(s) for s in sources]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    if ci is not None:
        nb.metadata["inferlearn"] = {"ci_parameters": ci}
    return nb


@pytest.mark.parametrize("text, expected", [
    ("n_samples=5", ("n_samples", 5)),
    ("model=gpt-4o-mini", ("model", "gpt-4o-mini")),
    ("ratio = 0.5", ("ratio", 0.5)),
    ("names=['a', 'b']", ("names", ["a", "b"])),
    ("flag=True", ("flag", True)),
])
def test_parse_parameter_reads_literals_else_strings(text, expected):
    assert parse_parameter(text) == expected


@pytest.mark.parametrize("bad", ["n_samples", "=5", "2x=1"])
def test_parse_parameter_rejects_what_is_not_name_value(bad):
    with pytest.raises(ValueError, match="name=value"):
        parse_parameter(bad)


def test_ci_parameters_apply_unless_full_and_overrides_win():
    nb = notebook(params="n_samples = 100\nseed: int = 7\nmodel = None", ci={"n_samples": 5, "unknown": 1})
    assert declared_parameters(nb) == {"n_samples", "seed", "model"}
    assert run_parameters(nb, {}, full=False) == {"n_samples": 5}
    assert run_parameters(nb, {}, full=True) == {}
    assert run_parameters(nb, {"n_samples": 9, "seed": 1, "other": 2}, full=False) == {"n_samples": 9, "seed": 1}


@pytest.fixture
def course_dir(tmp_path):
    """A bare course folder with the fixture phase and a notebooks/ folder."""
    shutil.copytree(FIXTURE_PHASE, tmp_path / FIXTURE_PHASE.name)
    (tmp_path / "notebooks").mkdir()
    return tmp_path


@pytest.mark.slow
def test_run_executes_every_notebook_with_ci_parameters_and_reports(course_dir, capsys):
    code = main(["run", "--root", str(course_dir), "-j", "2"])
    assert code == 0
    report = json.loads((course_dir / "build" / "run-report.json").read_text())
    assert (report["passed"], report["failed"]) == (2, 0)
    first = report["notebooks"][0]
    assert first["notebook"] == f"{FIXTURE_PHASE.name}/01_basics.ipynb" and first["status"] == "ok"
    assert first["parameters"] == {"n_samples": 3}
    executed = course_dir / "build" / "executed" / FIXTURE_PHASE.name / "01_basics.ipynb"
    assert "3 samples" in executed.read_text()
    assert "| phase0_fixture/02_text.ipynb | ok |" in (course_dir / "build" / "run-report.md").read_text()
    assert "2 passed, 0 failed" in capsys.readouterr().out


@pytest.mark.slow
def test_run_reports_the_failing_cell_and_error_and_exits_1(course_dir, capsys):
    nbformat.write(notebook("x = 1", "raise ValueError(f'bad value {n}')", "print('never')"),
                   course_dir / "notebooks" / "broken.ipynb")
    nbformat.write(notebook("print(n)"), course_dir / "notebooks" / "fine.ipynb")
    code = main(["run", "--root", str(course_dir), str(course_dir / "notebooks"), "-p", "n=4"])
    assert code == 1
    report = json.loads((course_dir / "build" / "run-report.json").read_text())
    broken = next(r for r in report["notebooks"] if r["notebook"].endswith("broken.ipynb"))
    assert broken["status"] == "failed"
    assert broken["error"] == "ValueError: bad value 4"
    assert broken["failing_cell"] == 3  # parameters, injected parameters, x = 1, raise
    assert "1 passed, 1 failed" in capsys.readouterr().out
    assert "| failed |" in (course_dir / "build" / "run-report.md").read_text()


@pytest.mark.slow
def test_run_stops_a_cell_that_exceeds_the_timeout(course_dir):
    nbformat.write(notebook("import time\ntime.sleep(60)"), course_dir / "notebooks" / "slow.ipynb")
    assert main(["run", "--root", str(course_dir), str(course_dir / "notebooks"), "--timeout", "2"]) == 1
    report = json.loads((course_dir / "build" / "run-report.json").read_text())
    row = report["notebooks"][0]
    assert row["status"] == "failed" and row["seconds"] < 30 and row["failing_cell"] == 1
    assert row["error"].startswith("CellTimeoutError: A cell timed out")


def test_run_of_a_missing_path_says_so(course_dir, capsys):
    assert main(["run", "--root", str(course_dir), "nope.ipynb"]) == 2
    assert "nope.ipynb is neither a notebook nor a folder" in capsys.readouterr().err
