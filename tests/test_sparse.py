"""BM25 over passages: stemming, stop words, filters, save/load, and every bad input."""

from __future__ import annotations

import pytest

from inferlearn.rag.passages import Passage
from inferlearn.rag.sparse import BM25Index, tokenize

PASSAGES = [
    Passage("refunds", "Annual plans can be refunded within 30 days of purchase.",
            {"title": "Refund policy", "product": "billing", "version": 2}),
    Passage("keys", "Rotate your API keys from the console every 90 days.",
            {"title": "API keys", "product": "platform", "version": 1}),
    Passage("refunds-old", "Refunds were possible within 14 days.",
            {"title": "Refund policy (2023)", "product": "billing", "version": 1}),
    Passage("unicode", "Der Zähler läuft: 北京 streams über Grenzen hinweg.", {"product": "platform"}),
    Passage("empty", ""),
]


@pytest.fixture(scope="module")
def index():
    return BM25Index.build(PASSAGES)


def test_tokens_are_lowercased_stemmed_and_stop_words_dropped():
    assert tokenize(["The keys are Rotating"]) == [["key", "rotat"]]
    assert tokenize(["The keys"], stemmer=None, stopwords=None) == [["the", "keys"]]


def test_stemming_matches_other_word_forms(index):
    assert index.search("refunding", k=1)[0].id in {"refunds", "refunds-old"}
    assert index.search("rotating key", k=1)[0].id == "keys"


def test_title_is_indexed_with_the_text(index):
    assert index.search("policy", k=5)[0].id.startswith("refunds")
    assert BM25Index.build(PASSAGES, use_title=False).search("policy", k=5) == []


def test_only_passages_sharing_a_term_are_returned_best_first(index):
    hits = index.search("refund annual", k=10)
    assert [h.id for h in hits][0] == "refunds"
    assert {h.id for h in hits} == {"refunds", "refunds-old"}
    assert hits[0].score > hits[1].score > 0


def test_k_limits_the_results(index):
    assert len(index.search("refund", k=1)) == 1


def test_metadata_filters(index):
    assert [h.id for h in index.search("refund", k=5, where={"version": {"$gte": 2}})] == ["refunds"]
    assert index.search("refund", k=5, where={"product": "platform"}) == []
    hits = index.search("refund keys", k=5, where={"$or": [{"product": "platform"}, {"version": 2}]})
    assert {h.id for h in hits} == {"refunds", "keys"}


def test_unicode_text_is_searchable(index):
    assert index.search("zähler", k=3)[0].id == "unicode"
    assert index.search("北京", k=3)[0].id == "unicode"


@pytest.mark.parametrize("query", ["", "   ", "the and of", "zzzunknownzzz"])
def test_queries_that_match_nothing_return_no_hits(index, query):
    assert index.search(query, k=5) == []


def test_an_empty_corpus_finds_nothing():
    empty = BM25Index.build([])
    assert len(empty) == 0 and empty.search("refund", k=3) == []


def test_a_huge_document_is_indexed_and_found():
    huge = Passage("huge", "filler words here " * 60_000 + " needle")
    index = BM25Index.build([huge, *PASSAGES[:2]])
    assert index.search("needle", k=3)[0].id == "huge"


def test_save_and_load_give_the_same_results(index, tmp_path):
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.search("refund policy", k=5) == index.search("refund policy", k=5)
    assert loaded.search("refund", k=5, where={"product": "billing", "version": 1})[0].id == "refunds-old"
    assert loaded.params == index.params


def test_an_empty_index_saves_and_loads(tmp_path):
    BM25Index.build([]).save(tmp_path / "e")
    assert BM25Index.load(tmp_path / "e").search("x") == []


def test_loading_a_folder_without_an_index_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved BM25 index"):
        BM25Index.load(tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"k1": -1}, "k1 (-1) must be a number >= 0"),
    ({"b": 1.5}, "b (1.5) must be between 0 and 1"),
    ({"method": "okapi"}, "method ('okapi') must be one of"),
    ({"stemmer": "klingon"}, "no Snowball stemmer for 'klingon'"),
])
def test_bad_parameters_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BM25Index(**kwargs)


@pytest.mark.parametrize("k, message", [(0, r"k \(0\) must be >= 1"), (-3, r"k \(-3\) must be >= 1"),
                                        ("5", r"k \('5'\) must be a whole number")])
def test_bad_k_names_the_value(index, k, message):
    with pytest.raises(ValueError, match=message):
        index.search("refund", k=k)


def test_bad_query_and_filter_types(index):
    with pytest.raises(TypeError, match="query must be a string"):
        index.search(None, k=3)
    with pytest.raises(ValueError, match=r"unknown operator '\$like'"):
        index.search("refund", where={"title": {"$like": "Ref%"}})


def test_duplicate_ids_are_rejected():
    with pytest.raises(ValueError, match="'a' appears more than once"):
        BM25Index.build([("a", "one"), ("a", "two")])
