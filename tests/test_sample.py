"""golden_sample: every chosen question's pages are present, sizes respected, seeded, errors."""

from __future__ import annotations

import pytest

from inferlearn.evals.sample import golden_sample
from inferlearn.rag.corpus import Doc


def doc(doc_id: str) -> Doc:
    return Doc(doc_id, doc_id.title(), "billing", "faq", "2025", "2025-01-01", "customer", f"# {doc_id}\n")


DOCS = [doc(f"d{i}") for i in range(10)]
ITEMS = [
    {"id": "g-0001", "question": "q1", "doc_ids": ["d0"]},
    {"id": "g-0002", "question": "q2", "doc_ids": ["d1", "d2"]},
    {"id": "g-0003", "question": "q3", "doc_ids": []},           # unanswerable: never chosen
    {"id": "g-0004", "question": "q4", "doc_ids": ["d3"]},
    {"id": "g-0005", "question": "q5", "doc_ids": ["missing"]},  # page not in the corpus
]


def test_whole_split_keeps_answerable_questions_and_every_page():
    sample = golden_sample(docs=DOCS, items=ITEMS)
    assert [i["id"] for i in sample.items] == ["g-0001", "g-0002", "g-0004"]
    assert len(sample.docs) == 10
    assert sample.qrels["g-0002"] == {"d1": 1, "d2": 1} and sample.queries["g-0004"] == "q4"


@pytest.mark.parametrize("seed", range(5))
def test_sample_holds_the_pages_of_every_question_and_fills_with_distractors(seed):
    sample = golden_sample(n_questions=2, n_docs=5, seed=seed, docs=DOCS, items=ITEMS)
    ids = {d.id for d in sample.docs}
    assert len(sample.items) == 2 and len(ids) == 5
    assert all(set(i["doc_ids"]) <= ids for i in sample.items)
    assert [d.id for d in sample.docs] == sorted(ids)


def test_questions_that_do_not_fit_are_skipped():
    sample = golden_sample(n_docs=1, seed=0, docs=DOCS, items=ITEMS)
    assert all(len(i["doc_ids"]) == 1 for i in sample.items) and len(sample.docs) == 1


def test_same_seed_same_sample():
    a = golden_sample(n_questions=2, n_docs=4, seed=3, docs=DOCS, items=ITEMS)
    b = golden_sample(n_questions=2, n_docs=4, seed=3, docs=DOCS, items=ITEMS)
    assert a.items == b.items and [d.id for d in a.docs] == [d.id for d in b.docs]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_sizes_are_rejected_with_the_value(bad):
    with pytest.raises(ValueError, match="n_docs"):
        golden_sample(n_docs=bad, docs=DOCS, items=ITEMS)


def test_no_fitting_question_is_a_clear_error():
    with pytest.raises(ValueError, match="raise n_docs"):
        golden_sample(n_docs=1, docs=DOCS, items=[ITEMS[1]])


def test_real_golden_dev_sample_is_consistent():
    sample = golden_sample("dev", n_questions=20, n_docs=30, seed=7)
    ids = {d.id for d in sample.docs}
    assert len(sample.items) == 20 and len(ids) == 30
    assert all(item["split"] == "dev" and set(item["doc_ids"]) <= ids for item in sample.items)
