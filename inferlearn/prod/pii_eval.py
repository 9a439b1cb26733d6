"""Measure a PII detector: token-level precision, recall and F2 per entity type and overall.

Datasets in presidio-research's synthetic JSON format (a list of ``{"full_text", "spans":
[{"entity_type", "start_position", "end_position"}]}``), or Larkspur's tickets, whose ``pii``
lists values that we turn into spans. Scoring follows presidio-research: each whitespace token is
labelled with the type of the span it falls in (``O`` if none); a token counts for a type when
gold and prediction agree on it. Gold types that no recognizer targets (``TITLE``, ``AGE``,
``ORGANIZATION``) are scored as ``O`` and listed as ignored.

Introduced in ``phase4_production/04_pii.ipynb``; ``inferlearn eval pii`` prints it.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Dataset type -> the type our redactor reports (None: not targeted, scored as O).
TYPE_MAP: dict[str, str | None] = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL_ADDRESS", "EMAIL": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER", "PHONE": "PHONE_NUMBER", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE", "IBAN": "IBAN_CODE", "ACCOUNT_ID": "ACCOUNT_ID",
    "IP_ADDRESS": "IP_ADDRESS", "US_SSN": "US_SSN", "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "DATE_TIME": None, "NRP": "NRP", "STREET_ADDRESS": "LOCATION", "GPE": "LOCATION",
    "ZIP_CODE": "LOCATION", "ADDRESS": "LOCATION", "LOCATION": "LOCATION", "DOMAIN_NAME": "URL",
    "URL": "URL", "ORGANIZATION": None, "TITLE": None, "AGE": None,
}
Row = dict[str, Any]  # {"text": str, "spans": [(type, start, end)]}
Detector = Callable[[str], list[tuple[str, int, int]]]


def _fail(path: Path, where: str, what: str) -> ValueError:
    return ValueError(f"{path}: {where}: {what}. Expected presidio-research's format: a JSON list of "
                      '{"full_text": str, "spans": [{"entity_type", "start_position", "end_position"}]}')


def load_pii_dataset(path: str | Path) -> list[Row]:
    """Read a presidio-research synth JSON file into rows; a clear error names any bad row; 04_pii."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PII dataset {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(path, "not valid JSON", str(exc)) from None
    if not isinstance(data, list) or not data:
        raise _fail(path, "top level", f"expected a non-empty list, got {type(data).__name__}"
                    f"{' (empty)' if not data else ''}")
    rows = []
    for i, item in enumerate(data):
        text = item.get("full_text") if isinstance(item, dict) else None
        spans = item.get("spans") if isinstance(item, dict) else None
        if not isinstance(text, str) or not isinstance(spans, list):
            raise _fail(path, f"row {i}", "missing str 'full_text' or list 'spans'")
        parsed = []
        for span in spans:
            try:
                kind, start, end = span["entity_type"], int(span["start_position"]), int(span["end_position"])
            except (KeyError, TypeError, ValueError):
                raise _fail(path, f"row {i}", f"bad span {span!r}") from None
            if not 0 <= start < end <= len(text):
                raise _fail(path, f"row {i}", f"span {start}-{end} outside a text of {len(text)} chars")
            parsed.append((kind, start, end))
        rows.append({"text": text, "spans": parsed})
    return rows


def tickets_as_pii_rows(tickets: list[dict]) -> list[Row]:
    """Larkspur tickets (``data/tickets``) as rows: every occurrence of each ``pii`` value is a span."""
    rows = []
    for ticket in tickets:
        text, spans = ticket["text"], []
        for item in sorted(ticket["pii"], key=lambda p: -len(p["value"])):
            for match in re.finditer(re.escape(item["value"]), text):
                if all(match.end() <= s or match.start() >= e for _, s, e in spans):
                    spans.append((item["type"], match.start(), match.end()))
        rows.append({"text": text, "spans": sorted(spans, key=lambda s: s[1]), "id": ticket["id"]})
    return rows


def token_labels(text: str, spans: list[tuple[str, int, int]], mapped: bool) -> list[str]:
    """The label of each whitespace token: the (mapped) type of the span it overlaps, else ``O``."""
    labels = []
    for token in re.finditer(r"\S+", text):
        label = "O"
        for kind, start, end in spans:
            if start < token.end() and end > token.start():
                label = (TYPE_MAP.get(kind, kind) if mapped else kind) or "O"
                break
        labels.append(label)
    return labels


def f_beta(precision: float, recall: float, beta: float = 2.0) -> float:
    """F-beta; beta=2 weighs recall four times as much as precision (a missed SSN costs more)."""
    b2 = beta * beta
    return 0.0 if precision + recall == 0 else (1 + b2) * precision * recall / (b2 * precision + recall)


def _scores(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "f2": round(f_beta(precision, recall), 4), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}


def evaluate_pii(rows: list[Row], detector: Detector | None = None, progress: bool = False) -> dict:
    """Token-level precision/recall/F2 per type and overall (micro), plus non-PII false positives."""
    if detector is None:
        from inferlearn.prod.pii import detect as detector
    tp, fp, fn = Counter(), Counter(), Counter()
    ignored, fp_tokens, o_tokens, started = Counter(), 0, 0, time.perf_counter()
    iterator = rows
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(rows, desc="pii", unit="row")
    for row in iterator:
        gold = token_labels(row["text"], row["spans"], mapped=True)
        raw = token_labels(row["text"], row["spans"], mapped=False)
        pred = token_labels(row["text"], detector(row["text"]), mapped=True)
        for g, r, p in zip(gold, raw, pred, strict=True):
            if g == "O" and r != "O":
                ignored[r] += 1
            if g == "O":
                o_tokens += 1
                fp_tokens += p != "O"
            if g == p and g != "O":
                tp[g] += 1
            else:
                fp[p] += p != "O"
                fn[g] += g != "O"
    types = sorted(t for t in set(tp) | set(fp) | set(fn) if t != "O")
    per_type = {t: _scores(tp[t], fp[t], fn[t]) for t in types}
    overall = _scores(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"rows": len(rows), "per_type": per_type, "overall": overall,
            "ignored_gold_tokens": dict(ignored),
            "non_pii_tokens": o_tokens, "non_pii_false_positive_tokens": fp_tokens,
            "non_pii_false_positive_rate": round(fp_tokens / o_tokens, 4) if o_tokens else 0.0,
            "seconds": round(time.perf_counter() - started, 2)}


def format_pii_report(report: dict) -> str:
    """A fixed-width table of a report from ``evaluate_pii``."""
    lines = [f"{'type':<18}{'precision':>10}{'recall':>8}{'F2':>8}{'support':>9}"]
    for kind, s in list(report["per_type"].items()) + [("OVERALL", report["overall"])]:
        lines.append(f"{kind:<18}{s['precision']:>10.3f}{s['recall']:>8.3f}{s['f2']:>8.3f}{s['support']:>9}")
    lines.append(f"non-PII tokens flagged: {report['non_pii_false_positive_tokens']} of "
                 f"{report['non_pii_tokens']} ({report['non_pii_false_positive_rate']:.2%})")
    if report["ignored_gold_tokens"]:
        lines.append("gold types not targeted (scored as O): " +
                     ", ".join(f"{k} {v}" for k, v in sorted(report["ignored_gold_tokens"].items())))
    return "\n".join(lines)
