"""Benchmark the answer judges against ``data/labels``: Cohen's kappa per label (with bootstrap
intervals), F1 at finding planted faults, parse failures, order-flip rate and verbosity bias.

Writes JSON (default ``build/bench/judge.json``). A benchmark, not a test: it measures.
Goals from issue 12: on the local backend 0 unparseable verdicts and an order-flip rate <= 10%;
the best offline judge reaches kappa >= 0.6 on the test split and F1 >= 0.70 at finding planted
faults, with the LLM-only judge reported beside it.

    python benchmarks/bench_judge.py [--split test] [--llm-items 40] [--model M] [--quick]
    python benchmarks/bench_judge.py --llm-items 40 --cached-only   # re-score saved LLM verdicts only
    python benchmarks/bench_judge.py --split dev --llm-items 20 --judges llm --prompt-version 2   # a prompt on dev
    python benchmarks/bench_judge.py --tune      # choose the rule thresholds on dev (never test)
    python benchmarks/bench_judge.py --relevant-cv --out build/bench/judge_relevant_cv.json   # dev only
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferlearn.evals import judge as lib_judge
from inferlearn.evals import judge_features as jf
from inferlearn.evals import judge_model as jm
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


_LIST_NUMBER = re.compile(r"(^|\s)\d+\.\s")
_ASKS_NUMBER = re.compile(r"\b(how (much|many|long|often|soon|big|large|fast|old)|within what|what time|when\b|"
                          r"longest|shortest|largest|smallest|maximum|minimum|cost|price|charge|fee|percent)", re.I)


def _tried_cues(item: dict) -> dict[str, float]:
    """Relevance cues tried on dev that the library did not keep (see ``relevant_cv``)."""
    from inferlearn.evals.generation import content_words, extract_values, strip_citations

    body = _LIST_NUMBER.sub(" ", strip_citations(item["answer"]))
    question, answer = ({w[:5] for w in content_words(t)} for t in (item["question"], body))
    return {"log_substance": float(np.log1p(len(content_words(body)))),
            "number_missing": float(bool(_ASKS_NUMBER.search(item["question"])) and not extract_values(body)),
            "stem_overlap": len(question & answer) / max(len(question), 1)}


def _repeated_cv(x: np.ndarray, y: np.ndarray, repeats: int = 10) -> dict[str, Any]:
    """C and threshold chosen as the combiner chooses them (5 folds, seed 0), then dev kappa over
    ``repeats`` differently seeded 5-fold splits: less luck of one split than the seed-0 number."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    c, threshold, kappa0 = jm._choose(x, y, 0)
    kappas = [cohens_kappa(list(y), list(cross_val_predict(jm._pipeline(c), x, y, method="predict_proba",
              cv=StratifiedKFold(5, shuffle=True, random_state=s))[:, 1] >= threshold)) for s in range(repeats)]
    return {"C": float(c), "threshold": float(threshold), "kappa_seed0": round(kappa0, 3),
            "kappa_mean": round(float(np.mean(kappas)), 3), "kappa_sd": round(float(np.std(kappas)), 3),
            "features": x.shape[1]}


def relevant_cv() -> dict[str, Any]:
    """Every feature set tried for the ``relevant`` model, scored by repeated cross-validation on
    the **dev** split only (the test split is not read)."""
    rows = load_labels("dev")
    items = judge_items(rows)
    table = jf.feature_table(items, embedder=None)
    y = np.array([r["relevant"] for r in rows], dtype=bool)
    full = jm.scalar_features(table, uses_embeddings=True)
    yes_no = ["yes_no_unanswered", "yes_no_unasked"]
    base = [c for c in jm.scalar_features(table).columns if c not in yes_no]
    full = pd.concat([full, pd.DataFrame([_tried_cues(it) for it in items])], axis=1)
    cues, small = ["log_substance", "number_missing", "stem_overlap", *yes_no], [
        "correctness", "question_overlap", "abstains", "log_chars", "novel_words", "log_missing_key_words"]
    embed = list(jm.EMBEDDING_COLUMNS)
    variants = {"A: default's features (the judge measured before)": base,
                "B: A + all five cues": base + cues, "C: A + MiniLM": base + embed,
                "D: A + all five cues + MiniLM": base + cues + embed, "E: six relevance features": small,
                "F: E + all five cues": small + cues, "G: F + MiniLM": small + cues + embed,
                "H: the five cues alone": cues, "I: A + the two yes/no cues (kept)": base + yes_no,
                "J: A + yes_no_unanswered": base + yes_no[:1]}
    variants |= {f"B without {c}": [f for f in base + cues if f != c] for c in cues}
    return {name: _repeated_cv(full[cols].to_numpy(), y) for name, cols in variants.items()}


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
        flips = [lib_judge.LLM_CACHE.get(lib_judge._cache_key(it, model, JUDGES[name], 0), {}).get("relevant_flip")
                 for it in items]
        if any(f is not None for f in flips):
            result["relevant_order_flip"] = order_flip_rate(flips)
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
    parser.add_argument("--prompt-version", type=int, default=lib_judge.PROMPT_VERSION,
                        help="version of data/prompts/judge_answer the LLM judges use")
    parser.add_argument("--tune", action="store_true", help="choose thresholds on dev and print them")
    parser.add_argument("--relevant-cv", action="store_true",
                        help="dev-only repeated cross-validation of every feature set tried for 'relevant'")
    parser.add_argument("--out", type=Path, default=Path("build/bench/judge.json"))
    parser.add_argument("--llm-cache", type=Path, default=Path("build/bench/judge_llm_cache.json"),
                        help="LLM verdicts kept between runs (same model, prompt, item and seed only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.relevant_cv:
        report = relevant_cv()
        for name, row in report.items():
            print(f"{name:<52} {row}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"benchmark": "judge relevant features, dev CV", "variants": report},
                                       indent=2), encoding="utf-8")
        print(f"wrote {args.out}")
        return 0
    if args.tune:
        rows = load_labels("dev")
        print(json.dumps(tune(rows, judge_items(rows)), indent=2))
        return 0
    lib_judge.PROMPT_VERSION = args.prompt_version
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
              "model": model, "prompt_version": lib_judge.PROMPT_VERSION, "thresholds": jf.THRESHOLDS, "llm_band": LLM_BAND, "llm_timing": timing,
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
