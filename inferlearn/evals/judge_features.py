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
    extract_values,
    key_sentence,
    split_claims,
    strip_citations,
)
from inferlearn.rag.answer import extract_citations, is_abstention

# chosen on dev (see the module docstring); bench_judge.py reports dev and test with them
THRESHOLDS = {"support": 0.9, "correct": 0.9, "correct_support": 0.9, "relevant": 0.05, "embed_support": 0.8, "embed_relevance": 0.2}
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


_BOILERPLATE = re.compile(r"^\s*(?:the\s+)?(?:answer|response)(?:\s+to\s+the\s+question)?\s+is\s*:?\s*", re.I)


def answer_claims(answer: str) -> list[str]:
    """The answer's claims, after dropping a leading "The answer is:" (it states nothing)."""
    return split_claims(_BOILERPLATE.sub("", answer))


_TERM = re.compile(r"(?<![\w.])(?:[A-Z]{2,}s?|[A-Za-z]+(?:[_./][A-Za-z0-9]+)+|(?<=[a-z,;:] )[A-Z][a-z]+)(?![\w])")


def key_terms(text: str) -> set[str]:
    """Words that name one thing (lower-cased): capitalised mid-sentence (a plan, a language),
    all caps (an HTTP method, a unit) or code-like (``max_poll_records``).

    >>> sorted(key_terms("Use POST on the Team plan; set max_poll_records to 500 MB."))
    ['max_poll_records', 'mb', 'post', 'team']
    """
    return {m.group().lower() for m in _TERM.finditer(strip_citations(text))}


_YES_NO_QUESTION = re.compile(r"^\W*(does|do|did|is|are|was|were|can|could|will|would|should|shall|has|have|had|may|"
                              r"must)\b|\b(right|correct|true)\s*\?\s*$", re.I)
_YES_NO_ANSWER = re.compile(r"^\W*(yes|no)\b", re.I)


def question_form(question: str, answer: str) -> dict[str, bool]:
    """Does the answer have the form the question asks for? ``yes_no_question``: it opens with an
    auxiliary verb or ends in "..., right?"; ``yes_no_answer``: the answer opens with yes or no.

    >>> question_form("Can the viewer role read payloads?", "No. Viewers see metadata only.")
    {'yes_no_question': True, 'yes_no_answer': True}
    """
    return {"yes_no_question": bool(_YES_NO_QUESTION.search(question.strip())),
            "yes_no_answer": bool(_YES_NO_ANSWER.match(strip_citations(answer)))}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9_]+(?:[./][a-z0-9_]+)*", text.lower())) | set(content_words(text))


def _sentence_support(claim: str, texts: list[str]) -> float:
    """The claim's best lexical support by one sentence (not a whole chunk) of ``texts``."""
    return max((claim_support(claim, s) for t in texts for s in _sentences(t) or [t]), default=0.0)


def reference_features(answer: str, reference: str, question: str) -> dict[str, float]:
    """How far the answer strays from the reference: the share (and count) of its content words,
    numbers and key terms that neither the reference nor the question has, and how many content
    words of the reference's direct answer (its first sentence) it lacks."""
    known = set(content_words(reference)) | set(content_words(question))
    words = content_words(answer)
    values = extract_values(answer)
    terms = key_terms(answer)
    known_terms = _words(reference) | _words(question)
    missing = set(content_words(key_sentence(reference))) - set(words)
    return {"novel_words": sum(w not in known for w in words) / max(len(words), 1),
            "novel_word_count": len(set(words) - known), "missing_key_words": len(missing),
            "novel_values": len(values - extract_values(reference)) / max(len(values), 1),
            "novel_terms": len(terms - known_terms) / max(len(terms), 1)}


