"""inferlearn.evals.generation: correctness vs the reference, citations vs anchors, quotes, claims."""

from __future__ import annotations

import pytest

from inferlearn.evals.generation import (
    answer_correctness,
    citation_precision_recall,
    extract_values,
    faithfulness,
    generation_metrics,
    quote_support,
    section_of,
    split_claims,
)

REF = "7 days from the charge date (refund policy v2025.1, in force since 2025-02-01). The older window no longer applies."
CTX = ["You can ask for a refund of a monthly fee within **7 days** of the charge date on the invoice."]


def test_values_are_normalised():
    assert extract_values("$1,490.00 on 1 February 2025") == {"1490", "2025-02-01"}
    assert extract_values("v2025.1 and [doc#a:0]") == set()


def test_correctness_rewards_the_key_fact_and_punishes_a_changed_number():
    right = answer_correctness("You have 7 days from the charge date [p#a:0].", REF)
    wrong = answer_correctness("You have 14 days from the charge date [p#a:0].", REF)
    assert right > 0.6 > wrong
    assert answer_correctness(REF, REF) == 1.0


def test_citation_precision_recall():
    assert citation_precision_recall(["a#b:0", "x#y:1"], ["a#b"]) == (0.5, 1.0)
    assert citation_precision_recall(["a#b/c:2"], ["a#b", "d#e"]) == (1.0, 0.5)  # nested section counts
    assert citation_precision_recall([], []) == (1.0, 1.0)  # an honest "I don't know"
    assert citation_precision_recall([], ["a#b"]) == (0.0, 0.0)
    assert citation_precision_recall(["a#b:0"], []) == (0.0, 1.0)
    assert citation_precision_recall(["a#b:0", "a#b:1"], ["a#b"]) == (1.0, 1.0)  # two chunks, one section
    assert section_of("doc#s/t:12") == "doc#s/t" and section_of("doc#s") == "doc#s"


def test_quote_support_ignores_markdown_and_case():
    assert quote_support('It says "within 7 days of the charge date".', CTX) == 1.0
    assert quote_support('It says "within 30 days of the charge date".', CTX) == 0.0
    assert quote_support("No quotes here.", CTX) is None


def test_faithfulness_by_claims():
    assert split_claims("You have 7 days [a#b:0]. It is free; no fee applies.") == [
        "You have 7 days.", "It is free", "no fee applies."]
    assert faithfulness("You can ask for a refund within 7 days of the charge date.", CTX) == 1.0
    assert faithfulness("You can ask for a refund within 30 days of the charge date.", CTX) == 0.0
    assert faithfulness("", CTX) is None


def test_generation_metrics_rows_and_bad_input():
    df = generation_metrics([{"id": "x", "answer": "You have 7 days from the charge date [p#a:0].",
                              "contexts": CTX, "reference": REF, "anchors": ["p#a"]}])
    assert list(df.columns) == ["id", "correctness", "citation_precision", "citation_recall",
                                "quote_support", "faithfulness"]
    assert df.loc[0, "citation_precision"] == 1.0 and df.loc[0, "citation_recall"] == 1.0
    with pytest.raises(ValueError, match="lacks anchors"):
        generation_metrics([{"id": "x", "answer": "a", "contexts": [], "reference": "r"}])
