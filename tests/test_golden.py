"""inferlearn.evals.golden: schema, validation against the corpus, retrieval shape, the CLI."""

from __future__ import annotations

import json

import pytest

from inferlearn.evals.golden import (
    GoldenItem,
    export_beir,
    golden_for_retrieval,
    golden_path,
    golden_version,
    lint_golden,
    load_golden,
    main,
    stratified_split,
    summary_table,
    validate_golden,
)
from inferlearn.rag.corpus import parse_doc

REFUNDS = """---
id: policy-refunds-2025
title: Refund policy (2025)
product: billing
doc_type: policy
version: v2025.1
updated: 2025-02-01
audience: customer
---

# Refund policy (2025)

## Monthly plans

You can ask for a refund of a monthly fee within **7 days** of the charge.

## Annual plans

Annual prepay fees can be refunded within **30 days**   of the charge.
"""

LIMITS = """---
id: api-limits
title: Limits
product: platform
doc_type: api_reference
version: v2
updated: 2025-04-15
audience: developer
---

# Limits

## Message size

Business plans accept a message of 8 MiB at most.
"""


@pytest.fixture
def docs():
    return [parse_doc(REFUNDS), parse_doc(LIMITS)]


def item(**fields):
    base = {"id": "g-0001", "question": "How long do I have to get money back on a monthly plan?",
            "answer": "7 days from the charge.", "doc_ids": ["policy-refunds-2025"],
            "anchors": ["policy-refunds-2025#monthly-plans"],
            "evidence": ["within **7 days** of the charge"], "type": "factoid", "split": "dev"}
    return {**base, **fields}


UNANSWERABLE = item(id="g-0002", question="Do you have an office on the Moon?",
                    answer="I don't know: the documents do not cover this.", doc_ids=[], anchors=[],
                    evidence=[], type="unanswerable", split="test")


def write_golden(path, items):
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def test_a_good_set_has_no_problems(docs):
    assert validate_golden([item(), UNANSWERABLE], docs) == []


def test_evidence_is_matched_after_collapsing_whitespace(docs):
    good = item(evidence=["refunded within **30 days** of the charge"], anchors=["policy-refunds-2025#annual-plans"])
    assert validate_golden([good], docs) == []


def test_evidence_not_in_the_documents_is_reported(docs):
    problems = validate_golden([item(evidence=["within **14 days** of the charge"])], docs)
    assert any("evidence 1" in p and "not a verbatim quote of policy-refunds-2025" in p for p in problems)


def test_evidence_must_be_verbatim_including_case_and_markup(docs):
    problems = validate_golden([item(evidence=["within 7 days of the charge"])], docs)
    assert any("not a verbatim quote" in p for p in problems)


def test_unknown_doc_ids_suggest_a_close_match(docs):
    problems = validate_golden([item(doc_ids=["policy-refund-2025"], anchors=[])], docs)
    assert any("unknown doc id 'policy-refund-2025'" in p and "did you mean 'policy-refunds-2025'" in p
               for p in problems)


def test_unknown_and_misplaced_anchors_are_reported(docs):
    problems = validate_golden([item(anchors=["policy-refunds-2025#monthly-plan"])], docs)
    assert any("has no section 'monthly-plan'" in p and "monthly-plans" in p for p in problems)
    problems = validate_golden([item(anchors=["policy-refunds-2025#annual-plans"])], docs)
    assert any("no evidence quote is inside the section" in p for p in problems)
    problems = validate_golden([item(anchors=["api-limits#message-size"])], docs)
    assert any("not in doc_ids" in p for p in problems)
    problems = validate_golden([item(anchors=["monthly-plans"])], docs)
    assert any("must look like" in p for p in problems)


def test_every_referenced_document_must_hold_a_quote(docs):
    problems = validate_golden([item(doc_ids=["policy-refunds-2025", "api-limits"])], docs)
    assert any("no evidence quote comes from api-limits" in p for p in problems)


def test_multi_hop_needs_two_documents(docs):
    problems = validate_golden([item(type="multi_hop")], docs)
    assert any("at least 2 documents" in p for p in problems)
    two = item(type="multi_hop", doc_ids=["policy-refunds-2025", "api-limits"], anchors=[],
               evidence=["within **7 days** of the charge", "a message of 8 MiB"])
    assert validate_golden([two], docs) == []


