"""Regression detection between two runs scored on the same items.

    report = detect_regression(baseline.scores, candidate.scores)   # {metric: {item_id: score}}
    report.regressed                # True when any metric dropped by more than its tolerance
    print(format_report(report))    # what regressed, by how much, with p-values

Each metric is tested one-sided ("did the candidate get worse?") on the items both runs scored:
per-item pass/fail metrics (every score 0 or 1) with the exact McNemar test (a binomial test
on the items that changed), continuous ones with a paired bootstrap (the per-item differences,
re-centred on zero, resampled). The p-values are Holm-corrected across the metrics tested, and a
metric counts as regressed only when its drop is both larger than its tolerance and significant
at ``alpha`` after correction: a drop you would not act on, or one that noise explains, does not
fail the build.
Introduced in ``phase3_eval/05_regressions_in_ci``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from inferlearn.evals.metrics import paired_comparison

# How far a metric may fall before anyone should care (absolute points on a 0-1 scale).
DEFAULT_TOLERANCE = 0.02
TOLERANCES: dict[str, float] = {"recall@5": 0.02, "hit@5": 0.02, "mrr@10": 0.02, "ndcg@10": 0.02}
COLUMNS = ["metric", "test", "n", "baseline", "candidate", "diff", "low", "high", "p_value", "p_holm",
           "tolerance", "regressed"]


@dataclass
class RegressionReport:
    """The comparison: one ``table`` row per metric (see ``COLUMNS``) and the overall verdict."""

    table: pd.DataFrame
    alpha: float

    @property
    def regressed(self) -> bool:
        """True when at least one metric regressed."""
        return bool(self.table["regressed"].any()) if len(self.table) else False

    @property
    def regressions(self) -> pd.DataFrame:
        """Only the rows that regressed."""
        return self.table[self.table["regressed"]]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (each in [0, 1])."""
    p = np.asarray(p_values, dtype=float)
    if np.any((p < 0) | (p > 1) | np.isnan(p)):
        raise ValueError(f"p-values must be in [0, 1], got {list(p_values)}")
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def mcnemar_exact(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[int, int, float]:
    """Exact one-sided McNemar test that the candidate fails more items than the baseline.

    Returns ``(lost, gained, p)``: items passing in the baseline only, items passing in the
    candidate only, and P(at least ``lost`` of the changed items lost, if a change is a coin flip).
    """
    base, cand = np.asarray(baseline, dtype=bool), np.asarray(candidate, dtype=bool)
    if base.shape != cand.shape:
        raise ValueError(f"baseline ({base.size}) and candidate ({cand.size}) must score the same items")
    lost, gained = int(np.sum(base & ~cand)), int(np.sum(~base & cand))
    if lost + gained == 0:
        return lost, gained, 1.0
    return lost, gained, float(binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue)


def paired_bootstrap(baseline: Sequence[float], candidate: Sequence[float], n_resamples: int = 2000,
                     seed: int = 0) -> float:
    """One-sided paired bootstrap p-value that the candidate's mean is lower than the baseline's:
    the share of resampled mean differences (re-centred on zero) at or below the observed one."""
    diffs = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    if diffs.size == 0:
        raise ValueError("no items to compare: the runs share no scored items")
    observed = diffs.mean()
    centred = diffs - observed
    rng = np.random.default_rng(seed)
    means = centred[rng.integers(0, diffs.size, (n_resamples, diffs.size))].mean(axis=1)
    return float((np.sum(means <= observed + 1e-12) + 1) / (n_resamples + 1))


def _is_pass_fail(*arrays: np.ndarray) -> bool:
    return all(np.isin(a, (0.0, 1.0)).all() for a in arrays)


def _compare_metric(name: str, base: Mapping[str, float], cand: Mapping[str, float],
                    n_resamples: int, seed: int) -> dict:
    items = sorted(set(base) & set(cand))
    if not items:
        raise ValueError(f"metric {name!r}: the two runs share no scored items")
    b = np.array([base[i] for i in items], dtype=float)
    c = np.array([cand[i] for i in items], dtype=float)
    interval = paired_comparison(dict(zip(items, b, strict=True)), dict(zip(items, c, strict=True)),
                                 n_resamples=n_resamples, seed=seed)
    if _is_pass_fail(b, c):
        test, p = "mcnemar", mcnemar_exact(b, c)[2]
    else:
        test, p = "bootstrap", paired_bootstrap(b, c, n_resamples, seed)
    return {"metric": name, "test": test, "n": len(items), "baseline": float(b.mean()),
            "candidate": float(c.mean()), "diff": float(c.mean() - b.mean()), "low": interval.low,
            "high": interval.high, "p_value": p}


def detect_regression(baseline: Mapping[str, Mapping[str, float]], candidate: Mapping[str, Mapping[str, float]],
                      tolerances: Mapping[str, float] | None = None, alpha: float = 0.05,
                      n_resamples: int = 2000, seed: int = 0,
                      metrics: Sequence[str] | None = None) -> RegressionReport:
    """Compare per-item scores (``{metric: {item_id: score}}``, higher is better) of two runs.

    ``tolerances``: allowed drop per metric (``TOLERANCES``, else ``DEFAULT_TOLERANCE``);
    ``metrics``: which to test (default: every metric both runs have). See the module docstring.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha ({alpha}) must be between 0 and 1, e.g. 0.05")
    tolerances = {**TOLERANCES, **(tolerances or {})}
    names = list(metrics) if metrics is not None else [m for m in baseline if m in candidate]
    missing = [m for m in names if m not in baseline or m not in candidate]
    if missing:
        raise ValueError(f"metric {missing[0]!r} is not scored in both runs; both have: "
                         f"{', '.join(sorted(set(baseline) & set(candidate))) or 'nothing'}")
    rows = [_compare_metric(m, baseline[m], candidate[m], n_resamples, seed) for m in names]
    table = pd.DataFrame(rows, columns=COLUMNS[:-3])
    table["p_holm"] = holm(table["p_value"].tolist()) if rows else []
    table["tolerance"] = [tolerances.get(m, DEFAULT_TOLERANCE) for m in table["metric"]]
    table["regressed"] = (-table["diff"] > table["tolerance"]) & (table["p_holm"] < alpha)
    return RegressionReport(table, alpha)


def format_report(report: RegressionReport) -> str:
    """The comparison as an aligned text table, then one line per regression (or "no regression")."""
    if not len(report.table):
        return "(no metrics compared)"
    shown = report.table.copy()
    for column in ("baseline", "candidate", "low", "high", "tolerance"):
        shown[column] = shown[column].map("{:.4f}".format)
    shown["diff"] = shown["diff"].map("{:+.4f}".format)
    for column in ("p_value", "p_holm"):
        shown[column] = shown[column].map(lambda v: f"{v:.4g}")
    shown["regressed"] = shown["regressed"].map({True: "REGRESSED", False: "ok"})
    lines = [shown.to_string(index=False)]
    for row in report.regressions.itertuples():
        lines.append(f"regression: {row.metric} fell {-row.diff:.4f} ({row.baseline:.4f} -> "
                     f"{row.candidate:.4f}; 95% interval of the change {row.low:+.4f} to {row.high:+.4f}), "
                     f"more than its tolerance {row.tolerance:.4f}; {row.test} p = {row.p_value:.3g}, "
                     f"Holm-adjusted {row.p_holm:.3g} < {report.alpha}")
    if not report.regressed:
        lines.append(f"no regression (alpha {report.alpha}, Holm-corrected over {len(report.table)} metrics)")
    return "\n".join(lines)
