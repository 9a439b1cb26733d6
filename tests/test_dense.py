"""Embedding cache, exact index and chroma store: hits, idempotent ingestion, filters, errors."""

from __future__ import annotations

import numpy as np
import pytest

from inferlearn.rag.dense import (
    CachedEmbedder,
    ChromaStore,
    EmbeddingCache,
    ExactIndex,
    HashingEmbedder,
    stable_chunk_id,
    text_hash,
)
from inferlearn.rag.passages import Passage

PASSAGES = [
    Passage("refunds", "annual plans refunded within 30 days", {"product": "billing", "version": 2}),
    Passage("keys", "rotate api keys in the console", {"product": "platform", "version": 1}),
    Passage("old", "refunds within 14 days annual plans", {"product": "billing", "version": 1}),
    Passage("uni", "北京 zähler streams", {"product": "platform", "tags": ["a", "b"], "none": None}),
]


class CountingEmbedder(HashingEmbedder):
    """A hashing embedder that records how many texts it really embedded."""

    def __init__(self) -> None:
        super().__init__(32)
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return super().embed(texts)


@pytest.fixture
def cache(tmp_path):
    return EmbeddingCache(tmp_path / "cache.sqlite3")


def test_a_rerun_embeds_nothing_and_reports_its_hit_rate(cache):
    model = CountingEmbedder()
    first = CachedEmbedder(model, cache)
    vectors = first.embed(["a b", "c d", "a b"])
    assert model.embedded == 2 and first.hit_rate == 0.0
    second = CachedEmbedder(model, cache)
    again = second.embed(["c d", "a b", "e f"])
    assert model.embedded == 3
    assert (second.hits, second.misses) == (2, 1) and second.hit_rate == pytest.approx(2 / 3)
    np.testing.assert_array_equal(again[1], vectors[0])


def test_the_cache_is_keyed_by_model_too(cache):
    CachedEmbedder(HashingEmbedder(32), cache).embed(["same text"])
    other = CachedEmbedder(HashingEmbedder(16), cache)
    assert other.embed(["same text"]).shape == (1, 16) and other.misses == 1
    assert cache.count() == 2 and cache.count("hashing-16") == 1
    cache.clear("hashing-16")
    assert cache.count() == 1


def test_cache_off_embeds_every_time():
    model = CountingEmbedder()
    embedder = CachedEmbedder(model, cache=False)
    embedder.embed(["x"])
    embedder.embed(["x"])
    assert model.embedded == 2 and embedder.hit_rate == 0.0


def test_empty_unicode_and_huge_texts_embed(cache):
    embedder = CachedEmbedder(CountingEmbedder(), cache)
    assert embedder.embed([]).shape[0] == 0
    vectors = embedder.embed(["", "北京 \ud800 zähler", "word " * 200_000])
    assert vectors.shape == (3, 32)
    assert text_hash("\ud800")  # lone surrogates hash instead of crashing


def test_embed_rejects_a_bare_string(cache):
    with pytest.raises(TypeError, match="list of strings"):
        CachedEmbedder(HashingEmbedder(), cache).embed("not a list")


def test_stable_chunk_ids_follow_the_text():
    assert stable_chunk_id("doc", "text") == stable_chunk_id("doc", "text")
    assert stable_chunk_id("doc", "text") != stable_chunk_id("doc", "text!")
    assert stable_chunk_id("doc", "text").startswith("doc#")


@pytest.fixture
def exact(cache):
    return ExactIndex.build(PASSAGES, CachedEmbedder(HashingEmbedder(64), cache))


def test_exact_search_ranks_by_cosine(exact):
    hits = exact.search("annual plans refunded", k=2)
    assert hits[0].id == "refunds" and hits[0].score == pytest.approx(np.sqrt(3 / 6), abs=1e-6)
    assert len(hits) == 2 and hits[0].score >= hits[1].score


def test_exact_search_filters_and_k_larger_than_the_index(exact):
    assert [h.id for h in exact.search("annual plans", k=50, where={"version": 1})] == ["old", "keys"]
    assert len(exact.search("anything", k=50)) == 4
    assert exact.search("annual", k=3, where={"product": "nothing"}) == []


def test_exact_similarity_for_rescoring(exact):
    scores = exact.similarity("rotate keys", ["keys", "refunds"])
    assert scores[0] > scores[1]
    with pytest.raises(KeyError, match="'nope' is not in this index"):
        exact.similarity("x", ["nope"])


