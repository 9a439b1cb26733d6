"""Re-ranking: score (query, passage) pairs with a stronger, slower model, then re-sort.

Every re-ranker has one interface, ``Reranker``: ``score(query, passages)`` returns one number
per passage (higher = more relevant) and ``rerank(query, passages, limit)`` returns ``Hit``s.
Three are offered here:

* ``LLMReranker``: pointwise relevance from a chat model's logprobs of "yes" / "no"
  (``logprobs=True, top_logprobs=5, max_tokens=1``), through any OpenAI-style client;
* ``DenseRescorer``: cosine similarity from an embedding model (cheap, cached passages);
* ``CrossEncoderReranker``: wraps a sentence-transformers ``CrossEncoder`` if you have one
  (imported lazily; it is not a dependency of this course, and no weights ship offline).

Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from inferlearn.rag.passages import Hit, Passage, as_passages, check_k, check_query, passage_text
from inferlearn.rag.vectors import unit_cosine_scores

SYSTEM_PROMPT = ("You judge search results. Answer with one word: yes if the passage helps answer "
                 "the query, no if it does not.")
USER_TEMPLATE = "Query: {query}\n\nPassage: {passage}\n\nDoes the passage help answer the query? Answer yes or no."
YES, NO = "yes", "no"


class Reranker(ABC):
    """Scores (query, passage) pairs; ``rerank`` sorts by score (ties keep the input order)."""

    name = "reranker"

    @abstractmethod
    def score(self, query: str, passages: list[Passage]) -> list[float]:
        """One relevance score per passage, higher is more relevant."""

    def rerank(self, query: str, passages: list[Any], limit: int | None = None) -> list[Hit]:
        """``passages`` re-ordered by ``score``; at most ``limit`` of them."""
        check_query(query)
        if limit is not None:
            check_k(limit, "limit")
        passages = as_passages(passages)
        if not passages:
            return []
        scores = [float(s) for s in self.score(query, passages)]
        if len(scores) != len(passages):
            raise RuntimeError(f"{self.name} returned {len(scores)} scores for {len(passages)} passages")
        order = sorted(range(len(passages)), key=lambda i: (-scores[i], i))
        return [Hit(passages[i].id, scores[i]) for i in order[:limit]]


def yes_probability(logprob_entry: Any) -> float | None:
    """P(yes) / (P(yes) + P(no)) from one token's ``top_logprobs`` (None if neither appears).

    Token variants (" Yes", "YES", "no.") count for their word.
    """
    candidates = _field(logprob_entry, "top_logprobs") or []
    mass = {YES: 0.0, NO: 0.0}
    for item in candidates:
        word = str(_field(item, "token") or "").strip().strip(".,!:").lower()
        if word in mass:
            mass[word] += math.exp(float(_field(item, "logprob")))
    total = mass[YES] + mass[NO]
    return mass[YES] / total if total > 0 else None


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


class LLMReranker(Reranker):
    """Pointwise LLM relevance: one 1-token call per passage, scored from yes/no logprobs.

    A passage whose top 5 tokens hold neither word scores 0.5 (no information). Passages are
    cut to ``max_chars`` so the prompt fits the local model's logprob window (2,048 tokens).
    """

    name = "llm"

    def __init__(self, client: Any = None, model: str | None = None, max_chars: int = 1200,
                 use_title: bool = True) -> None:
        check_k(max_chars, "max_chars")
        if client is None:
            from inferlearn.llm import get_client

            client = get_client()
        if model is None:
            from inferlearn.llm import default_model

            model = default_model()
        self.client, self.model, self.max_chars, self.use_title = client, model, max_chars, use_title
        self.calls = 0

    def messages(self, query: str, passage: Passage) -> list[dict]:
        """The chat messages sent for one (query, passage) pair."""
        text = passage_text(passage, self.use_title)[: self.max_chars]
        return [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": USER_TEMPLATE.format(query=query, passage=text)}]

    def score_one(self, query: str, passage: Passage) -> float:
        """P(yes) for one passage, from the model's first answer token."""
        reply = self.client.chat.completions.create(
            model=self.model, messages=self.messages(query, passage), max_tokens=1,
            temperature=0.0, logprobs=True, top_logprobs=5)
        self.calls += 1
        content = _field(_field(reply.choices[0], "logprobs") or {}, "content") or []
        if not content:
            raise RuntimeError(f"the model {self.model!r} returned no logprobs; the LLM reranker needs "
                               "a backend that supports logprobs=True (the local model and OpenAI do)")
        probability = yes_probability(content[0])
        return 0.5 if probability is None else probability

    def score(self, query: str, passages: list[Passage]) -> list[float]:
        return [self.score_one(query, p) for p in passages]


class DenseRescorer(Reranker):
    """Cosine similarity of query and passage embeddings (passages go through the cache)."""

    name = "dense"

    def __init__(self, embedder: Any = None, use_title: bool = True) -> None:
        from inferlearn.rag.dense import CachedEmbedder

        self.embedder = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder)
        self.use_title = use_title

    def score(self, query: str, passages: list[Passage]) -> list[float]:
        if not query.strip():
            return [0.0] * len(passages)
        vectors = self.embedder.embed([passage_text(p, self.use_title) for p in passages])
        return unit_cosine_scores(self.embedder.embed_query(query), vectors).tolist()


class CrossEncoderReranker(Reranker):
    """A sentence-transformers ``CrossEncoder`` (or anything with ``predict(pairs)``).

    Give a loaded model, or a model name/path to load one (needs ``sentence-transformers``
    installed and the weights on disk; neither comes with this course).
    """

    name = "cross-encoder"

    def __init__(self, model: Any, use_title: bool = True) -> None:
        if isinstance(model, str):
            try:
                from sentence_transformers import CrossEncoder
            except ImportError:
                raise ImportError("CrossEncoderReranker with a model name needs sentence-transformers "
                                  "(pip install sentence-transformers) and the model's weights; "
                                  "or pass a loaded model with a predict(pairs) method") from None
            model = CrossEncoder(model)
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{type(model).__name__} has no predict(pairs) method; give a CrossEncoder")
        self.model, self.use_title = model, use_title

    def score(self, query: str, passages: list[Passage]) -> list[float]:
        pairs = [(query, passage_text(p, self.use_title)) for p in passages]
        return [float(s) for s in np.asarray(self.model.predict(pairs)).ravel()]
