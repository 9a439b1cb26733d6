"""Fusing rankings: reciprocal rank fusion and normalised score blending.

BM25 scores (0 to ~40) and cosine similarities (-1 to 1) live on different scales, so they
cannot be added as they are. RRF ignores scores and adds ``weight / (k + rank)``; blending
first normalises each list (min-max to [0, 1], or z-scores), then adds weighted scores::

    fused = reciprocal_rank_fusion([bm25_hits, dense_hits], k=60)
    blended = blend_scores([bm25_hits, dense_hits], weights=[0.3, 0.7], method="zscore")

Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from inferlearn.rag.passages import Hit, check_k

NORMALISATIONS = ("minmax", "zscore")


def _as_hits(ranking: Sequence[Any], position: int) -> list[Hit]:
    if isinstance(ranking, (str, bytes)):
        raise TypeError(f"ranking {position} is a string; give a list of Hits or ids")
    hits = [r if type(r) is Hit else Hit(r, 0.0) if isinstance(r, str) else Hit(str(r[0]), float(r[1]))
            for r in ranking]
    if len({hit.id for hit in hits}) != len(hits):
        seen: set[str] = set()
        duplicate = next(h.id for h in hits if h.id in seen or seen.add(h.id))
        raise ValueError(f"ranking {position} lists {duplicate!r} twice")
    return hits


def _check_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    weights = list(weights)
    if len(weights) != count:
        raise ValueError(f"weights has {len(weights)} values for {count} rankings; give one per ranking")
    if any(not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights ({weights}) must be finite numbers >= 0")
    if not any(weights):
        raise ValueError(f"weights ({weights}) are all zero; at least one must be > 0")
    return [float(w) for w in weights]


def _finish(scores: dict[str, float], order_hint: dict[str, tuple], limit: int | None) -> list[Hit]:
    if limit is not None:
        check_k(limit, "limit")
    key = lambda doc: (-scores[doc], order_hint[doc], doc)  # noqa: E731
    ranked = sorted(scores, key=key) if limit is None else heapq.nsmallest(limit, scores, key=key)
    return [Hit(doc, scores[doc]) for doc in ranked]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Any]], k: float = 60,
                           weights: Sequence[float] | None = None, limit: int | None = None) -> list[Hit]:
    """Fuse ranked lists (Hits, ``(id, score)`` pairs or ids, best first) by
    ``sum(weight / (k + rank))``; ties go to the better best rank, then the id."""
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k < 0:
        raise ValueError(f"k ({k!r}) must be a number >= 0 (60 is the usual choice)")
    lists = [_as_hits(r, i) for i, r in enumerate(rankings)]
    weights = _check_weights(weights, len(lists))
    scores: dict[str, float] = {}
    best: dict[str, tuple] = {}
    for weight, hits in zip(weights, lists, strict=True):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + rank)
            best[hit.id] = min(best.get(hit.id, (rank,)), (rank,))
    return _finish(scores, best, limit)


def normalize(hits: Sequence[Any], method: str = "minmax") -> dict[str, float]:
    """Scores of one list rescaled: ``minmax`` to [0, 1] (all equal -> 1.0) or ``zscore``
    (mean 0, standard deviation 1; all equal -> 0.0)."""
    if method not in NORMALISATIONS:
        raise ValueError(f"method ({method!r}) must be one of {', '.join(NORMALISATIONS)}")
    hits = _as_hits(hits, 0)
    if not hits:
        return {}
    values = np.fromiter((h.score for h in hits), dtype=float, count=len(hits))
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite numbers to normalise them")
    if method == "minmax":
        low, high = values.min(), values.max()
        scaled = (values - low) / (high - low) if high > low else np.ones_like(values)
    else:
        std = values.std()
        scaled = (values - values.mean()) / std if std > 0 else np.zeros_like(values)
    return dict(zip([h.id for h in hits], scaled.tolist(), strict=True))


def blend_scores(results: Sequence[Sequence[Any]], weights: Sequence[float] | None = None,
                 method: str = "minmax", limit: int | None = None) -> list[Hit]:
    """Normalise each list of ``(id, score)`` hits, then add weighted scores. A passage missing
    from a list gets that list's lowest normalised score (it ranked below everything found), or
    one less when every passage in the list scored the same (found still beats not found)."""
    normalised = [normalize(r, method) for r in results]
    weights = _check_weights(weights, len(normalised))
    floors = [min(n.values()) - (1.0 if len(set(n.values())) == 1 else 0.0) if n else 0.0 for n in normalised]
    base = sum(w * floor for w, floor in zip(weights, floors, strict=True))
    fused: dict[str, float] = {}
    first: dict[str, tuple] = {}
    for position, (weight, scores, floor) in enumerate(zip(weights, normalised, floors, strict=True)):
        for rank, (doc, score) in enumerate(scores.items(), start=1):
            fused[doc] = fused.get(doc, base) + weight * (score - floor)
            if doc not in first:
                first[doc] = (rank, position)
            elif rank < first[doc][0]:
                first[doc] = (rank, position)
    return _finish(fused, first, limit)
