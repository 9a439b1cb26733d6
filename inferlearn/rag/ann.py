"""Exact vs approximate nearest neighbours: the exact top-k, recall against it, an HNSW sweep.

Brute force (score every vector, keep the best ``k``) is the reference: it is exact by
definition. An HNSW index (chroma's vector index) answers from a graph and may miss some of the
true neighbours; how many it misses depends on two knobs:

- ``ef_search``: how many candidates a query keeps while it walks the graph (more = better
  recall, slower queries). HNSW never keeps fewer than ``k``, so ``ef_search < k`` acts as ``k``.
- ``M`` (chroma: ``max_neighbors``): links per node, fixed when the index is built (more =
  better recall, more memory, slower builds).

``ann_recall`` (recall@k of the approximate list against the exact one) is the number that says
what a setting costs in quality; ``hnsw_sweep`` measures it with per-query latency::

    exact = exact_top_k_batch(queries, vectors, k=10)
    points = hnsw_sweep(vectors, queries, ef_values=[10, 40, 160], m_values=[8, 16])
    [(p.m, p.ef_search, p.recall, p.latency_ms_p50) for p in points]

chroma reads ``ef_search`` when a collection is loaded, so a value changed with ``modify()`` only
takes effect in a new process; the sweep therefore builds one fresh collection per setting (in
memory, deleted after it is measured).
Introduced in ``phase2_rag/02_embeddings_and_vector_search``.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inferlearn.latency import latency_summary
from inferlearn.rag.passages import check_k
from inferlearn.rag.vectors import (
    EF_CONSTRUCTION,
    as_matrix,
    chroma_client,
    cosine_scores,
    unit_rows,
)


def exact_top_k(query_vec: Any, matrix: Any, k: int) -> list[int]:
    """Row indices of the ``k`` rows most cosine-similar to ``query_vec``, best first.

    Ties go to the lower index; ``k`` larger than the number of rows returns every row.
    """
    check_k(k)
    scores = cosine_scores(query_vec, matrix)
    order = np.lexsort((np.arange(len(scores)), -scores))  # score descending, then index
    return [int(i) for i in order[:k]]


def exact_top_k_batch(queries: Any, matrix: Any, k: int) -> list[list[int]]:
    """``exact_top_k`` for every row of ``queries`` (one matrix product for all of them)."""
    check_k(k)
    queries, matrix = as_matrix(queries, "queries"), as_matrix(matrix)
    if queries.shape[1] != matrix.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} dimensions but the rows have {matrix.shape[1]}")
    scores = unit_rows(queries) @ unit_rows(matrix).T
    index = np.arange(matrix.shape[0])
    return [[int(i) for i in np.lexsort((index, -row))[:k]] for row in scores]


def ann_recall(approx_ids: Sequence[Any], exact_ids: Sequence[Any]) -> float:
    """Recall@k of an approximate top-k against the exact one, with ``k = len(exact_ids)``.

    Only the first ``k`` approximate ids count, each once; order within the top-k does not.
    """
    if isinstance(exact_ids, (str, bytes)) or isinstance(approx_ids, (str, bytes)):
        raise TypeError("ann_recall takes two lists of ids, not strings")
    exact = set(exact_ids)
    if not exact:
        raise ValueError("exact_ids is empty: recall against no neighbours is undefined")
    k = len(exact_ids)
    return len(set(list(approx_ids)[:k]) & exact) / len(exact)


def mean_ann_recall(approx: Iterable[Sequence[Any]], exact: Iterable[Sequence[Any]]) -> float:
    """The mean of ``ann_recall`` over queries (lists in the same query order)."""
    approx, exact = list(approx), list(exact)
    if len(approx) != len(exact):
        raise ValueError(f"{len(approx)} approximate results for {len(exact)} exact ones")
    if not exact:
        raise ValueError("no queries to average over")
    return float(np.mean([ann_recall(a, e) for a, e in zip(approx, exact, strict=True)]))


def timed_queries(search: Callable[[np.ndarray], list[Any]], queries: Any,
                  warmup: int = 1) -> tuple[list[list[Any]], list[float]]:
    """Run ``search(vector)`` for every query row: (results, latency of each in ms).

    The first ``warmup`` queries also run once untimed (first calls pay for lazy set-up).
    """
    queries = as_matrix(queries, "queries")
    for vector in queries[:warmup]:
        search(vector)
    results, latencies = [], []
    for vector in queries:
        start = time.perf_counter()
        results.append(search(vector))
        latencies.append((time.perf_counter() - start) * 1000)
    return results, latencies


def ephemeral_client() -> Any:
    """An in-memory chroma client with telemetry off (``inferlearn.rag.vectors.chroma_client()``)."""
    return chroma_client()


def build_hnsw(client: Any, vectors: Any, m: int = 16, ef_search: int = 10,
               ef_construction: int = EF_CONSTRUCTION, name: str | None = None, batch_size: int = 1000):
    """A new chroma collection (cosine) holding ``vectors`` with ids ``"0"``, ``"1"``, ...

    ``m`` is chroma's ``max_neighbors``. No embedding function: vectors are given.
    """
    for label, value in (("m", m), ("ef_search", ef_search), ("ef_construction", ef_construction),
                         ("batch_size", batch_size)):
        check_k(value, label)
    vectors = as_matrix(vectors, "vectors")
    hnsw = {"space": "cosine", "ef_search": ef_search, "ef_construction": ef_construction,
            "max_neighbors": m}
    collection = client.create_collection(name or f"ann-{uuid.uuid4().hex[:12]}", embedding_function=None,
                                          configuration={"hnsw": hnsw})
    for start in range(0, len(vectors), batch_size):
        part = vectors[start : start + batch_size]
        collection.add(ids=[str(start + i) for i in range(len(part))], embeddings=part)
    return collection


def hnsw_search(collection: Any, k: int) -> Callable[[np.ndarray], list[int]]:
    """``search(vector) -> row indices`` over a collection made by ``build_hnsw``."""
    check_k(k)

    def search(vector: np.ndarray) -> list[int]:
        found = collection.query(query_embeddings=[vector], n_results=k, include=[])
        return [int(i) for i in found["ids"][0]]

    return search


@dataclass(frozen=True)
class SweepPoint:
    """One HNSW setting measured: recall@k against exact search and latency per query (ms)."""

    m: int
    ef_search: int
    ef_construction: int
    k: int
    n_vectors: int
    n_queries: int
    recall: float
    latency_ms_p50: float
    latency_ms_p95: float
    build_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def blas_threads(threads: int | None):
    """A context that limits numpy's BLAS to ``threads`` (None: leave it alone).

    A matrix-vector product split over threads waits for every thread; on a busy machine one of
    them waits for a core, and a 0.05 ms scan measures 20 ms. One thread measures the scan.
    """
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a scikit-learn dependency; without it, measure as is
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


def exact_point(vectors: Any, queries: Any, k: int = 10, threads: int | None = 1) -> dict[str, float]:
    """Latency of brute-force search (numpy) per query, p50 and p95 in ms; recall is 1.

    ``threads``: BLAS threads while timing (default 1, like one HNSW query; see ``blas_threads``).
    """
    vectors = unit_rows(as_matrix(vectors, "vectors"))
    check_k(k)
    k = min(k, len(vectors))

    def search(query: np.ndarray) -> list[int]:  # unit rows: a dot product is the cosine
        scores = vectors @ (query / max(float(np.linalg.norm(query)), 1e-12))
        top = np.argpartition(-scores, k - 1)[:k]
        return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]

    with blas_threads(threads):
        _, latencies = timed_queries(search, queries)
    summary = latency_summary(latencies, digits=4)
    return {"recall": 1.0, "latency_ms_p50": summary["p50"], "latency_ms_p95": summary["p95"]}


def hnsw_sweep(vectors: Any, queries: Any, ef_values: Sequence[int], m_values: Sequence[int] = (16,),
               k: int = 10, ef_construction: int = EF_CONSTRUCTION, client: Any = None,
               exact: list[list[int]] | None = None) -> list[SweepPoint]:
    """Recall@k (against exact search) and latency for every (M, ef_search), one fresh collection
    each. ``exact`` may pass the exact top-k already computed (``exact_top_k_batch``)."""
    check_k(k)
    if not ef_values or not m_values:
        raise ValueError("give at least one ef_search value and one M value")
    vectors, queries = as_matrix(vectors, "vectors"), as_matrix(queries, "queries")
    if len(vectors) == 0 or len(queries) == 0:
        raise ValueError(f"need vectors and queries, got {len(vectors)} vectors and {len(queries)} queries")
    exact = exact if exact is not None else exact_top_k_batch(queries, vectors, k)
    client = client if client is not None else ephemeral_client()
    points = []
    for m in m_values:
        for ef in ef_values:
            start = time.perf_counter()
            collection = build_hnsw(client, vectors, m=m, ef_search=ef, ef_construction=ef_construction)
            build_s = time.perf_counter() - start
            try:
                found, latencies = timed_queries(hnsw_search(collection, min(k, len(vectors))), queries)
            finally:
                client.delete_collection(collection.name)
            summary = latency_summary(latencies, digits=4)
            points.append(SweepPoint(m, ef, ef_construction, k, len(vectors), len(queries),
                                     round(mean_ann_recall(found, exact), 4), summary["p50"],
                                     summary["p95"], round(build_s, 3)))
    return points
