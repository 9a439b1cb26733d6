"""Tokenizers for chunking: what counts as a token when a chunk is ``size`` tokens long.

**Tokenizer (decided):** the default is ``WordTokenizer``, a deterministic regex (a word or one
punctuation mark is a token) that needs no model files and gives the same windows everywhere.
On this corpus the embedding model (MiniLM-L6) reads 1.15 of its word-piece tokens per word
token (measured: 146,087 vs 127,479), so ``size=200`` stays inside MiniLM's 256-token window.
Pass ``tokenizer="minilm"`` (``MiniLMTokenizer``) to count exactly what the embedder reads, a
``tokenizers.Tokenizer``, or any object with ``spans(text) -> [(start, end), ...]``. Chunk text
is always a slice of the original text, so tables and code keep their formatting.

Used by ``inferlearn.rag.chunking`` (which re-exports these names). Introduced in
``phase2_rag/01_ingestion_and_chunking``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

_WORD = re.compile(r"\w+|[^\w\s]")


class Tokenizer(Protocol):
    """Anything that gives the character spans of the tokens of a text."""

    name: str

    def spans(self, text: str) -> list[tuple[int, int]]: ...


class WordTokenizer:
    """Deterministic, model-free: a run of word characters or one other non-space character."""

    name = "word"

    def spans(self, text: str) -> list[tuple[int, int]]:
        """``[(start, end), ...]`` of every token in ``text``."""
        return [m.span() for m in _WORD.finditer(text)]


class HFTokenizer:
    """Wraps a Hugging Face ``tokenizers.Tokenizer``: spans from its offsets, no special tokens."""

    def __init__(self, tokenizer: Any, name: str = "hf") -> None:
        self.tokenizer, self.name = tokenizer, name

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokenizer's tokens (word pieces of one word are kept apart)."""
        if not text:
            return []
        offsets = self.tokenizer.encode(text, add_special_tokens=False).offsets
        return [(a, b) for a, b in offsets if b > a]


def MiniLMTokenizer() -> HFTokenizer:  # noqa: N802 - reads like the class it returns
    """The embedding model's own word-piece tokenizer, without its truncation (needs model files)."""
    from tokenizers import Tokenizer as _Tokenizer

    from inferlearn.server.modelfiles import model_path

    tokenizer = _Tokenizer.from_file(str(model_path("minilm-l6-int8/tokenizer.json")))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return HFTokenizer(tokenizer, "minilm")


class _CallableTokenizer:
    def __init__(self, func: Callable[[str], list[tuple[int, int]]]) -> None:
        self.func, self.name = func, getattr(func, "__name__", "custom")

    def spans(self, text: str) -> list[tuple[int, int]]:
        return list(self.func(text))


def get_tokenizer(tokenizer: Any = None) -> Tokenizer:
    """A tokenizer from None/``"word"`` (default), ``"minilm"``, a ``tokenizers.Tokenizer``,
    an object with ``spans`` or a function ``text -> [(start, end), ...]``."""
    if tokenizer is None or tokenizer == "word":
        return WordTokenizer()
    if tokenizer == "minilm":
        return MiniLMTokenizer()
    if isinstance(tokenizer, str):
        raise ValueError(f"unknown tokenizer {tokenizer!r}; use 'word', 'minilm' or a tokenizer object")
    if hasattr(tokenizer, "spans"):
        return tokenizer
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode"):
        return HFTokenizer(tokenizer)
    if callable(tokenizer):
        return _CallableTokenizer(tokenizer)
    raise TypeError(f"cannot use a {type(tokenizer).__name__} as a tokenizer: give 'word', 'minilm', "
                    "a tokenizers.Tokenizer or an object with spans(text)")


def count_chunk_tokens(text: str, tokenizer: Any = None) -> int:
    """Tokens in ``text`` as ``tokenizer`` counts them (default ``WordTokenizer``): chunk sizes.
    (A model's own count, what it bills, is ``inferlearn.llm.count_tokens``.)
    Introduced in ``phase2_rag/01_ingestion_and_chunking``."""
    return len(get_tokenizer(tokenizer).spans(text))
