"""BEIR loading, named pipelines, the retrieval evaluation and ``inferlearn eval retrieval``."""

from __future__ import annotations

import json
import math

import pytest
from openai.types.chat import ChatCompletion

from inferlearn.cli import main
from inferlearn.evals.beir import RetrievalDataset, load_beir, read_qrels
from inferlearn.evals.compare import page_ranking
from inferlearn.evals.retrieval import evaluate_retrieval, format_table
from inferlearn.llm.testing import ScriptedClient
from inferlearn.rag.dense import CachedEmbedder, EmbeddingCache, HashingEmbedder
from inferlearn.rag.passages import Hit, Passage
from inferlearn.rag.pipelines import PIPELINES, build_pipeline, describe_pipelines

DOCS = [
    {"_id": "d1", "title": "Refund policy", "text": "Annual plans are refunded within 30 days."},
    {"_id": "d2", "title": "API keys", "text": "Rotate API keys from the console every 90 days."},
    {"_id": "d3", "title": "Consumer groups", "text": "A consumer group shares partitions between readers."},
    {"_id": "d4", "title": "", "text": "Zähler für 北京: streams über Grenzen."},
    {"_id": "d5", "title": "Old refunds", "text": "Refunds were possible within 14 days in 2023."},
]
QUERIES = [{"_id": "q1", "text": "refund window for annual plans"}, {"_id": "q2", "text": "rotate keys"},
           {"_id": "q3", "text": "consumer group partitions"}, {"_id": "q9", "text": "not judged"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td5\t1\nq2\td2\t1\nq3\td3\t1\n"


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    for part, rows in (("00", DOCS[:3]), ("01", DOCS[3:])):
        (folder / f"corpus.part-{part}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in QUERIES))
    (folder / "qrels" / "test.tsv").write_text(QRELS)
    return folder


@pytest.fixture
def embedder(tmp_path):
    return CachedEmbedder(HashingEmbedder(64), EmbeddingCache(tmp_path / "cache.sqlite3"))


def test_load_beir_reads_corpus_parts_queries_and_qrels(beir):
    data = load_beir(beir, "test")
    assert [p.id for p in data.passages] == ["d1", "d2", "d3", "d4", "d5"]
    assert data.passages[0].metadata["title"] == "Refund policy"
    assert data.queries == {"q1": "refund window for annual plans", "q2": "rotate keys",
                            "q3": "consumer group partitions"}  # only judged queries
    assert data.qrels["q1"] == {"d1": 2, "d5": 1}


def test_split_specific_queries_win_and_single_corpus_files_work(beir):
    (beir / "queries.test.jsonl").write_text(json.dumps({"_id": "q2", "text": "key rotation"}))
    with pytest.warns(UserWarning, match="2 judged queries have no text"):
        data = load_beir(beir, "test")
    assert data.queries == {"q2": "key rotation"}
    for part in beir.glob("corpus.part-*"):
        part.unlink()
    (beir / "corpus.jsonl").write_text(json.dumps(DOCS[0]))
    with pytest.warns(UserWarning):
        assert [p.id for p in load_beir(beir, "test").passages] == ["d1"]


def test_missing_folder_split_and_corpus_say_what_is_missing(beir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_beir(tmp_path / "nope", "test")
    with pytest.raises(FileNotFoundError, match=r"no qrels/train.tsv \(splits found: test\)"):
        load_beir(beir, "train")
    for part in beir.glob("corpus.part-*"):
        part.unlink()
    with pytest.raises(FileNotFoundError, match="no corpus.jsonl or corpus.part"):
        load_beir(beir, "test")


def test_bad_qrels_and_duplicate_docs_are_reported_with_the_line(beir):
    (beir / "qrels" / "test.tsv").write_text(QRELS + "q2\td9\n")
    with pytest.raises(ValueError, match=r"test.tsv:6: expected 3 tab-separated fields"):
        read_qrels(beir / "qrels" / "test.tsv")
    (beir / "qrels" / "test.tsv").write_text(QRELS)
    (beir / "corpus.part-01.jsonl").write_text(json.dumps(DOCS[0]))
    with pytest.raises(ValueError, match="'d1' appears more than once"):
        load_beir(beir, "test")


def test_every_named_pipeline_returns_ranked_hits_and_stage_timings(beir, embedder):
    passages = load_beir(beir, "test").passages
    yes = _logprobs_reply(0.9)
    for name in PIPELINES:
        pipeline = build_pipeline(name, passages, embedder=embedder, client=ScriptedClient([yes] * 20))
        result = pipeline.search("refund window for annual plans", k=3)
        assert result.hits and result.hits[0].id in {"d1", "d5"}, name
        assert len(result.hits) <= 3 and all(ms >= 0 for ms in result.timings.values())
        assert set(result.timings) & {"bm25", "dense"}
    assert "rerank" in build_pipeline("hybrid_rerank", passages, embedder=embedder,
                                      client=ScriptedClient([yes] * 5)).search("refund", k=2).timings
    assert set(describe_pipelines()) == set(PIPELINES)


def test_pipelines_filter_and_take_overrides(embedder):
    passages = [Passage(d["_id"], d["text"], {"title": d["title"], "year": 2023 if d["_id"] == "d5" else 2025})
                for d in DOCS]
    hybrid = build_pipeline("hybrid", passages, embedder=embedder, rrf_k=10, weights=(1.0, 0.5))
    assert hybrid.config.rrf_k == 10
    assert {h.id for h in hybrid.search("refunds", k=5, where={"year": 2023}).hits} == {"d5"}


def test_pipelines_on_empty_query_empty_corpus_unicode_and_huge_docs(embedder):
    passages = [Passage("big", "padding " * 100_000 + "needle"), Passage("u", "北京 zähler")]
    pipeline = build_pipeline("hybrid", passages, embedder=embedder)
    assert pipeline.search("", k=3).hits == []
    assert pipeline.search("needle", k=1).hits[0].id == "big"
    assert pipeline.search("北京", k=1).hits[0].id == "u"
    assert build_pipeline("hybrid_zscore", [], embedder=embedder).search("anything", k=3).hits == []


def test_multi_query_expansion_fuses_the_rewrites(embedder):
    client = ScriptedClient(["rotate api keys\nconsole keys"])
    pipeline = build_pipeline("bm25", [Passage(d["_id"], d["text"]) for d in DOCS], client=client,
                              expansion="multi_query")
    result = pipeline.search("credentials", k=2)
    assert result.hits[0].id == "d2" and "expansion" in result.timings


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "magic"}, ValueError, "unknown pipeline 'magic'"),
    ({"name": "bm25", "colour": "red"}, ValueError, "unknown pipeline setting 'colour'"),
    ({"name": "bm25", "depth": 0}, ValueError, r"depth \(0\) must be >= 1"),
    ({"name": "hybrid", "fusion": "max"}, ValueError, r"fusion \('max'\) must be rrf, minmax or zscore"),
    ({"name": "bm25", "sparse": False}, ValueError, "needs a retriever"),
    ({"name": "bm25", "reranker": "oracle"}, ValueError, r"reranker \('oracle'\) must be None, llm or dense"),
    ({"name": "dense", "store": "chroma"}, ValueError, "chroma with a store_path"),
    ({"name": "bm25", "rerank_weight": 2}, ValueError, r"rerank_weight \(2\) must be between 0 and 1"),
    ({"name": "bm25", "sibling_weight": -0.5}, ValueError, r"sibling_weight \(-0.5\) must be a number between 0"),
    ({"name": "bm25", "sibling_weight": "high"}, ValueError, r"sibling_weight \('high'\) must be a number"),
])
def test_bad_pipeline_settings_name_the_value(embedder, kwargs, error, message):
    name = kwargs.pop("name")
    with pytest.raises(error, match=message):
        build_pipeline(name, [Passage("a", "text")], embedder=embedder, **kwargs)