def test_unanswerable_questions_have_no_documents_and_say_i_do_not_know(docs):
    problems = validate_golden([dict(UNANSWERABLE, answer="It is in Lisbon.")], docs)
    assert any("must say it does not know" in p for p in problems)
    problems = validate_golden([dict(UNANSWERABLE, doc_ids=["policy-refunds-2025"])], docs)
    assert any("must have empty doc_ids" in p for p in problems)
    problems = validate_golden([item(doc_ids=[], anchors=[], evidence=[])], docs)
    assert any("needs doc_ids" in p for p in problems)


def test_answerable_questions_need_evidence_of_real_length(docs):
    assert any("at least one evidence quote" in p for p in validate_golden([item(evidence=[], anchors=[])], docs))
    assert any("too short" in p for p in validate_golden([item(evidence=["7 days"], anchors=[])], docs))


def test_schema_problems_name_the_item_and_field(docs):
    problems = validate_golden([item(type="trivia"), item(id="q1", split="train"), {"id": "g-0009"},
                                item(id="g-0010", colour="red"), "not a dict"], docs)
    text = "\n".join(problems)
    assert "g-0001: field 'type'" in text
    assert "q1: field 'id'" in text and "q1: field 'split'" in text
    assert "g-0009: field 'question'" in text
    assert "g-0010: field 'colour'" in text
    assert "item 4: expected a JSON object" in text


def test_duplicate_ids_and_questions_are_reported(docs):
    problems = validate_golden([item(), item(), item(id="g-0003", question="  how long do I have to get "
                                                          "money back on a MONTHLY plan?")], docs)
    assert "g-0001: id used 2 times" in problems
    assert any("g-0003: same question as g-0001" in p for p in problems)


def test_empty_sets_and_bad_input(docs):
    assert validate_golden([], docs) == []
    with pytest.raises(TypeError, match="list of golden items"):
        validate_golden(item(), docs)


def test_unicode_questions_and_quotes(docs):
    text = REFUNDS.replace("## Annual plans", "## Café\n\nRückerstattung binnen 7 Tagen — ✓.\n\n## Annual plans")
    unicode_docs = [parse_doc(text)]
    good = item(question="¿Cuánto tiempo? Rückerstattung?", evidence=["Rückerstattung binnen 7 Tagen — ✓"],
                anchors=["policy-refunds-2025#café"])
    assert validate_golden([good], unicode_docs) == []


def test_a_huge_set_validates(docs):
    many = [item(id=f"g-{i:05d}", question=f"Question number {i} about monthly refunds?") for i in range(3000)]
    assert validate_golden(many, docs) == []


def test_lint_warns_about_copied_headings_and_few_unanswerables(docs):
    docs = [parse_doc(REFUNDS.replace("## Monthly plans", "## Refunds for monthly plans"))]
    copied = item(question="What do refunds for monthly plans look like?",
                  anchors=["policy-refunds-2025#refunds-for-monthly-plans"])
    warnings = lint_golden([copied], docs)
    assert any("copies the heading" in w for w in warnings)
    assert any("unanswerable" in w for w in warnings)


def test_load_filters_by_split_and_reports_bad_lines(tmp_path):
    path = write_golden(tmp_path / "golden.jsonl", [item(), UNANSWERABLE])
    assert [i["id"] for i in load_golden("test", path)] == ["g-0002"]
    assert load_golden(None, path)[0]["notes"] == ""
    with pytest.raises(ValueError, match="split 'train' is not one of dev, test"):
        load_golden("train", path)
    path.write_text(json.dumps(item()) + "\n{oops\n" + json.dumps(item(type="x")) + "\n")
    with pytest.raises(ValueError, match=r"golden.jsonl:2 is not valid JSON(.|\n)*field 'type'"):
        load_golden(None, path)
    with pytest.raises(FileNotFoundError, match="no golden set"):
        load_golden(None, tmp_path / "missing.jsonl")


