"""Generation metrics, measured apart from retrieval: is the answer right, does it cite the right
sections, are its quotes real, and is every claim in it supported by the context?

    generation_metrics([{"id": "g-0001", "question": ..., "answer": ..., "contexts": [...],
                         "reference": ..., "citations": [...], "anchors": [...]}])

Numbers and dates are normalised with ``inferlearn.evals.fields`` before they are compared, so
"$1,490.00" matches "1490" and "4 March 2025" matches "2025-03-04". How they map to ragas:
``correctness`` ~ ragas ``answer_correctness`` (factual part, without an LLM), ``faithfulness`` ~
ragas ``faithfulness`` (claims split by sentence, supported by lexical + number overlap instead of
an LLM call), ``citation_precision`` / ``citation_recall`` ~ ragas ``context_precision`` /
``context_recall`` but on the sections the answer *cites*, against the golden anchors.
Introduced in ``phase3_eval/03_generation_metrics``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from inferlearn.evals.fields import normalise_amount, normalise_date
from inferlearn.rag.answer import extract_citations

_CITE = re.compile(r"\[[^\[\]\n]{1,300}\](?!\()")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{4}\b"
                   r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2},? \d{4}\b", re.I)
_NUM = re.compile(r"(?<![\w.])[$€£]?\d[\d,]*(?:\.\d+)?(?![\w])")
_WORD = re.compile(r"[a-z0-9_]+(?:[.\-][a-z0-9_]+)*")
_QUOTE = re.compile(r"[\"“]([^\"”]{8,300})[\"”]")
STOPWORDS = frozenset("""a an the and or but if of to in on at by for with from as is are was were be been
being it its this that these those there here what which who whom when where why how do does did
not no yes can could will would should may might must have has had than then so such your you
their they them our we us i he she his her about into over under per each any all also only more
most less just up out one""".split())


def strip_citations(text: str) -> str:
    """``text`` without its ``[chunk-id]`` citation markers."""
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", _CITE.sub("", text))).strip()


def extract_values(text: str) -> set[str]:
    """Normalised dates (ISO) and numbers (as floats written without trailing zeros) in ``text``.

    >>> sorted(extract_values("7 days, $1,490.00, since 1 February 2025"))
    ['1490', '2025-02-01', '7']
    """
    text = strip_citations(text)
    values = {str(normalise_date(m.group())) for m in _DATE.finditer(text)}
    rest = _DATE.sub(" ", text)
    for match in _NUM.finditer(rest):
        number = normalise_amount(match.group())
        if isinstance(number, float):
            values.add(f"{number:.4f}".rstrip("0").rstrip("."))
    return values


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words, citations or bare numbers (numbers are
    compared normalised, by ``extract_values``), in order."""
    return [w for w in _WORD.findall(strip_citations(text).lower())
            if w not in STOPWORDS and not re.fullmatch(r"[\d.,\-]+", w)]


def _recall(needed: Iterable[str], found: Iterable[str]) -> float:
    needed, found = set(needed), set(found)
    return 1.0 if not needed else len(needed & found) / len(needed)


def key_sentence(reference: str) -> str:
    """The reference's first sentence: the direct answer (the rest is background)."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", reference.strip(), maxsplit=1)
    return parts[0]


def _direct(reference: str) -> str:
    """The key sentence without parenthetical asides (sources, versions, qualifiers)."""
    return re.sub(r"\s*\([^()]*\)", "", key_sentence(reference)) or key_sentence(reference)


def answer_correctness(answer: str, reference: str) -> float:
    """How well the answer states the reference's direct answer (its first sentence without
    parenthetical asides), in [0, 1]:
    0.7 x the share of that sentence's numbers and dates the answer has (normalised) + 0.3 x the
    share of its content words; with no numbers there, the content-word share alone. Numbers the
    answer states that appear nowhere in the reference cost 0.5 x their share of the answer's
    numbers, so a changed number is caught."""
    key = _direct(reference)
    key_values, ans_values = extract_values(key), extract_values(answer)
    words = _recall(content_words(key), content_words(answer))
    wrong = len(ans_values - extract_values(reference)) / max(len(ans_values), 1)
    score = 0.7 * _recall(key_values, ans_values) + 0.3 * words if key_values else words
    return round(max(0.0, score - 0.5 * wrong), 4)


def section_of(chunk_id: str) -> str:
    """``doc#section/sub:3`` -> ``doc#section/sub`` (the golden anchor a chunk id belongs to)."""
    head, sep, tail = chunk_id.rpartition(":")
    return head if sep and tail.isdigit() else chunk_id


