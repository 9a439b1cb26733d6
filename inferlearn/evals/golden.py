"""The golden question set: schema, loading, validation against the corpus, retrieval shape.

``data/golden/golden.jsonl`` holds one question a line (data card: ``data/golden/README.md``)::

    {"id": "g-0001", "question": "...", "answer": "reference answer",
     "doc_ids": ["policy-refunds-2025"], "anchors": ["policy-refunds-2025#monthly-plans"],
     "evidence": ["verbatim quote from a referenced page"], "type": "factoid", "split": "dev"}

``validate_golden(items, docs)`` lists every problem: schema, unknown doc ids and anchors, and
evidence that is not a verbatim quote (after collapsing whitespace) of the pages it names; that
is how "every answer is supported by its documents" is checked. For retrieval evaluation,
``golden_for_retrieval(split)`` gives a ``RetrievalDataset`` (passages, queries, qrels) like a
BEIR folder, and ``export_beir(folder)`` writes one. Check the real set with
``python -m inferlearn.evals.golden`` (exit status 1 and a list of problems when it is wrong).
Introduced in ``phase3_eval/01_golden_datasets`` (used from ``phase2_rag/01_ingestion_and_chunking``).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferlearn.rag.answer import is_abstention
from inferlearn.rag.corpus import Doc, docs_by_id, normalize_space

TYPES = ("factoid", "multi_hop", "numeric_table", "version_sensitive", "unanswerable", "adversarial")
GOLDEN_SPLITS = ("dev", "test")
MIN_EVIDENCE_CHARS = 8


class GoldenItem(BaseModel):
    """One golden question. Unknown fields are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^g-\d{4,}$")
    question: str = Field(min_length=3)
    answer: str = Field(min_length=1)
    doc_ids: list[str] = Field(default_factory=list)
    anchors: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    type: Literal["factoid", "multi_hop", "numeric_table", "version_sensitive", "unanswerable",
                  "adversarial"]
    split: Literal["dev", "test"]
    notes: str = ""


def golden_path() -> Path:
    """``data/golden/golden.jsonl``."""
    from inferlearn.data import data_dir

    return data_dir() / "golden" / "golden.jsonl"


def _check_split(split: str | None) -> None:
    if split is not None and split not in GOLDEN_SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(GOLDEN_SPLITS)} (or None for all)")


