"""``inferlearn eval retrieval``: evaluate named retrieval pipelines on a BEIR folder or golden."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inferlearn.evals import run_commands


def _check_writable(out: Path) -> None:
    """Fail before the evaluation, not after it, when ``--json`` cannot be written."""
    for parent in [out.parent, *out.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--json {out}: {parent} is a file, not a folder; choose another path")
            break
    if out.is_dir():
        raise ValueError(f"--json {out} is a folder; give a file name such as {out / 'report.json'}")


def _retrieval(args: argparse.Namespace) -> int:
    from inferlearn.evals.retrieval import evaluate_retrieval, format_table, load_dataset
    from inferlearn.rag.pipelines import PIPELINES

    names = [n.strip() for n in args.pipeline.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIPELINES]
    if unknown or not names:
        raise ValueError(f"unknown pipeline {(unknown or [args.pipeline])[0]!r}; choose from {', '.join(PIPELINES)}")
    if args.k < 1:
        raise ValueError(f"--k ({args.k}) must be >= 1")
    if args.embedding_model is not None:
        from inferlearn.server.embeddings import EMBEDDERS

        if args.embedding_model not in EMBEDDERS:
            raise ValueError(f"--embedding-model {args.embedding_model!r} is not a local embedding "
                             f"model; choose one of {', '.join(EMBEDDERS)}")
    if args.json:
        _check_writable(Path(args.json))
    dataset = load_dataset(args.dataset, args.split, args.golden_unit)
    print(f"{dataset.name} [{dataset.split}]: {len(dataset.passages)} passages, "
          f"{len(dataset.queries)} judged queries", file=sys.stderr)
    reports = []
    for name in names:
        print(f"evaluating {name} ...", file=sys.stderr)
        reports.append(evaluate_retrieval(dataset, name, k=args.k, max_queries=args.max_queries,
                                          embedder=args.embedding_model))
    print(format_table(reports))
    for report in reports:
        cache = report.get("embedding_cache")
        if cache:
            print(f"{report['pipeline']}: embedding cache hit rate {cache['hit_rate']:.1%} "
                  f"({cache['hits']} hits, {cache['misses']} embedded)")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = reports[0] if len(reports) == 1 else {"runs": reports}
        out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0


def register(sub):
    """Add ``eval`` (retrieval, rag, compare, history) to the ``inferlearn`` command; return its
    sub-parsers so that higher layers can add their own kinds."""
    from inferlearn.rag.pipelines import PIPELINES

    evals = sub.add_parser("eval", help="evaluate retrieval and RAG pipelines, record and compare "
                           "runs; PII redaction and injection detection")
    kinds = evals.add_subparsers(dest="eval_command", metavar="KIND", required=True)
    retrieval = kinds.add_parser("retrieval", help="nDCG@10, recall@k, MRR@10, P@k and latency of a "
                                 "named pipeline on a BEIR folder or the golden set")
    retrieval.add_argument("--dataset", required=True,
                           help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or 'golden'")
    retrieval.add_argument("--split", default="test", help="qrels split (default test)")
    retrieval.add_argument("--pipeline", default="hybrid",
                           help=f"one of {', '.join(PIPELINES)}, or several separated by commas "
                           "(default hybrid)")
    retrieval.add_argument("--k", type=int, default=10, help="cutoff for recall@k and P@k (default 10)")
    retrieval.add_argument("--max-queries", type=int, default=None, help="evaluate only the first N queries")
    retrieval.add_argument("--embedding-model", default=None,
                           help="local embedding model for dense stages (default minilm-l6-int8; "
                           "wordllama-256 is fast and weaker)")
    retrieval.add_argument("--golden-unit", default="chunks", choices=("chunks", "pages", "sections"),
                           help="with --dataset golden: index heading chunks judged per page (default), "
                           "whole pages, or sections judged per section")
    retrieval.add_argument("--json", help="write the report (with per-query scores) to this file")
    retrieval.set_defaults(func=_retrieval)
    run_commands.register(kinds)  # eval rag, eval compare, eval history
    return kinds  # cli.py adds eval pii and eval injection (inferlearn.prod sits above evals)
