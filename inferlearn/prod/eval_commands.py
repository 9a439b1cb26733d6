"""``inferlearn eval pii`` and ``inferlearn eval injection``: measure the phase 4 safety defences.

Registered under the ``eval`` sub-command by ``inferlearn/evals/commands.py``. Library only
(``phase4_production/04_pii`` and ``05_prompt_injection`` run the same measurements).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_injection_dataset(path: str | Path) -> tuple[list[str], list[int]]:
    """``{"text", "label"}`` JSON lines (label 0 or 1); a clear error names the bad line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"injection dataset {path} does not exist")
    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}:{number} is not valid JSON; expected one "
                                 '{"text": str, "label": 0 or 1} object per line') from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or row.get("label") not in (0, 1):
                raise ValueError(f"{path}:{number} needs a str 'text' and a 'label' of 0 or 1, got "
                                 f"{str(row)[:80]}")
            texts.append(row["text"])
            labels.append(int(row["label"]))
    if not texts:
        raise ValueError(f"{path} has no rows; expected {{\"text\", \"label\"}} JSON lines")
    return texts, labels


def evaluate_injection(texts: list[str], labels: list[int], threshold: float | None = None) -> dict:
    """TPR, FPR, F1 and ROC AUC of the shipped detector at its threshold; 05_prompt_injection."""
    from sklearn.metrics import roc_auc_score

    from inferlearn.prod.injection import get_detector, rates

    detector = get_detector()
    limit = detector.threshold if threshold is None else threshold
    scores = detector.score(texts)
    auc = float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None
    from inferlearn.prod.injection import training_rows

    seen = set(training_rows()[0])
    return {"rows": len(texts), "positives": sum(labels), "threshold": round(limit, 4),
            "rows_in_training_data": sum(t in seen for t in texts),
            "roc_auc": None if auc is None else round(auc, 4), **rates(labels, scores, limit),
            "detector": {"trained_on": detector.source, "n_train": detector.n_train,
                         "cross_validation": detector.cv}}


def _write(report: dict, out: str | None) -> None:
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)


def _pii(args: argparse.Namespace) -> int:
    from inferlearn.prod.pii_eval import evaluate_pii, format_pii_report, load_pii_dataset

    rows = load_pii_dataset(args.dataset)
    if args.max_rows is not None:
        if args.max_rows < 1:
            raise ValueError(f"--max-rows ({args.max_rows}) must be >= 1")
        rows = rows[: args.max_rows]
    report = evaluate_pii(rows, progress=sys.stderr.isatty())
    report["dataset"] = str(args.dataset)
    print(format_pii_report(report))
    _write(report, args.json)
    return 0


def _injection(args: argparse.Namespace) -> int:
    texts, labels = load_injection_dataset(args.dataset)
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise ValueError(f"--threshold ({args.threshold}) must be between 0 and 1")
    report = evaluate_injection(texts, labels, args.threshold)
    report["dataset"] = str(args.dataset)
    auc = "n/a (one class)" if report["roc_auc"] is None else f"{report['roc_auc']:.3f}"
    print(f"{report['rows']} rows ({report['positives']} injections), threshold {report['threshold']}: "
          f"TPR {report['tpr']:.3f}  FPR {report['fpr']:.3f}  F1 {report['f1']:.3f}  ROC AUC {auc}")
    det = report["detector"]  # cv: the out-of-fold rates on the rows the threshold was tuned on
    cv = det["cross_validation"]
    print(f"detector trained on {det['trained_on']} ({det['n_train']} rows); its 5-fold cross-validation: "
          f"TPR {cv['tpr']:.3f}  FPR {cv['fpr']:.3f}  ROC AUC {cv['roc_auc']:.3f}")
    if report["rows_in_training_data"]:
        print(f"warning: {report['rows_in_training_data']} of {report['rows']} rows are in the detector's "
              "training data, so the scores above are optimistic; the cross-validated ones are honest",
              file=sys.stderr)
    _write(report, args.json)
    return 0


def register(kinds) -> None:
    """Add ``pii`` and ``injection`` to the ``eval`` sub-parsers."""
    pii = kinds.add_parser("pii", help="precision, recall and F2 of PII redaction per entity type")
    pii.add_argument("--dataset", required=True, help="presidio-research synth JSON file")
    pii.add_argument("--max-rows", type=int, default=None, help="evaluate only the first N rows")
    pii.add_argument("--json", help="write the report to this file")
    pii.set_defaults(func=_pii)
    injection = kinds.add_parser("injection", help="TPR, FPR, F1, ROC AUC of the injection detector")
    injection.add_argument("--dataset", required=True, help='JSON lines of {"text", "label"} (1 = injection)')
    injection.add_argument("--threshold", type=float, default=None,
                           help="decision threshold (default: the shipped, cross-validated one)")
    injection.add_argument("--json", help="write the report to this file")
    injection.set_defaults(func=_injection)
