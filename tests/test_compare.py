"""Comparing retrieval stages on a golden slice: sampling, corpus slices, page rankings, tables."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from inferlearn.evals.compare import (
    corpus_slice,
    page_ranking,
    qrels_for,
    restrict,
    sample_golden,
    score_runs,
)
from inferlearn.rag.passages import Hit

DOCS = [SimpleNamespace(id=f"d{n}") for n in range(10)]
ITEMS = [{"id": "q1", "doc_ids": ["d3"]}, {"id": "q2", "doc_ids": ["d5", "d3"]}, {"id": "q3", "doc_ids": []}]


def test_sample_is_reproducible_and_filters_by_type_and_answerability():
    first = sample_golden("dev", n=5, seed=3)
    assert [i["id"] for i in first] == [i["id"] for i in sample_golden("dev", n=5, seed=3)]
    assert [i["id"] for i in first] != [i["id"] for i in sample_golden("dev", n=5, seed=4)]
    assert all(i["split"] == "dev" for i in first)
    unanswerable = sample_golden("dev", answerable=False)
    assert unanswerable and all(not i["doc_ids"] for i in unanswerable)
    assert all(i["type"] == "version_sensitive" for i in sample_golden("dev", types=["version_sensitive"]))
    assert sample_golden("dev", n=0) == []


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_sample_rejects_a_bad_n(bad):
    with pytest.raises(ValueError, match="n"):
        sample_golden("dev", n=bad)


def test_sample_rejects_an_unknown_type():
    with pytest.raises(ValueError, match="factiod"):
        sample_golden("dev", types=["factiod"])


def test_slice_keeps_needed_pages_then_includes_then_distractors():
    chosen = [d.id for d in corpus_slice(ITEMS, DOCS, n_docs=4, seed=1, include=["d9"])]
    assert {"d3", "d5", "d9"} <= set(chosen) and len(chosen) == 4
    assert chosen == sorted(chosen)
    assert chosen == [d.id for d in corpus_slice(ITEMS, DOCS, n_docs=4, seed=1, include=["d9"])]


def test_slice_never_drops_a_needed_page_and_none_means_everything():
    assert [d.id for d in corpus_slice(ITEMS, DOCS, n_docs=1)] == ["d3", "d5"]
    assert len(corpus_slice(ITEMS, DOCS, n_docs=None)) == len(DOCS)


def test_slice_names_an_unknown_page_and_a_bad_size():
    with pytest.raises(KeyError, match="nope"):
        corpus_slice([{"id": "q", "doc_ids": ["nope"]}], DOCS, n_docs=3)
    with pytest.raises(ValueError, match="n_docs"):
        corpus_slice(ITEMS, DOCS, n_docs=0)


def test_qrels_leave_out_unanswerable_questions():
    assert qrels_for(ITEMS) == {"q1": {"d3": 1}, "q2": {"d5": 1, "d3": 1}}


def test_page_ranking_takes_ids_hits_and_pairs_and_keeps_each_page_at_its_best_rank():
    doc_of = {"a#x:0": "a", "a#y:0": "a", "b#x:0": "b"}
    assert page_ranking(["a#x:0", "b#x:0", "a#y:0"], doc_of) == ["a", "b"]
    assert page_ranking([Hit("b#x:0", 2.0), ("a#y:0", 1.0)], doc_of) == ["b", "a"]
    assert page_ranking(["z", "z", "y"]) == ["z", "y"]
    assert page_ranking([], doc_of) == []
    with pytest.raises(TypeError):
        page_ranking("a#x:0", doc_of)


def test_score_runs_scores_each_run_on_the_questions_it_answered():
    qrels = qrels_for(ITEMS)
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
