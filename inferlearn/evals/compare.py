"""Compare retrieval stages on the golden set, one row per stage, scored the same way.

A notebook that measures each stage of a pipeline (BM25, dense, fusion, re-ranking, expansion)
runs every stage over the same questions and wants one table of page-level metrics::

    sample = golden_sample("dev", n_questions=15, n_docs=30)   # inferlearn.evals.sample
    ...  # index chunks of sample.docs, search each question with each stage
    table = score_runs(sample.qrels, {"bm25": bm25_run, "dense": dense_run}, doc_of)

Runs map a question id to a ranking: ids, ``Hit``s or ``(id, score)`` pairs, best first. When
the ranking holds chunks and the golden set judges pages, ``doc_of`` (chunk id -> page id) turns
it into a page ranking: each page at the rank of its best chunk.
Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from inferlearn.evals.metrics import evaluate, mean_scores, parse_metric

METRICS = ("recall@5", "mrr@10", "ndcg@10")


def _hit_id(hit: Any) -> str:
    if isinstance(hit, str):
        return hit
    return str(getattr(hit, "id", None) or hit[0])


def page_ranking(hits: Iterable[Any], doc_of: Mapping[str, str] | None = None) -> list[str]:
    """Ids of a ranking (ids, Hits or ``(id, score)`` pairs), mapped through ``doc_of`` when
    given (ids it lacks stay as they are), each page kept at its first (best) rank."""
    if isinstance(hits, (str, bytes)):
        raise TypeError("page_ranking takes a list of hits or ids, not a single string")
    ids = (_hit_id(h) for h in hits)
    if doc_of is not None:
        ids = (doc_of.get(i, i) for i in ids)
    return list(dict.fromkeys(ids))


def score_runs(qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Mapping[str, Any]],
               doc_of: Mapping[str, str] | None = None, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean ``metrics`` of each run over the questions it answered, one row per run name.

    Each run is scored on the judged questions it has rankings for (column ``queries``), so a
    stage tried on a few questions only is not charged zeros for the rest; compare such a run
    with a baseline restricted to the same questions (``restrict``).
    """
    rows = {}
    for name, run in runs.items():
        judged = {q: qrels[q] for q in run if q in qrels}
        ranked = {q: page_ranking(run[q], doc_of) for q in judged}
        means = mean_scores(evaluate(judged, ranked, list(metrics))) if judged else {}
        rows[name] = {**{m: means.get(parse_metric(m).label, 0.0) for m in metrics}, "queries": len(judged)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*metrics, "queries"])


def restrict(run: Mapping[str, Any], questions: Iterable[str]) -> dict[str, Any]:
    """The part of ``run`` for ``questions`` (question ids or golden items)."""
    wanted = [q if isinstance(q, str) else q["id"] for q in questions]
    return {q: run[q] for q in wanted if q in run}
