"""How far to trust a judge: agreement with labels beyond chance (Cohen's kappa), the confusion
matrix, F1 at finding faults, and two biases, position (does the verdict flip when the answer
moves before the context?) and verbosity (do longer answers get "yes" more often?).
Introduced in ``phase3_eval/04_llm_as_judge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score

from inferlearn.evals.metrics import bootstrap_ci


def _pairs(a: Sequence[Any], b: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    if len(a) != len(b):
        raise ValueError(f"the two label lists differ in length ({len(a)} vs {len(b)}); pass one label per item")
    kept = [(x, y) for x, y in zip(a, b, strict=False) if x is not None and y is not None
            and not (isinstance(x, float) and np.isnan(x)) and not (isinstance(y, float) and np.isnan(y))]
    return [x for x, _ in kept], [y for _, y in kept]


def cohens_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa of two label lists (pairs where either is None, an abstention, are dropped).

    1 is perfect agreement, 0 what chance gives. When both raters use one and the same label for
    every item, agreement is perfect and kappa is 1.0 (scikit-learn returns NaN there).
    """
    x, y = _pairs(a, b)
    if not x:
        raise ValueError("no item has both labels; kappa needs at least one labelled pair")
    if len(set(x) | set(y)) == 1:
        return 1.0
    return float(cohen_kappa_score(x, y))


def kappa_interval(a: Sequence[Any], b: Sequence[Any], n_resamples: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> tuple[float, float, float]:
    """(kappa, low, high): a percentile bootstrap interval over items."""
    x, y = _pairs(a, b)
    rng = np.random.default_rng(seed)
    x_arr, y_arr = np.array(x), np.array(y)
    values = []
    for _ in range(n_resamples):
        idx = rng.integers(0, len(x_arr), len(x_arr))
        if len(set(x_arr[idx]) | set(y_arr[idx])) > 1:
            values.append(cohen_kappa_score(x_arr[idx], y_arr[idx]))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail]) if values else (np.nan, np.nan)
    return round(cohens_kappa(x, y), 4), round(float(low), 4), round(float(high), 4)


def confusion(labels: Sequence[Any], verdicts: Sequence[Any]) -> pd.DataFrame:
    """2x2 table, rows = label, columns = verdict (abstentions left out)."""
    x, y = _pairs(labels, verdicts)
    values = [True, False]
    table = confusion_matrix(x, y, labels=values)
    return pd.DataFrame(table, index=[f"label {v}" for v in values], columns=[f"judge {v}" for v in values])


def fault_f1(has_fault: Sequence[bool], flagged: Sequence[Any]) -> float:
    """F1 of the judge at finding faulty answers (positive class = has a fault). An abstention
    counts as "not flagged": the judge did not find the fault."""
    flagged = [bool(f) if f is not None else False for f in flagged]
    return round(float(f1_score(list(map(bool, has_fault)), flagged, zero_division=0)), 4)


def order_flip_rate(flips: Sequence[Any]) -> dict[str, float]:
    """Share of items whose verdict changed with the order of answer and context, with a 95%
    bootstrap interval (items without both verdicts are left out)."""
    values = [float(bool(f)) for f in flips if f is not None and not (isinstance(f, float) and np.isnan(f))]
    if not values:
        return {"rate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    ci = bootstrap_ci(values)
    return {"rate": round(float(np.mean(values)), 4), "low": round(ci.low, 4), "high": round(ci.high, 4),
            "n": len(values)}


def verbosity_bias(lengths: Sequence[float], verdicts: Sequence[Any], labels: Sequence[Any] | None = None
                   ) -> dict[str, float]:
    """Spearman correlation between answer length and a "yes" verdict; with ``labels`` given,
    among items labelled "no" only (a judge that says yes more to longer *wrong* answers is biased,
    one that says yes more to longer answers that are in fact right is not)."""
    rows = [(n, v) for i, (n, v) in enumerate(zip(lengths, verdicts, strict=False))
            if v is not None and (labels is None or labels[i] is False)]
    if len(rows) < 3 or len({v for _, v in rows}) < 2:
        return {"spearman": float("nan"), "p_value": float("nan"), "n": len(rows)}
    result = stats.spearmanr([n for n, _ in rows], [float(v) for _, v in rows])
    return {"spearman": round(float(result.statistic), 4), "p_value": round(float(result.pvalue), 4), "n": len(rows)}


def agreement_report(labels: Sequence[Any], verdicts: Sequence[Any]) -> dict[str, Any]:
    """Kappa (with interval), raw agreement, coverage (share not abstained) for one label."""
    x, y = _pairs(labels, verdicts)
    kappa, low, high = kappa_interval(labels, verdicts)
    return {"kappa": kappa, "kappa_low": low, "kappa_high": high,
            "agreement": round(float(np.mean([a == b for a, b in zip(x, y, strict=False)])), 4) if x else float("nan"),
            "coverage": round(len(x) / max(len(labels), 1), 4), "n": len(x)}
