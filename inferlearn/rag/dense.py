"""Dense retrieval: an on-disk embedding cache, an exact numpy index and a chroma store.

Embedding is the slow step (MiniLM-L6 int8 reads 16-20 passages/s on 2 cores), so every
vector goes through ``CachedEmbedder``: keyed by model and the sha256 of the text, stored in
SQLite under the inferlearn cache folder, so a re-run embeds only what changed::

    embedder = CachedEmbedder()                    # MiniLM-L6 int8, cached
    index = ExactIndex.build(passages, embedder)   # brute force: the recall reference
    index.search("how do refunds work", k=5)
    store = ChromaStore(path, embedder=embedder)   # HNSW, cosine, ef 200, persistent
    store.upsert(passages)                         # idempotent: same ids, same count

Queries are embedded fresh (not cached), so query latency measures real work.
Introduced in ``phase2_rag/01_ingestion_and_chunking``.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inferlearn.rag.passages import (
    Hit,
    Passage,
    as_passages,
    check_k,
    check_query,
    check_where,
    matches,
    passage_text,
)
from inferlearn.rag.vectors import EF_CONSTRUCTION, EF_SEARCH, chroma_client, unit_cosine_scores

CACHE_BATCH = 256
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


class Embedder(Protocol):
    """Anything with a ``model`` name and ``embed(texts) -> (n, d)`` unit vectors."""

    model: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


def text_hash(text: str) -> str:
    """sha256 hex of ``text`` (UTF-8; lone surrogates allowed): the cache key with the model."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stable_chunk_id(doc_id: str, text: str) -> str:
    """An id that stays the same while a chunk's text does: ``<doc_id>#<12 hex of sha256>``."""
    return f"{doc_id}#{text_hash(text)[:12]}"


