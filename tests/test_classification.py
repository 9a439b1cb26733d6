"""Classifier scoring and candidate choice: accuracy, confusion, per-class, Pareto, constraints."""

from __future__ import annotations

import matplotlib
import pytest

from inferlearn.evals.classification import (
    accuracy,
    accuracy_and_confusion,
    choose_model,
    confusion_frame,
    pareto_frontier,
    per_class_report,
    plot_confusion,
)

matplotlib.use("Agg")
LABELS = ["billing", "technical", "legal"]


def test_confusion_rows_are_true_labels_and_columns_predictions():
    acc, matrix = accuracy_and_confusion(["billing", "billing", "technical"],
                                         ["billing", "technical", "technical"], LABELS)
    assert acc == pytest.approx(2 / 3)
    assert matrix == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_predictions_outside_the_labels_are_wrong_and_in_no_column():
    acc, matrix = accuracy_and_confusion(["billing", "legal"], ["billing", "unknown"], LABELS)
    assert acc == 0.5
    assert sum(map(sum, matrix)) == 1


def test_label_order_is_the_callers():
    _, matrix = accuracy_and_confusion(["legal"], ["billing"], ["legal", "billing"])
    assert matrix == [[0, 1], [0, 0]]


@pytest.mark.parametrize("y_true, y_pred, message", [([], [], "zero items"),
                                                     (["a"], ["a", "b"], "1 labels but")])
def test_empty_or_misaligned_inputs_are_rejected(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        accuracy_and_confusion(y_true, y_pred, LABELS)
    with pytest.raises(ValueError, match=message):
        accuracy(y_true, y_pred)


def test_per_class_report_handles_labels_never_predicted_or_absent():
    report = per_class_report(["billing", "billing", "technical"],
                              ["billing", "technical", "technical"], LABELS)
    assert report.loc["billing", "precision"] == 1.0 and report.loc["billing", "recall"] == 0.5
    assert report.loc["technical", "precision"] == 0.5 and report.loc["technical", "recall"] == 1.0
    assert report.loc["legal"].tolist() == [0.0, 0.0, 0.0, 0]
    assert report.loc["billing", "f1"] == pytest.approx(2 / 3)


def test_confusion_frame_and_plot():
    frame = confusion_frame(["billing", "legal"], ["billing", "billing"], LABELS)
    assert frame.loc["legal", "billing"] == 1 and frame.index.name == "true"
    ax = plot_confusion(frame, "test")
    assert ax.get_title() == "test" and ax.get_xlabel() == "predicted team"


def cand(name, accuracy, cost, p95=100.0):
    return {"name": name, "accuracy": accuracy, "cost_per_1k": cost, "p95_ms": p95}


def names(results):
    return [r["name"] for r in results]


def test_frontier_drops_dominated_candidates_and_sorts_by_cost():
    results = [cand("big", 0.9, 5.0), cand("small", 0.6, 0.1), cand("worse", 0.5, 1.0),
               cand("free", 0.3, 0.0)]
    assert names(pareto_frontier(results)) == ["free", "small", "big"]


def test_frontier_drops_the_less_accurate_of_two_at_the_same_cost():
    results = [cand("a", 0.7, 1.0), cand("b", 0.8, 1.0)]
    assert names(pareto_frontier(results)) == ["b"]


def test_frontier_drops_the_dearer_of_two_with_the_same_accuracy():
    results = [cand("a", 0.8, 2.0), cand("b", 0.8, 1.0)]
    assert names(pareto_frontier(results)) == ["b"]


def test_frontier_keeps_identical_candidates_and_handles_empty():
    results = [cand("y", 0.8, 1.0), cand("x", 0.8, 1.0)]
    assert names(pareto_frontier(results)) == ["x", "y"]
    assert pareto_frontier([]) == []


def test_choose_takes_the_most_accurate_that_fits_both_limits():
    results = [cand("cheap", 0.6, 0.1), cand("good", 0.85, 2.0), cand("best", 0.95, 9.0)]
    assert choose_model(results, max_cost=3.0, min_accuracy=0.5)["name"] == "good"


def test_choose_limits_are_inclusive():
    assert choose_model([cand("edge", 0.8, 2.0)], max_cost=2.0, min_accuracy=0.8)["name"] == "edge"


def test_choose_breaks_accuracy_ties_by_cost_then_latency_then_name():
    results = [cand("dear", 0.8, 2.0), cand("cheap-slow", 0.8, 1.0, 900),
               cand("cheap-fast", 0.8, 1.0, 90), cand("cheap-fast-b", 0.8, 1.0, 90)]
    assert choose_model(results, max_cost=5, min_accuracy=0.5)["name"] == "cheap-fast"


def test_choose_returns_none_when_nothing_fits():
    results = [cand("cheap", 0.6, 0.1), cand("best", 0.95, 9.0)]
    assert choose_model(results, max_cost=1.0, min_accuracy=0.9) is None
    assert choose_model([], max_cost=1.0, min_accuracy=0.0) is None


def test_choose_can_also_bound_p95_latency():
    results = [cand("slow", 0.9, 1.0, 3000), cand("fast", 0.8, 1.0, 200)]
    assert choose_model(results, 5, 0.5, max_p95_ms=1000)["name"] == "fast"
