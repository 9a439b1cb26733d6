"""``inferlearn eval rag | compare | history``: evaluate the RAG pipeline on the golden set,
record runs in the registry, compare a run with a baseline, and show metrics over time.

    inferlearn eval rag --split test --pipeline hybrid_pages --record
    inferlearn eval compare --baseline last-good --fail-on-regression     # exit 1 on a regression
    inferlearn eval history --plot build/evals/history.png

Expected failures (missing golden set, unknown run, unreadable registry, bad values) are one
line on stderr and exit 2 (``inferlearn.cli.main`` turns ``ValueError``/``RuntimeError`` into that).
Introduced in ``phase3_eval/05_regressions_in_ci``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

RETRIEVAL_METRICS = {"recall@5": "recall@5", "hit_rate@5": "hit@5", "mrr@10": "mrr@10", "ndcg@10": "ndcg@10"}
GATED = ("recall@5", "hit@5", "mrr@10", "ndcg@10")


def _golden_dataset(split: str, max_queries: int | None):
    from inferlearn.evals.golden import golden_path
    from inferlearn.evals.retrieval import load_golden_dataset

    path = golden_path()
    if not path.exists():
        raise FileNotFoundError(f"golden set not found at {path}: run from the inferlearn checkout or set "
                                "INFERLEARN_DATA to its data/ folder")
    if split not in ("dev", "test"):
        raise ValueError(f"--split {split!r} must be dev or test")
    if max_queries is not None and max_queries < 1:
        raise ValueError(f"--max-queries ({max_queries}) must be >= 1")
    return load_golden_dataset(split, "chunks")


def _model_sha256(model: str | None) -> str | None:
    """The pinned sha256 of a local model's main file, None for models we do not pin."""
    from inferlearn.server.modelfiles import MODEL_FILES

    return next((spec.sha256 for spec in MODEL_FILES if model and spec.name.split("/")[0] == model), None)


def _prompt_entry(text: str, version: str) -> dict[str, str]:
    return {"version": version, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]}


def _answer_items(dataset, pipeline, n: int, client, model: str) -> list[dict]:
    """Grounded answers (``rag.answer``) for the first ``n`` questions, as judge/metric items."""
    from inferlearn.evals.golden import load_golden
    from inferlearn.rag.answer import grounded_answer

    golden = {g["id"]: g for g in load_golden(dataset.split)}
    texts = {p.id: p.text for p in dataset.passages}
    items = []
    for qid in list(dataset.queries)[:n]:
        hits = pipeline.search(dataset.queries[qid], k=5).hits
        chunks = [{"id": h.id, "text": texts[h.id], "score": h.score} for h in hits]
        result = grounded_answer(client, model, dataset.queries[qid], chunks, max_tokens=120, seed=0)
        items.append({"id": qid, "question": dataset.queries[qid], "answer": result.text,
                      "contexts": [c["text"] for c in chunks], "reference": golden[qid]["answer"],
                      "citations": list(getattr(result, "citations", []) or []),
                      "anchors": list(golden[qid]["anchors"])})
    return items


def _generation_scores(items: list[dict], judge: str | None, client, model: str) -> dict[str, dict[str, float]]:
    """Per-item generation metrics and (with ``judge``) judge verdicts, as registry scores."""
    scores: dict[str, dict[str, float]] = {}
    try:
        from inferlearn.evals.generation import generation_metrics
    except ImportError:
        generation_metrics = None
    if generation_metrics is not None:
        frame = generation_metrics(items)
        for column in frame.columns.drop("id"):  # correctness, citation_precision, citation_recall, ...
            scores[column] = {str(i): float(v) for i, v in zip(frame["id"], frame[column], strict=True)
                              if v is not None and v == v}
    if judge:
        from inferlearn.evals.judge import judge_answers

        verdicts = judge_answers(items, judge, client=client, model=model, seed=0)
        for column in [c for c in ("faithful", "relevant", "correct") if c in verdicts]:
            scores[f"judge_{column}"] = {str(i): float(v) for i, v in zip(verdicts["id"], verdicts[column],
                                                                         strict=True) if v is not None and v == v}
        scores["judge_abstained"] = {str(i): float(v) for i, v in zip(verdicts["id"], verdicts["abstained"],
                                                                      strict=True)}
        failures = int(verdicts["parse_failures"].sum())
        print(f"judge {judge}: {failures} parse failure(s) over {len(verdicts)} verdicts", file=sys.stderr)
    return {name: values for name, values in scores.items() if values}


