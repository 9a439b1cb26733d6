"""inferlearn.evals.agreement: kappa, confusion, F1 at finding faults, biases."""

from __future__ import annotations

import math

import pytest

from inferlearn.evals.agreement import (
    agreement_report,
    cohens_kappa,
    confusion,
    fault_f1,
    order_flip_rate,
    verbosity_bias,
)


def test_kappa_known_values():
    assert cohens_kappa([1, 1, 0, 0], [1, 1, 0, 0]) == 1.0
    assert cohens_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == -1.0
    # 20 items, observed 0.7, chance 0.5 -> 0.4
    a = [1] * 10 + [0] * 10
    b = [1] * 7 + [0] * 3 + [0] * 7 + [1] * 3
    assert cohens_kappa(a, b) == pytest.approx(0.4)
    assert cohens_kappa([True, True], [True, True]) == 1.0  # one label throughout: sklearn gives NaN


def test_abstentions_are_dropped_and_lengths_checked():
    assert cohens_kappa([True, False, True], [True, False, None]) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        cohens_kappa([1, 0], [1])
    with pytest.raises(ValueError, match="no item has both"):
        cohens_kappa([None], [True])
    report = agreement_report([True, False, True, False], [True, False, None, False])
    assert report["coverage"] == 0.75 and report["n"] == 3


def test_confusion_and_f1():
    table = confusion([True, True, False, False], [True, False, False, False])
    assert table.loc["label True", "judge False"] == 1 and table.loc["label False", "judge False"] == 2
    assert fault_f1([True, True, False], [True, None, False]) == pytest.approx(2 / 3, abs=1e-4)


def test_order_flips_and_verbosity():
    rate = order_flip_rate([True, False, False, False, None])
    assert rate["rate"] == 0.25 and rate["n"] == 4 and rate["low"] <= 0.25 <= rate["high"]
    assert math.isnan(order_flip_rate([None])["rate"])
    biased = verbosity_bias([10, 20, 30, 40, 50, 60], [False, False, False, True, True, True])
    assert biased["spearman"] > 0.8
    only_no = verbosity_bias([10, 20, 30, 40], [False, True, True, True], labels=[False, False, True, True])
    assert only_no["n"] == 2
