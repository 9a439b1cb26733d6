"""Response caches: exact (a hash of the request) and semantic (nearest earlier question).

Introduced in ``phase4_production/03_budgets_and_caching``. The exact cache is safe: the same
model, messages and sampling settings give the same key, and a request that samples at random
(temperature above 0 without a seed) is never cached. The semantic cache is a bet: a question
close enough to an earlier one gets the earlier answer, without a model call. Close enough is a
cosine threshold, and a wrong bet (a **false hit**) serves a confident answer to a different
question, so the threshold is chosen from a measured sweep (``sweep_threshold``)::

    cache = SemanticCache(CachedEmbedder("minilm-l6-int8"), threshold=0.92)
    cache.put("How long do I have to ask for a refund?", answer)
    cache.get("What is the refund window?")      # SemanticHit(answer, similarity, query) or None
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# request fields that do not change what the model answers (so they are not part of the key)
NOT_IN_KEY = frozenset({"user", "stream", "stream_options", "request_id", "metadata", "timeout",
                        "extra_headers"})


class Embedder(Protocol):
    """Anything with ``embed(texts) -> (n, d)`` unit vectors (``inferlearn.rag.dense``)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


def is_cacheable(request: dict[str, Any]) -> bool:
    """True when the same request should give the same answer: temperature 0, or a seed."""
    temperature = request.get("temperature", 1.0)
    return temperature == 0 or request.get("seed") is not None


def cache_key(request: dict[str, Any]) -> str:
    """sha256 of the request as canonical JSON (sorted keys), without ``NOT_IN_KEY`` fields."""
    if "model" not in request or "messages" not in request:
        raise ValueError(f"a chat request needs 'model' and 'messages' to be cached; it has {sorted(request)}")
    kept = {k: v for k, v in request.items() if k not in NOT_IN_KEY}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ExactCache:
    """An in-memory LRU of responses by ``cache_key``, with a time to live; thread-safe."""

    def __init__(self, max_entries: int = 10_000, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError(f"max_entries ({max_entries}) must be >= 1 and ttl_s ({ttl_s}) > 0")
        self.max_entries, self.ttl_s, self.clock = max_entries, ttl_s, clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, request: dict[str, Any]) -> Any | None:
        """The stored response for ``request``, or ``None`` (not cacheable, absent or expired)."""
        if not is_cacheable(request):
            return None
        key = cache_key(request)
        with self._lock:
            item = self._items.get(key)
            if item is None or self.clock() - item[0] > self.ttl_s:
                self._items.pop(key, None)
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, request: dict[str, Any], response: Any) -> bool:
        """Store ``response``; returns False (and stores nothing) when the request is not cacheable."""
        if not is_cacheable(request):
            return False
        key = cache_key(request)
        with self._lock:
            self._items[key] = (self.clock(), response)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class SemanticHit:
    """A cached answer served for a query because an earlier query was this similar."""

    answer: Any
    similarity: float
    query: str


class SemanticCache:
    """Answers by nearest earlier query (cosine of unit vectors), above ``threshold``.

    ``namespace`` separates answers that must not mix: a model, a prompt release, a tenant."""

    def __init__(self, embedder: Embedder, threshold: float = 0.92) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"a cosine threshold lies in [-1, 1], got {threshold}")
        self.embedder, self.threshold = embedder, threshold
        self._rows: dict[str, tuple[list[str], list[Any], list[np.ndarray]]] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _vector(self, query: str) -> np.ndarray:
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"a cache query must be non-empty text, got {query!r}")
        return np.asarray(self.embedder.embed([query])[0], dtype=np.float32)

    def put(self, query: str, answer: Any, namespace: str = "") -> None:
        """Remember ``answer`` for ``query`` in ``namespace``."""
        vector = self._vector(query)
        with self._lock:
            queries, answers, vectors = self._rows.setdefault(namespace, ([], [], []))
            queries.append(query)
            answers.append(answer)
            vectors.append(vector)

    def get(self, query: str, namespace: str = "") -> SemanticHit | None:
        """The answer of the most similar cached query if its cosine is >= ``threshold``."""
        vector = self._vector(query)
        with self._lock:
            queries, answers, vectors = self._rows.get(namespace, ([], [], []))
            if not vectors:
                self.misses += 1
                return None
            scores = np.stack(vectors) @ vector
            best = int(np.argmax(scores))
            if float(scores[best]) < self.threshold:
                self.misses += 1
                return None
            self.hits += 1
            return SemanticHit(answers[best], float(scores[best]), queries[best])

    def __len__(self) -> int:
        return sum(len(rows[0]) for rows in self._rows.values())


def nearest_others(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each unit vector: the index and cosine of its nearest *other* vector."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    best = scores.argmax(axis=1)
    return best, scores[np.arange(len(vectors)), best]


def sweep_threshold(embedder: Embedder, questions: list[str], answers: list[str],
                    paraphrases: list[tuple[str, int]], thresholds: list[float]) -> list[dict]:
    """False and true hits of a semantic cache holding ``questions`` (answers ``answers``).

    False hits: each question asked again with itself left out of the cache (leave-one-out);
    its nearest other question is a false hit when above the threshold with a different answer.
    Paraphrases ``(text, index of the question it restates)``: a true hit when the nearest
    cached question is that one and above the threshold, a false hit when it is another one
    (with a different answer). Rates are shares of all questions / all paraphrases.
    """
    if len(questions) != len(answers) or len(questions) < 2:
        raise ValueError(f"need >= 2 questions with one answer each, got {len(questions)} questions "
                         f"and {len(answers)} answers")
    cached = np.asarray(embedder.embed(list(questions)), dtype=np.float32)
    near, near_sim = nearest_others(cached)
    wrong = np.array([answers[i] != answers[j] for i, j in enumerate(near)])
    para = np.asarray(embedder.embed([p for p, _ in paraphrases]), dtype=np.float32) \
        if paraphrases else np.zeros((0, cached.shape[1]), dtype=np.float32)
    p_scores = para @ cached.T
    p_best, p_sim = p_scores.argmax(axis=1), p_scores.max(axis=1) if len(para) else np.zeros(0)
    p_source = np.array([i for _, i in paraphrases], dtype=int)
    p_wrong = np.array([answers[b] != answers[s] for b, s in zip(p_best, p_source, strict=True)], dtype=bool)
    rows = []
    for t in thresholds:
        hit, p_hit = near_sim >= t, p_sim >= t
        rows.append({"threshold": t, "false_hit_rate": float((hit & wrong).mean()),
                     "paraphrase_true_hit_rate": float((p_hit & ~p_wrong).mean()) if len(para) else float("nan"),
                     "paraphrase_false_hit_rate": float((p_hit & p_wrong).mean()) if len(para) else float("nan"),
                     "questions": len(questions), "paraphrases": len(paraphrases)})
    return rows