def test_exact_empty_query_and_empty_index(exact, cache):
    assert exact.search("", k=3) == [] and exact.search("  ", k=3) == []
    assert ExactIndex.build([], CachedEmbedder(HashingEmbedder(), cache)).search("x") == []


@pytest.mark.parametrize("k, message", [(0, r"k \(0\) must be >= 1"), (2.5, r"k \(2.5\) must be a whole number")])
def test_exact_bad_k(exact, k, message):
    with pytest.raises(ValueError, match=message):
        exact.search("x", k=k)


@pytest.fixture
def store(tmp_path, cache):
    return ChromaStore(tmp_path / "chroma", "docs", embedder=CachedEmbedder(HashingEmbedder(64), cache))


def test_ingesting_twice_leaves_the_same_count(store, cache):
    assert store.upsert([]) == 0
    assert store.upsert(PASSAGES) == 4
    misses = store.embedder.misses
    assert store.upsert(PASSAGES) == 4
    assert store.embedder.misses == misses  # the second ingest is all cache hits
    changed = [Passage("keys", "rotate api keys every 90 days", {"product": "platform"})]
    assert store.upsert(changed) == 4
    assert store.get(["keys"])[0].text == "rotate api keys every 90 days"


def test_prune_removes_passages_no_longer_in_the_corpus(store):
    store.upsert(PASSAGES)
    assert store.upsert(PASSAGES[:2], prune=True) == 2
    assert [p.id for p in store.get(["refunds", "old"])] == ["refunds"]


def test_chroma_search_agrees_with_exact_search_and_filters(store, exact):
    store.upsert(PASSAGES)
    query = "annual plans refunded"
    assert [h.id for h in store.search(query, k=2)] == [h.id for h in exact.search(query, k=2)]  # 3rd: a tie at 0
    assert store.search(query, k=1)[0].score == pytest.approx(exact.search(query, k=1)[0].score, abs=1e-5)
    assert [h.id for h in store.search(query, k=5, where={"product": "billing", "version": {"$lt": 2}})] == ["old"]
    assert {h.id for h in store.search(query, k=5, where={"version": {"$in": [1, 2]}})} == {"refunds", "old", "keys"}


def test_chroma_hnsw_settings_are_cosine_and_ef_200(store):
    hnsw = store.hnsw
    assert (hnsw["space"], hnsw["ef_search"], hnsw["ef_construction"]) == ("cosine", 200, 200)


def test_chroma_empty_store_empty_query_and_k_beyond_count(store):
    assert store.search("anything", k=3) == []
    store.upsert(PASSAGES)
    assert store.search("", k=3) == []
    assert len(store.search("refund", k=100)) == 4


def test_reopening_with_another_model_is_refused(tmp_path, cache):
    ChromaStore(tmp_path / "c", "docs", embedder=CachedEmbedder(HashingEmbedder(64), cache)).upsert(PASSAGES)
    with pytest.raises(ValueError, match="holds hashing-64 vectors, not hashing-32"):
        ChromaStore(tmp_path / "c", "docs", embedder=CachedEmbedder(HashingEmbedder(32), cache))


@pytest.mark.parametrize("kwargs, message", [({"collection": "x"}, "collection name 'x' must be 3-512"),
                                             ({"ef_search": 0}, r"ef_search \(0\) must be >= 1"),
                                             ({"ef_construction": -5}, r"ef_construction \(-5\) must be >= 1")])
def test_chroma_bad_parameters(tmp_path, cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ChromaStore(tmp_path / "c", embedder=CachedEmbedder(HashingEmbedder(), cache), **kwargs)


def test_set_ef_search_is_stored_for_the_next_process(store):
    store.upsert(PASSAGES)
    store.set_ef_search(50)
    assert store.collection.configuration_json["hnsw"]["ef_search"] == 50
    with pytest.raises(ValueError, match=r"ef_search \(0\) must be >= 1"):
        store.set_ef_search(0)


def test_wordllama_store_uses_the_registered_embedding_function(tmp_path, cache):
    store = ChromaStore(tmp_path / "w", "docs", embedder=CachedEmbedder("wordllama-256", cache))
    store.upsert(PASSAGES)
    assert store.collection.configuration_json["embedding_function"]["name"] == "inferlearn-wordllama-256"
    assert store.search("API key rotation", k=1)[0].id == "keys"
