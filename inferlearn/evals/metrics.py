"""Retrieval metrics computed exactly as trec_eval computes them, plus bootstrap statistics.

``qrels[query_id][doc_id]`` is graded relevance (0 or negative = judged not relevant); a run
gives each query either ``{doc_id: score}`` (ranked the trec_eval way: score descending, ties
broken by doc id in reverse order) or a list of doc ids already ranked::

    per_query = evaluate(qrels, run, ["ndcg@10", "recall@100", "mrr@10", "P@10", "map"])
    means = mean_scores(per_query)            # {"ndcg@10": 0.70, ...}

Names follow trec_eval where it has one (``ndcg_cut_10``, ``P_10``, ``recall_10``,
``recip_rank``, ``map``, ``success_10``, ``Rprec``); ``ndcg`` without a cutoff is trec_eval's
``ndcg``. nDCG gains are the relevance values (linear, as trec_eval's ``ndcg_cut``);
``ndcg_burges`` uses 2^rel - 1. Every query in ``qrels`` is scored (a query the run misses
scores 0, as ``trec_eval -c``); run queries without judgements are ignored.
Introduced in ``phase2_rag/01_ingestion_and_chunking``; the statistics in
``phase3_eval/02_retrieval_metrics_with_uncertainty``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

Qrels = Mapping[str, Mapping[str, int]]


def ranked_ids(results: Mapping[str, float] | Sequence[Any]) -> list[str]:
    """Doc ids in trec_eval order. A dict (or a list of ``(id, score)`` pairs) is sorted by
    score descending, ties by doc id descending; a list of ids is taken as already ranked.
    Introduced in ``phase3_eval/02_retrieval_metrics_with_uncertainty``."""
    if isinstance(results, Mapping):
        pairs = list(results.items())
    elif all(isinstance(r, str) for r in results):
        ids = list(results)
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"doc {dup!r} appears more than once in a ranking")
        return ids
    else:
        pairs = [(str(r[0]), r[1]) for r in results]
        if len({p[0] for p in pairs}) != len(pairs):
            raise ValueError("a doc appears more than once in a ranking")
    return [doc for doc, _ in sorted(pairs, key=lambda p: (float(p[1]), p[0]), reverse=True)]


def _relevant(rels: Mapping[str, int], level: int) -> set[str]:
    return {doc for doc, rel in rels.items() if rel >= level}


def _cut(ranking: list[str], k: int | None) -> list[str]:
    return ranking if k is None else ranking[:k]


def precision(rels: Mapping[str, int], ranking: list[str], k: int, level: int = 1) -> float:
    """Relevant docs in the top ``k``, divided by ``k`` (even when fewer were retrieved)."""
    relevant = _relevant(rels, level)
    return sum(doc in relevant for doc in ranking[:k]) / k


def recall(rels: Mapping[str, int], ranking: list[str], k: int | None = None, level: int = 1) -> float:
    """Relevant docs in the top ``k``, divided by all relevant docs (0 when there are none)."""
    relevant = _relevant(rels, level)
    return sum(doc in relevant for doc in _cut(ranking, k)) / len(relevant) if relevant else 0.0


def hits(rels: Mapping[str, int], ranking: list[str], k: int | None = None, level: int = 1) -> float:
    """How many relevant docs are in the top ``k``."""
    relevant = _relevant(rels, level)
    return float(sum(doc in relevant for doc in _cut(ranking, k)))


def hit_rate(rels: Mapping[str, int], ranking: list[str], k: int | None = None, level: int = 1) -> float:
    """1 if any relevant doc is in the top ``k``, else 0 (trec_eval ``success``)."""
    return 1.0 if hits(rels, ranking, k, level) else 0.0


def reciprocal_rank(rels: Mapping[str, int], ranking: list[str], k: int | None = None, level: int = 1) -> float:
    """1 / rank of the first relevant doc within the top ``k`` (0 if none)."""
    relevant = _relevant(rels, level)
    return next((1.0 / rank for rank, doc in enumerate(_cut(ranking, k), 1) if doc in relevant), 0.0)


def average_precision(rels: Mapping[str, int], ranking: list[str], k: int | None = None, level: int = 1) -> float:
    """Sum of precision at each relevant doc retrieved (top ``k``), over ALL relevant docs."""
    relevant = _relevant(rels, level)
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc in enumerate(_cut(ranking, k), 1):
        if doc in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


def r_precision(rels: Mapping[str, int], ranking: list[str], k: int | None = None, level: int = 1) -> float:
    """Precision at R, the number of relevant docs (trec_eval ``Rprec``)."""
    relevant = _relevant(rels, level)
    return precision(rels, ranking, len(relevant), level) if relevant else 0.0


def _gain(rel: float, kind: str) -> float:
    return (2.0 ** rel - 1.0) if kind == "exponential" else float(rel)


def dcg(rels: Mapping[str, int], ranking: list[str], k: int | None = None, gain: str = "linear") -> float:
    """Discounted cumulative gain: sum of gain / log2(rank + 1) over docs with relevance > 0."""
    return sum(_gain(rels[doc], gain) / math.log2(rank + 1)
               for rank, doc in enumerate(_cut(ranking, k), 1) if rels.get(doc, 0) > 0)


def ndcg(rels: Mapping[str, int], ranking: list[str], k: int | None = None, gain: str = "linear") -> float:
    """DCG over the ideal DCG of all judged-relevant docs (trec_eval ``ndcg_cut``/``ndcg``).
    Introduced in ``phase3_eval/02_retrieval_metrics_with_uncertainty``."""
    ideal_order = sorted((r for r in rels.values() if r > 0), reverse=True)
    ideal = sum(_gain(r, gain) / math.log2(rank + 1) for rank, r in enumerate(_cut(ideal_order, k), 1))
    return dcg(rels, ranking, k, gain) / ideal if ideal > 0 else 0.0


def _ndcg_burges(rels, ranking, k=None, level=1):
    return ndcg(rels, ranking, k, gain="exponential")


_FUNCTIONS: dict[str, Callable[..., float]] = {
    "ndcg": lambda rels, ranking, k=None, level=1: ndcg(rels, ranking, k),
    "ndcg_burges": _ndcg_burges,
    "dcg": lambda rels, ranking, k=None, level=1: dcg(rels, ranking, k),
    "recall": recall, "precision": precision, "mrr": reciprocal_rank, "map": average_precision,
    "hit_rate": hit_rate, "hits": hits, "r_precision": r_precision,
}
_ALIASES = {"ndcg_cut": "ndcg", "p": "precision", "recip_rank": "mrr", "rr": "mrr", "ap": "map",
            "success": "hit_rate", "rprec": "r_precision", "r-precision": "r_precision"}
_NAME = re.compile(r"^([a-z_\-]+?)(?:[@_](\d+))?$")


class MetricSpec(NamedTuple):
    """A parsed metric name: the canonical ``name`` and the cutoff ``k`` (None = whole ranking)."""

    name: str
    k: int | None

    @property
    def label(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"


def parse_metric(metric: str) -> MetricSpec:
    """``"ndcg@10"``, ``"ndcg_cut_10"``, ``"P_5"``, ``"recip_rank"``... -> ``MetricSpec``."""
    match = _NAME.match(str(metric).strip().lower())
    name = _ALIASES.get(match.group(1), match.group(1)) if match else None
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(sorted(_FUNCTIONS))} "
                         "with an optional cutoff, e.g. ndcg@10, recall@100, mrr@10, P@5, map")
    k = int(match.group(2)) if match.group(2) else None
    if k is not None and k < 1:
        raise ValueError(f"k ({k}) must be >= 1 in metric {metric!r}")
    if name == "precision" and k is None:
        raise ValueError(f"precision needs a cutoff, e.g. P@10 (got {metric!r})")
    return MetricSpec(name, k)


def evaluate(qrels: Qrels, run: Mapping[str, Any], metrics: Sequence[str] = ("ndcg@10",),
             relevance_level: int = 1, judged_only: bool = False) -> dict[str, dict[str, float]]:
    """Per-query scores: ``{metric label: {query_id: value}}`` over every query in ``qrels``.

    ``relevance_level``: the least relevance that counts as relevant for binary metrics (nDCG
    uses the graded values). ``judged_only`` drops unjudged docs first (trec_eval ``-J``).
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    specs = [parse_metric(m) for m in metrics]
    out: dict[str, dict[str, float]] = {spec.label: {} for spec in specs}
    for qid, rels in qrels.items():
        ranking = ranked_ids(run.get(qid) or {})
        if judged_only:
            ranking = [doc for doc in ranking if doc in rels]
        for spec in specs:
            out[spec.label][qid] = _FUNCTIONS[spec.name](rels, ranking, spec.k, level=relevance_level)
    return out