def test_a_chroma_backed_pipeline_ingests_idempotently(tmp_path, embedder):
    passages = [Passage(d["_id"], d["text"], {"title": d["title"]}) for d in DOCS]
    for _ in range(2):
        pipeline = build_pipeline("dense", passages, embedder=embedder, store="chroma", store_path=str(tmp_path / "c"))
    assert pipeline.dense.count() == 5
    assert pipeline.search("rotate API keys", k=1).hits[0].id == "d2"


def test_a_custom_reranker_instance_is_used(embedder):
    from inferlearn.rag.rerank import Reranker

    class Reverse(Reranker):
        def score(self, query, passages):
            return list(range(len(passages)))

    passages = [Passage(d["_id"], d["text"]) for d in DOCS]
    plain = build_pipeline("bm25", passages).search("refunds annual", k=2).ids
    custom = build_pipeline("bm25", passages, reranker=Reverse()).search("refunds annual", k=2).ids
    assert custom == list(reversed(plain))
    blended = build_pipeline("bm25", passages, reranker=Reverse(), rerank_weight=0.0).search("refunds annual", k=2)
    assert blended.ids == plain  # weight 0: the first stage's order stands


def test_sibling_support_lifts_a_page_that_matches_in_two_sections():
    passages = [Passage("lucky#a:0", "the partition limit", {"doc_id": "lucky"}),
                Passage("lucky#b:0", "office dogs and lunch", {"doc_id": "lucky"}),
                Passage("plans#a:0", "partition limit per plan and account", {"doc_id": "plans"}),
                Passage("plans#b:0", "partition limit table of every plan", {"doc_id": "plans"}),
                Passage("solo", "a partition", {})]  # no doc_id: its own page, never lifted
    query = "partition limit"
    plain = build_pipeline("bm25", passages).search(query, k=5)
    lifted = build_pipeline("bm25", passages, sibling_weight=0.5).search(query, k=5)
    assert plain.ids[0] == "lucky#a:0" and lifted.ids[0] == "plans#a:0"
    before, after = dict(plain.hits), dict(lifted.hits)
    assert after["plans#a:0"] == pytest.approx(before["plans#a:0"] + 0.5 * before["plans#b:0"])
    assert after["plans#b:0"] == pytest.approx(before["plans#b:0"] + 0.5 * before["plans#a:0"])
    assert after["solo"] == pytest.approx(before["solo"]) and "siblings" in lifted.timings
    assert build_pipeline("bm25", passages, sibling_weight=0.0).search(query, k=5).ids == plain.ids


