"""Chunking: token windows with overlap, heading-aware chunks and semantic chunks.

Three strategies, one output shape (``Chunk``: stable ``id``, ``text``, flat ``metadata``)::

    docs = load_corpus()
    chunks = chunk_docs(docs, "headings", size=200, overlap=40)
    chunks[0].id        # 'api-api-keys#intro:0'  (<doc_id>#<anchor>:<n>)
    chunks[0].metadata  # doc_id, anchor, title, product, doc_type, version, updated, ...

- ``tokens``: fixed windows of ``size`` tokens, each starting ``size - overlap`` tokens after the
  previous one, over the whole page; blind to structure (the baseline).
- ``headings``: one chunk per section (``inferlearn.rag.corpus.split_sections``), its heading
  path in front (``Refund policy (2025) > Monthly plans``) so a chunk says what it is about;
  sections longer than ``size`` are split into token windows, each with the heading path.
- ``semantic``: sentences (and list items, table blocks, code blocks) embedded one by one; a
  new chunk starts where the similarity of neighbours drops (below ``threshold``, or below the
  page's ``percentile``-th similarity), never before ``min_size`` and never past ``max_size``.

Tokenizers (what a token is; the default and why) live in ``inferlearn.rag.tokenizing``.

A chunk id ``<doc_id>#<anchor>:<n>`` names the section where the chunk starts and its number
within that section, so ids survive edits elsewhere on the page and re-ingesting is idempotent.
Introduced in ``phase2_rag/01_ingestion_and_chunking``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from inferlearn.rag.corpus import Doc, Section, split_sections
from inferlearn.rag.tokenizing import (  # noqa: F401 - re-exported: chunking's public API
    HFTokenizer,
    MiniLMTokenizer,
    Tokenizer,
    WordTokenizer,
    count_chunk_tokens,
    get_tokenizer,
)

# The old name of count_chunk_tokens, kept because a learner's workspace copy of
# phase2_rag/01_ingestion_and_chunking (never overwritten) imports it from here.
count_tokens = count_chunk_tokens

DEFAULT_SIZE = 200
DEFAULT_OVERLAP = 40
STRATEGIES = ("tokens", "headings", "semantic")


@dataclass
class Chunk:
    """A piece of a page to index: ``id`` is ``<doc_id>#<anchor>:<n>``; metadata is flat."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return self.metadata.get("doc_id", self.id.split("#", 1)[0])

    def to_passage(self) -> dict[str, Any]:
        """``{"id", "text", "title", "metadata"}``, the shape retrievers take."""
        return {"id": self.id, "text": self.text, "title": self.metadata.get("title", ""),
                "metadata": dict(self.metadata)}