def _check_judge(name: str | None) -> Any:
    """The judge spec for ``--judge NAME`` (imported lazily), or a clear error."""
    if not name:
        return None
    try:
        from inferlearn.evals.judge import JUDGES
    except ImportError as exc:
        raise RuntimeError(f"--judge {name!r}: the judge module is not available yet ({exc}); "
                           "run without --judge") from None
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; choose from {', '.join(JUDGES)}")
    return JUDGES[name]


def _rag(args: argparse.Namespace) -> int:
    from inferlearn.evals.golden import golden_version
    from inferlearn.evals.registry import Registry, RunRecord, git_sha
    from inferlearn.evals.retrieval import evaluate_retrieval
    from inferlearn.rag.pipelines import PIPELINES, build_pipeline

    if args.pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {args.pipeline!r}; choose from {', '.join(PIPELINES)}")
    if args.answers < 0:
        raise ValueError(f"--answers ({args.answers}) must be >= 0")
    judge_spec = _check_judge(args.judge)
    if args.record:
        Registry(args.registry).count()  # an unreadable registry fails now, not after the evaluation
    start = time.perf_counter()
    dataset = _golden_dataset(args.split, args.max_queries)
    print(f"golden [{args.split}]: {len(dataset.passages)} chunks, {len(dataset.queries)} questions; "
          f"pipeline {args.pipeline}", file=sys.stderr)
    pipeline = build_pipeline(args.pipeline, dataset.passages, embedder=args.embedding_model)
    report = evaluate_retrieval(dataset, args.pipeline, k=5, max_queries=args.max_queries,
                                pipeline_obj=pipeline, extra_metrics=("hit_rate@5",))
    scores = {short: {q: m[name] for q, m in report["per_query"].items()}
              for name, short in RETRIEVAL_METRICS.items()}
    embed_model = getattr(getattr(pipeline, "embedder", None), "model", None)
    models = {embed_model: _model_sha256(embed_model)} if embed_model else {}
    prompts: dict[str, dict[str, str]] = {}
    n_answers = args.answers or (5 if args.judge else 0)
    if n_answers:
        _score_answers(args, dataset, pipeline, n_answers, judge_spec, (scores, models, prompts))
    seconds = time.perf_counter() - start
    _print_metrics(scores, seconds)
    config = {"pipeline": dataclasses.asdict(PIPELINES[args.pipeline]), "k": 5, "unit": "chunks",
              "embedding_model": embed_model, "max_queries": args.max_queries, "answers": n_answers,
              "judge": args.judge}
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"config": config, "seconds": round(seconds, 1), "scores": scores},
                                  indent=2), encoding="utf-8")
    if args.record:
        registry = Registry(args.registry)
        run_id = registry.record(RunRecord(args.pipeline, scores, args.split, config, prompts, models,
                                           golden_version(), git_sha()))
        print(f"recorded run {run_id} in {registry.path}")
    return 0


def _score_answers(args: argparse.Namespace, dataset, pipeline, n: int, judge_spec: Any,
                   into: tuple[dict, dict, dict]) -> None:
    """Answer ``n`` questions, score them (generation metrics, judge), and add the scores, the
    chat model and the prompts used to ``into`` = (scores, models, prompts)."""
    from inferlearn.llm import get_client
    from inferlearn.llm.client import default_model
    from inferlearn.rag.answer import SYSTEM_PROMPT

    scores, models, prompts = into
    client = get_client()
    model = args.model or default_model()
    items = _answer_items(dataset, pipeline, n, client, model)
    scores.update(_generation_scores(items, args.judge, client, model))
    models[model] = _model_sha256(model)
    prompts["rag.answer.system"] = _prompt_entry(SYSTEM_PROMPT, "1")
    if judge_spec is not None:
        prompts[f"judge.{args.judge}"] = _judge_prompt(judge_spec)


def _judge_prompt(spec: Any) -> dict[str, str]:
    """Version and hash of the judge's prompt file (``inferlearn.evals.judge.PROMPT``), else the
    spec's own ``version``/``sha256`` attributes, else "?"."""
    # The module `--judge` ran (sys.modules'), as the `from ... import` above it saw it.
    judge = importlib.import_module("inferlearn.evals.judge")
    name = getattr(judge, "PROMPT", None)
    if name:
        from inferlearn.prompts import load_prompt

        prompt = load_prompt(name, getattr(judge, "PROMPT_VERSION", None))  # the version the judge uses
        return {"version": str(prompt.version), "sha256": prompt.hash}
    return {"version": str(getattr(spec, "version", "?")), "sha256": str(getattr(spec, "sha256", "?"))}