class EmbeddingCache:
    """Vectors on disk in SQLite, keyed by (model, sha256 of text). Safe across processes."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from inferlearn.config import cache_dir

            path = cache_dir() / "embeddings.sqlite3"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, hash TEXT NOT NULL,"
                         " dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, hash))")
        self._db.commit()

    def get(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes`` (missing ones are simply absent)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                                    [model, *part])
            found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
        return found

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store ``{hash: vector}`` for ``model`` (one transaction)."""
        rows = [(model, h, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                for h, v in vectors.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def count(self, model: str | None = None) -> int:
        """Vectors stored (for one model, or all)."""
        if model is None:
            return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", [model]).fetchone()[0]

    def clear(self, model: str | None = None) -> None:
        """Forget every vector (of one model, or all)."""
        with self._db:
            if model is None:
                self._db.execute("DELETE FROM vectors")
            else:
                self._db.execute("DELETE FROM vectors WHERE model = ?", [model])


class CachedEmbedder:
    """Embeds passages through the cache; counts hits and misses (``hit_rate``).

    ``model`` is a local model id (``minilm-l6-int8``, ``wordllama-256``) or any ``Embedder``.
    ``cache=None`` uses the default cache file; ``cache=False`` turns caching off.
    """

    def __init__(self, model: str | Embedder | None = None, cache: EmbeddingCache | bool | None = None):
        if model is None or isinstance(model, str):
            from inferlearn.llm.models import LOCAL_EMBEDDING_MODEL
            from inferlearn.server.embeddings import get_embedder

            model = get_embedder(model or LOCAL_EMBEDDING_MODEL)
        self.embedder = model
        self.model: str = model.model
        self.cache = None if cache is False else (EmbeddingCache() if cache in (None, True) else cache)
        self.hits = self.misses = 0
        self.embed_seconds = 0.0

    @property
    def hit_rate(self) -> float:
        """Share of passage texts served from the cache since this embedder was made."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def _embed_fresh(self, texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        self.embed_seconds += time.perf_counter() - start
        return vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for ``texts`` (cached ones from disk, the rest embedded and stored)."""
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise TypeError(f"embed takes a list of strings, got {type(texts).__name__}")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self.cache is None:
            self.misses += len(texts)
            return self._embed_fresh(list(texts))
        keys = [text_hash(t) for t in texts]
        found = self.cache.get(self.model, sorted(set(keys)))
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        self.hits += len(set(keys)) - len(todo)
        self.misses += len(todo)
        pending = list(todo.items())
        for start in range(0, len(pending), CACHE_BATCH):  # commit as we go: a re-run resumes
            part = pending[start : start + CACHE_BATCH]
            vectors = self._embed_fresh([t for _, t in part])
            fresh = {k: v for (k, _), v in zip(part, vectors, strict=True)}
            self.cache.put(self.model, fresh)
            found.update(fresh)
        return np.stack([found[k] for k in keys])

    def embed_query(self, query: str) -> np.ndarray:
        """One query vector, embedded fresh (queries are not cached)."""
        return self._embed_fresh([query])[0]


class HashingEmbedder:
    """A model-free embedder for tests and demos: hashed word counts, L2-normalised."""

    def __init__(self, dimensions: int = 64) -> None:
        check_k(dimensions, "dimensions")
        self.dimensions = dimensions
        self.model = f"hashing-{dimensions}"

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(text_hash(word)[:8], 16) % self.dimensions] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def _as_embedder(embedder: CachedEmbedder | Embedder | str | None) -> CachedEmbedder:
    return embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class ExactIndex:
    """Brute-force cosine search over unit vectors: exact, and fast enough to ~100k passages."""

    def __init__(self, ids: list[str], vectors: np.ndarray, metadata: list[dict], embedder: CachedEmbedder):
        self.ids, self.vectors, self.metadata, self.embedder = ids, vectors, metadata, embedder
        self._row = {pid: row for row, pid in enumerate(ids)}

    @classmethod
    def build(cls, passages: list[Any], embedder: CachedEmbedder | Embedder | str | None = None,
              use_title: bool = True) -> ExactIndex:
        """Embed ``passages`` (through the cache) and keep the vectors in memory."""
        embedder = _as_embedder(embedder)
        passages = as_passages(passages)
        vectors = embedder.embed([passage_text(p, use_title) for p in passages])
        return cls([p.id for p in passages], vectors, [p.metadata for p in passages], embedder)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int = 10, where: Mapping | None = None) -> list[Hit]:
        """The ``k`` passages most similar to ``query`` (cosine), optionally filtered."""
        check_k(k)
        check_where(where)
        if not check_query(query).strip() or not self.ids:
            return []
        return self.search_vector(self.embedder.embed_query(query), k, where)

    def search_vector(self, vector: np.ndarray, k: int = 10, where: Mapping | None = None) -> list[Hit]:
        """Like ``search`` with a ready query vector."""
        check_k(k)
        if not self.ids:
            return []
        scores = unit_cosine_scores(vector, self.vectors)
        if where:
            keep = np.fromiter((matches(m, where) for m in self.metadata), dtype=bool, count=len(self.ids))
            scores = np.where(keep, scores, -np.inf)
        order = _top_k(scores, min(k, len(scores)))
        order = order[np.isfinite(scores[order])].tolist()
        return list(map(Hit, [self.ids[i] for i in order], scores[order].tolist()))

    def similarity(self, query: str, ids: list[str]) -> list[float]:
        """Cosine of ``query`` to each passage in ``ids`` (for dense re-scoring)."""
        unknown = [i for i in ids if i not in self._row]
        if unknown:
            raise KeyError(f"passage {unknown[0]!r} is not in this index")
        if not ids:
            return []
        vector = self.embedder.embed_query(query)
        return unit_cosine_scores(vector, self.vectors[[self._row[i] for i in ids]]).tolist()


def _chroma_metadata(metadata: Mapping[str, Any]) -> dict | None:
    import json

    clean = {k: (v if isinstance(v, (str, int, float, bool)) else json.dumps(v, default=str))
             for k, v in metadata.items() if v is not None}
    return clean or None


