"""Query expansion with a chat model: multi-query rewrites and HyDE.

* ``multi_query``: ask for ``n`` rephrasings, search with each, fuse the rankings (RRF).
  Helps when users word things differently from the docs.
* ``hyde``: ask the model to write the passage that *would* answer the question, then embed
  that instead of (or with) the question: answers look more like answers than questions do.

Both work with any OpenAI-style client (``inferlearn.llm.get_client()``, ``openai.OpenAI``, or
``ScriptedClient`` in tests). Empty queries are returned unchanged without calling the model.
Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from inferlearn.rag.passages import check_k, check_query

MULTI_QUERY_PROMPT = ("Write {n} different search queries that would find documents answering the "
                      "question below. Use other words than the question. One query per line, no "
                      "numbering, nothing else.\n\nQuestion: {query}")
HYDE_PROMPT = ("Write a short passage, as it would appear in product documentation, that answers "
               "the question below. Write only the passage.\n\nQuestion: {query}")
MAX_QUERY_CHARS = 2000
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|query\s*\d*\s*:)\s*", re.IGNORECASE)


def _ask(client: Any, model: str | None, prompt: str, max_tokens: int, temperature: float) -> str:
    if model is None:
        from inferlearn.llm import default_model

        model = default_model()
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                           max_tokens=max_tokens, temperature=temperature)
    return reply.choices[0].message.content or ""


def parse_queries(text: str) -> list[str]:
    """Queries from a model's reply: a JSON list (or ``{"queries": [...]}``), else one per line
    with bullets, numbering and quotes stripped."""
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if isinstance(data, list):
        lines = [str(item) for item in data]
    else:
        lines = [_BULLET.sub("", line) for line in text.splitlines()]
    return [line.strip().strip("\"'").strip() for line in lines if line.strip().strip("\"'").strip()]


def multi_query(client: Any, query: str, n: int = 3, model: str | None = None,
                max_tokens: int = 150, temperature: float = 0.0) -> list[str]:
    """The original ``query`` first, then up to ``n`` distinct rewrites from the model."""
    check_query(query)
    check_k(n, "n")
    check_k(max_tokens, "max_tokens")
    if not query.strip():
        return [query]
    text = _ask(client, model, MULTI_QUERY_PROMPT.format(n=n, query=query[:MAX_QUERY_CHARS]),
                max_tokens, temperature)
    out, seen = [query], {query.strip().lower()}
    for rewrite in parse_queries(text):
        if rewrite.lower() not in seen and len(out) <= n:
            seen.add(rewrite.lower())
            out.append(rewrite)
    return out


def hyde(client: Any, query: str, model: str | None = None, max_tokens: int = 200,
         temperature: float = 0.0) -> str:
    """A hypothetical passage answering ``query`` (HyDE), to embed in place of the query."""
    check_query(query)
    check_k(max_tokens, "max_tokens")
    if not query.strip():
        return query
    return _ask(client, model, HYDE_PROMPT.format(query=query[:MAX_QUERY_CHARS]), max_tokens,
                temperature).strip()


def hyde_query(client: Any, query: str, **kwargs: Any) -> str:
    """The query followed by its hypothetical passage: one text that keeps the user's words."""
    passage = hyde(client, query, **kwargs)
    return f"{query}\n{passage}" if passage and passage != query else query