def test_sibling_support_only_counts_page_mates_in_the_fused_top_pool(monkeypatch):
    import inferlearn.rag.pipelines as pipelines

    passages = [Passage("a#1:0", "partition limit partition", {"doc_id": "a"}),
                Passage("b#1:0", "partition limit", {"doc_id": "b"}),
                Passage("a#2:0", "partition", {"doc_id": "a"})]
    full = build_pipeline("bm25", passages, sibling_weight=0.5).search("partition limit", k=3)
    monkeypatch.setattr(pipelines, "SIBLING_POOL", 2)
    pooled = build_pipeline("bm25", passages, sibling_weight=0.5).search("partition limit", k=2)
    plain = dict(build_pipeline("bm25", passages).search("partition limit", k=3).hits)
    assert dict(full.hits)["a#1:0"] == pytest.approx(plain["a#1:0"] + 0.5 * plain["a#2:0"])
    assert dict(pooled.hits)["a#1:0"] == pytest.approx(plain["a#1:0"])  # its page-mate is 3rd: outside


def test_bad_k_in_search(embedder):
    with pytest.raises(ValueError, match=r"k \(0\) must be >= 1"):
        build_pipeline("bm25", [Passage("a", "text")]).search("text", k=0)


def test_evaluate_retrieval_reports_quality_latency_and_cache(beir, embedder):
    report = evaluate_retrieval(load_beir(beir, "test"), "hybrid", k=5, embedder=embedder)
    assert set(report["metrics"]) == {"ndcg@10", "recall@5", "mrr@10", "precision@5"}
    assert report["metrics"]["mrr@10"] == 1.0 and report["queries"] == 3
    assert report["latency_ms"]["p95"] >= report["latency_ms"]["p50"] > 0
    assert set(report["per_query"]) == {"q1", "q2", "q3"}
    assert report["embedding_cache"]["model"] == "hashing-64"
    assert "hybrid" in format_table([report])


