"""Named retrieval pipelines: sparse, dense, fused, re-ranked, built over a list of passages.

    pipeline = build_pipeline("hybrid", passages)        # indexes once (embeddings cached)
    result = pipeline.search("refund window", k=10)      # Retrieval(hits, timings in ms)

``PIPELINES`` holds the presets (see ``describe_pipelines()``); any setting can be overridden:
``build_pipeline("hybrid", passages, rrf_k=20, weights=(1.0, 1.0))``.
Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inferlearn.rag.fusion import blend_scores, reciprocal_rank_fusion
from inferlearn.rag.passages import Hit, Passage, as_passages, check_k, check_query, check_where

# Page support looks at the fused top 200 chunks: on golden dev that gives the same recall@5 and
# MRR@10 as all 1,417 chunks, and building fewer hits keeps query latency down on big corpora.
SIBLING_POOL = 200


@dataclass(frozen=True)
class PipelineConfig:
    """What a pipeline does. ``fusion`` is ``rrf``, ``minmax`` or ``zscore`` (when both
    retrievers are on); ``reranker`` is None, ``llm`` or ``dense``, applied to the top
    ``rerank_depth``: with ``rerank_weight`` None the re-ranker's order replaces the first stage's,
    with a weight w the two are blended (z-scores, 1 - w and w); ``expansion`` is None,
    ``multi_query`` or ``hyde`` (both need a chat client); ``sibling_weight`` w > 0 adds to each
    chunk's fused score w times the best score of another chunk of the same page (``doc_id``)
    among the fused top ``SIBLING_POOL``, so a page that matches in two sections outranks a page
    with one lucky chunk."""

    sparse: bool = True
    dense: bool = False
    bm25: Mapping[str, Any] = field(default_factory=dict)
    embedding_model: str | None = None
    store: str = "exact"
    store_path: str | None = None
    use_title: bool = True
    depth: int = 100
    fusion: str = "rrf"
    rrf_k: float = 60
    weights: tuple[float, float] = (1.0, 1.0)
    reranker: str | None = None
    rerank_depth: int = 20
    rerank_weight: float | None = None
    expansion: str | None = None
    sibling_weight: float = 0.0
    description: str = ""


PIPELINES: dict[str, PipelineConfig] = {
    "bm25": PipelineConfig(description="BM25 (bm25s, English stemmer and stop words) over title + text"),
    "dense": PipelineConfig(sparse=False, dense=True, description="MiniLM-L6 int8 cosine, exact search"),
    "hybrid": PipelineConfig(dense=True, description="BM25 + dense, reciprocal rank fusion (k=60)"),
    "hybrid_rerank": PipelineConfig(dense=True, reranker="llm", rerank_depth=10,
                                    description="hybrid, then the local LLM re-ranks the top 10 (yes/no logprobs)"),
    # The best offline pipeline on SciFact train: equal weights won on both halves of the queries.
    "hybrid_zscore": PipelineConfig(dense=True, fusion="zscore", weights=(0.5, 0.5), depth=1000,
                                    description="BM25 + dense, z-scores blended 0.5/0.5 over each top 1000"),
    # The best on golden dev (recall@5 0.912 -> 0.933, both halves of dev up): chunks lifted by
    # their page's second-best chunk. On whole documents (SciFact) it equals hybrid_zscore.
    "hybrid_pages": PipelineConfig(dense=True, fusion="zscore", weights=(0.5, 0.5), depth=1000,
                                   sibling_weight=0.5,
                                   description="hybrid_zscore, then each chunk gains 0.5 x the best other "
                                               "chunk of its page"),
}


@dataclass
class Retrieval:
    """Ranked hits for one query and the time each stage took, in milliseconds."""

    hits: list[Hit]
    timings: dict[str, float]

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hits]

    @property
    def total_ms(self) -> float:
        return sum(self.timings.values())


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def stage(self, name: str):
        clock = self

        class _Stage:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                clock.timings[name] = clock.timings.get(name, 0.0) + (time.perf_counter() - self.start) * 1000

        return _Stage()


class Pipeline:
    """A configured retrieval pipeline over passages. Build with ``build_pipeline``."""

    def __init__(self, name: str, config: PipelineConfig, embedder: Any = None, client: Any = None,
                 reranker: Any = None) -> None:
        check_k(config.depth, "depth")
        check_k(config.rerank_depth, "rerank_depth")
        if config.rerank_weight is not None and not 0 <= config.rerank_weight <= 1:
            raise ValueError(f"rerank_weight ({config.rerank_weight!r}) must be between 0 and 1, or None")
        if isinstance(config.sibling_weight, bool) or not isinstance(config.sibling_weight, (int, float)) \
                or not 0 <= config.sibling_weight <= 1:
            raise ValueError(f"sibling_weight ({config.sibling_weight!r}) must be a number between 0 and 1 "
                             "(0 turns it off; 0.5 is the hybrid_pages preset)")
        if config.fusion not in ("rrf", "minmax", "zscore"):
            raise ValueError(f"fusion ({config.fusion!r}) must be rrf, minmax or zscore")
        if not (config.sparse or config.dense):
            raise ValueError("a pipeline needs a retriever: set sparse=True, dense=True or both")
        if config.expansion not in (None, "multi_query", "hyde"):
            raise ValueError(f"expansion ({config.expansion!r}) must be None, multi_query or hyde")
        if config.reranker not in (None, "llm", "dense") and reranker is None:
            raise ValueError(f"reranker ({config.reranker!r}) must be None, llm or dense (or pass a Reranker)")
        if config.store not in ("exact", "chroma") or (config.store == "chroma" and not config.store_path):
            raise ValueError(f"store ({config.store!r}) must be exact, or chroma with a store_path")
        self.name, self.config, self.client = name, config, client
        self._embedder, self._reranker = embedder, reranker
        self.passages: dict[str, Passage] = {}
        self.sparse = self.dense = None
        self.build_timings: dict[str, float] = {}

    def build(self, passages: list[Any]) -> Pipeline:
        """Index ``passages`` with every retriever the config turns on."""
        from inferlearn.rag.sparse import BM25Index

        passages = as_passages(passages)
        self.passages = {p.id: p for p in passages}
        clock, cfg = _Clock(), self.config
        if cfg.sparse:
            with clock.stage("bm25_index"):
                self.sparse = BM25Index.build(passages, use_title=cfg.use_title, **dict(cfg.bm25))
        if cfg.dense or cfg.reranker == "dense":
            from inferlearn.rag.dense import CachedEmbedder

            if not isinstance(self._embedder, CachedEmbedder):
                self._embedder = CachedEmbedder(self._embedder or cfg.embedding_model)
        if cfg.dense:
            with clock.stage("dense_index"):
                self.dense = self._dense_index(passages)
        self.build_timings = clock.timings
        return self

    def _dense_index(self, passages: list[Passage]):
        from inferlearn.rag.dense import ChromaStore, ExactIndex

        if self.config.store == "exact":
            return ExactIndex.build(passages, self._embedder, use_title=self.config.use_title)
        store = ChromaStore(Path(self.config.store_path), f"pipeline-{self.name}", embedder=self._embedder)
        store.upsert(passages, use_title=self.config.use_title, prune=True)
        return store

    @property
    def embedder(self):
        """The ``CachedEmbedder`` (None for sparse-only pipelines): ``hit_rate`` lives there."""
        from inferlearn.rag.dense import CachedEmbedder

        return self._embedder if isinstance(self._embedder, CachedEmbedder) else None

    @property
    def build_seconds(self) -> float:
        return sum(self.build_timings.values()) / 1000

    def reranker(self):
        """The re-ranker the config names (made on first use)."""
        if self._reranker is None and self.config.reranker:
            from inferlearn.rag.rerank import DenseRescorer, LLMReranker

            if self.config.reranker == "llm":
                self._reranker = LLMReranker(self.client)
            else:
                self._reranker = DenseRescorer(self._embedder, use_title=self.config.use_title)
        return self._reranker

    def _queries(self, query: str, clock: _Clock) -> list[str]:
        if not self.config.expansion:
            return [query]
        from inferlearn.rag import expansion

        if self.client is None:
            from inferlearn.llm import get_client

            self.client = get_client()
        with clock.stage("expansion"):
            if self.config.expansion == "multi_query":
                return expansion.multi_query(self.client, query)
            return [expansion.hyde_query(self.client, query)]

    def _retrieve(self, query: str, where: Mapping | None, clock: _Clock) -> list[tuple[list[Hit], float]]:
        """One ranked list per retriever, each with its fusion weight."""
        cfg, lists = self.config, []
        if self.sparse is not None:
            with clock.stage("bm25"):
                lists.append((self.sparse.search(query, cfg.depth, where), cfg.weights[0]))
        if self.dense is not None:
            hits: list[Hit] = []
            if query.strip():
                with clock.stage("embed_query"):
                    vector = self._embedder.embed_query(query)
                with clock.stage("dense"):
                    hits = self.dense.search_vector(vector, cfg.depth, where)
            lists.append((hits, cfg.weights[1] if self.sparse is not None else 1.0))
        return lists

    def _fuse(self, lists: list[tuple[list[Hit], float]], limit: int | None) -> list[Hit]:
        rankings, weights = [h for h, _ in lists], [w for _, w in lists]
        if self.config.fusion == "rrf":
            return reciprocal_rank_fusion(rankings, k=self.config.rrf_k, weights=weights, limit=limit)
        return blend_scores(rankings, weights=weights, method=self.config.fusion, limit=limit)

    def _sibling_support(self, hits: list[Hit]) -> list[Hit]:
        """Each hit's score plus ``sibling_weight`` x the best score of another hit from its page."""
        doc_of = {h.id: str(self.passages[h.id].metadata.get("doc_id", h.id)) if h.id in self.passages else h.id
                  for h in hits}
        top2: dict[str, list[Hit]] = {}
        for hit in hits:  # best first, so each page keeps its two best hits
            if len(top2.setdefault(doc_of[hit.id], [])) < 2:
                top2[doc_of[hit.id]].append(hit)
        w, rescored = self.config.sibling_weight, []
        for hit in hits:
            others = [h.score for h in top2[doc_of[hit.id]] if h.id != hit.id][:1]
            rescored.append(Hit(hit.id, hit.score + w * sum(others)))
        return sorted(rescored, key=lambda h: -h.score)  # stable: ties keep the fused order

    def search(self, query: str, k: int = 10, where: Mapping | None = None) -> Retrieval:
        """The top ``k`` passages for ``query`` and per-stage timings (ms)."""
        check_k(k)
        check_where(where)
        check_query(query)
        clock = _Clock()
        lists: list[tuple[list[Hit], float]] = []
        for variant in self._queries(query, clock):
            lists.extend(self._retrieve(variant, where, clock))
        siblings = self.config.sibling_weight > 0
        limit = max(k, self.config.rerank_depth if self.config.reranker else k)
        if len(lists) == 1:
            hits = lists[0][0]
        else:
            with clock.stage("fusion"):
                hits = self._fuse(lists, max(limit, SIBLING_POOL) if siblings else limit)
        if siblings and hits:
            with clock.stage("siblings"):
                hits = self._sibling_support(hits[:max(limit, SIBLING_POOL)])
        if self.config.reranker and hits:
            top = hits[: self.config.rerank_depth]
            with clock.stage("rerank"):
                reranked = self.reranker().rerank(query, [self.passages[h.id] for h in top])
                if self.config.rerank_weight is not None:
                    w = self.config.rerank_weight
                    reranked = blend_scores([top, reranked], weights=[1 - w, w], method="zscore")
            hits = reranked + hits[len(top):]
        return Retrieval(hits[:k], clock.timings)


