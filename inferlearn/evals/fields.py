"""Per-field accuracy of extracted records against gold records.

Introduced in ``phase1_llm_api/02_structured_outputs`` (the learner writes a simpler
``field_accuracy`` there). Values are normalised before they are compared, so that a correct
answer written differently still counts:

- text (names, ids, labels): surrounding space trimmed, inner runs of space collapsed, case folded;
- ``email``: also ``mailto:`` and ``<...>`` removed;
- ``date``: any common written form (``4 March 2025``, ``04/03/2025`` day first, ``2025-03-04``)
  to ISO ``YYYY-MM-DD``;
- ``amount``: numbers, or strings such as ``$1,490.00``, ``1.372,40 €``, ``₹1,24,500``, to a
  float; two amounts match within half a cent.

Both values null is a match (the extractor rightly found nothing). A failed extraction (a
prediction that is None instead of a record) is wrong on every field, even where the gold is null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

AMOUNT_TOLERANCE = 0.005
_NUMBER = re.compile(r"[-+]?[0-9][0-9.,' \u00a0\u202f]*")
_SPACE = re.compile(r"\s+")


def normalise_text(value: Any) -> Any:
    """Trimmed, space-collapsed, case-folded string; other values unchanged."""
    if isinstance(value, str):
        return _SPACE.sub(" ", value).strip().casefold()
    return value


def normalise_email(value: Any) -> Any:
    """``" <Priya@Quillfin.example>"`` -> ``"priya@quillfin.example"``."""
    text = normalise_text(value)
    if isinstance(text, str):
        text = text.removeprefix("mailto:").strip("<> ")
    return text


def normalise_date(value: Any) -> Any:
    """ISO ``YYYY-MM-DD`` for a date, datetime or date-like string (day first when ambiguous);
    an unparseable string comes back normalised as text, so it matches nothing but itself."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    from dateutil import parser  # comes with pandas

    try:
        return parser.parse(text, dayfirst=True, fuzzy=False).date().isoformat()
    except (ValueError, OverflowError):
        return normalise_text(value)


def _decimal_string(digits: str) -> str:
    """``1.372,40`` -> ``1372.40``; ``1,24,500`` -> ``124500``; ``38.12`` -> ``38.12``."""
    digits = re.sub(r"[' \u00a0\u202f]", "", digits).strip(".,")
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal = "." if last_dot > last_comma else ","
    elif last_comma >= 0:
        decimal = "," if re.search(r",\d{1,2}$", digits) and digits.count(",") == 1 else None
    elif digits.count(".") == 1:
        decimal = "."
    else:
        decimal = None  # several dots (1.234.567) are thousands separators
    if decimal is None:
        return digits.replace(",", "").replace(".", "")
    whole, _, fraction = digits.rpartition(decimal)
    return whole.replace(",", "").replace(".", "") + "." + fraction


