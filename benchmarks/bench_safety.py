"""Benchmark the phase 4 safety defences: PII redaction and prompt-injection detection.

PII: token-level precision, recall and F2 per entity type on Presidio's synthetic set
(``../shared/datasets/pii``; skipped with a message when absent; scored as ``pii_eval`` says, with
the dev/test template halves apart and a threshold sweep on the dev half) and on Larkspur's tickets, with
false positives on the tickets' non-PII text and redaction latency per text. Injection: the
detector's 5-fold cross-validated TPR/FPR/AUC on deepset's set (skipped when absent) at the
shipped threshold, and its rates on Larkspur's tickets that were not used for training and on the
forum posts (never used for training), with the attacks that get through. Writes JSON (default
``build/bench/safety.json``). A benchmark, not a test: it measures.

Goals (issue 13): PII F2 >= 0.85 overall on the synthetic set, recall >= 0.95 on email, phone,
card, IBAN and account ids; injection TPR >= 0.90 at FPR <= 0.10 on deepset's data.

    python benchmarks/bench_safety.py [--out PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

GOAL_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "ACCOUNT_ID")


SWEEP = (0.2, 0.3, 0.35, 0.4, 0.5, 0.6)


def _synthetic(rows: list[dict]) -> dict:
    """The shipped detector on every row, and a threshold sweep on the dev templates only."""
    from inferlearn.prod.pii import DEFAULT_THRESHOLD, resolve_spans, scored_spans
    from inferlearn.prod.pii_eval import evaluate_pii, template_split

    start = time.perf_counter()
    raw = {row["text"]: scored_spans(row["text"]) for row in rows}  # one analyzer pass per text
    seconds = round(time.perf_counter() - start, 1)
    report = evaluate_pii(rows, detector=lambda text: resolve_spans(text, raw[text]))
    report.update(threshold=DEFAULT_THRESHOLD, analyzer_seconds=seconds)
    dev = [row for row in rows if template_split(row["template_id"]) == "dev"]
    report["threshold_sweep_dev"] = [
        {"threshold": t, **evaluate_pii(dev, detector=lambda text, t=t: resolve_spans(text, raw[text], t))["overall"]}
        for t in SWEEP]
    return report


def _pii(quick: bool) -> dict:
    from inferlearn.data import data_dir, read_jsonl, shared_datasets_dir
    from inferlearn.prod.pii import detect
    from inferlearn.prod.pii_eval import evaluate_pii, load_pii_dataset, tickets_as_pii_rows

    result: dict = {}
    shared = shared_datasets_dir()
    path = shared / "pii" / "presidio_synth_dev.json" if shared else None
    if path is None or not path.is_file():
        result["synthetic"] = {"skipped": "../shared/datasets/pii is absent (developers and CI have it)"}
    else:
        result["synthetic"] = _synthetic(load_pii_dataset(path)[: 100 if quick else None])
    tickets = read_jsonl(data_dir() / "tickets" / "tickets.jsonl")[: 40 if quick else None]
    result["tickets"] = evaluate_pii(tickets_as_pii_rows(tickets))
    recall = {k: result["tickets"]["per_type"].get(k, {}).get("recall") for k in GOAL_TYPES}
    result["tickets"]["goal_recall_0.95"] = recall
    times = []
    for ticket in tickets:
        start = time.perf_counter()
        detect(ticket["text"])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    result["latency_ms_per_ticket"] = {"p50": round(times[len(times) // 2], 1),
                                       "p95": round(times[int(len(times) * 0.95) - 1], 1), "n": len(times)}
    return result


def _injection() -> dict:
    from inferlearn.data import data_dir, read_jsonl
    from inferlearn.prod.injection import get_detector, rates

    start = time.perf_counter()
    detector = get_detector()
    result = {"trained_on": detector.source, "n_train": detector.n_train, "threshold": round(detector.threshold, 4),
              "cross_validation": detector.cv, "load_or_train_seconds": round(time.perf_counter() - start, 1)}
    tickets = [t for t in read_jsonl(data_dir() / "tickets" / "tickets.jsonl") if t["split"] != "train"]
    posts = read_jsonl(data_dir() / "community" / "posts.jsonl")
    for name, rows, kind in (("larkspur_tickets_dev_heldout", tickets, None), ("larkspur_posts", posts, "injection_kind")):
        scores = detector.score([r["text"] for r in rows])
        labels = [int(r["injection"]) for r in rows]
        missed = [{"id": r["id"], "kind": r.get(kind) if kind else None, "score": round(float(s), 3)}
                  for r, s in zip(rows, scores, strict=True) if r["injection"] and s < detector.threshold]
        result[name] = {**rates(labels, scores, detector.threshold), "rows": len(rows), "missed": missed}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build/bench/safety.json")
    parser.add_argument("--quick", action="store_true", help="100 synthetic rows and 40 tickets for PII")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.machine(),
              "quick": args.quick, "pii": _pii(args.quick), "injection": _injection()}
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    synth = report["pii"]["synthetic"]
    if "overall" in synth:
        splits = ", ".join(f"{k} templates {v['overall']['f2']:.3f}" for k, v in synth["splits"].items())
        print(f"PII synthetic: F2 {synth['overall']['f2']:.3f} overall, any PII type (goal 0.85; {splits}); "
              f"types must agree {synth['overall_typed']['f2']:.3f}; strict {synth['strict']['f2']:.3f}")
    print("PII tickets recall:", report["pii"]["tickets"]["goal_recall_0.95"])
    cv = report["injection"]["cross_validation"]
    print(f"injection CV: TPR {cv['tpr']:.3f} FPR {cv['fpr']:.3f} AUC {cv['roc_auc']:.3f} (goal TPR >= 0.90 at FPR <= 0.10)")
    for name in ("larkspur_tickets_dev_heldout", "larkspur_posts"):
        r = report["injection"][name]
        print(f"injection {name}: TPR {r['tpr']:.3f} FPR {r['fpr']:.3f} ({len(r['missed'])} attacks missed)")
    print(f"wrote {out} in {report['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
