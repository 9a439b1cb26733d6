"""Load a BEIR-format retrieval dataset: corpus, queries and qrels for one split.

A BEIR folder holds ``corpus.jsonl`` (or ``corpus.part-*.jsonl``, concatenated in name order)
with ``{"_id", "title", "text"}``, ``queries.jsonl`` (or ``queries.<split>.jsonl``) with
``{"_id", "text"}`` and ``qrels/<split>.tsv`` (``query-id corpus-id score``, with a header).
The course golden set (``inferlearn.evals.golden.load_golden``) comes in the same shape.
Library only (``inferlearn eval retrieval``, ``benchmarks/bench_retrieval.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from inferlearn.data import read_jsonl
from inferlearn.rag.passages import Passage


@dataclass
class RetrievalDataset:
    """Passages to index, the queries of one split, and their relevance judgements.

    ``queries`` holds only queries that have judgements in ``qrels``;
    ``qrels[query_id][doc_id]`` is the graded relevance (0 = judged not relevant).
    """

    name: str
    split: str
    passages: list[Passage]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _corpus_files(folder: Path) -> list[Path]:
    single = folder / "corpus.jsonl"
    parts = sorted(folder.glob("corpus.part-*.jsonl"))
    if single.exists():
        return [single]
    if parts:
        return parts
    raise FileNotFoundError(f"{folder} has no corpus.jsonl or corpus.part-*.jsonl; is it a BEIR folder?")


def _splits(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Qrels from a BEIR TSV (``query-id corpus-id score``; the header line is optional)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n\r").split("\t")
            if not line.strip():
                continue
            if len(fields) != 3:
                raise ValueError(f"{path}:{number}: expected 3 tab-separated fields "
                                 f"(query-id, corpus-id, score), got {len(fields)}")
            try:
                score = int(float(fields[2]))
            except ValueError:
                if number == 1:  # the header
                    continue
                raise ValueError(f"{path}:{number}: score {fields[2]!r} is not a number") from None
            qrels.setdefault(fields[0], {})[fields[1]] = score
    return qrels


def _check_row(row: object, path: Path, number: int, kind: str) -> None:
    """Raise ``ValueError`` naming the file and record unless ``row`` is a usable BEIR record."""
    if not isinstance(row, dict):
        raise ValueError(f"{path}: {kind} record {number} is a JSON {type(row).__name__}, not an "
                         'object like {"_id": ..., "text": ...}')
    for key in ("text", "title"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise ValueError(f"{path}: {kind} record {number} has a {key!r} that is a "
                             f"{type(row[key]).__name__}, not a string")
    if kind == "queries" and "_id" not in row:
        raise ValueError(f"{path}: queries record {number} has no '_id'")


def load_beir_corpus(folder: str | Path) -> list[Passage]:
    """Passages of a BEIR corpus; the title goes in ``metadata['title']``."""
    passages = []
    seen: set[str] = set()
    for path in _corpus_files(Path(folder)):
        for number, row in enumerate(read_jsonl(path), start=1):
            _check_row(row, path, number, "corpus")
            pid = str(row.get("_id", row.get("id", "")))
            if not pid:
                raise ValueError(f"{path}: a corpus row has no _id: {str(row)[:80]}")
            if pid in seen:
                raise ValueError(f"{path}: document id {pid!r} appears more than once")
            seen.add(pid)
            metadata = {k: v for k, v in (row.get("metadata") or {}).items()
                        if isinstance(v, (str, int, float, bool))}
            if row.get("title"):
                metadata["title"] = row["title"]
            passages.append(Passage(pid, row.get("text") or "", metadata))
    if not passages:
        raise ValueError(f"the corpus in {folder} has no documents; nothing to retrieve from")
    return passages


def load_beir(folder: str | Path, split: str = "test") -> RetrievalDataset:
    """The corpus, the queries judged in ``split`` and their qrels, from a BEIR folder.

    Raises FileNotFoundError naming what is missing (and the splits that exist).
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise FileNotFoundError(f"dataset {folder} is a file; give the BEIR folder that holds "
                                "corpus.jsonl, queries.jsonl and qrels/")
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} does not exist")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        found = ", ".join(_splits(folder)) or "none"
        raise FileNotFoundError(f"{folder} has no qrels/{split}.tsv (splits found: {found})")
    query_path = folder / f"queries.{split}.jsonl"
    if not query_path.exists():
        query_path = folder / "queries.jsonl"
    if not query_path.exists():
        raise FileNotFoundError(f"{folder} has no queries.jsonl or queries.{split}.jsonl")
    qrels = read_qrels(qrels_path)
    rows = read_jsonl(query_path)
    for number, row in enumerate(rows, start=1):
        _check_row(row, query_path, number, "queries")
    texts = {str(r["_id"]): r.get("text") or "" for r in rows}
    missing = [q for q in qrels if q not in texts]
    if missing:
        warnings.warn(f"{len(missing)} judged queries have no text in {query_path.name} and are "
                      f"skipped (first: {missing[0]!r})", stacklevel=2)
        qrels = {q: rel for q, rel in qrels.items() if q in texts}
    queries = {q: texts[q] for q in qrels}
    return RetrievalDataset(folder.name, split, load_beir_corpus(folder), queries, qrels)
