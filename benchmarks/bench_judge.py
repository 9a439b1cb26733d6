"""Benchmark the answer judges against ``data/labels``: Cohen's kappa per label (with bootstrap
intervals), F1 at finding planted faults, parse failures, order-flip rate and verbosity bias.

Writes JSON (default ``build/bench/judge.json``). A benchmark, not a test: it measures.
Goals from issue 12: on the local backend 0 unparseable verdicts and an order-flip rate <= 10%;
the best offline judge reaches kappa >= 0.6 on the test split and F1 >= 0.70 at finding planted
faults, with the LLM-only judge reported beside it.

    python benchmarks/bench_judge.py [--split test] [--llm-items 40] [--model M] [--quick]
    python benchmarks/bench_judge.py --llm-items 40 --cached-only   # re-score saved LLM verdicts only
    python benchmarks/bench_judge.py --tune      # choose the rule thresholds on dev (never test)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

from inferlearn.evals import judge as lib_judge
from inferlearn.evals import judge_features as jf
from inferlearn.evals.agreement import (
    agreement_report,
    cohens_kappa,
    fault_f1,
    order_flip_rate,
    verbosity_bias,
)
from inferlearn.evals.judge import JUDGES, judge_answers
from inferlearn.evals.judge_model import LLM_BAND, dev_combiner
from inferlearn.evals.labelset import judge_items, load_labels

LABELS = ("faithful", "relevant", "correct")


def score(rows: list[dict], verdicts: Any) -> dict[str, Any]:
    """Agreement per label and fault-finding F1 (planted + reference rows only) for one judge."""
    out: dict[str, Any] = {}
    for label in LABELS:
        if label in verdicts and verdicts[label].notna().any():
            out[label] = agreement_report([r[label] for r in rows], list(verdicts[label].astype(object)
                                                                      .where(verdicts[label].notna(), None)))
    real = [i for i, r in enumerate(rows) if r["source"] == "model"]  # the part that is not synthetic
    out["model_answers"] = {label: agreement_report([rows[i][label] for i in real],
                                                    [_value(verdicts[label].iloc[i]) for i in real])
                            for label in LABELS if label in verdicts and verdicts[label].notna().any() and real}
    synthetic = [i for i, r in enumerate(rows) if r["source"] != "model"]
    flagged = [_flag(verdicts.iloc[i]) for i in synthetic]
    out["fault_f1"] = fault_f1([rows[i]["fault"] != "none" for i in synthetic], flagged)
    out["n_synthetic"] = len(synthetic)
    return out


def _value(v: Any) -> Any:
    return None if v is None or v != v else bool(v)


def _flag(row: Any) -> bool | None:
    values = [row.get(k) for k in LABELS if row.get(k) is not None and row.get(k) == row.get(k)]
    if row.get("abstained"):
        return None
    return any(not bool(v) for v in values)


def tune(rows: list[dict], items: list[dict]) -> dict[str, Any]:
    """Grid-search the rule thresholds on these (dev) rows; mean kappa over the three labels."""
    table = jf.feature_table(items, embedder=None)
    best: tuple[float, dict] = (-1.0, {})
    grid = itertools.product([0.5, 0.7, 0.9], [0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [0.05, 0.1, 0.2],
                             [0.7, 0.75, 0.8, 0.85, 0.9, 1.01], [0.1, 0.2, 0.3], [0.0, 0.3, 0.5, 0.7, 0.9])
    for support, correct, relevant, emb, emb_rel, correct_support in grid:
        t = {**jf.THRESHOLDS, "support": support, "correct": correct, "relevant": relevant,
             "embed_support": emb, "embed_relevance": emb_rel, "correct_support": correct_support}
        v = jf.rule_verdicts(table, True, t)
        kappa = sum(cohens_kappa([r[k] for r in rows], v[k]) for k in LABELS) / 3
        if kappa > best[0]:
            best = (kappa, t)
    return {"mean_kappa_dev": round(best[0], 4), "thresholds": best[1]}


def warm_llm_cache(items: list[dict], client: Any, model: str, cache: Path, name: str = "llm") -> dict[str, Any]:
    """Ask the LLM about each item once (cached), saving the cache after every item, so a long
    run that is stopped keeps what it measured and a re-run resumes. Returns the timing of the
    calls made now (items already in the cache cost none)."""
    spec, fresh, seconds = JUDGES[name], 0, 0.0
    for i, item in enumerate(items, 1):
        cached = lib_judge._cache_key(item, model, spec, 0) in lib_judge.LLM_CACHE
        tick = time.perf_counter()
        row = lib_judge.llm_verdict(item, client, model, spec)
        if not cached:
            fresh, seconds = fresh + row["calls"], seconds + time.perf_counter() - tick
            saved = json.loads(cache.read_text(encoding="utf-8")) if cache.exists() else {}
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({**saved, **lib_judge.LLM_CACHE}), encoding="utf-8")
        print(f"[{name} {i}/{len(items)}] {item['id']} faithful={row['faithful']} p_yes={row['p_yes']} "
              f"flip={row['order_flip']} ({time.perf_counter() - tick:.1f} s{', cached' if cached else ''})",
              flush=True)
    return {"calls_made_now": fresh, "seconds": round(seconds, 1),
            "seconds_per_call": round(seconds / fresh, 1) if fresh else None}


def run_judge(name: str, rows: list[dict], items: list[dict], client: Any, model: str | None) -> dict[str, Any]:
    tick = time.perf_counter()
    verdicts = judge_answers(items, name, client=client, model=model)
    result = {"judge": name, "description": JUDGES[name].description, "n": len(rows),
              "seconds": round(time.perf_counter() - tick, 1), **score(rows, verdicts)}
    if JUDGES[name].combine:
        combiner = dev_combiner(JUDGES[name].uses_embeddings)
        result["dev_cv_kappa"], result["dev_settings"] = combiner.dev_kappa, combiner.settings
    if JUDGES[name].uses_llm:
        result["parse_failures"] = int(verdicts["parse_failures"].sum())
        result["calls"] = int(verdicts["calls"].sum())
        result["abstained"] = int(verdicts["abstained"].sum())
        result["order_flip"] = order_flip_rate(list(verdicts["order_flip"]))
        result["verbosity_bias_on_unfaithful"] = verbosity_bias(
            [len(it["answer"]) for it in items], list(verdicts["faithful"]), [r["faithful"] for r in rows])
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_judge.py")
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--llm-items", type=int, default=0, help="items the LLM judges see (0: the whole split)")
    parser.add_argument("--judges", default="checks,embed,default,default_embed,llm,combined")
    parser.add_argument("--model", default=None,
                        help="chat model of the LLM judges (default: INFERLEARN_MODEL, else the course model on local)")
    parser.add_argument("--quick", action="store_true", help="12 LLM items (a smoke run)")
    parser.add_argument("--cached-only", action="store_true",
                        help="judge with the LLM only the sampled items already in --llm-cache (no new calls)")
    parser.add_argument("--tune", action="store_true", help="choose thresholds on dev and print them")
    parser.add_argument("--out", type=Path, default=Path("build/bench/judge.json"))
    parser.add_argument("--llm-cache", type=Path, default=Path("build/bench/judge_llm_cache.json"),
                        help="LLM verdicts kept between runs (same model, prompt, item and seed only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.tune:
        rows = load_labels("dev")
        print(json.dumps(tune(rows, judge_items(rows)), indent=2))
        return 0
    rows = load_labels(args.split)
    items = judge_items(rows)
    n_llm = 12 if args.quick else args.llm_items
    sub = sorted(random.Random(0).sample(range(len(rows)), min(n_llm, len(rows)))) if n_llm else range(len(rows))
    client = model = None
    names = [n for n in args.judges.split(",") if n]
    if any(JUDGES[n].uses_llm for n in names):
        from inferlearn.llm import get_client
        from inferlearn.llm.client import default_model

        client, model = get_client(), args.model or default_model()
    lib_judge.USE_CACHE = True
    if args.llm_cache.exists():
        lib_judge.LLM_CACHE.update(json.loads(args.llm_cache.read_text(encoding="utf-8")))
    if args.cached_only and model:  # only the sampled items whose LLM verdicts are already saved
        sub = [i for i in sub if lib_judge._cache_key(items[i], model, JUDGES["llm"], 0) in lib_judge.LLM_CACHE]
        print(f"--cached-only: {len(sub)} of the sampled items have saved LLM verdicts", flush=True)
    timing = None
    if any(JUDGES[n].uses_llm for n in names):  # the LLM calls first, saved item by item
        timing = warm_llm_cache([items[i] for i in sub], client, model, args.llm_cache)
    results = []
    for name in names:
        use = sub if JUDGES[name].uses_llm else range(len(rows))
        results.append(run_judge(name, [rows[i] for i in use], [items[i] for i in use], client, model))
        if JUDGES[name].uses_llm and len(use) < len(rows):  # the same subset without the LLM, to compare
            results.append({**run_judge("default", [rows[i] for i in use], [items[i] for i in use], None, None),
                            "judge": "default (same items as " + name + ")"})
        print(json.dumps(results[-1])[:600], flush=True)
        if JUDGES[name].uses_llm:
            saved = json.loads(args.llm_cache.read_text(encoding="utf-8")) if args.llm_cache.exists() else {}
            args.llm_cache.parent.mkdir(parents=True, exist_ok=True)
            args.llm_cache.write_text(json.dumps({**saved, **lib_judge.LLM_CACHE}), encoding="utf-8")
    report = {"benchmark": "judge", "split": args.split, "labels": len(rows), "llm_items": len(sub),
              "model": model, "thresholds": jf.THRESHOLDS, "llm_band": LLM_BAND, "llm_timing": timing,
              "results": results,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_1min": round(os.getloadavg()[0], 2)},
              "note": "measured under load (shared 2-core machine); re-measure idle"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
