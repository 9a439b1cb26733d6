"""inferlearn.evals.fields: per-field accuracy with normalised emails, dates and amounts."""

from __future__ import annotations

import math
from datetime import date

import pytest
from pydantic import BaseModel

from inferlearn.evals.fields import (
    field_accuracy,
    field_report,
    mismatches,
    normalise_amount,
    normalise_date,
    normalise_email,
    values_match,
)

GOLD = {"customer_name": "Priya Natarajan", "email": "priya@quillfin.example",
        "account_id": "ACC-104233", "date": "2025-03-04", "amount": 1490.0, "currency": "USD"}


@pytest.mark.parametrize("text, expected", [
    ("$1,490.00", 1490.0), ("USD 1,490.00", 1490.0), ("1.372,40 €", 1372.4),
    ("₹1,24,500", 124500.0), ("CA$38.12", 38.12), ("1,490", 1490.0), ("12 345,67", 12345.67),
    (249, 249.0), ("1,5", 1.5),
])
def test_amounts_written_in_many_forms_become_floats(text, expected):
    assert math.isclose(normalise_amount(text), expected)


def test_an_amount_string_without_a_number_stays_text_and_none_stays_none():
    assert normalise_amount("about fifty") == "about fifty"
    assert normalise_amount(None) is None


@pytest.mark.parametrize("text", ["2025-03-04", "4 March 2025", "March 4th, 2025", "04/03/2025",
                                  "2025-03-04T09:12:00Z", date(2025, 3, 4)])
def test_dates_in_common_forms_normalise_to_iso_day_first(text):
    assert normalise_date(text) == "2025-03-04"


def test_an_unparseable_date_only_matches_itself():
    assert normalise_date("last Friday") == "last friday"
    assert not values_match("date", "last Friday", "2025-03-04")


def test_emails_ignore_case_space_and_mailto():
    assert normalise_email(" mailto:<Priya@Quillfin.example> ") == "priya@quillfin.example"


def test_values_match_nulls_numbers_and_text():
    assert values_match("amount", None, None)
    assert not values_match("amount", None, 0.0)
    assert values_match("amount", "$1,490", 1490.0)
    assert values_match("amount", 38.124, 38.12) and not values_match("amount", 38.13, 38.12)
    assert values_match("customer_name", "  priya   NATARAJAN", "Priya Natarajan")
    assert not values_match("amount", True, 1.0)


def test_field_accuracy_scores_each_field_over_all_records():
    preds = [dict(GOLD, email="PRIYA@quillfin.example", amount="$1,490.00"),
             dict(GOLD, account_id="ACC-000000", date="4 March 2025")]
    got = field_accuracy(preds, [GOLD, GOLD], ["email", "account_id", "date", "amount"])
    assert got == {"email": 1.0, "account_id": 0.5, "date": 1.0, "amount": 1.0}


def test_a_failed_extraction_is_wrong_on_every_field_even_null_ones():
    gold = dict(GOLD, amount=None, currency=None)
    assert field_accuracy([None], [gold], ["amount", "email"]) == {"amount": 0.0, "email": 0.0}


def test_a_missing_key_in_a_prediction_counts_as_null():
    gold = dict(GOLD, currency=None)
    assert field_accuracy([{"email": GOLD["email"]}], [gold], ["currency", "email"]) == \
        {"currency": 1.0, "email": 1.0}


def test_fields_default_to_the_gold_keys_and_pydantic_predictions_work():
    class Pred(BaseModel):
        customer_name: str | None
        email: str | None

    got = field_accuracy([Pred(customer_name="Priya Natarajan", email=None)],
                         [{"customer_name": "Priya Natarajan", "email": "p@q.example"}])
    assert got == {"customer_name": 1.0, "email": 0.0}


def test_lists_of_different_lengths_are_rejected_not_truncated():
    with pytest.raises(ValueError, match="2 predictions but 1 gold"):
        field_accuracy([GOLD, GOLD], [GOLD], ["email"])


@pytest.mark.parametrize("preds, golds, fields, error, match", [
    ([], [], ["email"], ValueError, "no records to score"),
    ([GOLD], [None], ["email"], ValueError, "gold record 0 is None"),
    (["text"], [GOLD], ["email"], TypeError, "prediction 0 must be a dict"),
    ([GOLD], [GOLD], ["phone"], KeyError, "no field"),
])
def test_bad_input_gets_a_clear_error(preds, golds, fields, error, match):
    with pytest.raises(error, match=match):
        field_accuracy(preds, golds, fields)


def test_field_report_separates_set_and_null_golds():
    golds = [dict(GOLD), dict(GOLD, amount=None, currency=None)]
    preds = [dict(GOLD, amount=None), dict(GOLD, amount=None, currency=None)]
    report = field_report(preds, golds, ["amount"])
    row = report.loc["amount"]
    assert row["accuracy"] == 0.5 and row["gold_set"] == 1
    assert row["acc_when_set"] == 0.0 and row["acc_when_null"] == 1.0


def test_mismatches_lists_each_wrong_field_with_its_id():
    wrong = mismatches([None, dict(GOLD, email="x@y.example")], [GOLD, GOLD], ids=["T-1", "T-2"],
                       fields=["email"])
    assert wrong.to_dict("records") == [
        {"id": "T-1", "field": "email", "predicted": "(extraction failed)", "gold": GOLD["email"]},
        {"id": "T-2", "field": "email", "predicted": "x@y.example", "gold": GOLD["email"]}]
