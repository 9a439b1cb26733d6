"""Issue 16, the CLI: every bad input is one line on stderr naming the value, and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferlearn.cli import main


def _beir(folder: Path, corpus: list, queries: list | None = None) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    queries = queries if queries is not None else [{"_id": "q1", "text": "hello"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n", encoding="utf-8")
    return folder


def _one_line_exit_2(argv: list[str], capsys, *words: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith(("evaluating", "golden"))]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


GOOD = [{"_id": "d1", "text": "hello world"}]


@pytest.mark.parametrize(("corpus", "queries", "words"), [
    ([["d1", "hello"]], None, ("corpus record 1", "list")),
    ([{"_id": "d1", "text": 42}], None, ("'text'", "int")),
    (GOOD, [{"text": "no id"}], ("queries record 1", "_id")),
    ([], None, ("no documents",)),
])
def test_eval_retrieval_bad_dataset_files(tmp_path, capsys, corpus, queries, words):
    folder = _beir(tmp_path / "beir", corpus, queries)
    _one_line_exit_2(["eval", "retrieval", "--dataset", str(folder), "--pipeline", "bm25"], capsys, *words)


def test_eval_retrieval_dataset_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "corpus.jsonl"
    path.write_text("{}\n")
    _one_line_exit_2(["eval", "retrieval", "--dataset", str(path)], capsys, "is a file")


def test_eval_retrieval_unknown_embedding_model(tmp_path, capsys):
    folder = _beir(tmp_path / "beir", GOOD)
    _one_line_exit_2(["eval", "retrieval", "--dataset", str(folder), "--embedding-model", "nonsense"],
                     capsys, "'nonsense'", "minilm")


def test_eval_retrieval_json_under_a_file(tmp_path, capsys):
    folder = _beir(tmp_path / "beir", GOOD)
    (tmp_path / "afile").write_text("x")
    _one_line_exit_2(["eval", "retrieval", "--dataset", str(folder), "--pipeline", "bm25",
                      "--json", str(tmp_path / "afile" / "out.json")], capsys, "is a file")


def test_doctor_unknown_skip(capsys):
    _one_line_exit_2(["doctor", "--skip", "nonsense"], capsys, "'nonsense'", "checks are")


def test_run_zero_jobs(capsys):
    _one_line_exit_2(["run", "-j", "0"], capsys, "0", "at least 1")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_bad_port(capsys, port):
    _one_line_exit_2(["serve", "--port", port], capsys, port, "1-65535")


@pytest.mark.parametrize("flag", ["--threads", "--batch-threads"])
def test_serve_zero_threads(capsys, flag):
    _one_line_exit_2(["serve", flag, "0"], capsys, "0", "at least 1")


def test_serve_bad_port_as_a_process():
    """The real command line: one line on stderr, exit 2, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "inferlearn", "serve", "--port", "99999"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "99999" in done.stderr and "Traceback" not in done.stderr
