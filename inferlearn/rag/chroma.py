"""The local embedding models as chromadb embedding functions, registered by name.

Pass one explicitly whenever you create or open a collection; chromadb's default embedding
function downloads a model on first use and fails offline::

    collection = chroma.get_or_create_collection("docs", embedding_function=MiniLMEmbeddingFunction())
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from inferlearn.llm.models import LOCAL_EMBEDDING_MODEL, LOCAL_FAST_EMBEDDING_MODEL
from inferlearn.server.embeddings import get_embedder


class _LocalEmbeddingFunction(EmbeddingFunction[Documents]):
    model_id = LOCAL_EMBEDDING_MODEL

    def __init__(self) -> None:
        self._embedder = None

    def __call__(self, input: Documents) -> Embeddings:
        if self._embedder is None:
            self._embedder = get_embedder(self.model_id)
        return list(self._embedder.embed(list(input)))

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model_id}

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "ip", "l2"]


@register_embedding_function
class MiniLMEmbeddingFunction(_LocalEmbeddingFunction):
    """all-MiniLM-L6-v2 int8 (384-d), in-process, offline."""

    model_id = LOCAL_EMBEDDING_MODEL

    @staticmethod
    def name() -> str:
        return "inferlearn-minilm-l6-int8"

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()


@register_embedding_function
class WordLlamaEmbeddingFunction(_LocalEmbeddingFunction):
    """WordLlama (256-d), in-process, offline, fast and weaker."""

    model_id = LOCAL_FAST_EMBEDDING_MODEL

    @staticmethod
    def name() -> str:
        return "inferlearn-wordllama-256"

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> WordLlamaEmbeddingFunction:
        return WordLlamaEmbeddingFunction()