def normalise_amount(value: Any) -> Any:
    """A float for a number or a money string (``"USD 1,490.00"`` -> 1490.0); strings without a
    number come back normalised as text; None stays None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return value
    match = _NUMBER.search(value)
    if not match:
        return normalise_text(value)
    try:
        return float(_decimal_string(match.group()))
    except ValueError:
        return normalise_text(value)


NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "email": normalise_email,
    "date": normalise_date,
    "amount": normalise_amount,
}


def normalise_field(field: str, value: Any) -> Any:
    """``value`` normalised the way field ``field`` is compared."""
    return NORMALISERS.get(field, normalise_text)(value)


def values_match(field: str, predicted: Any, gold: Any) -> bool:
    """True when ``predicted`` and ``gold`` agree for ``field`` after normalisation."""
    left, right = normalise_field(field, predicted), normalise_field(field, gold)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):  # True is not the amount 1.0
        return left is right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return math.isclose(left, right, rel_tol=0, abs_tol=AMOUNT_TOLERANCE)
    return left == right


def _as_record(item: Any, what: str, index: int) -> dict | None:
    if item is None:
        return None
    if hasattr(item, "model_dump"):
        return item.model_dump()
    if isinstance(item, dict):
        return item
    raise TypeError(f"{what} {index} must be a dict, a pydantic model or None, "
                    f"got {type(item).__name__}")


def _checked(predictions: Sequence, golds: Sequence, fields: Sequence[str] | None
             ) -> tuple[list[dict | None], list[dict], list[str]]:
    predictions, golds = list(predictions), list(golds)
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold records: they must "
                         "pair up one to one (same tickets, same order)")
    if not golds:
        raise ValueError("no records to score: predictions and golds are empty")
    preds = [_as_record(p, "prediction", i) for i, p in enumerate(predictions)]
    gold_records = []
    for i, g in enumerate(golds):
        record = _as_record(g, "gold record", i)
        if record is None:
            raise ValueError(f"gold record {i} is None; every gold record must be a dict")
        gold_records.append(record)
    names = list(fields) if fields is not None else list(gold_records[0])
    if not names:
        raise ValueError("no fields to score: pass fields=[...] or gold records with keys")
    for i, record in enumerate(gold_records):
        missing = [f for f in names if f not in record]
        if missing:
            raise KeyError(f"gold record {i} has no field(s) {missing}; every field scored must be "
                           f"in every gold record (it has {sorted(record)})")
    return preds, gold_records, names


def _correct(pred: dict | None, gold: dict, name: str) -> bool:
    return pred is not None and values_match(name, pred.get(name), gold[name])


def field_accuracy(predictions: Sequence, golds: Sequence,
                   fields: Sequence[str] | None = None) -> dict[str, float]:
    """Fraction of records whose ``field`` matches the gold, for each field.

    Args:
        predictions: extracted records (dicts or pydantic models), None where extraction failed.
        golds: the gold records, same length and order.
        fields: which fields to score (default: the keys of the first gold record).
    Returns:
        ``{field: accuracy in [0, 1]}`` in the order of ``fields``.
    """
    preds, gold_records, names = _checked(predictions, golds, fields)
    n = len(gold_records)
    return {name: sum(_correct(p, g, name) for p, g in zip(preds, gold_records, strict=True)) / n
            for name in names}


def field_report(predictions: Sequence, golds: Sequence,
                 fields: Sequence[str] | None = None) -> pd.DataFrame:
    """Per field: accuracy, how many golds are set (non-null), and accuracy on each kind.

    The split matters: a field that is null in most gold records scores well for an extractor
    that always answers null. Look at ``acc_when_set`` too.
    """
    preds, gold_records, names = _checked(predictions, golds, fields)
    rows = []
    for name in names:
        hits = [_correct(p, g, name) for p, g in zip(preds, gold_records, strict=True)]
        is_set = [g[name] is not None for g in gold_records]
        set_hits = [h for h, s in zip(hits, is_set, strict=True) if s]
        null_hits = [h for h, s in zip(hits, is_set, strict=True) if not s]
        rows.append({"field": name, "accuracy": sum(hits) / len(hits), "n": len(hits),
                     "gold_set": len(set_hits),
                     "acc_when_set": sum(set_hits) / len(set_hits) if set_hits else float("nan"),
                     "acc_when_null": sum(null_hits) / len(null_hits) if null_hits else float("nan")})
    return pd.DataFrame(rows).set_index("field")


def mismatches(predictions: Sequence, golds: Sequence, ids: Sequence[str] | None = None,
               fields: Sequence[str] | None = None) -> pd.DataFrame:
    """Every wrong field, one row each (id, field, predicted, gold), for error analysis."""
    preds, gold_records, names = _checked(predictions, golds, fields)
    ids = list(ids) if ids is not None else list(range(len(gold_records)))
    if len(ids) != len(gold_records):
        raise ValueError(f"{len(ids)} ids for {len(gold_records)} records")
    rows = [{"id": i, "field": name,
             "predicted": "(extraction failed)" if p is None else p.get(name), "gold": g[name]}
            for i, p, g in zip(ids, preds, gold_records, strict=True) for name in names if not _correct(p, g, name)]
    return pd.DataFrame(rows, columns=["id", "field", "predicted", "gold"])