def _read_lines(path: Path) -> list[tuple[int, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except ValueError as exc:
                rows.append((number, ValueError(f"{path.name}:{number} is not valid JSON ({exc})")))
    return rows


def schema_problems(item: Any, where: str = "") -> list[str]:
    """Schema problems of one item (as readable lines; empty when it fits ``GoldenItem``)."""
    if not isinstance(item, Mapping):
        return [f"{where}: expected a JSON object, got {type(item).__name__}"]
    label = item.get("id") or where
    try:
        GoldenItem.model_validate(item)
    except ValidationError as exc:
        return [f"{label}: field '{'.'.join(map(str, e['loc'])) or '?'}': {e['msg']}"
                for e in exc.errors()]
    return []


def load_golden(split: str | None = None, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The golden items (dicts with every field filled), optionally of one split.

    Raises ValueError listing every line that is not valid JSON or does not fit the schema;
    run ``validate_golden`` to check the items against the corpus. For retrieval metrics use
    ``golden_for_retrieval(split)``.
    Introduced in ``phase2_rag/03_hybrid_search_and_reranking``.
    """
    _check_split(split)
    path = Path(path) if path is not None else golden_path()
    if not path.exists():
        raise FileNotFoundError(f"no golden set at {path}")
    items, problems = [], []
    for number, row in _read_lines(path):
        if isinstance(row, Exception):
            problems.append(str(row))
            continue
        found = schema_problems(row, f"{path.name}:{number}")
        if found:
            problems += found
            continue
        items.append(GoldenItem.model_validate(row).model_dump())
    if problems:
        raise ValueError(f"{len(problems)} problem(s) in {path}:\n  " + "\n  ".join(problems[:30]))
    return [i for i in items if split is None or i["split"] == split]


def _quote(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _item_problems(item: dict[str, Any], docs: Mapping[str, Doc], texts: Mapping[str, str]) -> list[str]:
    gid, problems = item["id"], []
    doc_ids, anchors, evidence = item["doc_ids"], item["anchors"], item["evidence"]
    if not doc_ids:
        if item["type"] not in ("unanswerable", "adversarial"):
            problems.append(f"{gid}: a {item['type']} question needs doc_ids (only unanswerable or "
                            "adversarial questions may have none)")
        if evidence or anchors:
            problems.append(f"{gid}: evidence and anchors must be empty when doc_ids is empty")
        if not is_abstention(item["answer"]):
            problems.append(f"{gid}: with no documents the answer must say it does not know "
                            f"(\"I don't know ...\"), got {_quote(item['answer'])}")
        return problems
    if item["type"] == "unanswerable":
        problems.append(f"{gid}: an unanswerable question must have empty doc_ids, got {doc_ids}")
    if item["type"] == "multi_hop" and len(set(doc_ids)) < 2:
        problems.append(f"{gid}: a multi_hop question needs at least 2 documents, got {doc_ids}")
    if len(set(doc_ids)) != len(doc_ids):
        problems.append(f"{gid}: doc_ids has repeats: {doc_ids}")
    unknown = [d for d in doc_ids if d not in docs]
    for doc_id in unknown:
        close = difflib.get_close_matches(doc_id, list(docs), n=1)
        problems.append(f"{gid}: unknown doc id {doc_id!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if not evidence:
        problems.append(f"{gid}: an answerable question needs at least one evidence quote")
    quotes = [normalize_space(q) for q in evidence]
    known_docs = [d for d in doc_ids if d in docs]
    for number, quote in enumerate(quotes, start=1):
        if len(quote) < MIN_EVIDENCE_CHARS:
            problems.append(f"{gid}: evidence {number} ({quote!r}) is too short to prove anything; "
                            f"quote at least {MIN_EVIDENCE_CHARS} characters")
        elif known_docs and not any(quote in texts[d] for d in known_docs):
            problems.append(f"{gid}: evidence {number} {_quote(quote)} is not a verbatim quote of "
                            f"{' or '.join(known_docs)}")
    for doc_id in known_docs:
        if quotes and not any(q in texts[doc_id] for q in quotes):
            problems.append(f"{gid}: no evidence quote comes from {doc_id}; quote it or drop it from doc_ids")
    for ref in anchors:
        problems += _anchor_problems(gid, ref, doc_ids, docs, quotes)
    return problems


def _anchor_problems(gid: str, ref: str, doc_ids: list[str], docs: Mapping[str, Doc],
                     quotes: list[str]) -> list[str]:
    if "#" not in ref:
        return [f"{gid}: anchor {ref!r} must look like '<doc_id>#<anchor>'"]
    doc_id, anchor = ref.split("#", 1)
    if doc_id not in doc_ids:
        return [f"{gid}: anchor {ref!r} names {doc_id!r}, which is not in doc_ids"]
    if doc_id not in docs:
        return []
    section = next((s for s in docs[doc_id].sections if s.anchor == anchor), None)
    if section is None:
        close = difflib.get_close_matches(anchor, [s.anchor for s in docs[doc_id].sections], n=1)
        return [f"{gid}: {doc_id} has no section {anchor!r}" + (f" (did you mean {close[0]!r}?)" if close else "")]
    body = normalize_space(section.text)
    if quotes and not any(q in body for q in quotes):
        return [f"{gid}: no evidence quote is inside the section {ref}"]
    return []


def validate_golden(items: Iterable[Any], docs: Iterable[Doc]) -> list[str]:
    """Every problem with a golden set, one readable line each (empty list: valid).

    Checks the schema, unique ids and questions, that doc ids and ``doc#anchor`` refs exist,
    that every evidence quote appears verbatim (whitespace collapsed) in a referenced page,
    that every referenced page and anchor holds at least one quote, and that questions without
    documents are answered with "I don't know".
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise TypeError("validate_golden takes a list of golden items (dicts)")
    docs = docs_by_id(docs)
    texts = {doc_id: normalize_space(doc.text) for doc_id, doc in docs.items()}
    problems: list[str] = []
    ids: Counter = Counter()
    questions: dict[str, str] = {}
    for index, raw in enumerate(items):
        row = raw.model_dump() if isinstance(raw, BaseModel) else raw
        found = schema_problems(row, f"item {index}")
        if found:
            problems += found
            continue
        item = GoldenItem.model_validate(row).model_dump()
        ids[item["id"]] += 1
        key = normalize_space(item["question"]).lower()
        if key in questions:
            problems.append(f"{item['id']}: same question as {questions[key]}")
        questions.setdefault(key, item["id"])
        problems += _item_problems(item, docs, texts)
    problems += [f"{gid}: id used {n} times" for gid, n in ids.items() if n > 1]
    return problems


def lint_golden(items: Iterable[dict[str, Any]], docs: Iterable[Doc]) -> list[str]:
    """Warnings that do not make a set invalid: questions that copy a section heading of
    3+ words (retrieval gets too easy), answerable questions answered with "I don't know",
    and too few unanswerable questions (under 10%)."""
    docs = docs_by_id(docs)
    items = list(items)
    warnings = []
    for item in items:
        question = normalize_space(item.get("question", "")).lower()
        for doc_id in item.get("doc_ids", []):
            for section in docs[doc_id].sections if doc_id in docs else []:
                heading = normalize_space(section.heading).lower()
                if len(heading.split()) >= 3 and heading in question:
                    warnings.append(f"{item['id']}: the question copies the heading {section.heading!r} of {section.ref}")
        if item.get("doc_ids") and is_abstention(item.get("answer", "")):
            warnings.append(f"{item['id']}: answerable question whose answer sounds like 'I don't know'")
    unanswerable = sum(1 for i in items if i.get("type") == "unanswerable")
    if items and unanswerable < 0.1 * len(items):
        warnings.append(f"only {unanswerable} of {len(items)} questions are unanswerable (aim for 10% or more)")
    return warnings


def stratified_split(items: Sequence[dict[str, Any]], dev_fraction: float = 0.4, seed: int = 13,
                     by: str = "type") -> dict[str, str]:
    """``{item id: "dev" | "test"}``: about ``dev_fraction`` of each ``by`` group goes to dev.

    Deterministic for a given seed and set of ids (items are sorted by id before shuffling).
    """
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction ({dev_fraction}) must be between 0 and 1")
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(str(item[by]), []).append(item["id"])
    rng, out = random.Random(seed), {}
    for key in sorted(groups):
        ids = sorted(groups[key])
        rng.shuffle(ids)
        n_dev = round(len(ids) * dev_fraction)
        out.update({gid: ("dev" if i < n_dev else "test") for i, gid in enumerate(ids)})
    return out


def golden_version(path: str | Path | None = None) -> str:
    """The first 12 hex digits of the golden file's sha256: log it with every evaluation run."""
    path = Path(path) if path is not None else golden_path()
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def golden_for_retrieval(split: str | None = None, level: str = "doc", docs: list[Doc] | None = None,
                         path: str | Path | None = None):
    """The golden set as a retrieval dataset (``inferlearn.evals.beir.RetrievalDataset``).

    ``level="doc"``: passages are whole pages (id = doc id), ``qrels[qid][doc_id] = 1`` for
    every referenced page. ``level="section"``: passages are sections (id ``doc#anchor``), and
    the relevant ones are the named anchors plus every section holding an evidence quote.
    Questions without documents (unanswerable) have no qrels and are left out, as in BEIR.
    Passage metadata carries ``doc_id``, ``title``, ``product``, ``doc_type``, ``version``...
    """
    from inferlearn.evals.beir import RetrievalDataset
    from inferlearn.rag.corpus import load_corpus
    from inferlearn.rag.passages import Passage

    if level not in ("doc", "section"):
        raise ValueError(f"level {level!r} must be 'doc' or 'section'")
    items = load_golden(split, path)
    docs = docs if docs is not None else load_corpus()
    by_id = docs_by_id(docs)
    if level == "doc":
        passages = [Passage(d.id, d.text, d.metadata) for d in docs]
    else:
        passages = [Passage(s.ref, s.text, dict(d.metadata, anchor=s.anchor,
                                                heading_path=" > ".join(s.heading_path)))
                    for d in docs for s in d.sections]
    queries, qrels = {}, {}
    for item in items:
        if not item["doc_ids"]:
            continue
        queries[item["id"]] = item["question"]
        if level == "doc":
            qrels[item["id"]] = {d: 1 for d in item["doc_ids"]}
            continue
        quotes = [normalize_space(q) for q in item["evidence"]]
        relevant = {ref: 1 for ref in item["anchors"]}
        for doc_id in item["doc_ids"]:
            for section in by_id[doc_id].sections if doc_id in by_id else []:
                if any(q in normalize_space(section.text) for q in quotes):
                    relevant[section.ref] = 1
        qrels[item["id"]] = relevant
    return RetrievalDataset("golden" if level == "doc" else "golden-sections", split or "all",
                            passages, queries, qrels)


def export_beir(folder: str | Path, level: str = "doc", path: str | Path | None = None) -> Path:
    """Write the golden set as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/dev.tsv and
    qrels/test.tsv), for tools that read BEIR: ``inferlearn eval retrieval --dataset FOLDER``."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    everything = golden_for_retrieval(None, level, path=path)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
        for p in everything.passages:
            meta = {k: v for k, v in p.metadata.items() if k != "title"}
            out.write(json.dumps({"_id": p.id, "title": p.metadata.get("title", ""), "text": p.text,
                                  "metadata": meta}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as out:
        for qid, text in everything.queries.items():
            out.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    splits = {i["id"]: i["split"] for i in load_golden(None, path)}
    for split in GOLDEN_SPLITS:
        with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as out:
            out.write("query-id\tcorpus-id\tscore\n")
            for qid, rels in everything.qrels.items():
                if splits[qid] == split:
                    out.writelines(f"{qid}\t{doc}\t{rel}\n" for doc, rel in rels.items())
    return folder


def summary_table(items: Sequence[dict[str, Any]]) -> str:
    """Counts by type (rows) and split (columns), as aligned text."""
    counts = Counter((i["type"], i["split"]) for i in items)
    lines = [f"{'type':<18}{'dev':>6}{'test':>6}{'total':>7}"]
    for kind in TYPES:
        dev, test = counts[(kind, "dev")], counts[(kind, "test")]
        lines.append(f"{kind:<18}{dev:>6}{test:>6}{dev + test:>7}")
    dev = sum(v for (_, s), v in counts.items() if s == "dev")
    lines.append(f"{'all':<18}{dev:>6}{len(items) - dev:>6}{len(items):>7}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m inferlearn.evals.golden``: validate data/golden against data/corpus."""
    parser = argparse.ArgumentParser(prog="python -m inferlearn.evals.golden",
                                     description="Check the golden set against the corpus.")
    parser.add_argument("--golden", type=Path, default=None, help="golden.jsonl (default: data/golden/golden.jsonl)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus)")
    args = parser.parse_args(argv)
    from inferlearn.rag.corpus import CorpusError, load_corpus

    path = args.golden or golden_path()
    try:
        docs = load_corpus(args.corpus)
        rows = [row for _, row in _read_lines(path)] if path.exists() else None
    except (CorpusError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if rows is None:
        print(f"error: no golden set at {path}", file=sys.stderr)
        return 1
    problems = [str(r) for r in rows if isinstance(r, Exception)]
    rows = [r for r in rows if not isinstance(r, Exception)]
    problems += validate_golden(rows, docs)
    valid = [r for r in rows if isinstance(r, Mapping) and not schema_problems(r)]
    print(f"golden set {path} (version {golden_version(path)}): {len(rows)} questions over {len(docs)} documents")
    print(summary_table(valid))
    for warning in lint_golden(valid, docs):
        print(f"warning: {warning}")
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("OK: every doc id and anchor exists and every evidence quote is in its documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
