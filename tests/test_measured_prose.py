"""Prose that cannot go stale: every number a ``measured`` Markdown cell quotes is in the notebook's
recorded results (``results/<phase>/<notebook>.json``, written by ``inferlearn run --full --record``),
and every recorded value is quoted. Fast: reads files, executes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from inferlearn.cli import main
from inferlearn.course.layout import Course
from inferlearn.course.results import (
    MIMETYPE,
    check_notebook,
    effective_parameters,
    numbers_in,
    prose_problems,
    record,
    recorded_values,
    write_results,
)

REPO = Path(__file__).resolve().parent.parent
SOURCES = Course(REPO).source_notebooks()


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(REPO)) for p in SOURCES])
def test_measured_prose_matches_the_recorded_results(path):
    problems = check_notebook(REPO, path)
    assert not problems, "\n".join(problems) + (
        "\nRe-run `inferlearn run --full --record <notebook>` and quote what it recorded, "
        "or record() the number you quote (README: Measured numbers).")


def test_every_results_file_belongs_to_a_notebook():
    for path in (REPO / "results").rglob("*.json"):
        data = json.loads(path.read_text())
        assert (REPO / data["notebook"]).exists(), f"{path}: no notebook {data['notebook']}"
        assert path.relative_to(REPO / "results").with_suffix(".ipynb") == Path(data["notebook"])


def notebook(prose: str, code: str = 'record("acc", 0.8235, ".2f")\nn_dev = 34') -> nbformat.NotebookNode:
    params = new_code_cell("n_dev = 34", metadata={"tags": ["parameters"]})
    cell = new_markdown_cell(prose, metadata={"tags": ["measured"]})
    return new_notebook(cells=[params, new_code_cell(code), cell])


RESULTS = {"date": "2026-12-05", "parameters": {"n_dev": 34},
           "values": {"acc": {"value": 0.8235, "text": "0.82"}}}


def test_prose_quoting_the_recorded_values_passes():
    nb = notebook("1. On all 34 dev tickets (`n_dev = 20` in CI) it scored 0.82 on 2026-12-05, v2, p95, 135M.")
    assert prose_problems(nb, RESULTS) == []


def test_a_stale_number_fails():
    problems = prose_problems(notebook("It scored 0.79 on dev."), RESULTS)
    assert any("0.79" in p for p in problems) and any("acc" in p for p in problems), problems


def test_a_recorded_value_nobody_quotes_fails():
    assert any("quoted in no measured cell" in p for p in prose_problems(notebook("It scored well."), RESULTS))


def test_an_old_date_fails():
    assert any("2026-12-03" in p for p in prose_problems(notebook("On 2026-12-03 it scored 0.82."), RESULTS))


def test_a_recorded_name_must_appear_in_the_prose():
    results = {**RESULTS, "values": {**RESULTS["values"], "chosen": {"value": "tfidf-logreg", "text": "tfidf-logreg"}}}
    code = 'record("acc", 0.8)\nrecord("chosen", name)'
    assert prose_problems(notebook("tfidf-logreg scored 0.82.", code=code), results) == []
    assert any("chosen" in p for p in prose_problems(notebook("It scored 0.82.", code=code), results))


def test_record_calls_and_results_file_must_name_the_same_keys():
    nb = notebook("It scored 0.82.", code='record("acc", 0.8, ".2f")\nrecord("new_key", 3)')
    assert any("new_key" in p for p in prose_problems(nb, RESULTS))


def test_measured_cells_without_a_results_file_fail():
    assert prose_problems(notebook("It scored 0.82."), None)
    assert prose_problems(new_notebook(cells=[new_markdown_cell("3 things")]), None) == []


def test_numbers_in_prose():
    assert numbers_in("0.82, 1,117 tokens, 95%, v2 p95 tool #1 ACC-104233 `x = 7` 0.3.36 3.") == ["0.82", "1,117", "95%", "3"]


def test_record_shows_and_validates(capsys):
    assert record("dev_accuracy", 0.8235, ".2f") == 0.8235
    assert "recorded dev_accuracy = 0.82" in capsys.readouterr().out
    for key, value in (("bad key", 1), ("ok", [1]), ("ok", True)):
        with pytest.raises(ValueError, match="record"):
            record(key, value)


def executed(values: dict[str, tuple[float, str]]) -> nbformat.NotebookNode:
    outputs = [new_output("display_data", data={MIMETYPE: {"key": k, "value": v, "text": t},
                                                  "text/plain": f"recorded {k} = {t}"})
               for k, (v, t) in values.items()]
    cells = [new_code_cell("n_dev = 34\nmodels = [A, B]", metadata={"tags": ["parameters"]}),
             new_code_cell("n_dev = 10", metadata={"tags": ["injected-parameters"]}),
             new_code_cell("record(...)", outputs=outputs)]
    return new_notebook(cells=cells)


def test_write_results_reads_the_executed_copy(tmp_path):
    nb = executed({"acc": (0.8235, "0.82")})
    assert recorded_values(nb) == {"acc": {"value": 0.8235, "text": "0.82"}}
    assert effective_parameters(nb) == {"n_dev": 10, "models": "[A, B]"}
    source, copy = tmp_path / "phase9" / "01_x.ipynb", tmp_path / "build" / "01_x.ipynb"
    for path in (source, copy):
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    out = write_results(tmp_path, source, copy, 12.34, {"backend": "local", "model": "m"})
    data = json.loads(out.read_text())
    assert out == tmp_path / "results" / "phase9" / "01_x.json"
    assert data["values"]["acc"]["text"] == "0.82" and data["parameters"]["n_dev"] == 10
    assert data["notebook"] == "phase9/01_x.ipynb" and data["model"] == "m" and data["seconds"] == 12.3
    nbformat.write(executed({}), copy)
    with pytest.raises(ValueError, match="recorded no values"):
        write_results(tmp_path, source, copy, 1.0, {})


def test_record_needs_full(capsys):
    assert main(["run", "--record", "phase1_llm_api"]) == 2
    assert "--record needs --full" in capsys.readouterr().err
