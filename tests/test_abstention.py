"""Abstention precision/recall/coverage and the threshold sweep."""

from __future__ import annotations

import math

import pytest

from inferlearn.evals.abstention import abstention_metrics, best_threshold, sweep_abstention

ANSWERABLE = [0.9, 0.8, 0.7, 0.4]
UNANSWERABLE = [0.5, 0.3, None]


def test_abstaining_below_the_threshold_is_scored_against_unanswerable_questions():
    m = abstention_metrics(ANSWERABLE, UNANSWERABLE, 0.45)
    # abstains on 0.4 (answerable: wrong), 0.3 and None (unanswerable: right)
    assert m["abstained"] == 3
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["coverage"] == pytest.approx(3 / 4)


def test_a_score_equal_to_the_threshold_is_answered():
    assert abstention_metrics([0.5], [0.5], 0.5)["abstained"] == 0


def test_nothing_abstained_has_undefined_precision_not_perfect():
    m = abstention_metrics(ANSWERABLE, [0.95], 0.1)
    assert math.isnan(m["precision"]) and m["recall"] == 0.0 and m["f1"] == 0.0 and m["coverage"] == 1.0


def test_no_retrieval_and_nan_always_abstain():
    m = abstention_metrics([], [None, float("nan")], -1e9)
    assert m["recall"] == 1.0 and m["precision"] == 1.0 and math.isnan(m["coverage"])


@pytest.mark.parametrize("bad", [float("nan"), "0.5", None, True])
def test_a_bad_threshold_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="threshold"):
        abstention_metrics(ANSWERABLE, UNANSWERABLE, bad)


def test_scores_must_be_numbers():
    with pytest.raises(TypeError, match="unanswerable"):
        abstention_metrics(ANSWERABLE, ["high"], 0.5)
    with pytest.raises(TypeError):
        abstention_metrics("0.9", UNANSWERABLE, 0.5)


def test_sweep_runs_from_never_to_always_abstaining():
    table = sweep_abstention(ANSWERABLE, UNANSWERABLE)
    assert list(table.columns) == ["threshold", "precision", "recall", "f1", "coverage", "abstained"]
    assert table["threshold"].is_monotonic_increasing
    assert table.iloc[0]["abstained"] == 1  # only the None
    assert table.iloc[-1]["abstained"] == len(ANSWERABLE) + len(UNANSWERABLE)
    assert table.iloc[-1]["coverage"] == 0.0 and table.iloc[-1]["recall"] == 1.0


def test_sweep_with_given_thresholds_and_with_no_scores():
    assert list(sweep_abstention(ANSWERABLE, UNANSWERABLE, [0.1, 0.6])["abstained"]) == [1, 4]
    assert len(sweep_abstention([], [])) == 1


def test_best_threshold_respects_minimum_coverage():
    table = sweep_abstention(ANSWERABLE, UNANSWERABLE)
    free = best_threshold(table)
    assert free["f1"] == table["f1"].max()
    strict = best_threshold(table, min_coverage=1.0)
    assert strict["coverage"] == 1.0 and strict["threshold"] <= 0.4
    with pytest.raises(ValueError, match="metric"):
        best_threshold(table, metric="accuracy")
    with pytest.raises(ValueError, match="min_coverage"):
        best_threshold(table, min_coverage=2)