def test_retrieval_shape_for_documents_and_sections(tmp_path, docs):
    path = write_golden(tmp_path / "golden.jsonl", [item(), UNANSWERABLE])
    dataset = golden_for_retrieval("dev", docs=docs, path=path)
    assert [p.id for p in dataset.passages] == ["policy-refunds-2025", "api-limits"]
    assert dataset.passages[0].metadata["title"] == "Refund policy (2025)"
    assert dataset.queries == {"g-0001": item()["question"]}
    assert dataset.qrels == {"g-0001": {"policy-refunds-2025": 1}}
    assert golden_for_retrieval("test", docs=docs, path=path).queries == {}, "unanswerable: no qrels"
    sections = golden_for_retrieval(None, "section", docs=docs, path=path)
    assert sections.qrels == {"g-0001": {"policy-refunds-2025#monthly-plans": 1}}
    assert "policy-refunds-2025#annual-plans" in {p.id for p in sections.passages}
    with pytest.raises(ValueError, match="level"):
        golden_for_retrieval("dev", "chunk", docs=docs, path=path)


def test_export_writes_a_beir_folder_the_evaluator_reads(tmp_path, docs, monkeypatch):
    from inferlearn.evals import golden as golden_module
    from inferlearn.evals.beir import load_beir

    path = write_golden(tmp_path / "golden.jsonl", [item(), UNANSWERABLE])
    monkeypatch.setattr("inferlearn.rag.corpus.load_corpus", lambda *a, **k: docs)
    folder = export_beir(tmp_path / "beir", path=path)
    dataset = load_beir(folder, "dev")
    assert dataset.qrels == {"g-0001": {"policy-refunds-2025": 1}}
    assert dataset.passages[0].metadata["title"] == "Refund policy (2025)"
    assert golden_module.golden_version(path) == golden_version(path) and len(golden_version(path)) == 12


def test_stratified_split_keeps_type_shares_and_is_deterministic():
    items = [{"id": f"g-{i:04d}", "type": "factoid" if i % 3 else "unanswerable"} for i in range(100)]
    split = stratified_split(items, dev_fraction=0.4, seed=1)
    assert split == stratified_split(list(reversed(items)), dev_fraction=0.4, seed=1)
    dev_unanswerable = sum(1 for i in items if i["type"] == "unanswerable" and split[i["id"]] == "dev")
    assert dev_unanswerable == round(34 * 0.4)
    with pytest.raises(ValueError, match="dev_fraction"):
        stratified_split(items, dev_fraction=1.0)


def test_summary_counts_types_by_split():
    table = summary_table([item(), UNANSWERABLE])
    assert "factoid                1     0      1" in table
    assert "all                    1     1      2" in table


def test_the_command_line_exits_non_zero_with_a_list_of_problems(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy-refunds-2025.md").write_text(REFUNDS)
    (corpus / "api-limits.md").write_text(LIMITS)
    good = write_golden(tmp_path / "good.jsonl", [item(), UNANSWERABLE])
    assert main(["--golden", str(good), "--corpus", str(corpus)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write_golden(tmp_path / "bad.jsonl", [item(doc_ids=["nope"], anchors=[]), UNANSWERABLE])
    assert main(["--golden", str(bad), "--corpus", str(corpus)]) == 1
    err = capsys.readouterr().err
    assert "problem(s)" in err and "unknown doc id 'nope'" in err
    assert main(["--golden", str(tmp_path / "none.jsonl"), "--corpus", str(corpus)]) == 1


def test_the_schema_model_matches_the_documented_fields():
    assert set(GoldenItem.model_fields) == {"id", "question", "answer", "doc_ids", "anchors", "evidence",
                                            "type", "split", "notes"}


def test_the_real_golden_set_is_valid_against_the_real_corpus():
    from inferlearn.rag.corpus import load_corpus

    if not golden_path().exists():
        pytest.skip("data/golden/golden.jsonl is not there yet")
    items = load_golden()
    problems = validate_golden(items, load_corpus())
    assert problems == [], "\n".join(problems[:30])
    assert len(items) >= 250
    kinds = {i["type"] for i in items}
    assert kinds == {"factoid", "multi_hop", "numeric_table", "version_sensitive", "unanswerable", "adversarial"}
    assert sum(i["type"] == "unanswerable" for i in items) >= 0.1 * len(items)
    assert {i["split"] for i in items} == {"dev", "test"}
