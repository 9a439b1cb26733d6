"""Benchmark the retrieval pipelines: quality, query latency, ingest throughput, cache hit rate.

Runs the named pipelines on SciFact train (``../shared/datasets/scifact``; skipped with a message
when absent) and on the golden test split (skipped when absent), plus LLM re-ranking on a small
sample, and a chroma ingest of the course corpus (first with the cache as it is, then again).
Writes JSON (default ``build/bench/retrieval.json``). A benchmark, not a test: it measures.

Goals (issue 5): SciFact nDCG@10 of the best offline pipeline >= 0.69 at p95 query latency
< 100 ms on 2 cores (LLM re-ranking excluded, reported separately); golden test recall@5 >= 0.90
and MRR@10 >= 0.75. Embeddings come from the on-disk cache; the first run embeds SciFact once
(about 4-10 minutes on 2 cores), later runs only read it. ``--cold`` measures ingest with an
empty temporary cache (it embeds the course corpus again and throws the vectors away).

    python benchmarks/bench_retrieval.py [--out PATH] [--pipelines bm25,dense,hybrid,hybrid_zscore,hybrid_pages]
        [--llm-sample 10] [--skip-scifact] [--skip-golden] [--skip-ingest] [--cold]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

from _common import write_json

OFFLINE = "bm25,dense,hybrid,hybrid_zscore,hybrid_pages"
EXTRA = ("recall@5", "recall@100", "map@100")
CI_METRICS = ("ndcg@10", "recall@5", "mrr@10")


def _summary(report: dict) -> dict:
    """The report without its per-query rows, plus a 95% bootstrap interval of the goal metrics."""
    from inferlearn.evals.metrics import bootstrap_ci

    keep = ("pipeline", "description", "queries", "passages", "metrics", "latency_ms", "stage_ms",
            "build_seconds", "ingest_passages_per_s", "embedding_cache")
    summary = {key: report[key] for key in keep if key in report}
    rows = list(report.get("per_query", {}).values())
    summary["ci95"] = {m: [round(bound, 4) for bound in bootstrap_ci([r[m] for r in rows])[1:3]]
                       for m in CI_METRICS if rows and m in rows[0]}
    return summary


def _embed_throughput(passages, embedder, sample: int = 64) -> dict:
    """Passages/s of the embedding model itself (cache off), on a sample of real passages."""
    from inferlearn.rag.dense import CachedEmbedder
    from inferlearn.rag.passages import passage_text

    fresh = CachedEmbedder(embedder.embedder, cache=False)
    texts = [passage_text(p) for p in passages[:sample]]
    start = time.perf_counter()
    fresh.embed(texts)
    seconds = time.perf_counter() - start
    return {"model": embedder.model, "passages": len(texts), "seconds": round(seconds, 2),
            "passages_per_s": round(len(texts) / seconds, 1)}


def _run_dataset(dataset, names: list[str], embedder, llm_sample: int, rerank_depth: int) -> dict:
    from inferlearn.evals.retrieval import evaluate_retrieval

    out: dict = {"dataset": dataset.name, "split": dataset.split, "passages": len(dataset.passages),
                 "queries": len(dataset.queries), "pipelines": {}}
    for name in names:
        print(f"  {dataset.name}: {name} ...", file=sys.stderr, flush=True)
        report = evaluate_retrieval(dataset, name, k=10, embedder=embedder, extra_metrics=EXTRA)
        out["pipelines"][name] = _summary(report)
        print(f"    nDCG@10 {report['metrics']['ndcg@10']:.4f}  p95 {report['latency_ms']['p95']:.1f} ms",
              file=sys.stderr, flush=True)
    best = max(out["pipelines"], key=lambda n: out["pipelines"][n]["metrics"]["ndcg@10"])
    out["best_offline"] = {"pipeline": best, **{k: out["pipelines"][best][k] for k in ("metrics", "latency_ms")}}
    if llm_sample:
        out["llm_rerank_sample"] = _llm_sample(dataset, embedder, llm_sample, rerank_depth)
    return out


def _llm_sample(dataset, embedder, sample: int, depth: int) -> dict:
    """hybrid vs hybrid_rerank (local LLM, yes/no logprobs) on the first ``sample`` queries."""
    from inferlearn.evals.retrieval import evaluate_retrieval

    print(f"  {dataset.name}: LLM re-ranking on {sample} queries (top {depth}) ...", file=sys.stderr, flush=True)
    base = evaluate_retrieval(dataset, "hybrid", k=10, max_queries=sample, embedder=embedder)
    reranked = evaluate_retrieval(dataset, "hybrid_rerank", k=10, max_queries=sample, embedder=embedder,
                                  rerank_depth=depth)
    return {"queries": sample, "rerank_depth": depth, "hybrid": base["metrics"],
            "hybrid_rerank": reranked["metrics"], "hybrid_rerank_latency_ms": reranked["latency_ms"],
            "rerank_stage_ms": reranked["stage_ms"].get("rerank")}


def _scifact(names, embedder, llm_sample, rerank_depth) -> dict:
    from inferlearn.data import shared_datasets_dir
    from inferlearn.evals.beir import load_beir

    shared = shared_datasets_dir()
    if shared is None or not (shared / "scifact").is_dir():
        message = "skipped: ../shared/datasets/scifact is absent (developers and CI have it)"
        print(message, file=sys.stderr)
        return {"skipped": message}
    dataset = load_beir(shared / "scifact", "train")
    result = _run_dataset(dataset, names, embedder, llm_sample, rerank_depth)
    result["embed_throughput"] = _embed_throughput(dataset.passages, embedder)
    result["published_ndcg10_test"] = {"bm25": 0.665, "bm25_cross_encoder": 0.688, "anserini_bm25_flat": 0.679}
    return result


def _golden(names, embedder, llm_sample, rerank_depth) -> dict:
    from inferlearn.evals.retrieval import load_golden_dataset

    try:
        dataset = load_golden_dataset("test")
    except (FileNotFoundError, RuntimeError, ImportError) as exc:
        print(f"golden set skipped: {exc}", file=sys.stderr)
        return {"skipped": str(exc)}
    return _run_dataset(dataset, names, embedder, llm_sample, rerank_depth)


def _ingest(embedder, cold: bool) -> dict:
    """Chunk the course corpus and upsert it into a fresh chroma store, twice."""
    from inferlearn.rag.chunking import chunk_docs
    from inferlearn.rag.corpus import load_corpus
    from inferlearn.rag.dense import CachedEmbedder, ChromaStore, EmbeddingCache

    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp) / "cold.sqlite3") if cold else embedder.cache
        for attempt in ("first", "second"):
            start = time.perf_counter()
            chunks = chunk_docs(load_corpus(), "headings")
            chunked = time.perf_counter() - start
            run_embedder = CachedEmbedder(embedder.embedder, cache)
            store = ChromaStore(Path(tmp) / f"chroma-{attempt}", "course", embedder=run_embedder)
            count = store.upsert(chunks)
            seconds = time.perf_counter() - start
            result[attempt] = {"chunks": count, "seconds": round(seconds, 2), "chunking_seconds": round(chunked, 2),
                               "chunks_per_s": round(count / seconds, 1), "cache_hit_rate": round(run_embedder.hit_rate, 4)}
            print(f"  ingest {attempt}: {count} chunks in {seconds:.1f} s (hit rate {run_embedder.hit_rate:.0%})",
                  file=sys.stderr, flush=True)
    result["cache"] = "empty temporary cache (--cold)" if cold else "the shared on-disk cache as found"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build/bench/retrieval.json")
    parser.add_argument("--pipelines", default=OFFLINE, help=f"offline pipelines (default {OFFLINE})")
    parser.add_argument("--llm-sample", type=int, default=10, help="queries for LLM re-ranking (0 = skip)")
    parser.add_argument("--rerank-depth", type=int, default=10, help="passages the LLM re-ranks per query")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--skip-golden", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--cold", action="store_true", help="measure ingest with an empty temporary cache")
    args = parser.parse_args(argv)

    import os

    from inferlearn.rag.dense import CachedEmbedder

    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    embedder = CachedEmbedder()
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
              "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "goals": {
                  "scifact_ndcg10_min": 0.69, "scifact_p95_ms_max": 100, "golden_recall5_min": 0.90,
                  "golden_mrr10_min": 0.75}}
    if not args.skip_scifact:
        result["scifact"] = _scifact(names, embedder, args.llm_sample, args.rerank_depth)
    if not args.skip_golden:
        result["golden_test"] = _golden(names, embedder, args.llm_sample, args.rerank_depth)
    if not args.skip_ingest:
        result["ingest"] = _ingest(embedder, args.cold)
    result["embedding_cache"] = {"hits": embedder.hits, "misses": embedder.misses,
                                 "hit_rate": round(embedder.hit_rate, 4)}
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