def _matches(cited: str, anchor: str) -> bool:
    return cited == anchor or cited.startswith(anchor + "/") or anchor.startswith(cited + "/")


def citation_precision_recall(citations: Sequence[str], anchors: Sequence[str]) -> tuple[float, float]:
    """(precision, recall) of the sections an answer cites against the golden anchors.

    Chunk ids are reduced to their section (``a#b:0`` -> ``a#b``); a cited section matches an
    anchor when it is the same section or one nested in it. Precision: share of the distinct cited
    sections that match an anchor. Recall: share of the anchors that some citation matches. No
    citations and no anchors (an honest "I don't know") is (1, 1); citations where there are no
    anchors is precision 0; no citations where there are anchors is (0, 0).
    """
    cited = list(dict.fromkeys(section_of(c) for c in citations))
    anchors = list(dict.fromkeys(anchors))
    if not cited:
        return (1.0, 1.0) if not anchors else (0.0, 0.0)
    if not anchors:
        return 0.0, 1.0
    precision = sum(any(_matches(c, a) for a in anchors) for c in cited) / len(cited)
    recall = sum(any(_matches(c, a) for c in cited) for a in anchors) / len(anchors)
    return round(precision, 4), round(recall, 4)


def _squash(text: str) -> str:
    return re.sub(r"[\s*`_]+", " ", text).strip().casefold()


def quote_support(answer: str, contexts: Sequence[str]) -> float | None:
    """Share of the answer's quoted spans (8+ characters in double quotes) found verbatim in some
    context (case, space and markdown emphasis ignored); None when the answer quotes nothing."""
    quotes = _QUOTE.findall(answer)
    if not quotes:
        return None
    joined = " ".join(_squash(c) for c in contexts)
    return round(sum(_squash(q) in joined for q in quotes) / len(quotes), 4)


def split_claims(answer: str) -> list[str]:
    """The answer's claims: its sentences and semicolon clauses, citations removed, 3+ words."""
    text = re.sub(r"\s+", " ", answer).strip()
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z(\"“])|;\s+|\n+", text)
    return [strip_citations(p) for p in parts if len(strip_citations(p).split()) >= 3]


def claim_support(claim: str, context: str) -> float:
    """Lexical support of one claim by one context in [0, 1]: 0 when the claim states a number or
    date the context lacks, else the share of the claim's content words found in the context."""
    if extract_values(claim) - extract_values(context):
        return 0.0
    return _recall(content_words(claim), content_words(context))


def faithfulness(answer: str, contexts: Sequence[str], threshold: float = 0.6,
                 support: Callable[[str, str], float] = claim_support) -> float | None:
    """Share of the answer's claims that some context supports (``support`` >= ``threshold``);
    None for an answer with no claims (an empty answer or a bare "I don't know")."""
    claims = split_claims(answer)
    if not claims:
        return None
    supported = [max((support(c, ctx) for ctx in contexts), default=0.0) >= threshold for c in claims]
    return round(float(np.mean(supported)), 4)


def generation_metrics(items: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per item: id, correctness, citation_precision, citation_recall, quote_support,
    faithfulness. Items: ``id``, ``answer``, ``contexts``, ``reference``, ``anchors`` and
    optionally ``citations`` (taken from the answer's ``[id]`` markers when absent)."""
    rows = []
    for i, item in enumerate(items):
        missing = [k for k in ("id", "answer", "contexts", "reference", "anchors") if k not in item]
        if missing:
            raise ValueError(f"item {i} ({item.get('id', '?')}) lacks {', '.join(missing)}; "
                             "each item needs id, answer, contexts, reference and anchors")
        citations = item.get("citations")
        if citations is None:
            citations = extract_citations(item["answer"])
        precision, recall = citation_precision_recall(citations, item["anchors"])
        rows.append({"id": item["id"], "correctness": answer_correctness(item["answer"], item["reference"]),
                     "citation_precision": precision, "citation_recall": recall,
                     "quote_support": quote_support(item["answer"], item["contexts"]),
                     "faithfulness": faithfulness(item["answer"], item["contexts"])})
    return pd.DataFrame(rows, columns=["id", "correctness", "citation_precision", "citation_recall",
                                       "quote_support", "faithfulness"])
