"""A smaller, self-consistent slice of the golden set and the corpus, for quick runs.

Embedding the whole corpus takes minutes on a laptop the first time, so lessons run at CI size
on a slice: some answerable golden questions, *every* page they need, and other pages as
distractors (so retrieval still has wrong pages to avoid)::

    sample = golden_sample("dev", n_questions=20, n_docs=30, seed=7)
    sample.docs      # 30 Doc objects, sorted by id
    sample.queries   # {"g-0002": "Back in 2024, how long ...", ...}
    sample.qrels     # {"g-0002": {"policy-refunds-2024": 1}, ...}  (page-level relevance)

With no sizes it is the whole split (answerable questions only) over the whole corpus.
Introduced in ``phase2_rag/01_ingestion_and_chunking``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from inferlearn.rag.corpus import Doc


@dataclass
class GoldenSample:
    """Pages and the answerable golden questions whose pages are all among them."""

    docs: list[Doc]
    items: list[dict[str, Any]]

    @property
    def queries(self) -> dict[str, str]:
        """``{question id: question}``."""
        return {item["id"]: item["question"] for item in self.items}

    @property
    def qrels(self) -> dict[str, dict[str, int]]:
        """``{question id: {doc id: 1}}``: every page a question needs is relevant."""
        return {item["id"]: {doc_id: 1 for doc_id in item["doc_ids"]} for item in self.items}


def _check_size(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} ({value!r}) must be a whole number >= 1, or None for all")
    return value


def golden_sample(split: str | None = "dev", n_questions: int | None = None, n_docs: int | None = None,
                  seed: int = 0, docs: list[Doc] | None = None,
                  items: list[dict[str, Any]] | None = None) -> GoldenSample:
    """Up to ``n_questions`` answerable questions of ``split`` and ``n_docs`` pages holding all
    their relevant pages; the rest of the pages are random distractors (``seed``).

    Questions are taken in a seeded random order, skipping any whose pages would not fit in
    ``n_docs``. ``docs``/``items`` default to ``load_corpus()`` / ``load_golden(split)``.
    """
    n_questions, n_docs = _check_size(n_questions, "n_questions"), _check_size(n_docs, "n_docs")
    if docs is None:
        from inferlearn.rag.corpus import load_corpus

        docs = load_corpus()
    if items is None:
        from inferlearn.evals.golden import load_golden

        items = load_golden(split)
    by_id = {doc.id: doc for doc in docs}
    candidates = sorted((i for i in items if i["doc_ids"] and all(d in by_id for d in i["doc_ids"])),
                        key=lambda i: i["id"])
    rng = random.Random(seed)
    rng.shuffle(candidates)
    chosen: list[dict[str, Any]] = []
    needed: set[str] = set()
    for item in candidates:
        if n_questions is not None and len(chosen) >= n_questions:
            break
        union = needed | set(item["doc_ids"])
        if n_docs is not None and len(union) > n_docs:
            continue
        chosen.append(item)
        needed = union
    if not chosen:
        raise ValueError(f"no answerable {split or 'golden'} question fits in {n_docs} page(s); "
                         "raise n_docs")
    others = sorted(set(by_id) - needed)
    rng.shuffle(others)
    extra = len(others) if n_docs is None else max(n_docs - len(needed), 0)
    picked = needed | set(others[:extra])
    return GoldenSample(sorted((by_id[d] for d in picked), key=lambda d: d.id),
                        sorted(chosen, key=lambda i: i["id"]))