def item_features(item: dict[str, Any]) -> dict[str, Any]:
    """Deterministic features of one answer (per-claim lists included): citations, lexical and
    sentence-level support, numbers and named terms found in the cited passages, correctness and
    novelty against the reference, and whether a yes/no question gets a yes or no."""
    claims = answer_claims(item["answer"])
    cited, n_cites, invalid = _cited_texts(item)
    support_cited = [max((claim_support(c, t) for t in cited), default=0.0) for c in claims]
    support_all = [max((claim_support(c, t) for t in item["contexts"]), default=0.0) for c in claims]
    numbers_ok = [any(not extract_values(c) - extract_values(t) for t in cited) for c in claims]
    numbers_ok_all = [any(not extract_values(c) - extract_values(t) for t in item["contexts"]) for c in claims]
    question, answer = set(content_words(item["question"])), set(content_words(item["answer"]))
    cited_words = set().union(*(_words(t) for t in cited)) if cited else set()
    return {"id": item["id"], "n_claims": len(claims), "n_cites": n_cites, "invalid_cites": invalid,
            "min_support_cited": min(support_cited, default=1.0), "min_support_all": min(support_all, default=1.0),
            "claim_support": support_cited, "claim_numbers_ok": numbers_ok,
            "claim_support_all": support_all, "claim_numbers_ok_all": numbers_ok_all,
            "correctness": answer_correctness(item["answer"], item["reference"]),
            "question_overlap": len(question & answer) / max(len(question), 1),
            "abstains": says_not_covered(item["answer"]),
            "reference_not_covered": says_not_covered(item["reference"]),
            "answer_chars": len(strip_citations(item["answer"])),
            "claim_sentence_support": [_sentence_support(c, cited) for c in claims],
            "claim_terms_ok": [not key_terms(c) - cited_words for c in claims],
            **question_form(item["question"], item["answer"]),
            **reference_features(item["answer"], item["reference"], item["question"])}


def embedding_features(items: list[dict[str, Any]], embedder: Any = None) -> pd.DataFrame:
    """Per answer: the weakest claim's best cosine to a sentence of the cited chunks, and the
    cosines of the answer to the question and to the reference (MiniLM unless another
    ``embedder`` is given)."""
    from inferlearn.rag.dense import CachedEmbedder

    embedder = embedder if embedder is not None else CachedEmbedder()
    rows = []
    for item in items:
        claims = answer_claims(item["answer"])
        cited, _, _ = _cited_texts(item)
        cited_sentences = [x for t in cited for x in _sentences(t)]
        other = [x for t in item["contexts"] if t not in cited for x in _sentences(t)]
        sentences = (cited_sentences + other) or ["-"]
        answer = strip_citations(item["answer"]) or "-"
        vectors = _unit(embedder.embed(claims + sentences + [item["reference"], item["question"], answer]))
        c, x = vectors[:len(claims)], vectors[len(claims):len(claims) + len(sentences)]
        sims = c @ x.T if claims else np.zeros((0, len(sentences)))
        best_cited = sims[:, :max(len(cited_sentences), 1)].max(axis=1) if claims else np.array([])
        rows.append({"claim_embed": [float(v) for v in best_cited],
                     "claim_embed_all": [float(v) for v in sims.max(axis=1)] if claims else [],
                     "embed_support": float(best_cited.min()) if claims else 1.0,
                     "embed_relevance": float(vectors[-2] @ vectors[-1]),
                     "embed_reference": float(vectors[-3] @ vectors[-1])})
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


def _all_supported(lexical: Any, numbers_ok: Any, embedded: Any, t_lex: float, t_emb: float) -> list[bool]:
    """Per answer: every claim has its numbers in the context and enough lexical or embedding support."""
    return [all(ok and (lex >= t_lex or emb >= t_emb) for lex, ok, emb in zip(lexs, oks, embs, strict=True))
            for lexs, oks, embs in zip(lexical, numbers_ok, embedded, strict=True)]


def rule_verdicts(table: pd.DataFrame, uses_embeddings: bool = False, t: dict | None = None) -> dict[str, list]:
    """faithful / relevant / correct from the features by fixed thresholds (``THRESHOLDS``)."""
    t = t or THRESHOLDS
    abstains = table["abstains"].astype(bool)
    if uses_embeddings and "claim_embed" in table:
        supported = _all_supported(table["claim_support"], table["claim_numbers_ok"], table["claim_embed"],
                                   t["support"], t["embed_support"])
        faithful = (table["invalid_cites"] == 0) & pd.Series(supported, index=table.index)
    else:
        faithful = (table["invalid_cites"] == 0) & (table["min_support_cited"] >= t["support"])
    faithful |= abstains & (table["n_claims"] <= 2)
    relevant = abstains | (table["correctness"] > t["relevant"])
    if uses_embeddings and "embed_relevance" in table:
        relevant |= table["embed_relevance"] >= t["embed_relevance"]
    if uses_embeddings and "claim_embed_all" in table:
        backed = pd.Series(_all_supported(table["claim_support_all"], table["claim_numbers_ok_all"],
                                          table["claim_embed_all"], t["correct_support"], t["embed_support"]),
                           index=table.index)
    else:
        backed = table["min_support_all"] >= t["correct_support"]
    right = (table["correctness"] >= t["correct"]) & backed & ~abstains
    correct = np.where(table["reference_not_covered"], abstains, right)
    return {"faithful": [bool(x) for x in faithful], "relevant": [bool(x) for x in relevant],
            "correct": [bool(x) for x in correct]}
