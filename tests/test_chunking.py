"""inferlearn.rag.chunking: token windows, heading-aware chunks, semantic chunks, chunk_docs."""

from __future__ import annotations

import numpy as np
import pytest

from inferlearn.rag.chunking import (
    Chunk,
    WordTokenizer,
    chunk_by_headings,
    chunk_doc_tokens,
    chunk_docs,
    chunk_semantic,
    chunk_tokens,
    count_chunk_tokens,
    count_tokens,
    get_tokenizer,
    semantic_breaks,
    sentence_spans,
    token_windows,
)
from inferlearn.rag.corpus import Doc, parse_doc

PAGE = """---
id: guide-x
title: A guide
product: streams
doc_type: how_to
version: v2
updated: 2025-01-01
audience: developer
---

# A guide

Intro sentence one. Intro sentence two.

## Setup

Install the SDK. Then configure it.

| key | value |
|---|---|
| a | 1 |

## Usage

### Publish

Publish a message.

```python
# a comment
client.publish("t", b"x")
```
"""


def doc(text=PAGE):
    return parse_doc(text)


def words(n):
    return " ".join(f"w{i}" for i in range(n))


class TopicEmbedder:
    """Fake embedder: texts mentioning 'cats' point one way, everything else the other way."""

    def __init__(self):
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return np.array([[1.0, 0.0] if "cats" in t else [0.0, 1.0] for t in texts])


# -- token windows ----------------------------------------------------------------------------

def test_windows_overlap_by_the_requested_tokens():
    assert chunk_tokens("a b c d e", size=3, overlap=1) == ["a b c", "c d e"]
    assert chunk_tokens(words(10), size=4, overlap=0) == [words(10)[0:11], "w4 w5 w6 w7", "w8 w9"]


def test_every_token_is_covered_and_windows_respect_the_size():
    text = words(1000)
    chunks = chunk_tokens(text, size=100, overlap=20)
    assert all(count_chunk_tokens(c) <= 100 for c in chunks)
    covered = set()
    for c in chunks:
        covered.update(c.split())
    assert covered == set(text.split())
    assert chunks[1].split()[:20] == chunks[0].split()[-20:]


def test_the_last_window_is_not_a_pure_repeat():
    chunks = chunk_tokens(words(10), size=5, overlap=4)
    assert chunks[-1].endswith("w9") and chunks.count(chunks[-1]) == 1
    assert len(chunks) == 6


def test_empty_and_blank_text_give_no_chunks():
    assert chunk_tokens("", 10, 2) == []
    assert chunk_tokens("   \n\t", 10, 2) == []


def test_short_text_is_one_chunk_without_outer_whitespace():
    assert chunk_tokens("  hello world  ", 10, 2) == ["hello world"]


def test_chunks_are_slices_that_keep_formatting_and_unicode():
    text = "Prix: 249 €/mois.\n\n| plan | ✓ |\n|---|---|\n日本語のテキスト"
    chunks = chunk_tokens(text, size=5, overlap=1)
    assert all(c in text for c in chunks)
    assert "€" in "".join(chunks) and "日本語のテキスト" in chunks[-1]


@pytest.mark.parametrize("size, overlap, message", [
    (512, 600, r"chunk overlap \(600\) must be smaller than chunk size \(512\)"),
    (10, 10, r"chunk overlap \(10\) must be smaller than chunk size \(10\)"),
    (0, 0, r"chunk size \(0\) must be at least 1"),
    (10, -1, r"chunk overlap \(-1\) must be 0 or more"),
    (10.5, 2, r"chunk size \(10.5\) must be a whole number"),
    (True, 0, r"chunk size \(True\) must be a whole number"),
])
def test_bad_sizes_say_what_is_wrong(size, overlap, message):
    with pytest.raises(ValueError, match=message):
        chunk_tokens("some text", size, overlap)


def test_text_must_be_a_string():
    with pytest.raises(TypeError, match="must be a string"):
        chunk_tokens(["a", "b"], 10, 2)