def mean_scores(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean over queries of each metric from ``evaluate`` (0.0 for no queries)."""
    return {name: (sum(values.values()) / len(values) if values else 0.0)
            for name, values in per_query.items()}


def read_trec_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Qrels in TREC format: ``query_id iteration doc_id relevance`` per line."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected 4 fields (qid iter docno rel), got {len(fields)}")
        qrels.setdefault(fields[0], {})[fields[2]] = int(fields[3])
    return qrels


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """A run in TREC format (``qid Q0 docno rank score tag``); the rank column is ignored."""
    run: dict[str, dict[str, float]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise ValueError(f"{path}:{number}: expected 6 fields (qid Q0 docno rank score tag)")
        if fields[2] in run.setdefault(fields[0], {}):
            raise ValueError(f"{path}:{number}: doc {fields[2]!r} appears twice for query {fields[0]!r}")
        run[fields[0]][fields[2]] = float(fields[4])
    return run


class ConfidenceInterval(NamedTuple):
    """A statistic with its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float
    confidence: float


class PairedComparison(NamedTuple):
    """System B against system A on the same queries (``diff`` = mean of B - A)."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p_value: float
    wins: int
    losses: int
    ties: int


def _values(values: Mapping[str, float] | Sequence[float], name: str = "values") -> np.ndarray:
    array = np.asarray(list(values.values()) if isinstance(values, Mapping) else list(values), dtype=float)
    if array.size == 0:
        raise ValueError(f"{name} is empty: need at least one per-query score")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds a NaN or infinite score")
    return array


def _check_resampling(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence ({confidence}) must be between 0 and 1, e.g. 0.95")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples ({n_resamples!r}) must be >= 1")


def _bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    means = np.empty(n_resamples)
    step = max(1, 2_000_000 // values.size)
    for start in range(0, n_resamples, step):
        count = min(step, n_resamples - start)
        means[start : start + count] = values[rng.integers(0, values.size, (count, values.size))].mean(axis=1)
    return means


def bootstrap_ci(values: Mapping[str, float] | Sequence[float], confidence: float = 0.95,
                 n_resamples: int = 10_000, seed: int = 0) -> ConfidenceInterval:
    """Mean of per-query ``values`` with a percentile bootstrap interval (queries resampled).
    Introduced in ``phase3_eval/02_retrieval_metrics_with_uncertainty``."""
    _check_resampling(confidence, n_resamples)
    array = _values(values)
    means = _bootstrap_means(array, n_resamples, np.random.default_rng(seed))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return ConfidenceInterval(float(array.mean()), float(low), float(high), confidence)


def paired_comparison(a: Mapping[str, float], b: Mapping[str, float], confidence: float = 0.95,
                      n_resamples: int = 10_000, seed: int = 0) -> PairedComparison:
    """Compare per-query scores of two systems on the same queries.

    The interval is a bootstrap of the mean difference; ``p_value`` is a two-sided paired
    randomisation (sign-flip) test of "no difference". Both need the same query ids.
    Introduced in ``phase3_eval/02_retrieval_metrics_with_uncertainty``.
    """
    _check_resampling(confidence, n_resamples)
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise ValueError(f"a and b must score the same queries: {len(only_a)} only in a "
                         f"{only_a[:3]}, {len(only_b)} only in b {only_b[:3]}")
    keys = sorted(a)
    va, vb = _values([a[k] for k in keys], "a"), _values([b[k] for k in keys], "b")
    diffs = vb - va
    rng = np.random.default_rng(seed)
    means = _bootstrap_means(diffs, n_resamples, rng)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    observed = abs(diffs.mean())
    extreme = 0
    step = max(1, 2_000_000 // diffs.size)
    for start in range(0, n_resamples, step):
        count = min(step, n_resamples - start)
        signs = rng.choice([-1.0, 1.0], size=(count, diffs.size))
        extreme += int(np.sum(np.abs((signs * diffs).mean(axis=1)) >= observed - 1e-12))
    return PairedComparison(len(keys), float(va.mean()), float(vb.mean()), float(diffs.mean()),
                            float(low), float(high), (extreme + 1) / (n_resamples + 1),
                            int(np.sum(diffs > 0)), int(np.sum(diffs < 0)), int(np.sum(diffs == 0)))