def build_pipeline(name: str, passages: list[Any], embedder: Any = None, client: Any = None,
                   reranker: Any = None, **overrides: Any) -> Pipeline:
    """A built pipeline: preset ``name`` from ``PIPELINES`` with ``overrides`` applied.

    ``embedder``: a model id, an ``Embedder`` or a ``CachedEmbedder`` (default MiniLM, cached).
    ``client``: chat client for LLM re-ranking / expansion (default ``get_client()``).
    ``reranker``: any ``Reranker`` to use instead of the configured one (or a name: llm, dense).
    """
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
    if isinstance(reranker, str):  # a name ("llm", "dense") is a setting, not an instance
        overrides["reranker"], reranker = reranker, None
    unknown = sorted(set(overrides) - set(PipelineConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown pipeline setting {unknown[0]!r}; settings are "
                         f"{', '.join(PipelineConfig.__dataclass_fields__)}")
    config = replace(PIPELINES[name], **overrides) if overrides else PIPELINES[name]
    if reranker is not None and not config.reranker:
        config = replace(config, reranker="custom")
    return Pipeline(name, config, embedder=embedder, client=client, reranker=reranker).build(passages)


def describe_pipelines() -> dict[str, str]:
    """Pipeline name -> one-line description."""
    return {name: config.description for name, config in PIPELINES.items()}
