"""inferlearn.rag.corpus: front matter, normalisation, sections and anchors, the real corpus."""

from __future__ import annotations

import pytest

from inferlearn.rag.corpus import (
    PRODUCTS,
    REQUIRED_FIELDS,
    CorpusError,
    Doc,
    corpus_dir,
    docs_by_id,
    load_corpus,
    load_doc,
    parse_doc,
    sections_by_ref,
    slugify,
    split_sections,
)

PAGE = """---
id: policy-refunds-2025
title: Refund policy (2025)
product: billing
doc_type: policy
version: v2025.1
updated: 2025-02-01
audience: customer
---

# Refund policy (2025)

Lead paragraph.

## Eligibility

Monthly fees: 7 days.

### Annual plans

Annual fees: 30 days.

```bash
# not a heading
curl https://api.larkspur.example/v2
```

## Eligibility

A second section with the same heading.
"""


def write(folder, name, text):
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def page(doc_id="a-page", **fields):
    meta = {"id": doc_id, "title": "A page", "product": "streams", "doc_type": "faq",
            "version": "v2", "updated": "2025-01-01", "audience": "developer", **fields}
    front = "\n".join(f"{k}: {v}" for k, v in meta.items() if v is not None)
    return f"---\n{front}\n---\n\n# A page\n\nBody.\n"


def test_a_page_parses_into_front_matter_fields_as_strings():
    doc = parse_doc(PAGE)
    assert doc.id == "policy-refunds-2025"
    assert doc.updated == "2025-02-01" and isinstance(doc.updated, str)
    assert doc.metadata["doc_id"] == "policy-refunds-2025"
    assert set(doc.metadata) == {"doc_id", *REQUIRED_FIELDS} - {"id"}
    assert doc.text.startswith("# Refund policy (2025)")


def test_numeric_versions_and_dates_become_text():
    doc = parse_doc(page(version="2024", updated="2024-03-01"))
    assert doc.version == "2024" and doc.updated == "2024-03-01"


def test_sections_have_anchors_from_the_heading_path():
    doc = parse_doc(PAGE)
    refs = [s.ref for s in doc.sections]
    assert refs == ["policy-refunds-2025#intro", "policy-refunds-2025#eligibility",
                    "policy-refunds-2025#eligibility/annual-plans",
                    "policy-refunds-2025#eligibility-2"]
    sub = doc.section("eligibility/annual-plans")
    assert sub.heading_path == ("Eligibility", "Annual plans")
    assert "# not a heading" in sub.text, "a comment inside fenced code is not a heading"


def test_section_offsets_slice_the_page_text():
    doc = parse_doc(PAGE)
    for section in doc.sections:
        assert doc.text[section.start:section.end] == section.text


def test_intro_body_drops_the_title_line():
    doc = parse_doc(PAGE)
    assert doc.sections[0].body == "Lead paragraph."


def test_a_page_with_only_a_title_before_its_first_section_has_no_intro():
    sections = split_sections("# Title\n\n## One\n\ntext\n", "d")
    assert [s.anchor for s in sections] == ["one"]


def test_a_page_without_headings_is_one_intro_section():
    sections = split_sections("just text\nmore text\n", "d")
    assert [(s.anchor, s.text) for s in sections] == [("intro", "just text\nmore text")]


def test_empty_text_has_no_sections():
    assert split_sections("", "d") == []


def test_unknown_anchor_lists_the_anchors_that_exist():
    with pytest.raises(KeyError, match="eligibility"):
        parse_doc(PAGE).section("nope")


def test_slugs_drop_punctuation_and_keep_unicode_letters():
    assert slugify("Refunds: eligibility & timing (2025)") == "refunds-eligibility-timing-2025"
    assert slugify("`max_poll_records` default") == "max-poll-records-default"
    assert slugify("Über uns — Café") == "über-uns-café"
    assert slugify("[Link](http://x.example) text") == "link-text"


def test_crlf_bom_and_decomposed_unicode_are_normalised(tmp_path):
    text = page(title="Caf\u0065\u0301").replace("\n", "\r\n")
    path = tmp_path / "a-page.md"
    path.write_bytes("\ufeff".encode() + text.encode("utf-8"))
    doc = load_doc(path)
    assert doc.title == "Caf\u00e9"
    assert "\r" not in doc.text


def test_missing_fields_are_all_named():
    with pytest.raises(CorpusError, match="product, doc_type"):
        parse_doc(page(product=None, doc_type=None))


def test_unknown_product_and_bad_date_are_reported():
    with pytest.raises(CorpusError) as info:
        parse_doc(page(product="rockets", updated="yesterday"))
    text = str(info.value)
    assert "rockets" in text and "yesterday" in text


@pytest.mark.parametrize("text, message", [
    ("# no front matter\n", "no front matter"),
    ("---\nid: x\n", "not closed"),
    ("---\nid: [unclosed\n---\nbody\n", "not valid YAML"),
    ("---\n- a list\n---\nbody\n", "must be a mapping"),
])
def test_malformed_front_matter_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_doc(text, "x.md")


def test_a_folder_reports_every_bad_page_at_once(tmp_path):
    write(tmp_path, "good", page("good"))
    write(tmp_path, "renamed", page("other-name"))
    write(tmp_path, "broken", "no front matter")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    problems = info.value.problems
    assert len(problems) == 2
    assert any("differs from the file name" in p for p in problems)
    assert any("no front matter" in p for p in problems)


def test_a_folder_loads_sorted_and_filters_by_product(tmp_path):
    write(tmp_path, "b-page", page("b-page", product="billing"))
    write(tmp_path, "a-page", page("a-page"))
    assert [d.id for d in load_corpus(tmp_path)] == ["a-page", "b-page"]
    assert [d.id for d in load_corpus(tmp_path, products=["billing"])] == ["b-page"]


def test_an_empty_folder_is_an_empty_corpus_and_a_missing_one_an_error(tmp_path):
    assert load_corpus(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_a_huge_page_splits_quickly_and_exactly():
    body = "".join(f"## Part {i}\n\n" + "word " * 200 + "\n\n" for i in range(2000))
    doc = Doc("big", "Big", "streams", "faq", "v1", "2025-01-01", "developer", body)
    assert len(doc.sections) == 2000
    assert doc.sections[-1].anchor == "part-1999"


def test_the_real_corpus_loads_with_valid_unique_front_matter():
    folder = corpus_dir()
    if not folder.is_dir() or not any(folder.glob("*.md")):
        pytest.skip("data/corpus is not there yet")
    docs = load_corpus()
    files = sorted(p.stem for p in folder.glob("*.md"))
    assert [d.id for d in docs] == files, "every page's id equals its file name, once"
    assert all(d.product in PRODUCTS for d in docs)
    by_ref = sections_by_ref(docs)
    assert len(by_ref) == sum(len(d.sections) for d in docs), "anchors are unique within a page"
    assert len(docs_by_id(docs)) == len(docs)
