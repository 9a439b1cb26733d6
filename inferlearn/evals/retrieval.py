"""Evaluate a named retrieval pipeline on a dataset: quality (trec_eval-exact), latency, build.

    dataset = load_dataset("../shared/datasets/scifact", "train")   # or load_dataset("golden", "dev")
    report = evaluate_retrieval(dataset, "hybrid", k=10)
    print(format_table([report]))

This is what ``inferlearn eval retrieval`` and ``benchmarks/bench_retrieval.py`` run.
Introduced in ``phase3_eval/02_retrieval_metrics_with_uncertainty``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from inferlearn.evals.beir import RetrievalDataset, load_beir
from inferlearn.evals.compare import page_ranking
from inferlearn.evals.golden import golden_for_retrieval
from inferlearn.evals.metrics import evaluate, mean_scores, parse_metric
from inferlearn.latency import latency_summary
from inferlearn.rag.chunking import chunk_docs
from inferlearn.rag.corpus import load_corpus
from inferlearn.rag.passages import as_passages, check_k

GOLDEN_UNITS = ("chunks", "pages", "sections")


def load_dataset(dataset: str | Path, split: str, golden_unit: str = "chunks") -> RetrievalDataset:
    """A BEIR folder, or ``"golden"`` for the course's own golden set (see ``load_golden_dataset``)."""
    if str(dataset) == "golden":
        return load_golden_dataset(split, golden_unit)
    return load_beir(dataset, split)


def load_golden_dataset(split: str, unit: str = "chunks") -> RetrievalDataset:
    """The golden set from ``inferlearn.evals.golden.golden_for_retrieval``.

    ``unit``: what gets indexed and judged. ``chunks`` (default): heading-aware chunks of every
    page, judged per page (a page counts at its best chunk's rank); ``pages``: whole pages;
    ``sections``: sections judged per section (the anchors and evidence the golden set names).
    """
    if unit not in GOLDEN_UNITS:
        raise ValueError(f"golden unit ({unit!r}) must be one of {', '.join(GOLDEN_UNITS)}")
    if unit == "sections":
        return golden_for_retrieval(split, level="section")
    dataset = golden_for_retrieval(split, level="doc")
    if unit == "chunks":
        dataset.passages = as_passages(chunk_docs(load_corpus(), "headings"))
        dataset.name = "golden-chunks"
    return dataset


def _doc_of(dataset: RetrievalDataset) -> dict[str, str] | None:
    """Passage id -> judged doc id when qrels judge documents and passages are their chunks."""
    judged = {doc for rels in dataset.qrels.values() for doc in rels}
    if not judged or any(p.id in judged for p in dataset.passages):
        return None
    mapping = {p.id: str(p.metadata["doc_id"]) for p in dataset.passages if "doc_id" in p.metadata}
    return mapping or None


def metric_names(k: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The metrics every report holds: nDCG@10, recall@k, MRR@10, P@k, then ``extra``."""
    return list(dict.fromkeys(["ndcg@10", f"recall@{k}", "mrr@10", f"P@{k}", *extra]))


def evaluate_retrieval(dataset: RetrievalDataset, pipeline: str = "bm25", k: int = 10,
                       max_queries: int | None = None, embedder: Any = None, client: Any = None,
                       pipeline_obj: Any = None, extra_metrics: tuple[str, ...] = (),
                       **overrides: Any) -> dict[str, Any]:
    """Build ``pipeline`` over the dataset's passages, run every judged query, and report
    mean metrics, per-query metrics, query latency p50/p95 (ms), per-stage times and build time.

    ``pipeline_obj``: an already built pipeline to reuse (then ``pipeline`` is only a label);
    ``extra_metrics``: more metric names to report (``recall@5``, ``map``...).
    """
    from inferlearn.rag.pipelines import build_pipeline

    check_k(k)
    if max_queries is not None:
        check_k(max_queries, "max_queries")
    before = (getattr(embedder, "hits", 0), getattr(embedder, "misses", 0)) if pipeline_obj is None else (0, 0)
    start = time.perf_counter()
    built = pipeline_obj or build_pipeline(pipeline, dataset.passages, embedder=embedder, client=client,
                                           **overrides)
    build_seconds = time.perf_counter() - start
    doc_of = _doc_of(dataset)
    names = metric_names(k, tuple(extra_metrics))
    cutoffs = [spec.k or 100 for spec in map(parse_metric, names)]
    depth = max(k, 10, *cutoffs) * (5 if doc_of else 1)
    query_ids = list(dataset.queries)[:max_queries]
    if query_ids:  # warm-up, not timed: first-call costs (lazy imports, page-ins)
        built.search(dataset.queries[query_ids[0]], k=depth)
    run: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    for qid in query_ids:
        tick = time.perf_counter()
        result = built.search(dataset.queries[qid], k=depth)
        latencies.append((time.perf_counter() - tick) * 1000)
        for stage, ms in result.timings.items():
            stages.setdefault(stage, []).append(ms)
        ranked = page_ranking(result.hits, doc_of)
        run[qid] = {doc: len(ranked) - rank for rank, doc in enumerate(ranked)}  # rank order, no ties
    qrels = {q: dataset.qrels[q] for q in query_ids}
    per_query = evaluate(qrels, run, names)
    embedder_used = getattr(built, "embedder", None)
    report = {
        "dataset": dataset.name, "split": dataset.split, "pipeline": pipeline,
        "description": getattr(getattr(built, "config", None), "description", ""),
        "k": k, "queries": len(query_ids), "passages": len(dataset.passages),
        "metrics": {name: round(value, 4) for name, value in mean_scores(per_query).items()},
        "latency_ms": latency_summary(latencies),
        "stage_ms": {stage: latency_summary(v) for stage, v in stages.items()},
        "build_seconds": round(build_seconds, 3),
        "build_stage_seconds": {s: round(ms / 1000, 3) for s, ms in getattr(built, "build_timings", {}).items()},
        "ingest_passages_per_s": round(len(dataset.passages) / build_seconds, 1) if build_seconds > 0 else None,
        "per_query": {q: {m: round(per_query[m][q], 6) for m in per_query} for q in query_ids},
    }
    if embedder_used is not None:  # passages served from the cache while building this pipeline
        hits = embedder_used.hits - (before[0] if embedder_used is embedder else 0)
        misses = embedder_used.misses - (before[1] if embedder_used is embedder else 0)
        report["embedding_cache"] = {"model": embedder_used.model, "hits": hits, "misses": misses,
                                     "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None}
    return report


def format_table(reports: list[dict[str, Any]]) -> str:
    """Reports as an aligned text table: one row per pipeline."""
    if not reports:
        return "(no results)"
    metrics = list(reports[0]["metrics"])
    header = ["pipeline", *metrics, "p50 ms", "p95 ms", "build s", "queries"]
    rows = [[r["pipeline"], *(f"{r['metrics'][m]:.4f}" for m in metrics), f"{r['latency_ms']['p50']:.1f}",
             f"{r['latency_ms']['p95']:.1f}", f"{r['build_seconds']:.1f}", str(r["queries"])] for r in reports]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True))) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
