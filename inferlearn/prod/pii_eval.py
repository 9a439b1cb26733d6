"""Measure a PII detector: token-level precision, recall and F2 per entity type and overall.

Datasets in presidio-research's synthetic JSON format (a list of ``{"full_text", "spans":
[{"entity_type", "start_position", "end_position"}], "template_id"}``), or Larkspur's tickets,
whose ``pii`` lists values that we turn into spans.

What is scored, following presidio-research's token evaluator (the tool behind the published
Presidio numbers we compare with):

- each whitespace token gets the (mapped, see ``TYPE_MAP``) type of the gold span it falls in, or
  ``O``; the prediction is labelled the same way;
- gold types no recognizer targets (``DATE_TIME``, ``ORGANIZATION``, ``TITLE``, ``AGE``) are
  scored as ``O``: flagging one is a false positive, missing one is not a miss (listed as ignored);
- tokens that carry no information on their own (punctuation, English stop words, and address
  filler words like "Apt", "Suite", "Box", as presidio-research's skip words) are not counted;
- ``overall`` is presidio-research's "PII" score: a token is a true positive when gold and
  prediction both call it PII, of whatever type (a name redacted as ``<LOCATION>`` is still
  redacted); ``overall_typed`` needs the types to agree too, as ``per_type`` does;
- ``strict`` counts every token and needs the types to agree (the harshest reading).

Synthetic rows are split in two halves by sentence template (``template_split``): thresholds and
recognizers are tuned on ``dev`` templates only, and ``splits["test"]`` is the number that was not
tuned on.

Introduced in ``phase4_production/04_pii.ipynb``; ``inferlearn eval pii`` prints it.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
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
# Words that are never PII on their own, besides punctuation and spaCy's English stop words.
_FILLER = {"'s", "street", "st", "st.", "de", "rue", "via", "address", "country", "state", "city",
           "zip", "po", "p.o.", "apt", "apt.", "unit", "box", "suite", "corner", "mr.", "mrs.", "miss",
           "inc", "inc.", "ltd", "year", "years", "old", "age", "ago", "day", "days", "week", "weeks",
           "month", "months", "morning", "noon", "afternoon", "evening", "night", "weekend"}
Row = dict[str, Any]  # {"text": str, "spans": [(type, start, end)], "template_id"?: int}
Detector = Callable[[str], list[tuple[str, int, int]]]
Pairs = Counter  # (gold label, predicted label) -> token count


def _fail(path: Path, where: str, what: str) -> ValueError:
    return ValueError(f"{path}: {where}: {what}. Expected presidio-research's format: a JSON list of "
                      '{"full_text": str, "spans": [{"entity_type", "start_position", "end_position"}]}')


def _parse_row(path: Path, i: int, item: Any) -> Row:
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
    row: Row = {"text": text, "spans": parsed}
    if item.get("template_id") is not None:
        row["template_id"] = item["template_id"]
    return row


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
    return [_parse_row(path, i, item) for i, item in enumerate(data)]


def template_split(template_id: object) -> str:
    """``"dev"`` or ``"test"``: a fixed half of the sentence templates (by a hash of the id)."""
    digest = hashlib.sha256(str(template_id).encode()).digest()
    return "dev" if digest[0] % 2 == 0 else "test"


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


def is_skip_word(token: str) -> bool:
    """True for a token that is punctuation, an English stop word or an address filler word."""
    from spacy.lang.en.stop_words import STOP_WORDS

    word = token.lower().strip(string.punctuation + "\u2018\u2019\u201c\u201d")
    return not word or word in STOP_WORDS or word in _FILLER or token.lower() in _FILLER


def f_beta(precision: float, recall: float, beta: float = 2.0) -> float:
    """F-beta; beta=2 weighs recall four times as much as precision (a missed SSN costs more)."""
    b2 = beta * beta
    return 0.0 if precision + recall == 0 else (1 + b2) * precision * recall / (b2 * precision + recall)


def _scores(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "f2": round(f_beta(precision, recall), 4), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}


def any_pii_scores(pairs: Pairs) -> dict[str, float | int]:
    """presidio-research's PII score: gold and prediction both PII (any type) is a true positive."""
    tp = sum(n for (g, p), n in pairs.items() if g != "O" and p != "O")
    fp = sum(n for (g, p), n in pairs.items() if g == "O" and p != "O")
    fn = sum(n for (g, p), n in pairs.items() if g != "O" and p == "O")
    return _scores(tp, fp, fn)


