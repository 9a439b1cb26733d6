"""Exact and semantic response caches, and the threshold sweep that measures false hits."""

from __future__ import annotations

import numpy as np
import pytest

from inferlearn.prod.caching import (
    ExactCache,
    SemanticCache,
    cache_key,
    is_cacheable,
    sweep_threshold,
)
from inferlearn.rag.dense import HashingEmbedder

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def test_cache_key_ignores_field_order_and_non_semantic_fields_but_not_settings():
    reordered = {"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "m"}
    assert cache_key(REQUEST) == cache_key(reordered) == cache_key({**REQUEST, "user": "x", "stream": True})
    assert cache_key(REQUEST) != cache_key({**REQUEST, "max_tokens": 5})
    assert cache_key(REQUEST) != cache_key({**REQUEST, "model": "other"})
    with pytest.raises(ValueError, match="'model' and 'messages'"):
        cache_key({"messages": []})


def test_only_deterministic_requests_are_cacheable():
    assert is_cacheable(REQUEST) and is_cacheable({**REQUEST, "temperature": 0.7, "seed": 1})
    assert not is_cacheable({**REQUEST, "temperature": 0.7}) and not is_cacheable({"model": "m"})


def test_exact_cache_hits_misses_expires_and_evicts_least_recently_used():
    now = [0.0]
    cache = ExactCache(max_entries=2, ttl_s=10, clock=lambda: now[0])
    assert cache.get(REQUEST) is None
    assert cache.put(REQUEST, "answer") and cache.get(REQUEST) == "answer"
    assert not cache.put({**REQUEST, "temperature": 1.0}, "random")
    other, third = {**REQUEST, "seed": 1}, {**REQUEST, "seed": 2}
    cache.put(other, "o")
    cache.get(REQUEST)  # REQUEST is now the most recent
    cache.put(third, "t")
    assert cache.get(other) is None and cache.get(REQUEST) == "answer"
    now[0] = 11.0
    assert cache.get(REQUEST) is None
    assert (cache.hits, cache.misses) == (3, 3)


def test_semantic_cache_serves_a_near_duplicate_and_refuses_a_different_question():
    cache = SemanticCache(HashingEmbedder(256), threshold=0.8)
    cache.put("how long is the refund window for monthly plans", "7 days")
    hit = cache.get("how long is the refund window for monthly plans ?")
    assert hit is not None and hit.answer == "7 days" and hit.similarity >= 0.8
    assert cache.get("which header carried the api key in v1") is None
    assert cache.get("how long is the refund window for monthly plans", namespace="prompt@v2") is None
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 1)
    with pytest.raises(ValueError, match="non-empty text"):
        cache.get("  ")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        SemanticCache(HashingEmbedder(), threshold=1.5)


class TableEmbedder:
    """Fixed unit vectors per text: a sweep whose answer is known."""

    def __init__(self, table):
        self.table = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in table.items()}

    def embed(self, texts):
        return np.stack([self.table[t] for t in texts])


def test_sweep_counts_false_hits_leave_one_out_and_true_hits_on_paraphrases():
    emb = TableEmbedder({"q1": [1, 0, 0], "q2": [0.9, 0.1, 0], "q3": [0, 0, 1],
                         "p1": [1, 0.05, 0], "p3": [0, 0.5, 1]})
    rows = sweep_threshold(emb, ["q1", "q2", "q3"], ["a1", "a2", "a3"], [("p1", 0), ("p3", 2)], [0.5, 0.95, 0.999])
    by_t = {r["threshold"]: r for r in rows}
    # q1 and q2 (cos 0.994) are each other's nearest with different answers: 2 of 3 false hits
    assert by_t[0.5]["false_hit_rate"] == pytest.approx(2 / 3)
    assert by_t[0.999]["false_hit_rate"] == 0.0
    assert by_t[0.5]["paraphrase_true_hit_rate"] == 1.0   # p3 (cos 0.894) and p1
    assert by_t[0.95]["paraphrase_true_hit_rate"] == 0.5  # only p1
    assert by_t[0.999]["paraphrase_true_hit_rate"] == 0.0
    with pytest.raises(ValueError, match="need >= 2 questions"):
        sweep_threshold(emb, ["q1"], ["a1"], [], [0.5])


def test_every_golden_paraphrase_restates_an_existing_dev_question_once():
    from inferlearn.data import data_dir, read_jsonl
    from inferlearn.evals.golden import load_golden

    golden = {g["id"]: g for g in load_golden()}
    rows = read_jsonl(data_dir() / "golden" / "paraphrases.jsonl")
    ids = [r["id"] for r in rows]
    assert len(rows) == 24 and len(set(ids)) == len(ids)
    for row in rows:
        assert set(row) == {"id", "paraphrase"}, row
        assert row["id"] in golden and golden[row["id"]]["split"] == "dev", row["id"]
        assert row["paraphrase"].strip() and row["paraphrase"] != golden[row["id"]]["question"]