def check_size(size: Any, overlap: Any = 0, name: str = "chunk size") -> tuple[int, int]:
    """``(size, overlap)`` as ints, or a ValueError that says which is wrong and why."""
    for label, value in ((name, size), ("chunk overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label} ({value!r}) must be a whole number of tokens")
    if size < 1:
        raise ValueError(f"{name} ({size}) must be at least 1 token")
    if overlap < 0:
        raise ValueError(f"chunk overlap ({overlap}) must be 0 or more tokens")
    if overlap >= size:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than {name} ({size})")
    return size, overlap


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return text


def token_windows(text: str, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
                  tokenizer: Any = None) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of windows of ``size`` tokens overlapping by ``overlap``.

    The last window ends at the last token (it may be shorter); no window is a pure repeat.
    """
    _check_text(text)
    size, overlap = check_size(size, overlap)
    spans = get_tokenizer(tokenizer).spans(text)
    step, windows = size - overlap, []
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans)) - 1
        windows.append((spans[first][0], spans[last][1]))
        if last == len(spans) - 1:
            break
    return windows


def chunk_tokens(text: str, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
                 tokenizer: Any = None) -> list[str]:
    """Split ``text`` into windows of ``size`` tokens, each sharing ``overlap`` tokens with the
    previous one. Empty or blank text gives ``[]``; a text shorter than ``size`` gives one chunk.

    >>> chunk_tokens("a b c d e", size=3, overlap=1)
    ['a b c', 'c d e']
    """
    return [text[a:b] for a, b in token_windows(text, size, overlap, tokenizer)]


def _as_doc(doc: Doc | str) -> Doc:
    if isinstance(doc, Doc):
        return doc
    if isinstance(doc, str):
        title = next((ln[2:].strip() for ln in doc.split("\n") if ln.startswith("# ")), "")
        return Doc("doc", title, "", "", "", "", "", doc)
    raise TypeError(f"expected a Doc (from load_corpus) or markdown text, got {type(doc).__name__}")


class _Numberer:
    """Gives each chunk ``<doc_id>#<anchor>:<n>``, counting per anchor."""

    def __init__(self, doc: Doc, strategy: str, tokenizer: Tokenizer) -> None:
        self.doc, self.strategy, self.tokenizer = doc, strategy, tokenizer
        self.counts: dict[str, int] = {}

    def make(self, section: Section, text: str, start: int, end: int) -> Chunk:
        n = self.counts.get(section.anchor, 0)
        self.counts[section.anchor] = n + 1
        meta = dict(self.doc.metadata, anchor=section.anchor, section=section.ref,
                    heading_path=" > ".join(section.heading_path), chunk_index=n, start=start,
                    end=end, n_tokens=len(self.tokenizer.spans(text)), strategy=self.strategy)
        return Chunk(f"{self.doc.id}#{section.anchor}:{n}", text, meta)


def _section_at(sections: list[Section], starts: list[int], offset: int) -> Section:
    return sections[max(bisect.bisect_right(starts, offset) - 1, 0)]


def _fallback_section(doc: Doc) -> Section:
    return Section(doc.id, "intro", (), 0, 0, len(doc.text), doc.text)


def chunk_doc_tokens(doc: Doc | str, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
                     tokenizer: Any = None) -> list[Chunk]:
    """Token windows over a whole page; each chunk is named after the section where it starts."""
    doc, tok = _as_doc(doc), get_tokenizer(tokenizer)
    sections = doc.sections or [_fallback_section(doc)]
    starts = [s.start for s in sections]
    numberer = _Numberer(doc, "tokens", tok)
    return [numberer.make(_section_at(sections, starts, a), doc.text[a:b], a, b)
            for a, b in token_windows(doc.text, size, overlap, tok)]


def chunk_by_headings(doc: Doc | str, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
                      tokenizer: Any = None, breadcrumb: bool = True, max_level: int = 3) -> list[Chunk]:
    """One chunk per section (``##``/``###``); long sections become token windows.

    Each chunk starts with the heading path (``breadcrumb=True``: ``Title > Section > Sub``) or
    the section's own markdown heading line, and counts it within ``size``. Sections with no
    text of their own (a ``##`` directly followed by a ``###``) give no chunk.
    """
    doc, tok = _as_doc(doc), get_tokenizer(tokenizer)
    size, overlap = check_size(size, overlap)
    numberer, chunks = _Numberer(doc, "headings", tok), []
    sections = doc.sections if max_level == 3 else split_sections(doc.text, doc.id, max_level)
    for section in sections:
        body = section.body
        if not body:
            continue
        if breadcrumb:
            header = " > ".join(p for p in (doc.title, *section.heading_path) if p)
        else:
            header = section.text.split("\n", 1)[0] if section.level else ""
        header_tokens = len(tok.spans(header))
        body_size = size - header_tokens
        if body_size <= overlap:
            raise ValueError(f"chunk size ({size}) leaves {body_size} tokens after the heading of "
                             f"{section.ref} ({header_tokens} tokens), not more than the overlap "
                             f"({overlap}); use a larger size or breadcrumb=False")
        body_start = section.start + section.text.index(body)
        for a, b in token_windows(body, body_size, overlap, tok):
            text = f"{header}\n\n{body[a:b]}" if header else body[a:b]
            chunks.append(numberer.make(section, text, body_start + a, body_start + b))
    return chunks


_FENCE_BLOCK = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(*`\[A-Z0-9])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Units for semantic chunking: sentences of prose, list items, whole tables, whole code
    blocks; a heading is joined to what follows it. Spans index ``text``."""
    units: list[tuple[int, int]] = []
    pos = 0
    for fence in _FENCE_BLOCK.finditer(text):
        units += _prose_units(text, pos, fence.start())
        units.append(fence.span())
        pos = fence.end()
    units += _prose_units(text, pos, len(text))
    merged: list[tuple[int, int]] = []
    for a, b in units:  # headings join the unit after them
        if merged and _only_headings(text[merged[-1][0]:merged[-1][1]]):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _only_headings(text: str) -> bool:
    return all(line.lstrip().startswith("#") for line in text.split("\n") if line.strip())


_ITEM_START = re.compile(r"^\s{0,3}(#{1,6}\s|[-*+]\s|\d+[.)]\s|>)")


def _prose_items(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """(start, end, is_table) of paragraphs, list items, headings and tables in text[start:end]."""
    items: list[list] = []
    offset, previous_blank = start, True
    for line in text[start:end].split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        if not line.strip():
            previous_blank = True
            continue
        a = line_start + len(line) - len(line.lstrip())
        b = line_start + len(line.rstrip())
        is_table = line.lstrip().startswith("|")
        heading = line.lstrip().startswith("#")
        joins = (items and not previous_blank and not heading and items[-1][2] == is_table
                 and (is_table or not _ITEM_START.match(line))
                 and not text[items[-1][0]:items[-1][1]].lstrip().startswith("#"))
        if joins:
            items[-1][1] = b
        else:
            items.append([a, b, is_table])
        previous_blank = False
    return [tuple(item) for item in items]


def _prose_units(text: str, start: int, end: int) -> list[tuple[int, int]]:
    units = []
    for a, b, is_table in _prose_items(text, start, end):
        if is_table:
            units.append((a, b))
            continue
        segment = text[a:b]
        edges = [0, *(m.start() for m in _SENTENCE_END.finditer(segment)), len(segment)]
        for s, e in pairwise(edges):
            piece = segment[s:e]
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                units.append((a + s + lead, a + s + len(piece.rstrip())))
    return units


def _embed_function(embed: Any) -> Callable[[list[str]], np.ndarray]:
    if embed is None:
        from inferlearn.rag.dense import CachedEmbedder

        embed = CachedEmbedder()
    if hasattr(embed, "embed"):
        return embed.embed
    if callable(embed):
        return embed
    raise TypeError(f"embed must be a function texts -> vectors or an object with embed(), "
                    f"got {type(embed).__name__}")


def semantic_breaks(vectors: np.ndarray, threshold: float | None = None, percentile: float = 20) -> list[int]:
    """Indices ``i`` where a chunk should start (unit ``i`` differs from unit ``i - 1``):
    cosine of neighbours below ``threshold``, or below the ``percentile``-th of all of them."""
    if threshold is None and not 0 <= percentile <= 100:
        raise ValueError(f"percentile ({percentile}) must be between 0 and 100")
    if len(vectors) < 2:
        return []
    unit = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    sims = np.sum(unit[1:] * unit[:-1], axis=1)
    cut = threshold if threshold is not None else float(np.percentile(sims, percentile))
    return [i + 1 for i, s in enumerate(sims) if s < cut]


def chunk_semantic(doc: Doc | str, embed: Any = None, threshold: float | None = None,
                   percentile: float = 20, min_size: int = 40, max_size: int = DEFAULT_SIZE,
                   tokenizer: Any = None) -> list[Chunk]:
    """Chunks that end where the topic changes (see the module docstring).

    ``embed``: a function ``texts -> (n, d) array`` or an object with ``embed`` (default: the
    cached MiniLM embedder of ``inferlearn.rag.dense``). A unit longer than ``max_size`` is cut
    into token windows.
    """
    doc, tok = _as_doc(doc), get_tokenizer(tokenizer)
    check_size(max_size, 0, "max_size")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or not 0 <= min_size <= max_size:
        raise ValueError(f"min_size ({min_size!r}) must be a whole number between 0 and max_size ({max_size})")
    units = []
    for a, b in sentence_spans(doc.text):
        units += [(a + x, a + y) for x, y in token_windows(doc.text[a:b], max_size, 0, tok)]
    if not units:
        return []
    vectors = np.asarray(_embed_function(embed)([doc.text[a:b] for a, b in units]), dtype=np.float32)
    if vectors.shape[0] != len(units):
        raise ValueError(f"embed returned {vectors.shape[0]} vectors for {len(units)} texts")
    breaks = set(semantic_breaks(vectors, threshold, percentile))
    sections = doc.sections or [_fallback_section(doc)]
    starts = [s.start for s in sections]
    numberer, chunks = _Numberer(doc, "semantic", tok), []
    group_start, group_tokens = units[0][0], 0
    for i, (a, b) in enumerate(units):
        n = len(tok.spans(doc.text[a:b]))
        if i and ((i in breaks and group_tokens >= min_size) or group_tokens + n > max_size):
            end = units[i - 1][1]
            chunks.append(numberer.make(_section_at(sections, starts, group_start),
                                        doc.text[group_start:end], group_start, end))
            group_start, group_tokens = a, 0
        group_tokens += n
    end = units[-1][1]
    chunks.append(numberer.make(_section_at(sections, starts, group_start),
                                doc.text[group_start:end], group_start, end))
    return chunks


_STRATEGIES: dict[str, Callable[..., list[Chunk]]] = {
    "tokens": chunk_doc_tokens, "headings": chunk_by_headings, "semantic": chunk_semantic,
}


def chunk_docs(docs: Iterable[Doc], strategy: str = "headings", **params: Any) -> list[Chunk]:
    """Chunk every page with one strategy (``tokens``, ``headings`` or ``semantic``).

    ``params`` go to the strategy (``size``, ``overlap``, ``tokenizer``, ``breadcrumb``;
    ``embed``, ``threshold``, ``percentile``, ``min_size``, ``max_size`` for semantic).
    Returns chunks in page order with unique, stable ids.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"unknown chunking strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if isinstance(docs, (Doc, str)):
        raise TypeError("chunk_docs takes a list of docs; for one page call "
                        f"{_STRATEGIES[strategy].__name__}(doc)")
    func = _STRATEGIES[strategy]
    if "tokenizer" in params:  # load a model tokenizer once, not once per page
        params["tokenizer"] = get_tokenizer(params["tokenizer"])
    if strategy == "semantic":
        params["embed"] = _embed_function(params.get("embed"))
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for doc in docs:
        for chunk in func(doc, **params):
            if chunk.id in seen:
                raise ValueError(f"chunk id {chunk.id!r} appears twice: are two docs using the id "
                                 f"{chunk.doc_id!r}?")
            seen.add(chunk.id)
            chunks.append(chunk)
    return chunks
