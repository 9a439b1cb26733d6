"""Comparing retrieval stages: page rankings from chunk hits, one table of metrics per run."""

from __future__ import annotations

import math

import pytest

from inferlearn.evals.compare import page_ranking, restrict, score_runs
from inferlearn.rag.passages import Hit

ITEMS = [{"id": "q1", "doc_ids": ["d3"]}, {"id": "q2", "doc_ids": ["d5", "d3"]}, {"id": "q3", "doc_ids": []}]


def test_page_ranking_takes_ids_hits_and_pairs_and_keeps_each_page_at_its_best_rank():
    doc_of = {"a#x:0": "a", "a#y:0": "a", "b#x:0": "b"}
    assert page_ranking(["a#x:0", "b#x:0", "a#y:0"], doc_of) == ["a", "b"]
    assert page_ranking([Hit("b#x:0", 2.0), ("a#y:0", 1.0)], doc_of) == ["b", "a"]
    assert page_ranking(["z", "z", "y"]) == ["z", "y"]
    assert page_ranking([], doc_of) == []
    with pytest.raises(TypeError):
        page_ranking("a#x:0", doc_of)


def test_score_runs_scores_each_run_on_the_questions_it_answered():
    qrels = {"q1": {"d3": 1}, "q2": {"d5": 1, "d3": 1}}
    runs = {"perfect": {"q1": ["d3"], "q2": ["d5", "d3"]}, "second": {"q1": ["d0", "d3"]},
            "empty": {}, "blank": {"q1": []}}
    table = score_runs(qrels, runs)
    assert list(table.index) == ["perfect", "second", "empty", "blank"]
    assert table.loc["perfect", "recall@5"] == 1.0 and table.loc["perfect", "queries"] == 2
    assert table.loc["second", "mrr@10"] == 0.5 and table.loc["second", "queries"] == 1
    assert table.loc["empty", "queries"] == 0 and table.loc["blank", "ndcg@10"] == 0.0


def test_score_runs_collapses_chunks_to_pages():
    table = score_runs({"q": {"a": 1}}, {"run": {"q": [Hit("b#1", 3.0), Hit("a#2", 2.0), Hit("a#3", 1.0)]}},
                       doc_of={"b#1": "b", "a#2": "a", "a#3": "a"}, metrics=["mrr@10", "P@2"])
    assert table.loc["run", "mrr@10"] == 0.5
    assert math.isclose(table.loc["run", "P@2"], 0.5)


def test_restrict_takes_ids_or_items():
    run = {"q1": ["a"], "q2": ["b"]}
    assert restrict(run, ["q2", "q9"]) == {"q2": ["b"]}
    assert restrict(run, ITEMS[:1]) == {"q1": ["a"]}
