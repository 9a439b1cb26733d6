"""PII detection and redaction (inferlearn/prod/pii.py) and its evaluation (pii_eval.py)."""

from __future__ import annotations

import json
import socket

import pytest

from inferlearn.data import data_dir, read_jsonl, shared_datasets_dir
from inferlearn.prod.pii import iban_valid, luhn_valid
from inferlearn.prod.pii_eval import (
    evaluate_pii,
    f_beta,
    is_skip_word,
    load_pii_dataset,
    template_split,
    tickets_as_pii_rows,
    token_labels,
)
from inferlearn.server.modelfiles import MODEL_FILES, SPACY_MODEL, is_verified

SPACY_READY = all(is_verified(s) for s in MODEL_FILES if s.name.startswith(SPACY_MODEL))
needs_spacy = pytest.mark.skipif(not SPACY_READY, reason="spaCy model files not installed: "
                                 "run `inferlearn models install`")


def test_luhn_accepts_public_test_cards_and_rejects_one_digit_off():
    assert luhn_valid("4012 8888 8888 1881") and luhn_valid("4111-1111-1111-1111")
    assert not luhn_valid("4012 8888 8888 1882")
    assert not luhn_valid("1234")  # too short to be a card


def test_iban_mod97_accepts_valid_and_rejects_a_typo():
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and iban_valid("BE68 5390 0754 7034")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_valid("not an iban")


def test_luhn_agrees_with_presidio_unit_test_cases():
    shared = shared_datasets_dir()
    path = shared / "pii" / "presidio_recognizer_cases.json" if shared else None
    if path is None or not path.is_file():
        pytest.skip("../shared/datasets/pii is absent (developers and CI have it)")
    cases = [c for c in json.loads(path.read_text())["cases"] if c["entity"] == "CREDIT_CARD"]
    for case in cases:
        for start, end in case["expected_spans"]:
            assert luhn_valid(case["text"][start:end]), case
    negatives = [c for c in cases if not c["expected_spans"]]
    assert negatives and all(not luhn_valid(c["text"]) for c in negatives)


def test_token_labels_and_f2():
    text = "Mail ana@x.example now"
    assert token_labels(text, [("EMAIL", 5, 18)], mapped=True) == ["O", "EMAIL_ADDRESS", "O"]
    assert token_labels(text, [("TITLE", 0, 4)], mapped=True) == ["O", "O", "O"]
    assert f_beta(1.0, 0.5) == pytest.approx(5 * 0.5 / (4 + 0.5))
    assert f_beta(0.0, 0.0) == 0.0


def test_evaluate_pii_scores_a_perfect_and_an_empty_detector():
    rows = [{"text": "Ring Ana on 555 0100", "spans": [("PERSON", 5, 8), ("PHONE_NUMBER", 12, 20)]}]
    perfect = evaluate_pii(rows, detector=lambda text: [("PERSON", 5, 8), ("PHONE_NUMBER", 12, 20)])
    assert perfect["overall"]["f2"] == 1.0 and perfect["non_pii_false_positive_tokens"] == 0
    empty = evaluate_pii(rows, detector=lambda text: [])
    assert empty["overall"]["recall"] == 0.0 and empty["overall"]["fn"] == 3
    noisy = evaluate_pii(rows, detector=lambda text: [("PERSON", 0, 8), ("PHONE_NUMBER", 12, 20)])
    assert noisy["per_type"]["PERSON"]["precision"] == 0.5 and noisy["non_pii_false_positive_tokens"] == 1


def test_overall_counts_any_pii_type_while_per_type_needs_the_type_to_agree():
    rows = [{"text": "Ring Ana Silva in Porto", "spans": [("PERSON", 5, 14), ("GPE", 18, 23)]}]
    swapped = evaluate_pii(rows, detector=lambda text: [("LOCATION", 5, 14), ("PERSON", 18, 23)])
    assert swapped["overall"]["f2"] == 1.0  # every PII token redacted, under the wrong label
    assert swapped["overall_typed"]["tp"] == 0 and swapped["per_type"]["PERSON"]["recall"] == 0.0
    assert swapped["strict"]["f2"] == 0.0


def test_stop_words_and_punctuation_are_not_scored_but_count_as_flagged_non_pii():
    rows = [{"text": "Write to the corner of Rua Augusta and Rua Nova , Lisbon", "spans": [("STREET_ADDRESS", 9, 56)]}]
    only_names = evaluate_pii(rows, detector=lambda text: [("LOCATION", 23, 34), ("LOCATION", 39, 47),
                                                          ("LOCATION", 50, 56)])
    assert only_names["overall"]["recall"] == 1.0  # "the", "corner", "of", "and", "," are not scored
    assert only_names["strict"]["recall"] < 1.0
    assert is_skip_word("The") and is_skip_word(",") and is_skip_word("Apt.") and not is_skip_word("Augusta")
    assert only_names["non_pii_false_positive_tokens"] == 0