def test_a_huge_text_is_windowed_in_linear_time():
    text = words(300_000)
    windows = token_windows(text, size=256, overlap=32)
    assert len(windows) == -(-(300_000 - 32) // 224)
    assert windows[-1][1] == len(text)


def test_tokenizers_are_pluggable():
    by_space = chunk_tokens("a-b c-d e-f", 2, 0, tokenizer=lambda t: [
        (i, i + len(w)) for i, w in _positions(t)])
    assert by_space == ["a-b c-d", "e-f"]
    assert chunk_tokens("a-b c-d e-f", 2, 0) == ["a-", "b c", "-d", "e-", "f"]
    assert isinstance(get_tokenizer(None), WordTokenizer)
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer("gpt")
    with pytest.raises(TypeError, match="cannot use a int"):
        get_tokenizer(3)


def _positions(text):
    pos = 0
    for word in text.split():
        pos = text.index(word, pos)
        yield pos, word
        pos += len(word)


def test_the_old_name_count_tokens_still_imports_for_workspace_notebooks():
    assert count_tokens is count_chunk_tokens
    assert count_chunk_tokens("max_poll_records, twice!") == 4


@pytest.mark.needs_models
def test_the_minilm_tokenizer_counts_word_pieces():
    pytest.importorskip("tokenizers")
    try:
        tok = get_tokenizer("minilm")
    except FileNotFoundError:
        pytest.skip("model files not installed")
    assert count_chunk_tokens("max_poll_records", tok) == 5
    assert chunk_tokens("Héllo wörld again", 2, 0, tok) == ["Héllo wörld", "again"]


# -- heading-aware ----------------------------------------------------------------------------

def test_heading_chunks_follow_sections_with_the_heading_path_in_front():
    chunks = chunk_by_headings(doc())
    assert [c.id for c in chunks] == ["guide-x#intro:0", "guide-x#setup:0", "guide-x#usage/publish:0"]
    publish = chunks[-1]
    assert publish.text.startswith("A guide > Usage > Publish\n\nPublish a message.")
    assert publish.metadata["heading_path"] == "Usage > Publish"
    assert publish.metadata["anchor"] == "usage/publish"
    assert publish.metadata["section"] == "guide-x#usage/publish"
    for key in ("doc_id", "title", "product", "doc_type", "version", "updated"):
        assert publish.metadata[key], key
    assert "# a comment" in publish.text, "code comments stay inside the chunk"


def test_heading_chunks_can_carry_the_markdown_heading_instead():
    chunks = chunk_by_headings(doc(), breadcrumb=False)
    assert chunks[1].text.startswith("## Setup\n\nInstall the SDK.")
    assert chunks[0].text.startswith("Intro sentence one.")


def test_long_sections_are_split_into_windows_that_fit_the_size():
    body = f"## Long\n\n{words(500)}\n\n## Short\n\nshort text\n"
    chunks = chunk_by_headings(Doc("d", "T", "streams", "faq", "1", "2025-01-01", "dev", body),
                               size=100, overlap=10)
    long_ids = [c.id for c in chunks if c.metadata["anchor"] == "long"]
    assert long_ids[:2] == ["d#long:0", "d#long:1"] and len(long_ids) >= 6
    assert all(c.metadata["n_tokens"] <= 100 for c in chunks)
    assert all(c.text.startswith("T > Long\n\n") for c in chunks if c.metadata["anchor"] == "long")


def test_a_size_too_small_for_the_heading_path_is_a_clear_error():
    with pytest.raises(ValueError, match="leaves .* tokens after the heading"):
        chunk_by_headings(doc(), size=6, overlap=2)


def test_plain_markdown_text_can_be_chunked_by_headings():
    chunks = chunk_by_headings("# T\n\n## A\n\none\n\n## B\n\ntwo\n")
    assert [c.id for c in chunks] == ["doc#a:0", "doc#b:0"]


def test_chunk_offsets_point_back_into_the_page():
    d = doc()
    for c in chunk_by_headings(d) + chunk_doc_tokens(d, 20, 5):
        assert d.text[c.metadata["start"]:c.metadata["end"]] in c.text


# -- semantic ---------------------------------------------------------------------------------

def test_semantic_chunks_break_where_the_topic_changes():
    text = ("# T\n\nI like cats. My cats sleep. Two cats play. "
            "Databases store rows. Indexes speed reads. Queries join tables.\n")
    chunks = chunk_semantic(text, embed=TopicEmbedder(), threshold=0.5, min_size=0, max_size=200)
    assert len(chunks) == 2
    assert chunks[0].text.endswith("Two cats play.") and chunks[1].text.startswith("Databases")


def test_semantic_chunks_respect_min_and_max_size():
    text = " ".join(f"Sentence {i} about cats." if i % 2 else f"Sentence {i} on rows." for i in range(60))
    small = chunk_semantic(text, embed=TopicEmbedder(), threshold=0.5, min_size=0, max_size=200)
    merged = chunk_semantic(text, embed=TopicEmbedder(), threshold=0.5, min_size=30, max_size=200)
    capped = chunk_semantic(text, embed=TopicEmbedder(), threshold=-2, min_size=0, max_size=40)
    assert len(small) == 60 and len(merged) < len(small)
    assert all(c.metadata["n_tokens"] <= 40 for c in capped)
    assert all(c.metadata["n_tokens"] >= 30 for c in merged[:-1])


def test_semantic_units_keep_tables_and_code_whole():
    d = doc()
    units = [d.text[a:b] for a, b in sentence_spans(d.text)]
    assert any(u.startswith("| key |") and u.endswith("| a | 1 |") for u in units)
    assert any(u.startswith("```python") and u.endswith("```") for u in units)
    assert "# A guide\n\nIntro sentence one." in units and "Intro sentence two." in units
    assert any(u.startswith("## Usage\n\n### Publish\n\nPublish a message.") for u in units)
    assert any(u.startswith("## Setup\n\nInstall the SDK.") for u in units), "headings join what follows"


def test_semantic_breaks_by_percentile_and_bad_percentile():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    assert semantic_breaks(vectors, percentile=50) == [2]
    assert semantic_breaks(vectors[:1]) == []
    with pytest.raises(ValueError, match="percentile"):
        semantic_breaks(vectors, percentile=150)


def test_semantic_chunking_of_empty_text_calls_no_model():
    embedder = TopicEmbedder()
    assert chunk_semantic("", embed=embedder) == []
    assert embedder.calls == 0


def test_semantic_min_size_above_max_size_is_an_error():
    with pytest.raises(ValueError, match="min_size"):
        chunk_semantic("text", embed=TopicEmbedder(), min_size=300, max_size=200)


def test_an_embedder_returning_the_wrong_number_of_vectors_is_caught():
    with pytest.raises(ValueError, match="returned 1 vectors for 2"):
        chunk_semantic("One cats. Two rows.", embed=lambda texts: np.ones((1, 2)), min_size=0)


# -- chunk_docs --------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy, params", [
    ("tokens", {"size": 20, "overlap": 5}),
    ("headings", {"size": 40, "overlap": 5}),
    ("semantic", {"embed": TopicEmbedder(), "min_size": 0, "max_size": 40}),
])
def test_every_strategy_gives_unique_stable_ids_and_full_metadata(strategy, params):
    other = parse_doc(PAGE.replace("id: guide-x", "id: guide-y"))
    first = chunk_docs([doc(), other], strategy, **params)
    again = chunk_docs([doc(), other], strategy, **params)
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    assert {c.doc_id for c in first} == {"guide-x", "guide-y"}
    for c in first:
        assert isinstance(c, Chunk)
        assert c.id == f"{c.metadata['doc_id']}#{c.metadata['anchor']}:{c.metadata['chunk_index']}"
        assert all(isinstance(v, (str, int, float, bool)) for v in c.metadata.values())
        assert c.to_passage()["title"] == "A guide"


