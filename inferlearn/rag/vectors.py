"""What every vector search in the library shares: cosine scores, HNSW settings, the chroma client.

Two scorers, one argument order (the query first, then the rows):

- ``cosine_scores(query, matrix)``: any vectors; both sides are normalised (zero rows score 0).
- ``unit_cosine_scores(query, unit_matrix)``: rows already of length 1 (what ``CachedEmbedder``
  returns); a plain dot product, with einsum rather than BLAS: a single query gains nothing from
  BLAS threads, and on a busy machine their wake-ups cost tens of milliseconds at p95 (measured:
  0.05 ms p50 but 14-24 ms p95 with ``@``).

``chroma_client()`` is chroma with telemetry off, in memory or on disk. Library only (the
notebooks reach these through ``inferlearn.rag.ann`` and ``inferlearn.rag.dense``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

EF_SEARCH = 200  # candidates an HNSW query keeps (chroma's ef_search) in the library's stores
EF_CONSTRUCTION = 200  # candidates kept while an HNSW index is built


def as_matrix(matrix: Any, name: str = "matrix") -> np.ndarray:
    """``matrix`` as a 2-d float32 array, or a ValueError naming its shape."""
    array = np.asarray(matrix, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-d (one row per vector), got shape {array.shape}")
    return array


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; a row of zeros stays zero (similarity 0 to everything)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def cosine_scores(query: Any, matrix: Any) -> np.ndarray:
    """Cosine similarity of ``query`` to every row of ``matrix`` (zero rows score 0)."""
    matrix = as_matrix(matrix)
    vector = np.asarray(query, dtype=np.float32).reshape(-1)
    if matrix.shape[1] != vector.shape[0]:
        raise ValueError(f"the query has {vector.shape[0]} dimensions but the rows have {matrix.shape[1]}")
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        raise ValueError("the query vector is all zeros: cosine similarity is undefined")
    return unit_rows(matrix) @ (vector / norm)


def unit_cosine_scores(query: np.ndarray, unit_matrix: np.ndarray) -> np.ndarray:
    """Cosine similarity of a unit ``query`` to the unit rows of ``unit_matrix`` (a dot product)."""
    return np.einsum("ij,j->i", unit_matrix, np.asarray(query, dtype=np.float32))


def chroma_client(path: str | Path | None = None) -> Any:
    """A chroma client with telemetry off: in memory, or persistent in the folder ``path``."""
    import chromadb  # imported here: chromadb takes seconds to import and most callers never need it
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if path is None:
        return chromadb.EphemeralClient(settings=settings)
    return chromadb.PersistentClient(path=str(path), settings=settings)
