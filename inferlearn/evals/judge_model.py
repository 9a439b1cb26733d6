"""The calibrated offline judge: one logistic regression per label over the judge features
(deterministic checks, optionally MiniLM similarities), fitted on the **dev** split of
``data/labels`` only, its regularisation and decision threshold chosen by cross-validation on dev.

    combiner = dev_combiner(uses_embeddings=True)          # fitted once per process
    verdicts = combiner.verdicts(feature_table(items, embedder=None))
    combiner.dev_kappa                                     # cross-validated kappa on dev

The test split is never read here: ``benchmarks/bench_judge.py`` measures the result on test.
Introduced in ``phase3_eval/04_llm_as_judge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

LABELS = ("faithful", "relevant", "correct")
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
THRESHOLD_GRID = tuple(round(x, 2) for x in np.arange(0.3, 0.71, 0.05))
EMBEDDING_COLUMNS = ("embed_support", "embed_support_mean", "embed_relevance", "embed_reference")
# columns only one label's model sees (chosen by repeated cross-validation on dev; README, "Phase 3 judges")
LABEL_ONLY_COLUMNS = {"relevant": ("yes_no_unanswered", "yes_no_unasked")}


def _mean(values: Any, default: float = 1.0) -> float:
    values = list(values)
    return float(np.mean([float(v) for v in values])) if values else default


def _min(values: Any, default: float = 1.0) -> float:
    values = list(values)
    return float(min(values)) if values else default


def label_columns(columns: Any, label: str) -> list[str]:
    """The feature columns the model of ``label`` uses: all but other labels' own columns."""
    other = {c for name, cols in LABEL_ONLY_COLUMNS.items() if name != label for c in cols}
    return [c for c in columns if c not in other]


def scalar_features(table: pd.DataFrame, uses_embeddings: bool = False) -> pd.DataFrame:
    """One numeric column per feature, from ``judge_features.feature_table`` (list columns
    reduced to their weakest claim or their share of claims that pass)."""
    f = pd.DataFrame(index=table.index)
    f["invalid_cites"] = (table["invalid_cites"] > 0).astype(float)
    f["no_cites"] = (table["n_cites"] == 0).astype(float)
    f["min_support_cited"] = table["min_support_cited"].astype(float)
    f["mean_support_cited"] = [_mean(v) for v in table["claim_support"]]
    f["min_sentence_support"] = [_min(v) for v in table["claim_sentence_support"]]
    f["numbers_ok"] = [_mean(v) for v in table["claim_numbers_ok"]]
    f["numbers_ok_all"] = [_mean(v) for v in table["claim_numbers_ok_all"]]
    f["terms_ok"] = [_mean(v) for v in table["claim_terms_ok"]]
    f["min_support_all"] = table["min_support_all"].astype(float)
    for name in ("correctness", "question_overlap", "novel_words", "novel_values", "novel_terms"):
        f[name] = table[name].astype(float)
    f["log_novel_words"] = np.log1p(table["novel_word_count"].astype(float))
    f["log_missing_key_words"] = np.log1p(table["missing_key_words"].astype(float))
    f["abstains"] = table["abstains"].astype(float)
    f["reference_not_covered"] = table["reference_not_covered"].astype(float)
    f["abstains_when_covered"] = f["abstains"] * (1 - f["reference_not_covered"])
    f["log_claims"] = np.log1p(table["n_claims"].astype(float))
    f["log_chars"] = np.log1p(table["answer_chars"].astype(float))
    if "yes_no_question" in table:
        question, answer = table["yes_no_question"].astype(bool), table["yes_no_answer"].astype(bool)
        f["yes_no_unanswered"] = (question & ~answer).astype(float)  # a yes/no question, no yes or no
        f["yes_no_unasked"] = (answer & ~question).astype(float)  # a yes or no nobody asked for
    if uses_embeddings:
        f["embed_support"] = table["embed_support"].astype(float)
        f["embed_support_mean"] = [_mean(v) for v in table["claim_embed"]]
        f["embed_relevance"] = table["embed_relevance"].astype(float)
        f["embed_reference"] = table["embed_reference"].astype(float)
    return f