def _print_metrics(scores: dict[str, dict[str, float]], seconds: float) -> None:
    from inferlearn.evals.metrics import bootstrap_ci

    print(f"{'metric':<20}{'mean':>8}{'95% interval':>20}{'n':>6}")
    for name, values in scores.items():
        ci = bootstrap_ci(values, n_resamples=2000)
        print(f"{name:<20}{ci.estimate:>8.4f}{f'{ci.low:.4f} - {ci.high:.4f}':>20}{len(values):>6}")
    print(f"took {seconds:.1f} s", file=sys.stderr)


def _compare(args: argparse.Namespace) -> int:
    from inferlearn.evals.registry import Registry
    from inferlearn.evals.regression import detect_regression, format_report

    registry = Registry(args.registry)
    candidate = registry.get(args.run)
    baseline_ref = args.baseline
    if baseline_ref in ("latest", "last-good"):
        baseline_ref = _previous(registry, candidate, baseline_ref)
        if baseline_ref is None:
            message = (f"no earlier {'good ' if args.baseline == 'last-good' else ''}run of pipeline "
                       f"{candidate.info['pipeline']!r} to compare {candidate.run_id} with")
            if not args.allow_no_baseline:
                raise ValueError(f"{message} (--allow-no-baseline makes this the first baseline)")
            print(f"{message}: it becomes the baseline")
            return 0
    baseline = registry.get(baseline_ref, pipeline=candidate.info["pipeline"])
    if baseline.run_id == candidate.run_id:
        raise ValueError(f"baseline and candidate are the same run ({baseline.run_id}): record another run first")
    names = args.metric or [m for m in candidate.scores if m in baseline.scores]
    tolerances = dict(_parse_tolerance(t) for t in args.tolerance)
    report = detect_regression(baseline.scores, candidate.scores, tolerances, alpha=args.alpha, metrics=names)
    print(f"baseline {baseline.run_id} ({baseline.info['pipeline']}, {baseline.info['created']}) vs "
          f"candidate {candidate.run_id} ({candidate.info['pipeline']}, {candidate.info['created']})")
    for key in ("golden_version", "config_hash", "split"):
        if baseline.info[key] != candidate.info[key]:
            print(f"note: {key} differs: {baseline.info[key]} -> {candidate.info[key]}")
    print(format_report(report))
    if args.mark:
        registry.mark(candidate.run_id, "regressed" if report.regressed else "ok")
    return 1 if report.regressed and args.fail_on_regression else 0


def _previous(registry, candidate, ref: str) -> str | None:
    """The newest other run of the candidate's pipeline recorded before it (``latest``), or the
    newest of those not marked regressed (``last-good``); None when there is none."""
    history = registry.history(pipeline=candidate.info["pipeline"])
    runs = history.drop_duplicates("run_id").reset_index(drop=True)  # oldest first, in recording order
    runs = runs.iloc[: int(runs.index[runs["run_id"] == candidate.run_id][0])]
    if ref == "last-good":
        runs = runs[runs["status"] == "ok"]
    return None if runs.empty else str(runs.iloc[-1]["run_id"])