def typed_scores(pairs: Pairs) -> tuple[dict[str, dict], dict[str, float | int]]:
    """Per-type scores and their micro average; a token counts only when the types agree."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for (g, p), n in pairs.items():
        if g == p:
            tp[g] += n if g != "O" else 0
            continue
        fp[p] += n if p != "O" else 0
        fn[g] += n if g != "O" else 0
    types = sorted(t for t in set(tp) | set(fp) | set(fn) if t != "O")
    per_type = {t: _scores(tp[t], fp[t], fn[t]) for t in types}
    return per_type, _scores(sum(tp.values()), sum(fp.values()), sum(fn.values()))


def _iterate(rows: list[Row], progress: bool) -> Any:
    if not progress:
        return rows
    from tqdm.auto import tqdm
    return tqdm(rows, desc="pii", unit="row")


def evaluate_pii(rows: list[Row], detector: Detector | None = None, progress: bool = False) -> dict:
    """Token-level precision/recall/F2 per type and overall, plus non-PII false positives; 04_pii."""
    if detector is None:
        from inferlearn.prod.pii import detect as detector
    kept, every, ignored, started = Counter(), Counter(), Counter(), time.perf_counter()
    splits: dict[str, Pairs] = {}
    split_rows: Counter = Counter()
    for row in _iterate(rows, progress):
        text = row["text"]
        tokens = re.findall(r"\S+", text)
        gold = token_labels(text, row["spans"], mapped=True)
        raw = token_labels(text, row["spans"], mapped=False)
        pred = token_labels(text, detector(text), mapped=True)
        name = template_split(row["template_id"]) if "template_id" in row else None
        split = splits.setdefault(name, Counter()) if name else Counter()
        split_rows[name] += 1
        for token, g, r, p in zip(tokens, gold, raw, pred, strict=True):
            every[(g, p)] += 1
            ignored[r] += g == "O" and r != "O"
            if not is_skip_word(token):
                kept[(g, p)] += 1
                split[(g, p)] += 1
    per_type, typed = typed_scores(kept)
    non_pii = sum(n for (g, _), n in every.items() if g == "O")
    flagged = sum(n for (g, p), n in every.items() if g == "O" and p != "O")
    return {"rows": len(rows), "per_type": per_type, "overall": any_pii_scores(kept),
            "overall_typed": typed, "strict": typed_scores(every)[1],
            "splits": {name: {"rows": split_rows[name], "overall": any_pii_scores(p),
                              "overall_typed": typed_scores(p)[1]} for name, p in sorted(splits.items())},
            "ignored_gold_tokens": {k: v for k, v in ignored.items() if v},
            "non_pii_tokens": non_pii, "non_pii_false_positive_tokens": flagged,
            "non_pii_false_positive_rate": round(flagged / non_pii, 4) if non_pii else 0.0,
            "seconds": round(time.perf_counter() - started, 2)}


def format_pii_report(report: dict) -> str:
    """A fixed-width table of a report from ``evaluate_pii``."""
    lines = [f"{'type':<18}{'precision':>10}{'recall':>8}{'F2':>8}{'support':>9}"]
    rows = list(report["per_type"].items()) + [("OVERALL (typed)", report["overall_typed"]),
                                               ("OVERALL (any PII)", report["overall"])]
    rows += [(f"  {name} templates", s["overall"]) for name, s in report.get("splits", {}).items()]
    for kind, s in rows:
        lines.append(f"{kind:<18}{s['precision']:>10.3f}{s['recall']:>8.3f}{s['f2']:>8.3f}{s['support']:>9}")
    strict = report["strict"]
    lines.append(f"strict (every token, types must agree): precision {strict['precision']:.3f} "
                 f"recall {strict['recall']:.3f} F2 {strict['f2']:.3f}")
    lines.append(f"non-PII tokens flagged: {report['non_pii_false_positive_tokens']} of "
                 f"{report['non_pii_tokens']} ({report['non_pii_false_positive_rate']:.2%})")
    if report["ignored_gold_tokens"]:
        lines.append("gold types not targeted (scored as O): " +
                     ", ".join(f"{k} {v}" for k, v in sorted(report["ignored_gold_tokens"].items())))
    return "\n".join(lines)