def test_chunk_hits_collapse_to_their_documents_for_page_qrels(embedder):
    passages = [Passage("d1#a:0", "refund policy annual", {"doc_id": "d1"}),
                Passage("d1#b:0", "refund window 30 days", {"doc_id": "d1"}),
                Passage("d2#a:0", "api keys rotate", {"doc_id": "d2"})]
    data = RetrievalDataset("t", "test", passages, {"q": "refund window"}, {"q": {"d1": 1}})
    report = evaluate_retrieval(data, "bm25", k=1)
    assert report["metrics"]["recall@1"] == 1.0
    assert page_ranking([Hit("d1#b:0", 2.0), Hit("d1#a:0", 1.0)], {"d1#b:0": "d1", "d1#a:0": "d1"}) == ["d1"]


def test_cli_prints_the_table_and_writes_json(beir, tmp_path, capsys, monkeypatch):
    from inferlearn.config import models_dir

    monkeypatch.setenv("INFERLEARN_MODELS", str(models_dir()))
    monkeypatch.setenv("INFERLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report.json"
    code = main(["eval", "retrieval", "--dataset", str(beir), "--split", "test", "--pipeline", "bm25,hybrid",
                 "--k", "5", "--embedding-model", "wordllama-256", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "ndcg@10" in printed and "hybrid" in printed and "hit rate" in printed
    runs = json.loads(out.read_text())["runs"]
    assert [r["pipeline"] for r in runs] == ["bm25", "hybrid"]
    assert {"metrics", "latency_ms", "build_seconds", "per_query"} <= set(runs[0])


@pytest.mark.parametrize("argv, message", [
    (["--pipeline", "magic"], "unknown pipeline 'magic'"),
    (["--k", "0"], r"--k \(0\) must be >= 1"),
    (["--split", "train"], "no qrels/train.tsv"),
])
def test_cli_errors_are_one_readable_line(beir, capsys, argv, message):
    import re

    code = main(["eval", "retrieval", "--dataset", str(beir), "--pipeline", "bm25", *argv])
    assert code == 2 and re.search(message, capsys.readouterr().err)


def _logprobs_reply(p_yes: float) -> ChatCompletion:
    tops = [{"token": "yes", "logprob": math.log(p_yes), "bytes": None},
            {"token": "no", "logprob": math.log(1 - p_yes), "bytes": None}]
    return ChatCompletion.model_validate({
        "id": "c", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "yes"},
                     "logprobs": {"content": [{"token": "yes", "logprob": -0.1, "bytes": None,
                                               "top_logprobs": tops}]}}]})


def test_cli_evaluates_the_course_golden_set(capsys):
    from inferlearn.data import data_dir

    if not (data_dir() / "golden" / "golden.jsonl").exists():
        pytest.skip("data/golden/golden.jsonl is not there yet")
    code = main(["eval", "retrieval", "--dataset", "golden", "--split", "dev", "--pipeline", "bm25",
                 "--golden-unit", "pages", "--max-queries", "5"])
    captured = capsys.readouterr()
    assert code == 0 and "golden [dev]" in captured.err and "bm25" in captured.out