def _parse_tolerance(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        tolerance = float(value)
    except ValueError:
        tolerance = -1.0
    if not sep or tolerance < 0:
        raise ValueError(f"--tolerance {text!r} must look like METRIC=DROP, e.g. recall@5=0.02")
    return name, tolerance


def _history(args: argparse.Namespace) -> int:
    from inferlearn.evals.registry import Registry

    frame = Registry(args.registry).history(pipeline=args.pipeline)
    if args.metric:
        frame = frame[frame["metric"] == args.metric]
    if frame.empty:
        raise ValueError(f"no runs{' of ' + args.pipeline if args.pipeline else ''} with metric "
                         f"{args.metric or 'any'} in {Registry(args.registry).path}")
    table = frame.pivot_table(index=["created", "run_id", "pipeline", "status"], columns="metric",
                              values="value").reset_index()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.plot:
        plot_history(frame, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def plot_history(frame, path: str | Path) -> Path:
    """Each metric over time with its bootstrap interval, one line per pipeline (runs marked
    regressed as red crosses), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted(frame["metric"].unique())
    runs = frame.drop_duplicates("run_id")
    position = {run: n for n, run in enumerate(runs["run_id"])}  # evenly spaced, oldest first
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 2.6 * len(metrics)), squeeze=False, sharex=True)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        for pipeline, rows in frame[frame["metric"] == metric].groupby("pipeline"):
            x = rows["run_id"].map(position).to_numpy()
            value = rows["value"].to_numpy()
            spread = [value - rows["low"].to_numpy(), rows["high"].to_numpy() - value]
            ax.errorbar(x, value, yerr=spread, marker="o", capsize=3, label=pipeline)
            bad = (rows["status"] == "regressed").to_numpy()
            if bad.any():
                ax.scatter(x[bad], value[bad], color="crimson", marker="X", s=80, zorder=3,
                           label=f"{pipeline}: marked regressed")
        ax.set_ylabel(f"{metric} (mean, 95% CI)")
        ax.legend(loc="lower left", fontsize=8)
    step = max(1, len(runs) // 10)
    ticks = list(range(0, len(runs), step))
    axes[-1, 0].set_xticks(ticks, [f"{runs['created'].iloc[t]:%m-%d %H:%M}" for t in ticks], rotation=30)
    axes[0, 0].set_title("Evaluation runs over time")
    axes[-1, 0].set_xlabel("run, oldest first (recorded at, UTC)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def register(kinds) -> None:
    """Add ``eval rag``, ``eval compare`` and ``eval history`` to the ``eval`` sub-commands."""
    registry_help = "run registry file (default INFERLEARN_REGISTRY, else runs.sqlite3 in the cache folder)"
    rag = kinds.add_parser("rag", help="evaluate a RAG pipeline on the golden set; --record stores the run")
    rag.add_argument("--split", default="test", help="golden split: dev or test (default test)")
    rag.add_argument("--pipeline", default="hybrid_pages", help="retrieval pipeline (default hybrid_pages)")
    rag.add_argument("--judge", default=None, help="also answer and judge the answers with this judge")
    rag.add_argument("--answers", type=int, default=0,
                     help="generate grounded answers for the first N questions and score them (default 0; "
                     "5 with --judge)")
    rag.add_argument("--model", default=None, help="chat model for answers and the judge (default: backend's)")
    rag.add_argument("--max-queries", type=int, default=None, help="only the first N questions (CI size)")
    rag.add_argument("--embedding-model", default=None, help="dense embedding model (default minilm-l6-int8)")
    rag.add_argument("--record", action="store_true", help="store the run in the registry")
    rag.add_argument("--registry", default=None, help=registry_help)
    rag.add_argument("--json", default=None, help="also write config, time and per-item scores to this file")
    rag.set_defaults(func=_rag)
    compare = kinds.add_parser("compare", help="compare a recorded run with a baseline run")
    compare.add_argument("--baseline", default="last-good",
                         help="RUN id (or prefix), latest or last-good (default: the last good run before it)")
    compare.add_argument("--run", default="latest", help="the candidate run (default latest)")
    compare.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a metric regressed")
    compare.add_argument("--tolerance", action="append", default=[], metavar="METRIC=DROP",
                         help="allowed drop for a metric (repeatable; default 0.02 each)")
    compare.add_argument("--metric", action="append", default=[],
                         help="test only this metric (repeatable; default every metric both runs have)")
    compare.add_argument("--alpha", type=float, default=0.05, help="significance after Holm (default 0.05)")
    compare.add_argument("--allow-no-baseline", action="store_true",
                         help="exit 0 when there is no earlier run yet (the nightly job's first night)")
    compare.add_argument("--mark", action="store_true", help="mark the candidate regressed/ok in the registry")
    compare.add_argument("--registry", default=None, help=registry_help)
    compare.set_defaults(func=_compare)
    history = kinds.add_parser("history", help="metrics of recorded runs over time")
    history.add_argument("--pipeline", default=None, help="only this pipeline")
    history.add_argument("--metric", default=None, help="only this metric")
    history.add_argument("--plot", default=None, metavar="FILE", help="also plot metrics over time to FILE (png)")
    history.add_argument("--registry", default=None, help=registry_help)
    history.set_defaults(func=_history)
