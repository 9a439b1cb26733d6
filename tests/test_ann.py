"""Exact top-k, ANN recall and the HNSW sweep: ordering, ties, edge cases, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from inferlearn.rag.ann import (
    SweepPoint,
    ann_recall,
    build_hnsw,
    ephemeral_client,
    exact_point,
    exact_top_k,
    exact_top_k_batch,
    hnsw_search,
    hnsw_sweep,
    mean_ann_recall,
    timed_queries,
)
from inferlearn.rag.vectors import cosine_scores, unit_cosine_scores

MATRIX = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]], dtype=np.float32)


def random_unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_top_k_ranks_rows_by_cosine_best_first():
    assert exact_top_k([1.0, 0.1], MATRIX, 3) == [0, 2, 1]


def test_exact_top_k_uses_cosine_not_the_raw_dot_product():
    long_rows = np.array([[10.0, 10.0], [0.0, 1.0]])
    assert exact_top_k([0.0, 1.0], long_rows, 1) == [1]


def test_exact_top_k_breaks_ties_by_lower_index():
    tied = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    assert exact_top_k([1.0, 0.0], tied, 3) == [1, 2, 3]


def test_exact_top_k_returns_every_row_when_k_exceeds_them():
    assert sorted(exact_top_k([1.0, 0.0], MATRIX, 10)) == [0, 1, 2, 3]


def test_zero_rows_score_zero_and_zero_query_is_rejected():
    assert cosine_scores([1.0, 0.0], [[0.0, 0.0], [1.0, 0.0]]).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="all zeros"):
        exact_top_k([0.0, 0.0], MATRIX, 1)


def test_both_cosine_scorers_take_the_query_first_and_agree_on_unit_rows():
    rows = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    query = np.array([0.0, 1.0], dtype=np.float32)
    assert np.allclose(cosine_scores(query, rows), unit_cosine_scores(query, rows))
    assert np.allclose(cosine_scores([0.0, 2.0], rows * 3), [0.8, 0.0, 1.0])  # normalises both sides


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_exact_top_k_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k"):
        exact_top_k([1.0, 0.0], MATRIX, k)


def test_dimension_mismatch_names_both_sizes():
    with pytest.raises(ValueError, match="3 dimensions.*2"):
        exact_top_k([1.0, 0.0, 0.0], MATRIX, 1)
    with pytest.raises(ValueError, match="2-d"):
        exact_top_k([1.0, 0.0], [1.0, 0.0], 1)


def test_batch_matches_one_query_at_a_time():
    vectors, queries = random_unit(50, 8), random_unit(5, 8, seed=1)
    assert exact_top_k_batch(queries, vectors, 7) == [exact_top_k(q, vectors, 7) for q in queries]


def test_ann_recall_counts_shared_ids_over_k():
    assert ann_recall([1, 2, 9], [1, 2, 3]) == pytest.approx(2 / 3)
    assert ann_recall(["b", "a"], ["a", "b"]) == 1.0


def test_ann_recall_only_counts_the_first_k_approximate_ids_once():
    assert ann_recall([9, 8, 1, 2], [1, 2]) == 0.0
    assert ann_recall([1, 1], [1, 2]) == 0.5


def test_ann_recall_rejects_empty_exact_and_strings():
    with pytest.raises(ValueError, match="empty"):
        ann_recall([1], [])
    with pytest.raises(TypeError):
        ann_recall("ab", "ab")


def test_mean_ann_recall_averages_and_checks_lengths():
    assert mean_ann_recall([[1], [2]], [[1], [3]]) == 0.5
    with pytest.raises(ValueError, match="2 approximate results for 1"):
        mean_ann_recall([[1], [2]], [[1]])


def test_timed_queries_returns_one_latency_per_query():
    results, latencies = timed_queries(lambda v: [float(v[0])], np.eye(3))
    assert results == [[1.0], [0.0], [0.0]] and len(latencies) == 3
    assert all(ms >= 0 for ms in latencies)


def test_hnsw_collection_finds_an_exact_neighbour():
    vectors = random_unit(60, 16)
    client = ephemeral_client()
    collection = build_hnsw(client, vectors, m=8, ef_search=50)
    try:
        assert collection.count() == 60
        assert hnsw_search(collection, 3)(vectors[17])[0] == 17
    finally:
        client.delete_collection(collection.name)


def test_build_hnsw_rejects_bad_settings():
    with pytest.raises(ValueError, match="ef_search"):
        build_hnsw(None, random_unit(3, 4), ef_search=0)


def test_sweep_measures_every_setting_and_recall_rises_with_ef():
    vectors, queries = random_unit(400, 32), random_unit(30, 32, seed=3)
    points = hnsw_sweep(vectors, queries, ef_values=[10, 200], m_values=[4], k=10)
    assert [(p.m, p.ef_search) for p in points] == [(4, 10), (4, 200)]
    assert all(isinstance(p, SweepPoint) and 0 <= p.recall <= 1 for p in points)
    assert points[1].recall >= points[0].recall and points[1].recall >= 0.9
    assert points[0].as_dict()["n_vectors"] == 400 and points[0].latency_ms_p50 > 0


def test_sweep_rejects_empty_settings_and_inputs():
    with pytest.raises(ValueError, match="ef_search value"):
        hnsw_sweep(random_unit(5, 4), random_unit(1, 4), ef_values=[])
    with pytest.raises(ValueError, match="0 queries"):
        hnsw_sweep(random_unit(5, 4), np.zeros((0, 4)), ef_values=[10])


@pytest.mark.parametrize("threads", [1, None])
def test_exact_point_reports_recall_one_and_latencies(threads):
    point = exact_point(random_unit(100, 8), random_unit(4, 8, seed=2), k=5, threads=threads)
    assert point["recall"] == 1.0 and point["latency_ms_p95"] >= point["latency_ms_p50"] > 0
