"""Passages, hits and metadata filters: the shapes every retrieval stage shares.

A passage is what gets indexed (a document or a chunk of one): an ``id``, its ``text`` and a
``metadata`` dict (``title``, ``product``, ``version``...). Every retriever returns ``Hit``s
(id and score, best first). Metadata filters use one small language everywhere, the same as
chroma's ``where``::

    {"product": "billing"}                                   # equality
    {"version": {"$gte": 2}}                                 # $eq $ne $gt $gte $lt $lte $in $nin
    {"$and": [{"product": "billing"}, {"doc_type": {"$in": ["policy", "faq"]}}]}

Library only: every retriever of ``phase2_rag/`` returns these shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

_COMPARE = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$in": lambda a, b: a in b,
    "$nin": lambda a, b: a not in b,
}


@dataclass
class Passage:
    """One retrievable unit: a document or a chunk. ``metadata`` may carry ``title``."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


class Hit(NamedTuple):
    """One retrieved passage: its id and the retriever's score (higher is better)."""

    id: str
    score: float


def as_passage(item: Any) -> Passage:
    """A ``Passage`` from a Passage, a dict (``id``/``_id``, ``text``, optional ``title`` and
    ``metadata``), a tuple ``(id, text[, metadata])`` or any object with ``id`` and ``text``."""
    if isinstance(item, Passage):
        return item
    if isinstance(item, Mapping):
        pid = item.get("id", item.get("_id"))
        metadata = dict(item.get("metadata") or {})
        if item.get("title") and "title" not in metadata:
            metadata["title"] = item["title"]
        text = item.get("text")
    elif isinstance(item, tuple) and len(item) in (2, 3):
        pid, text = item[0], item[1]
        metadata = dict(item[2] or {}) if len(item) == 3 else {}
    elif hasattr(item, "text") and (hasattr(item, "id") or hasattr(item, "chunk_id")):
        pid = getattr(item, "id", None) or getattr(item, "chunk_id", None)
        text = item.text
        metadata = dict(getattr(item, "metadata", None) or {})
    else:
        raise TypeError(f"cannot read a passage from {type(item).__name__}: give a Passage, a dict "
                        "with 'id' and 'text', or a tuple (id, text[, metadata])")
    if not isinstance(pid, str) or not pid:
        raise ValueError(f"a passage id must be a non-empty string, got {pid!r}")
    if not isinstance(text, str):
        raise TypeError(f"passage {pid!r}: text must be a string, got {type(text).__name__}")
    return Passage(pid, text, metadata)


def as_passages(items: Iterable[Any]) -> list[Passage]:
    """Normalise ``items`` with ``as_passage`` and check that ids are unique."""
    if isinstance(items, (str, bytes)):
        raise TypeError("passages must be a list of passages, not a single string")
    passages = [as_passage(item) for item in items]
    seen: set[str] = set()
    for passage in passages:
        if passage.id in seen:
            raise ValueError(f"passage id {passage.id!r} appears more than once; ids must be unique")
        seen.add(passage.id)
    return passages


def passage_text(passage: Passage, use_title: bool = True) -> str:
    """The text a retriever indexes: the title (when present) on its own line, then the text."""
    title = passage.metadata.get("title") if use_title else None
    if title and not passage.text.startswith(str(title)):
        return f"{title}\n{passage.text}"
    return passage.text


def check_k(k: Any, name: str = "k") -> int:
    """``k`` as an int >= 1, or a ValueError naming the value."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"{name} ({k!r}) must be a whole number >= 1")
    if k < 1:
        raise ValueError(f"{name} ({k}) must be >= 1")
    return k


def check_query(query: Any) -> str:
    """``query`` as a string, or a TypeError naming what was given."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    return query


def check_where(where: Mapping | None) -> None:
    """Raise a ValueError naming the problem if ``where`` is not a valid filter."""
    if where is None:
        return
    if not isinstance(where, Mapping) or not where:
        raise ValueError(f"where ({where!r}) must be a non-empty dict such as {{'product': 'billing'}}")
    for key, condition in where.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise ValueError(f"{key} takes a non-empty list of filters, got {condition!r}")
            for sub in condition:
                check_where(sub)
        elif key.startswith("$"):
            raise ValueError(f"unknown filter operator {key!r}; use $and or $or at the top level")
        elif isinstance(condition, Mapping):
            for op, value in condition.items():
                if op not in _COMPARE:
                    raise ValueError(f"unknown operator {op!r} for {key!r}; use one of {', '.join(_COMPARE)}")
                if op in ("$in", "$nin") and not isinstance(value, (list, tuple, set)):
                    raise ValueError(f"{op} for {key!r} takes a list, got {value!r}")


def matches(metadata: Mapping[str, Any], where: Mapping | None) -> bool:
    """True when ``metadata`` satisfies the filter ``where`` (None matches everything)."""
    if not where:
        return True
    for key, condition in where.items():
        if key == "$and":
            ok = all(matches(metadata, sub) for sub in condition)
        elif key == "$or":
            ok = any(matches(metadata, sub) for sub in condition)
        elif isinstance(condition, Mapping):
            value = metadata.get(key)
            try:
                ok = all(_COMPARE[op](value, arg) for op, arg in condition.items())
            except TypeError:  # comparing a string to a number, say: not a match
                ok = False
        else:
            ok = metadata.get(key) == condition
        if not ok:
            return False
    return True
