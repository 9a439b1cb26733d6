"""data/labels: schema, rebuild is deterministic, double labels cover >= 15%, splits follow golden."""

from __future__ import annotations

import json

import pytest

from inferlearn.evals.answers import context_chunks
from inferlearn.evals.golden import load_golden
from inferlearn.evals.labelset import (
    RULE_LABELS,
    adjudicate,
    build_labels,
    labels_dir,
    load_labels,
    second_labels,
)

FIELDS = {"id", "question_id", "answer", "context_ids", "source", "fault", "faithful", "relevant", "correct",
          "labeller", "split"}


@pytest.fixture(scope="module")
def rows():
    return load_labels()


def test_schema_size_and_splits(rows):
    assert len(rows) >= 240
    golden = {g["id"]: g for g in load_golden()}
    _, chunks = context_chunks()
    for row in rows:
        assert FIELDS <= set(row), f"{row['id']} lacks {FIELDS - set(row)}"
        assert row["split"] == golden[row["question_id"]]["split"], f"{row['id']}: split differs from golden"
        assert row["fault"] in RULE_LABELS or row["source"] == "model"
        assert all(c in chunks for c in row["context_ids"]), f"{row['id']} names a chunk that does not exist"
        assert all(isinstance(row[k], bool) for k in ("faithful", "relevant", "correct"))
    assert {r["source"] for r in rows} == {"reference", "planted", "model"}


def test_committed_file_is_what_the_build_makes(rows):
    assert build_labels() == rows, "labels.jsonl is stale: run python -m inferlearn.evals.labelset"


def test_double_labels_cover_15_percent_and_match_their_answers(rows):
    second = second_labels()
    assert len(second) >= 0.15 * len(rows)
    assert set(second) <= {r["id"] for r in rows}


def test_adjudication_keeps_first_labels_and_refuses_a_stale_second_label():
    row = {"id": "l-1", "answer": "x", "faithful": True, "relevant": True, "correct": False, "labeller": "rule"}
    import hashlib

    digest = hashlib.sha256(b"x").hexdigest()[:12]
    [done] = adjudicate([dict(row)], {"l-1": {"answer_sha256": digest, "faithful": True, "relevant": True,
                                             "correct": True}})
    assert done["correct"] is True and done["first_labels"]["correct"] is False
    with pytest.raises(ValueError, match="another answer"):
        adjudicate([dict(row)], {"l-1": {"answer_sha256": "0" * 12, "faithful": True, "relevant": True,
                                         "correct": True}})


def test_load_labels_bad_input(tmp_path):
    with pytest.raises(ValueError, match="split must be"):
        load_labels("train")
    with pytest.raises(FileNotFoundError, match="labelset"):
        load_labels(path=tmp_path / "missing.jsonl")
    assert json.loads((labels_dir() / "labels.jsonl").read_text().splitlines()[0])["id"] == "l-0001"