def test_editing_one_section_keeps_the_ids_of_the_others():
    before = {c.id: c.text for c in chunk_by_headings(doc())}
    after = {c.id: c.text for c in chunk_by_headings(doc(PAGE.replace("Publish a message.", "Changed.")))}
    assert before.keys() == after.keys()
    assert before["guide-x#setup:0"] == after["guide-x#setup:0"]


def test_chunk_docs_rejects_unknown_strategies_and_single_docs():
    with pytest.raises(ValueError, match="unknown chunking strategy 'fixed'.*tokens, headings, semantic"):
        chunk_docs([doc()], "fixed")
    with pytest.raises(TypeError, match="takes a list of docs"):
        chunk_docs(doc(), "headings")
    assert chunk_docs([], "headings") == []


def test_chunk_docs_rejects_duplicate_doc_ids():
    with pytest.raises(ValueError, match="appears twice"):
        chunk_docs([doc(), doc()], "headings")


def test_bad_parameters_surface_through_chunk_docs():
    with pytest.raises(ValueError, match=r"chunk overlap \(600\) must be smaller than chunk size \(512\)"):
        chunk_docs([doc()], "tokens", size=512, overlap=600)


def test_the_real_corpus_chunks_within_size():
    from inferlearn.rag.corpus import corpus_dir, load_corpus

    if not any(corpus_dir().glob("*.md")):
        pytest.skip("data/corpus is not there yet")
    docs = load_corpus()
    chunks = chunk_docs(docs, "headings", size=200, overlap=40)
    assert {c.doc_id for c in chunks} == {d.id for d in docs}
    assert max(c.metadata["n_tokens"] for c in chunks) <= 200