@dataclass
class Combiner:
    """Fitted logistic models, one per label, with the decision threshold chosen on dev."""

    uses_embeddings: bool
    models: dict[str, Pipeline] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    dev_kappa: dict[str, float] = field(default_factory=dict)
    settings: dict[str, dict[str, float]] = field(default_factory=dict)

    def probabilities(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        """P(label is yes) per item and label."""
        x = scalar_features(table, self.uses_embeddings)
        return {label: model.predict_proba(x[label_columns(x.columns, label)].to_numpy())[:, 1]
                for label, model in self.models.items()}

    def verdicts(self, table: pd.DataFrame) -> dict[str, list[bool]]:
        """Verdicts per label: probability at or above the label's dev-chosen threshold."""
        probs = self.probabilities(table)
        return {label: [bool(p >= self.thresholds[label]) for p in probs[label]] for label in self.models}


def _pipeline(c: float) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def _choose(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float, float]:
    """(C, threshold, cross-validated kappa) maximising kappa over 5 folds of these rows."""
    folds = StratifiedKFold(n_splits=max(2, min(5, int(min(y.sum(), (~y).sum())))), shuffle=True,
                            random_state=seed)
    best = (C_GRID[0], 0.5, -2.0)
    for c in C_GRID:
        probs = cross_val_predict(_pipeline(c), x, y, cv=folds, method="predict_proba")[:, 1]
        for t in THRESHOLD_GRID:
            kappa = float(cohen_kappa_score(y, probs >= t))
            if kappa > best[2] + 1e-9:
                best = (c, t, kappa)
    return best


def fit_combiner(table: pd.DataFrame, labels: dict[str, list[bool]], uses_embeddings: bool,
                 seed: int = 0) -> Combiner:
    """Fit one logistic model per label on ``table`` (dev rows) and ``labels``."""
    features = scalar_features(table, uses_embeddings)
    combiner = Combiner(uses_embeddings)
    for label in LABELS:
        x = features[label_columns(features.columns, label)].to_numpy()
        y = np.array(labels[label], dtype=bool)
        if min(y.sum(), (~y).sum()) < 2:
            raise ValueError(f"label {label!r} has fewer than two rows of one of its values; a judge "
                             "needs at least two rows labelled yes and two labelled no to learn from")
        c, threshold, kappa = _choose(x, y, seed)
        combiner.models[label] = _pipeline(c).fit(x, y)
        combiner.thresholds[label] = float(threshold)
        combiner.dev_kappa[label] = round(kappa, 4)
        combiner.settings[label] = {"C": float(c), "threshold": float(threshold)}
    return combiner


_FITTED: dict[tuple[bool, str], Combiner] = {}


def dev_combiner(uses_embeddings: bool, embedder: Any = None) -> Combiner:
    """The combiner fitted on the dev split of ``data/labels`` (once per process and embedder)."""
    from inferlearn.evals.judge_features import feature_table
    from inferlearn.evals.labelset import judge_items, load_labels

    key = (uses_embeddings, str(getattr(embedder, "model", embedder)))
    if key not in _FITTED:
        rows = load_labels("dev")
        table = feature_table(judge_items(rows), embedder=embedder if uses_embeddings else False)
        _FITTED[key] = fit_combiner(table, {k: [r[k] for r in rows] for k in LABELS}, uses_embeddings)
    return _FITTED[key]


LLM_BAND = (0.3, 0.7)  # fixed before any LLM verdict was seen; never tuned on test


def with_llm(probs: Any, verdicts: list[bool], p_yes: list[float | None], llm_verdicts: list[bool | None],
             band: tuple[float, float] = LLM_BAND) -> list[bool]:
    """Faithfulness verdicts where the LLM decides the items the combiner is unsure of (its
    probability inside ``band``): by P(yes) >= 0.5 when the backend gave logprobs, else by the
    LLM's verdict; an LLM that abstained leaves the combiner's verdict."""
    out = list(verdicts)
    for i, (p, p_llm, verdict) in enumerate(zip(probs, p_yes, llm_verdicts, strict=True)):
        if band[0] <= p < band[1]:
            if p_llm is not None and not pd.isna(p_llm):
                out[i] = bool(p_llm >= 0.5)
            elif verdict is not None:
                out[i] = bool(verdict)
    return out
