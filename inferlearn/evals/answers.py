"""Real local-model answers to golden questions, for the labelled set in ``data/labels``.

``python -m inferlearn.evals.answers --n 60 --out data/labels/model_answers.jsonl`` answers a
seeded sample of golden questions with ``inferlearn.rag.answer.grounded_answer`` over BM25's top
chunks and writes one JSON line per answer (question id, answer, context chunk ids, model, time).
Library only: it made the answers that ``phase3_eval/04_llm_as_judge``'s labels judge.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from inferlearn.evals.golden import load_golden


def context_chunks() -> tuple[list[Any], dict[str, Any]]:
    """Heading-aware chunks of the whole corpus and a lookup by id."""
    from inferlearn.rag.chunking import chunk_docs
    from inferlearn.rag.corpus import load_corpus

    chunks = chunk_docs(load_corpus(), "headings")
    return chunks, {c.id: c for c in chunks}


def sample_questions(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` golden items, seeded, in a stable order (both splits, every type)."""
    items = load_golden()
    return sorted(random.Random(seed).sample(items, min(n, len(items))), key=lambda g: g["id"])


def answer_questions(items: list[dict[str, Any]], client: Any, model: str, k: int = 4,
                     max_tokens: int = 120) -> list[dict[str, Any]]:
    """One real grounded answer per item, over BM25's top ``k`` chunks."""
    from inferlearn.rag.answer import grounded_answer
    from inferlearn.rag.pipelines import build_pipeline

    chunks, _ = context_chunks()
    pipeline = build_pipeline("bm25", [c.to_passage() for c in chunks])
    rows = []
    for item in items:
        hits = pipeline.search(item["question"], k=k).hits
        tick = time.perf_counter()
        result = grounded_answer(client, model, item["question"], [{"id": h.id, "text": _text(chunks, h.id),
                                                                    "score": h.score} for h in hits],
                                 budget=700, max_tokens=max_tokens, seed=0)
        rows.append({"question_id": item["id"], "answer": result.text, "context_ids": result.context_ids,
                     "model": model, "seconds": round(time.perf_counter() - tick, 2)})
        print(f"{item['id']}: {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
    return rows


def _text(chunks: list[Any], chunk_id: str) -> str:
    return next(c.text for c in chunks if c.id == chunk_id)


def main(argv: list[str] | None = None) -> int:
    """CLI: write ``--n`` real answers to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m inferlearn.evals.answers")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from inferlearn.llm import get_client
    from inferlearn.llm.client import default_model

    client, model = get_client(), args.model or default_model()
    rows = answer_questions(sample_questions(args.n, args.seed), client, model)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} answers by {model} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
