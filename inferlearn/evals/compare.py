"""Compare retrieval stages on a slice of the golden set, in one table.

A notebook that measures each stage of a pipeline (BM25, dense, fusion, re-ranking, expansion)
needs the same three steps every time: pick a sample of questions, index the pages they need
(plus distractors, so retrieval is not trivial), and score many runs the same way::

    questions = sample_golden("dev", n=15, seed=7, answerable=True)
    docs = corpus_slice(questions, load_corpus(), n_docs=30, seed=7)
    ...  # index chunks of docs, search each question with each stage
    table = score_runs(qrels_for(questions), {"bm25": bm25_run, "dense": dense_run}, doc_of)

Runs map a question id to a ranking: ids, ``Hit``s or ``(id, score)`` pairs, best first. When
the ranking holds chunks and the golden set judges pages, ``doc_of`` (chunk id -> page id) turns
it into a page ranking: each page at the rank of its best chunk.
Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from inferlearn.evals.metrics import evaluate, mean_scores, parse_metric

METRICS = ("recall@5", "mrr@10", "ndcg@10")


def sample_golden(split: str | None = "dev", n: int | None = None, seed: int = 7,
                  types: Iterable[str] | None = None, answerable: bool | None = None) -> list[dict[str, Any]]:
    """Golden items of ``split``, shuffled with ``seed``, first ``n`` of them (None: all).

    ``types`` keeps only those question types; ``answerable=True`` keeps questions with pages,
    ``False`` only the unanswerable ones. The same seed always gives the same sample.
    """
    from inferlearn.evals.golden import TYPES, load_golden

    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"n ({n!r}) must be a whole number >= 0, or None for every question")
    items = load_golden(split)
    if types is not None:
        wanted = set(types)
        unknown = sorted(wanted - set(TYPES))
        if unknown:
            raise ValueError(f"unknown question type {unknown[0]!r}; types are {', '.join(TYPES)}")
        items = [i for i in items if i["type"] in wanted]
    if answerable is not None:
        items = [i for i in items if bool(i["doc_ids"]) == answerable]
    items = sorted(items, key=lambda i: i["id"])
    random.Random(seed).shuffle(items)
    return items if n is None else items[:n]


def corpus_slice(items: Iterable[Mapping[str, Any]], docs: Sequence[Any], n_docs: int | None = None,
                 seed: int = 7, include: Iterable[str] = ()) -> list[Any]:
    """The pages the questions need, then the ``include`` ids, then random others up to ``n_docs``.

    ``docs`` are corpus ``Doc``s (anything with an ``id``). Needed pages are never dropped, so the
    slice can be larger than ``n_docs``; ``n_docs=None`` returns every page. Sorted by id.
    """
    if n_docs is not None and (isinstance(n_docs, bool) or not isinstance(n_docs, int) or n_docs < 1):
        raise ValueError(f"n_docs ({n_docs!r}) must be a whole number >= 1, or None for the whole corpus")
    by_id = {d.id: d for d in docs}
    if n_docs is None:
        return sorted(by_id.values(), key=lambda d: d.id)
    needed = [d for i in items for d in i.get("doc_ids", [])] + list(include)
    missing = sorted({d for d in needed if d not in by_id})
    if missing:
        raise KeyError(f"page {missing[0]!r} is not in the corpus given ({len(by_id)} pages)")
    chosen = list(dict.fromkeys(needed))
    others = sorted(set(by_id) - set(chosen))
    random.Random(seed).shuffle(others)
    chosen += others[: max(0, n_docs - len(chosen))]
    return sorted((by_id[d] for d in chosen), key=lambda d: d.id)


def qrels_for(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``{question id: {page id: 1}}`` for the answerable items (unanswerable ones have none)."""
    return {i["id"]: {d: 1 for d in i["doc_ids"]} for i in items if i.get("doc_ids")}


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
