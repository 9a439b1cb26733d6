"""Abstention as a classifier: how well does "best retrieval score below a threshold" pick out the
questions the documents cannot answer?

The positive class is *unanswerable*, the positive decision is *abstain* ("I don't know"):

* precision: of the questions we abstained on, the share that really were unanswerable;
* recall: of the unanswerable questions, the share we abstained on;
* coverage: of the answerable questions, the share we still answered (1 - false abstentions).

::

    table = sweep_abstention(top_answerable, top_unanswerable)   # one row per threshold
    best = best_threshold(table, min_coverage=0.9)

Scores are one number per question (the best retrieval score), higher meaning "more likely
answered by the documents"; ``None`` or NaN means nothing was retrieved (always abstain).
Introduced in ``phase2_rag/04_grounded_generation``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ("threshold", "precision", "recall", "f1", "coverage", "abstained")


def _scores(values: Iterable[Any], name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of numbers, not a string")
    out = []
    for value in values:
        if value is None:
            out.append(-math.inf)
        elif isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise TypeError(f"{name} holds {value!r}; give one number (or None) per question")
        else:
            out.append(-math.inf if math.isnan(float(value)) else float(value))
    return np.asarray(out, dtype=float)


def abstention_metrics(answerable: Iterable[Any], unanswerable: Iterable[Any], threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and coverage of abstaining when the score is below ``threshold``.

    Precision is NaN when nothing was abstained on (undefined, not perfect); recall is NaN when
    there are no unanswerable questions, coverage when there are no answerable ones.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or math.isnan(threshold):
        raise ValueError(f"threshold ({threshold!r}) must be a number")
    good, bad = _scores(answerable, "answerable"), _scores(unanswerable, "unanswerable")
    true_pos = int((bad < threshold).sum())
    false_pos = int((good < threshold).sum())
    abstained = true_pos + false_pos
    precision = true_pos / abstained if abstained else math.nan
    recall = true_pos / len(bad) if len(bad) else math.nan
    f1 = (2 * precision * recall / (precision + recall)
          if abstained and len(bad) and precision + recall > 0 else 0.0)
    coverage = 1 - false_pos / len(good) if len(good) else math.nan
    return {"threshold": float(threshold), "precision": precision, "recall": recall, "f1": f1,
            "coverage": coverage, "abstained": abstained}


def sweep_abstention(answerable: Sequence[Any], unanswerable: Sequence[Any],
                     thresholds: Iterable[float] | None = None) -> pd.DataFrame:
    """``abstention_metrics`` at each threshold, one row each (columns ``COLUMNS``).

    Default thresholds: every distinct finite score, plus one just above the highest (so the
    table runs from "never abstain" to "always abstain").
    """
    if thresholds is None:
        finite = sorted({float(s) for s in (*_scores(answerable, "answerable"),
                                             *_scores(unanswerable, "unanswerable")) if math.isfinite(s)})
        thresholds = finite + [np.nextafter(finite[-1], math.inf)] if finite else [0.0]
    rows = [abstention_metrics(answerable, unanswerable, t) for t in thresholds]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def best_threshold(table: pd.DataFrame, metric: str = "f1", min_coverage: float = 0.0) -> dict[str, float]:
    """The row of a sweep with the highest ``metric`` among thresholds that still answer at
    least ``min_coverage`` of the answerable questions (ties: the lowest threshold)."""
    if metric not in table.columns:
        raise ValueError(f"metric {metric!r} is not a column of the sweep; use one of {', '.join(table.columns)}")
    if not 0 <= min_coverage <= 1:
        raise ValueError(f"min_coverage ({min_coverage}) must be between 0 and 1")
    allowed = table[table["coverage"].fillna(0) >= min_coverage].dropna(subset=[metric])
    if allowed.empty:
        raise ValueError(f"no threshold keeps coverage >= {min_coverage}; lower min_coverage")
    best = allowed.sort_values([metric, "threshold"], ascending=[False, True]).iloc[0]
    return {column: float(best[column]) for column in table.columns}
