"""inferlearn.evals.judge_features / judge_model: entity and reference features, the logistic
combiner fitted on dev, and where the LLM may overrule it."""

from __future__ import annotations

import pytest

from inferlearn.evals.judge_features import (
    feature_table,
    item_features,
    key_terms,
    reference_features,
)
from inferlearn.evals.judge_model import (
    LLM_BAND,
    dev_combiner,
    fit_combiner,
    scalar_features,
    with_llm,
)

CTX = "On the **Team** plan you can ask for a refund of a monthly fee within **7 days** of the charge date."
CID = "policy-refunds-2025#monthly-plans:0"
BASE = {"question": "How long do I have to ask for a refund on the Team plan?", "contexts": [CTX],
        "context_ids": [CID], "reference": "7 days from the charge date, on the Team plan."}


def _item(i: int, answer: str) -> dict:
    return {**BASE, "id": f"x{i}", "answer": answer}


GOOD = "On the Team plan, within 7 days of the charge date [policy-refunds-2025#monthly-plans:0]."
SWAPPED = "On the Business plan, within 7 days of the charge date [policy-refunds-2025#monthly-plans:0]."
CHANGED = "On the Team plan, within 15 days of the charge date [policy-refunds-2025#monthly-plans:0]."
EXTRA = GOOD + " Enterprise customers get twice the allowance."


def test_key_terms_name_plans_methods_units_and_code():
    assert key_terms("Use POST on the Team plan; set max_poll_records to 500 MB.") == {
        "post", "team", "max_poll_records", "mb"}
    assert key_terms("The answer is short.") == set()


def test_a_swapped_plan_fails_the_term_check_and_a_right_one_passes():
    assert item_features(_item(0, GOOD))["claim_terms_ok"] == [True]
    assert item_features(_item(1, SWAPPED))["claim_terms_ok"] == [False]


def test_reference_features_see_new_numbers_terms_and_words():
    same = reference_features(GOOD, BASE["reference"], BASE["question"])
    assert same["novel_values"] == 0 and same["novel_terms"] == 0
    changed = reference_features(CHANGED, BASE["reference"], BASE["question"])
    assert changed["novel_values"] == 1.0
    extra = reference_features(EXTRA, BASE["reference"], BASE["question"])
    assert extra["novel_words"] > same["novel_words"]
    swapped = reference_features(SWAPPED, BASE["reference"], BASE["question"])
    assert swapped["novel_terms"] == 1.0  # "business": neither the reference nor the question has it


def _training_table(n: int = 12):
    answers = [GOOD, SWAPPED, CHANGED, EXTRA] * n
    items = [_item(i, a) for i, a in enumerate(answers)]
    labels = {"faithful": [a == GOOD for a in answers], "relevant": [True, True, True, False] * n,
              "correct": [a == GOOD for a in answers]}
    return feature_table(items, embedder=False), labels


def test_fit_combiner_learns_the_faults_and_chooses_its_threshold_by_cross_validation():
    table, labels = _training_table()
    combiner = fit_combiner(table, labels, uses_embeddings=False)
    assert combiner.verdicts(table)["faithful"] == labels["faithful"]
    assert combiner.verdicts(table)["correct"] == labels["correct"]
    assert set(combiner.thresholds) == {"faithful", "relevant", "correct"}
    assert all(-1 <= k <= 1 for k in combiner.dev_kappa.values())
    assert not scalar_features(table).isna().any().any()


def test_fit_combiner_refuses_a_label_with_one_value():
    table, labels = _training_table(3)
    with pytest.raises(ValueError, match="'relevant' has fewer than two rows"):
        fit_combiner(table, {**labels, "relevant": [True] * len(table)}, uses_embeddings=False)


def test_the_llm_decides_only_inside_the_band():
    low, high = LLM_BAND
    probs = [low - 0.01, low, (low + high) / 2, high, 0.5]
    verdicts = [False, False, True, True, True]
    got = with_llm(probs, verdicts, [0.9, 0.9, 0.1, 0.1, None], [True, True, False, False, None])
    assert got == [False, True, False, True, True]  # outside: kept; inside: P(yes); abstained: kept
    assert with_llm([0.5], [False], [None], [True]) == [True]  # no logprobs: the LLM's verdict


def test_dev_combiner_is_fitted_on_dev_and_beats_chance_there():
    combiner = dev_combiner(uses_embeddings=False)
    assert min(combiner.dev_kappa.values()) > 0.2, combiner.dev_kappa
    assert dev_combiner(uses_embeddings=False) is combiner  # fitted once per process


def test_combined_judge_asks_the_llm_in_both_orders_and_keeps_the_default_verdicts_elsewhere():
    from inferlearn.evals.judge import judge_answers
    from inferlearn.llm.testing import ScriptedClient

    items = [_item(0, GOOD), _item(1, CHANGED)]
    no = '{"faithful": "no", "relevant": "yes"}'
    combined = judge_answers(items, "combined", client=ScriptedClient([no] * 4), model="m")
    default = judge_answers(items, "default")
    assert list(combined["calls"]) == [2, 2] and list(combined["parse_failures"]) == [0, 0]
    assert list(combined["relevant"]) == list(default["relevant"])
    assert list(combined["correct"]) == list(default["correct"])
    assert default.loc[1, "faithful"] == False  # noqa: E712  (a changed number: not faithful)


def test_yes_no_question_form_feeds_the_relevant_model_only():
    from inferlearn.evals.judge_features import question_form
    from inferlearn.evals.judge_model import label_columns

    assert question_form("Does BYOK hide our plaintext?", "No. Larkspur can ...") == {
        "yes_no_question": True, "yes_no_answer": True}
    assert question_form("Egress is free, so we never pay, right?", "1. [a:0] 2. [b:0]") == {
        "yes_no_question": True, "yes_no_answer": False}
    assert question_form("What is the longest delay?", "Yes, 15 minutes.") == {
        "yes_no_question": False, "yes_no_answer": True}
    table = feature_table([_item(0, GOOD), _item(1, "No. [policy-refunds-2025#monthly-plans:0]")])
    columns = scalar_features(table).columns
    assert list(scalar_features(table)["yes_no_unasked"]) == [0.0, 1.0]
    assert "yes_no_unanswered" in label_columns(columns, "relevant")
    assert not {"yes_no_unanswered", "yes_no_unasked"} & set(label_columns(columns, "faithful"))
    assert not {"yes_no_unanswered", "yes_no_unasked"} & set(label_columns(columns, "correct"))
