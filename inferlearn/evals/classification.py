"""Scoring a classifier and choosing between candidates.

Introduced in ``phase1_llm_api/03_prompt_engineering`` (``accuracy_and_confusion``,
``per_class_report``); ``pareto_frontier`` and ``choose_model`` say where they come in.

A *candidate* (for the last two) is a mapping with at least ``name``, ``accuracy`` (0-1) and
``cost_per_1k`` (USD per 1,000 requests); ``p50_ms`` / ``p95_ms`` are used when present.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def _check_pair(y_true: Sequence, y_pred: Sequence) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; "
                         "they must be aligned one prediction per item")
    if len(y_true) == 0:
        raise ValueError("cannot score zero items: y_true and y_pred are empty")


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Share of items whose prediction equals the true label."""
    _check_pair(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def accuracy_and_confusion(y_true: Sequence, y_pred: Sequence,
                           labels: Sequence) -> tuple[float, list[list[int]]]:
    """Accuracy, and the confusion matrix: ``matrix[i][j]`` counts items whose true label is
    ``labels[i]`` and predicted label ``labels[j]`` (rows true, columns predicted).

    A prediction outside ``labels`` is wrong for accuracy and appears in no column; an item whose
    true label is outside ``labels`` appears in no row.
    """
    _check_pair(y_true, y_pred)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    return accuracy(y_true, y_pred), matrix


def confusion_frame(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> pd.DataFrame:
    """The confusion matrix as a DataFrame (index: true label, columns: predicted label)."""
    _, matrix = accuracy_and_confusion(y_true, y_pred, labels)
    frame = pd.DataFrame(matrix, index=list(labels), columns=list(labels))
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame


def per_class_report(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> pd.DataFrame:
    """Precision, recall, F1 and support per label (0.0 where a ratio has nothing to divide)."""
    _check_pair(y_true, y_pred)
    rows = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(y_true, y_pred, strict=True))
        predicted = sum(p == label for p in y_pred)
        support = sum(t == label for t in y_true)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"label": label, "precision": precision, "recall": recall, "f1": f1,
                     "support": support})
    return pd.DataFrame(rows).set_index("label")


def plot_confusion(frame: pd.DataFrame, title: str, ax: Any = None) -> Any:
    """Draw a confusion matrix DataFrame (from ``confusion_frame``) with counts in the cells."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    values = frame.to_numpy()
    image = ax.imshow(values, cmap="Blues")
    ax.set_xticks(range(len(frame.columns)), frame.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(frame.index)), frame.index)
    ax.set_xlabel("predicted team")
    ax.set_ylabel("true team")
    ax.set_title(title)
    top = values.max() if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, int(values[i, j]), ha="center", va="center",
                    color="white" if top and values[i, j] > top / 2 else "black")
    ax.figure.colorbar(image, ax=ax, label="tickets")
    return ax


def _dominates(a: Mapping, b: Mapping) -> bool:
    """``a`` is at least as cheap and as accurate as ``b``, and strictly better in one."""
    no_worse = a["cost_per_1k"] <= b["cost_per_1k"] and a["accuracy"] >= b["accuracy"]
    better = a["cost_per_1k"] < b["cost_per_1k"] or a["accuracy"] > b["accuracy"]
    return no_worse and better


def pareto_frontier(results: Sequence[Mapping]) -> list[Mapping]:
    """Candidates no other candidate dominates (cheaper-or-equal *and* as-or-more accurate,
    strictly better in one), sorted by cost, then by accuracy descending, then name.

    Two candidates with identical cost and accuracy are both kept: neither dominates.
    Introduced in ``phase1_llm_api/04_model_selection_and_costs``.
    """
    frontier = [r for r in results if not any(_dominates(o, r) for o in results if o is not r)]
    return sorted(frontier, key=lambda r: (r["cost_per_1k"], -r["accuracy"], str(r["name"])))


def choose_model(results: Sequence[Mapping], max_cost: float, min_accuracy: float,
                 max_p95_ms: float | None = None) -> Mapping | None:
    """The most accurate candidate with ``cost_per_1k <= max_cost`` and
    ``accuracy >= min_accuracy`` (and ``p95_ms <= max_p95_ms`` if given); ties go to the
    cheaper, then the faster p95, then the name. None when no candidate meets the constraints.
    Introduced in ``phase1_llm_api/04_model_selection_and_costs``.
    """
    fits = [r for r in results
            if r["cost_per_1k"] <= max_cost and r["accuracy"] >= min_accuracy
            and (max_p95_ms is None or r.get("p95_ms", float("inf")) <= max_p95_ms)]
    if not fits:
        return None
    return min(fits, key=lambda r: (-r["accuracy"], r["cost_per_1k"],
                                    r.get("p95_ms", float("inf")), str(r["name"])))
