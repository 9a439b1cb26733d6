"""Small pieces of the course machinery, without running nbgrader."""

from __future__ import annotations

import nbformat
import pytest
from fixtures.course.submissions import FIXTURE_PHASE
from nbformat.v4 import new_code_cell, new_output

from inferlearn.course.layout import Course, course_at, find_root
from inferlearn.course.limits import LimitOutputSize, truncate_text
from inferlearn.course.nbg import explain_failure
from inferlearn.course.scores import cell_hint
from inferlearn.course.workspace import content_hash


def test_truncate_text_keeps_short_text_and_says_how_much_was_cut():
    assert truncate_text("short", 10) == "short"
    cut = truncate_text("x" * 25, 10)
    assert cut.startswith("x" * 10) and "15 more characters" in cut


def test_limit_output_size_caps_streams_results_and_errors():
    cell = new_code_cell("print('x' * 10**6)")
    cell.outputs = [
        new_output("stream", name="stdout", text="y" * 5000),
        new_output("execute_result", data={"text/plain": "z" * 5000}, execution_count=1),
        new_output("error", ename="ValueError", evalue="v" * 5000, traceback=["t" * 5000]),
    ]
    limiter = LimitOutputSize(max_chars=100)
    assert limiter.enabled  # nbconvert preprocessors are off by default; this one must not be
    limiter.preprocess_cell(cell, {}, 0)
    stream, result, error = cell.outputs
    assert len(stream.text) < 200 and len(result.data["text/plain"]) < 200
    assert len(error.evalue) < 200 and len(error.traceback[0]) < 200


@pytest.mark.parametrize("log, words", [
    ("nbformat.reader.NotJSONError: Notebook does not appear to be JSON", "not valid JSON"),
    ("[AutogradeApp | ERROR] Kernel died while waiting for execute reply.", "kernel died"),
    ("[AutogradeApp | ERROR] Something odd happened", "Something odd happened"),
    ("", "see its log"),
])
def test_explain_failure_turns_nbgrader_logs_into_one_line(log, words):
    assert words in explain_failure(log)


def test_cell_hint_prefers_the_printed_hint_then_the_error():
    cell = new_code_cell("...")
    cell.outputs = [new_output("stream", name="stdout", text="add(2, 3) should be 5, not -1\n"),
                    new_output("error", ename="AssertionError", evalue="", traceback=[])]
    assert cell_hint(cell) == "add(2, 3) should be 5, not -1"
    cell.outputs = [new_output("error", ename="NameError", evalue="name 'add' is not defined", traceback=[])]
    assert cell_hint(cell) == "NameError: name 'add' is not defined"
    cell.outputs = [new_output("error", ename="NotImplementedError", evalue="", traceback=[])]
    assert "not answered yet" in cell_hint(cell)


def test_course_layout_finds_phases_and_their_flat_notebooks(tmp_path):
    (tmp_path / "phase1_x").mkdir()
    (tmp_path / "phase1_x" / "01_a.ipynb").write_text("{}")
    (tmp_path / "phase1_x" / "extra").mkdir()
    (tmp_path / "phase1_x" / "extra" / "02_b.ipynb").write_text("{}")
    (tmp_path / "phase2_empty").mkdir()
    course = Course(tmp_path)
    assert course.phases() == ["phase1_x"]
    assert [p.name for p in course.phase_notebooks("phase1_x")] == ["01_a.ipynb"]
    assert [p.name for p in course.nested_phase_notebooks()] == ["02_b.ipynb"]


def test_find_root_walks_up_and_explains_when_nothing_is_found(tmp_path, monkeypatch, repo_root):
    monkeypatch.delenv("INFERLEARN_COURSE_ROOT", raising=False)
    assert find_root(repo_root / "inferlearn" / "course") == repo_root
    assert course_at(tmp_path).root == tmp_path.resolve()
    monkeypatch.setenv("INFERLEARN_COURSE_ROOT", str(tmp_path))
    assert find_root() == tmp_path.resolve()


def test_content_hash_ignores_outputs_and_metadata_but_not_sources(tmp_path):
    source = FIXTURE_PHASE / "01_basics.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.metadata["extra"] = 1
    nb.cells[1].outputs = [new_output("stream", name="stdout", text="hi")]
    same = tmp_path / "same.ipynb"
    nbformat.write(nb, same)
    nb.cells[0].source += " (edited)"
    other = tmp_path / "other.ipynb"
    nbformat.write(nb, other)
    assert content_hash(same) == content_hash(source) != content_hash(other)


def test_nbgrader_config_closes_the_measured_leaks(repo_root):
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("nbgrader_config.py", path=str(repo_root)).load_config()
    assert c.CourseDirectory.root == str(repo_root) and c.CourseDirectory.source_directory == "."
    assert c.CourseDirectory.db_url == f"sqlite:///{repo_root}/build/course/gradebook.db"
    for step in ("release", "submitted", "autograded", "feedback"):
        assert getattr(c.CourseDirectory, f"{step}_directory") == f"build/course/{step}"
    assert c.Execute.timeout == 60
    assert "--InteractiveShell.xmode=Minimal" in c.Execute.extra_arguments
    assert c.OverwriteCells.add_missing_cells is True
    assert "nbgrader.preprocessors.ClearHiddenTests" in c.GenerateFeedback.preprocessors
    assert "inferlearn.course.limits.LimitOutputSize" in c.Autograde.autograde_preprocessors
    assert {".env", "__pycache__", ".ipynb_checkpoints", "*.key"} <= set(c.CourseDirectory.ignore)
