"""The evidence the offline judges weigh: per-answer features from deterministic checks and the
embedding model, and the rules that turn them into verdicts (thresholds chosen on the dev split of
``data/labels`` with ``benchmarks/bench_judge.py --tune``; never on test).
Introduced in ``phase3_eval/04_llm_as_judge``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from inferlearn.evals.generation import (
    answer_correctness,
    claim_support,
    content_words,
    split_claims,
    strip_citations,
)
from inferlearn.rag.answer import extract_citations, is_abstention

# chosen on dev (see the module docstring); bench_judge.py reports dev and test with them
THRESHOLDS = {"support": 0.7, "correct": 0.7, "relevant": 0.05, "embed_support": 0.5, "embed_relevance": 0.3,
              "llm_band": (0.6, 0.8)}
_NOT_COVERED = re.compile(r"\b(does not|doesn't|do not|don't)\s+(say|cover|mention|document|state)\b|"
                          r"\bnot (covered|documented|mentioned|stated)\b|\bno (information|documentation)\b", re.I)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?|])\s+|\n+", text)
    return [p.strip() for p in parts if len(p.split()) >= 3]


def _cited_texts(item: dict[str, Any]) -> tuple[list[str], int, int]:
    """(texts of the cited chunks, number of citations, number not in the context)."""
    cited = extract_citations(item["answer"])
    ids = item.get("context_ids")
    if not ids:
        return list(item["contexts"]), len(cited), 0
    by_id = dict(zip(ids, item["contexts"], strict=False))
    invalid = [c for c in cited if c not in by_id]
    texts = [by_id[c] for c in cited if c in by_id]
    return (texts or list(item["contexts"])) if not cited else texts, len(cited), len(invalid)


def says_not_covered(text: str) -> bool:
    """True for an answer that says the documents do not answer the question."""
    return is_abstention(text) or bool(_NOT_COVERED.search(text))


def item_features(item: dict[str, Any]) -> dict[str, Any]:
    """Deterministic features of one answer."""
    claims = split_claims(item["answer"])
    cited, n_cites, invalid = _cited_texts(item)
    support_cited = [max((claim_support(c, t) for t in cited), default=0.0) for c in claims]
    support_all = [max((claim_support(c, t) for t in item["contexts"]), default=0.0) for c in claims]
    question, answer = set(content_words(item["question"])), set(content_words(item["answer"]))
    return {"id": item["id"], "n_claims": len(claims), "n_cites": n_cites, "invalid_cites": invalid,
            "min_support_cited": min(support_cited, default=1.0), "min_support_all": min(support_all, default=1.0),
            "mean_support_cited": float(np.mean(support_cited)) if claims else 1.0,
            "correctness": answer_correctness(item["answer"], item["reference"]),
            "question_overlap": len(question & answer) / max(len(question), 1),
            "abstains": says_not_covered(item["answer"]),
            "reference_not_covered": says_not_covered(item["reference"]),
            "answer_chars": len(strip_citations(item["answer"]))}


def embedding_features(items: list[dict[str, Any]], embedder: Any = None) -> pd.DataFrame:
    """Per answer: the weakest claim's best cosine to a sentence of the cited chunks, and the
    cosine between question and answer (MiniLM unless another ``embedder`` is given)."""
    from inferlearn.rag.dense import CachedEmbedder

    embedder = embedder if embedder is not None else CachedEmbedder()
    rows = []
    for item in items:
        claims = split_claims(item["answer"]) or [strip_citations(item["answer"]) or "-"]
        cited, _, _ = _cited_texts(item)
        sentences = [s for t in cited for s in _sentences(t)] or ["-"]
        vectors = _unit(embedder.embed(claims + sentences + [item["question"], strip_citations(item["answer"]) or "-"]))
        c, s = vectors[:len(claims)], vectors[len(claims):len(claims) + len(sentences)]
        rows.append({"embed_support": float((c @ s.T).max(axis=1).min()),
                     "embed_relevance": float(vectors[-2] @ vectors[-1])})
    return pd.DataFrame(rows)


def _unit(vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=float)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def feature_table(items: list[dict[str, Any]], embedder: Any = False) -> pd.DataFrame:
    """Features of every item; embedding columns too unless ``embedder`` is False."""
    table = pd.DataFrame([item_features(it) for it in items])
    if embedder is not False and items:
        table = pd.concat([table, embedding_features(items, embedder)], axis=1)
    return table


def rule_verdicts(table: pd.DataFrame, uses_embeddings: bool = False, t: dict | None = None) -> dict[str, list]:
    """faithful / relevant / correct from the features by fixed thresholds (``THRESHOLDS``)."""
    t = t or THRESHOLDS
    abstains = table["abstains"].astype(bool)
    faithful = (table["invalid_cites"] == 0) & (table["min_support_cited"] >= t["support"])
    if uses_embeddings and "embed_support" in table:
        faithful &= table["embed_support"] >= t["embed_support"]
    faithful |= abstains & (table["n_claims"] <= 2)
    relevant = abstains | (table["correctness"] > t["relevant"])
    if uses_embeddings and "embed_relevance" in table:
        relevant |= table["embed_relevance"] >= t["embed_relevance"]
    right = (table["correctness"] >= t["correct"]) & (table["min_support_all"] >= t["support"]) & ~abstains
    correct = np.where(table["reference_not_covered"], abstains, right)
    return {"faithful": [bool(x) for x in faithful], "relevant": [bool(x) for x in relevant],
            "correct": [bool(x) for x in correct]}


def combined_verdicts(table: pd.DataFrame, uses_llm: bool, uses_embeddings: bool, t: dict | None = None) -> dict[str, list]:
    """The rules' verdicts, with the LLM's P(yes) deciding faithfulness where the weakest claim's
    lexical support falls in the uncertain band ``THRESHOLDS["llm_band"]``."""
    t = t or THRESHOLDS
    verdicts = rule_verdicts(table, uses_embeddings, t)
    if uses_llm and "p_yes" in table:
        low, high = t["llm_band"]
        for i, (support, p) in enumerate(zip(table["min_support_cited"], table["p_yes"], strict=False)):
            if low <= support < high and p is not None and not pd.isna(p) and table["invalid_cites"][i] == 0:
                verdicts["faithful"][i] = bool(p >= 0.5)
    return verdicts