def _chroma_where(where: Mapping) -> dict:
    """Our filter language in chroma's stricter form (one key per dict, one operator each)."""
    parts = []
    for key, condition in where.items():
        if key in ("$and", "$or"):
            parts.append({key: [_chroma_where(sub) for sub in condition]})
        elif isinstance(condition, Mapping):
            parts.extend({key: {op: list(arg) if op in ("$in", "$nin") else arg}}
                         for op, arg in condition.items())
        else:
            parts.append({key: {"$eq": condition}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _embedding_function(model: str):
    from inferlearn.rag.chroma import MiniLMEmbeddingFunction, WordLlamaEmbeddingFunction

    known = {f.model_id: f for f in (MiniLMEmbeddingFunction, WordLlamaEmbeddingFunction)}
    # A custom embedder gets None: we always pass vectors, so chroma never embeds (or downloads).
    return known[model]() if model in known else None


class ChromaStore:
    """A persistent chroma collection (HNSW, cosine, ef_search/ef_construction 200) whose
    vectors come from a ``CachedEmbedder``. Passage ids are chroma ids, so ``upsert`` is
    idempotent: ingesting the same passages twice leaves the same count.

    Reopening an existing collection keeps its stored HNSW settings (``hnsw`` shows them);
    ``ef_search`` changed with ``set_ef_search`` only takes effect in a new process, so to
    compare values in one process use one collection per value.
    """

    def __init__(self, path: str | Path, collection: str = "passages",
                 embedder: CachedEmbedder | Embedder | str | None = None,
                 ef_search: int = EF_SEARCH, ef_construction: int = EF_CONSTRUCTION) -> None:
        check_k(ef_search, "ef_search")
        check_k(ef_construction, "ef_construction")
        if not isinstance(collection, str) or not _COLLECTION_NAME.match(collection):
            raise ValueError(f"collection name {collection!r} must be 3-512 letters, digits, '.', '_' or '-', "
                             "starting and ending with a letter or digit")
        self.embedder = _as_embedder(embedder)
        self.client = chroma_client(path)
        hnsw = {"space": "cosine", "ef_search": ef_search, "ef_construction": ef_construction}
        self.collection = self.client.get_or_create_collection(
            collection, embedding_function=_embedding_function(self.embedder.model),
            configuration={"hnsw": hnsw}, metadata={"embedding_model": self.embedder.model})
        stored = (self.collection.metadata or {}).get("embedding_model")
        if stored and stored != self.embedder.model:
            raise ValueError(f"collection {collection!r} holds {stored} vectors, not {self.embedder.model}; "
                             "use another collection name or the same model")

    @property
    def hnsw(self) -> dict:
        """The collection's stored HNSW settings (space, ef_search, ef_construction...)."""
        return dict(self.collection.configuration_json.get("hnsw") or {})

    def count(self) -> int:
        """Passages stored."""
        return self.collection.count()

    def upsert(self, passages: list[Any], use_title: bool = True, batch_size: int = 256,
               prune: bool = False) -> int:
        """Add or update ``passages`` (embedded through the cache); returns the count after.

        ``prune=True`` also deletes stored passages whose ids are not in ``passages``.
        """
        check_k(batch_size, "batch_size")
        passages = as_passages(passages)
        for start in range(0, len(passages), batch_size):
            part = passages[start : start + batch_size]
            vectors = self.embedder.embed([passage_text(p, use_title) for p in part])
            self.collection.upsert(ids=[p.id for p in part], embeddings=vectors,
                                   documents=[p.text for p in part],
                                   metadatas=[_chroma_metadata(p.metadata) for p in part])
        if prune:
            keep = {p.id for p in passages}
            stale = [i for i in self.collection.get(include=[])["ids"] if i not in keep]
            for start in range(0, len(stale), batch_size):
                self.collection.delete(ids=stale[start : start + batch_size])
        return self.count()

    def delete(self, ids: list[str]) -> None:
        """Remove passages by id (unknown ids are ignored)."""
        if ids:
            self.collection.delete(ids=list(ids))

    def search(self, query: str, k: int = 10, where: Mapping | None = None) -> list[Hit]:
        """Approximate nearest passages to ``query``; score is cosine similarity."""
        check_k(k)
        check_where(where)
        if not check_query(query).strip():
            return []
        return self.search_vector(self.embedder.embed_query(query), k, where)

    def search_vector(self, vector: np.ndarray, k: int = 10, where: Mapping | None = None) -> list[Hit]:
        """Like ``search`` with a ready query vector."""
        check_k(k)
        size = self.count()
        if size == 0:
            return []
        found = self.collection.query(query_embeddings=[np.asarray(vector, dtype=np.float32)],
                                      n_results=min(k, size), include=["distances"],
                                      where=_chroma_where(where) if where else None)
        return [Hit(i, 1.0 - float(d)) for i, d in zip(found["ids"][0], found["distances"][0], strict=True)]

    def get(self, ids: list[str]) -> list[Passage]:
        """Stored passages by id, in the order given (unknown ids are skipped)."""
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {i: Passage(i, d or "", dict(m or {}))
                 for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        return [by_id[i] for i in ids if i in by_id]

    def set_ef_search(self, ef_search: int) -> None:
        """Change ``ef_search`` on the stored collection (effective in a new process)."""
        check_k(ef_search, "ef_search")
        self.collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
