"""Benchmark the regression gate: does it catch a planted drop, and does it stay quiet otherwise?

The baseline is a real run: per-question scores (recall@5, hit@5, MRR@10, nDCG@10) of a
pipeline on the golden test split. Each seeded trial builds two candidate runs from it:

- *planted*: questions that retrieval answered (recall@5 > 0) are broken, in a random order, until
  mean recall@5 has fallen by at least ``--drop`` (default 0.05, "a 5-point drop"); a broken
  question scores 0 on every metric, as when its pages vanish from the index;
- *unchanged*: the baseline itself.

Both get the same seeded *churn* first: a share of questions (``--churn``, default 0, 0.05 and 0.1)
trade scores with another random question, the run-to-run noise a nightly job sees from
re-indexing and small config changes (a deterministic pipeline re-run has none, so churn 0 shows
the pure gate). The gate is ``detect_regression`` with its default tolerances (0.02) and alpha
0.05, Holm-corrected over the four metrics. Goal (issue 12): catch the planted drop in >= 80% of
50 trials, at most 1 false alarm in 20 unchanged runs. Rates come with Wilson 95% intervals. A
power curve (``--curve``: smaller planted drops, churn 0.05) shows where detection starts.
Writes JSON (default ``build/bench/regression.json``).

    python benchmarks/bench_regression.py [--out PATH] [--pipeline hybrid_pages] [--trials 50]
        [--unchanged 20] [--drop 0.05] [--churn 0,0.05] [--quick]

``--quick`` uses the BM25 pipeline (no embeddings) and 10 + 5 trials: a smoke run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from _common import write_json
from scipy.stats import binomtest

METRICS = {"recall@5": "recall@5", "hit_rate@5": "hit@5", "mrr@10": "mrr@10", "ndcg@10": "ndcg@10"}


def baseline_scores(pipeline: str, split: str = "test") -> dict[str, dict[str, float]]:
    """Per-question scores of ``pipeline`` on the golden ``split`` (what ``eval rag`` records)."""
    from inferlearn.evals.retrieval import evaluate_retrieval, load_golden_dataset

    report = evaluate_retrieval(load_golden_dataset(split), pipeline, k=5, extra_metrics=("hit_rate@5",))
    return {short: {q: m[name] for q, m in report["per_query"].items()} for name, short in METRICS.items()}


def churn(scores: dict[str, dict[str, float]], share: float, rng: np.random.Generator) -> dict:
    """A copy where ``share`` of the items take the scores of another random item."""
    ids = sorted(scores["recall@5"])
    out = {m: dict(v) for m, v in scores.items()}
    for item in rng.choice(ids, size=round(share * len(ids)), replace=False):
        donor = ids[rng.integers(len(ids))]
        for metric in out:
            out[metric][item] = scores[metric][donor]
    return out


def plant_drop(scores: dict[str, dict[str, float]], drop: float, rng: np.random.Generator) -> dict:
    """A copy where answered items score 0 everywhere until mean recall@5 fell by >= ``drop``."""
    out = {m: dict(v) for m, v in scores.items()}
    recall = out["recall@5"]
    target, lost = drop * len(recall), 0.0
    for item in rng.permutation(sorted(i for i, v in recall.items() if v > 0)):
        if lost >= target - 1e-9:
            break
        lost += recall[item]
        for metric in out:
            out[metric][item] = 0.0
    return out


def _rate(hits: int, n: int) -> dict:
    ci = binomtest(hits, n).proportion_ci(0.95, method="wilson") if n else None
    return {"count": hits, "trials": n, "rate": round(hits / n, 4) if n else None,
            "wilson95": [round(float(ci.low), 4), round(float(ci.high), 4)] if ci else None}


def run_trials(base: dict, trials: int, unchanged: int, drop: float, share: float) -> dict:
    """Detection rate over ``trials`` planted drops and false alarms over ``unchanged`` runs."""
    from inferlearn.evals.regression import detect_regression

    caught, recall_flagged, drops, alarms = 0, 0, [], 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        noisy = churn(base, share, rng)
        planted = plant_drop(noisy, drop, rng)
        drops.append(np.mean(list(base["recall@5"].values())) - np.mean(list(planted["recall@5"].values())))
        report = detect_regression(base, planted, seed=seed)
        caught += report.regressed
        recall_flagged += "recall@5" in set(report.regressions["metric"])
    for seed in range(1000, 1000 + unchanged):
        report = detect_regression(base, churn(base, share, np.random.default_rng(seed)), seed=seed)
        alarms += report.regressed
    return {"churn": share, "planted": {**_rate(caught, trials), "recall@5_flagged": recall_flagged,
                                        "mean_recall@5_drop": round(float(np.mean(drops)), 4) if drops else None},
            "unchanged_false_alarms": _rate(alarms, unchanged)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build/bench/regression.json")
    parser.add_argument("--pipeline", default="hybrid_pages")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--unchanged", type=int, default=20)
    parser.add_argument("--drop", type=float, default=0.05)
    parser.add_argument("--churn", default="0,0.05,0.1", help="churn shares to try, comma-separated")
    parser.add_argument("--curve", default="0.01,0.02,0.03,0.04", help="smaller planted drops for a power curve")
    parser.add_argument("--curve-churn", default="0.05", help="churn used for the power curve")
    parser.add_argument("--quick", action="store_true", help="bm25, 10 planted + 5 unchanged trials")
    args = parser.parse_args(argv)
    if args.quick:
        args.pipeline, args.trials, args.unchanged = "bm25", 10, 5
    start = time.perf_counter()
    base = baseline_scores(args.pipeline)
    baseline_seconds = time.perf_counter() - start
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
              "pipeline": args.pipeline, "split": "test", "questions": len(base["recall@5"]),
              "baseline": {m: round(float(np.mean(list(v.values()))), 4) for m, v in base.items()},
              "baseline_seconds": round(baseline_seconds, 1), "drop": args.drop,
              "goal": {"detection_rate_min": 0.8, "trials": 50, "false_alarms_max": 1, "unchanged": 20},
              "runs": []}
    for share in (float(s) for s in args.churn.split(",") if s.strip()):
        tick = time.perf_counter()
        row = run_trials(base, args.trials, args.unchanged, args.drop, share)
        row["seconds"] = round(time.perf_counter() - tick, 1)
        result["runs"].append(row)
        print(f"churn {share:.2f}: caught {row['planted']['count']}/{args.trials} planted drops "
              f"(Wilson 95% {row['planted']['wilson95']}), {row['unchanged_false_alarms']['count']}/"
              f"{args.unchanged} false alarms", file=sys.stderr)
    curve_churn = float(args.curve_churn)
    for size in (float(s) for s in args.curve.split(",") if s.strip()):
        row = run_trials(base, args.trials, 0, size, curve_churn)
        result.setdefault("power_curve", []).append({"drop": size, "churn": curve_churn, **row["planted"]})
        print(f"drop {size:.2f} (churn {curve_churn:.2f}): caught {row['planted']['count']}/{args.trials}",
              file=sys.stderr)
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