def test_template_split_is_stable_and_keeps_a_template_on_one_side():
    assert template_split(12) == template_split("12") == template_split(12)
    assert {template_split(i) for i in range(40)} == {"dev", "test"}
    rows = [{"text": "Ring Ana", "spans": [("PERSON", 5, 8)], "template_id": i} for i in range(20)]
    report = evaluate_pii(rows, detector=lambda text: [("PERSON", 5, 8)])
    assert sum(s["rows"] for s in report["splits"].values()) == 20
    assert all(s["overall"]["f2"] == 1.0 for s in report["splits"].values())


def test_load_pii_dataset_names_the_bad_row(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"full_text": "ok", "spans": []},
                               {"full_text": "abc", "spans": [{"entity_type": "X", "start_position": 2,
                                                               "end_position": 9}]}]))
    with pytest.raises(ValueError, match="row 1.*outside a text of 3 chars"):
        load_pii_dataset(bad)
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_pii_dataset(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pii_dataset(tmp_path / "missing.json")


@needs_spacy
def test_redact_replaces_larkspur_ids_cards_ibans_and_emails():
    from inferlearn.prod.pii import redact

    text = ("Account ACC-441027, card 4012 8888 8888 1881, IBAN GB82 WEST 1234 5698 7654 32, "
            "write to ana.silva@cervejaria.example or call +351 912 345 678.")
    result = redact(text)
    for secret in ("ACC-441027", "4012 8888", "GB82 WEST", "ana.silva@", "912 345 678"):
        assert secret not in result.text, result.text
    kinds = {kind for kind, _, _ in result.entities}
    assert {"ACCOUNT_ID", "CREDIT_CARD", "IBAN_CODE", "EMAIL_ADDRESS", "PHONE_NUMBER"} <= kinds
    assert all(text[s:e] for _, s, e in result.entities)


@needs_spacy
def test_checksum_failures_are_not_redacted_as_cards_or_ibans():
    from inferlearn.prod.pii import detect

    kinds = {k for k, _, _ in detect("Order 4012 8888 8888 1882 and ref GB82 WEST 1234 5698 7654 33.")}
    assert "CREDIT_CARD" not in kinds and "IBAN_CODE" not in kinds


@needs_spacy
def test_redaction_works_with_the_network_blocked(monkeypatch):
    import tldextract.tldextract as impl

    from inferlearn.prod import pii

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert pii.redact("mail bob@shop.example.co.uk").text == "mail <EMAIL_ADDRESS>"
    assert impl.TLD_EXTRACTOR.suffix_list_urls == ()
    assert impl.extract("a.b.co.uk").suffix == "co.uk"  # the bundled snapshot, offline


@needs_spacy
def test_tickets_recall_on_contact_and_payment_ids_is_at_least_95_percent():
    rows = tickets_as_pii_rows(read_jsonl(data_dir() / "tickets" / "tickets.jsonl"))
    report = evaluate_pii(rows)
    for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "ACCOUNT_ID"):
        assert report["per_type"][kind]["recall"] >= 0.95, (kind, report["per_type"][kind])


@needs_spacy
@pytest.mark.parametrize(("text", "secret"), [
    ("Send it to PSC 6293, Box 8158\nAPO AP 04336 please.", "8158"),
    ("We are at 79367 Nybyvägen 65 now.", "Nybyvägen"),
    ("Meet me at the corner of Rua Augusta and Baker Lane.", "Baker"),
    ("Post it to SW1A 1AA today.", "SW1A"),
    ("My zip code is 35201, thanks.", "35201"),
    ("She flew home to Pärnu on Friday.", "Pärnu"),
])
def test_addresses_and_places_the_small_ner_model_misses_are_redacted(text, secret):
    from inferlearn.prod.pii import redact

    assert secret not in redact(text).text


@needs_spacy
def test_place_names_used_as_ordinary_words_are_not_redacted():
    from inferlearn.prod.pii import detect

    text = "Reading the invoice again, I see the export is still broken."
    assert not [text[s:e] for k, s, e in detect(text) if k == "LOCATION"]


def test_resolve_spans_joins_address_parts_trims_an_overlapped_name_and_applies_the_threshold():
    from inferlearn.prod.pii import resolve_spans

    text = "Barbara Yudina Apt. 675, Aalborg"
    scored = [("PERSON", 0, 18, 0.85), ("LOCATION", 15, 23, 0.9), ("LOCATION", 25, 32, 0.5),
              ("URL", 0, 7, 0.1)]
    assert resolve_spans(text, scored, 0.35) == [("PERSON", 0, 14), ("LOCATION", 15, 32)]
    assert resolve_spans(text, scored, 0.95) == []


@needs_spacy
def test_unknown_names_are_redacted_but_company_names_with_a_legal_suffix_are_not_taken_for_people():
    from inferlearn.prod.pii import detect, redact

    assert "Wnukowska" not in redact("Please add Dragoslava Wnukowska as a beneficiary.").text
    text = "The invoice from Quillfeather Ltd is overdue."
    assert not [text[s:e] for k, s, e in detect(text) if k == "PERSON"]
