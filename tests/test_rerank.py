"""Re-rankers: LLM yes/no logprobs (scripted client), dense re-scoring, cross-encoder adapter."""

from __future__ import annotations

import math
import time

import pytest
from openai.types.chat import ChatCompletion

from inferlearn.llm.testing import ScriptedClient, rate_limit_error
from inferlearn.rag.dense import CachedEmbedder, EmbeddingCache, HashingEmbedder
from inferlearn.rag.passages import Passage
from inferlearn.rag.rerank import (
    CrossEncoderReranker,
    DenseRescorer,
    LLMReranker,
    Reranker,
    yes_probability,
)

PASSAGES = [Passage("a", "bread recipes"), Passage("b", "rotate api keys"), Passage("c", "key rotation policy")]


def logprob_reply(top: dict[str, float]) -> ChatCompletion:
    """A one-token completion whose top_logprobs give these probabilities."""
    tops = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in top.items()]
    first = tops[0]["token"] if tops else "x"
    return ChatCompletion.model_validate({
        "id": "c", "object": "chat.completion", "created": int(time.time()), "model": "m",
        "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": first},
                     "logprobs": {"content": [{"token": first, "logprob": -0.1, "bytes": None,
                                               "top_logprobs": tops}]}}]})


def test_yes_probability_reads_yes_and_no_variants():
    entry = {"top_logprobs": [{"token": " Yes", "logprob": math.log(0.6)},
                              {"token": "no.", "logprob": math.log(0.2)},
                              {"token": "YES", "logprob": math.log(0.1)},
                              {"token": "maybe", "logprob": math.log(0.1)}]}
    assert yes_probability(entry) == pytest.approx(0.7 / 0.9)
    assert yes_probability({"top_logprobs": [{"token": "maybe", "logprob": -0.1}]}) is None
    assert yes_probability({}) is None


def test_llm_reranker_orders_by_yes_probability_and_sends_one_token_requests():
    client = ScriptedClient([logprob_reply({"no": 0.9, "yes": 0.1}), logprob_reply({"yes": 0.8, "no": 0.2}),
                             logprob_reply({"yes": 0.95, "no": 0.05})])
    hits = LLMReranker(client, model="m").rerank("how do I rotate keys?", PASSAGES)
    assert [h.id for h in hits] == ["c", "b", "a"]
    assert hits[0].score == pytest.approx(0.95)
    call = client.calls[0]
    assert (call["max_tokens"], call["logprobs"], call["top_logprobs"], call["model"]) == (1, True, 5, "m")
    assert "how do I rotate keys?" in call["messages"][-1]["content"]


def test_llm_reranker_scores_half_when_neither_word_appears_and_keeps_input_order_on_ties():
    client = ScriptedClient([logprob_reply({"maybe": 0.9}), logprob_reply({"perhaps": 0.9})])
    hits = LLMReranker(client, model="m").rerank("q", PASSAGES[:2])
    assert [(h.id, h.score) for h in hits] == [("a", 0.5), ("b", 0.5)]


def test_llm_reranker_cuts_huge_passages_and_handles_unicode():
    client = ScriptedClient([logprob_reply({"yes": 0.5, "no": 0.5})])
    reranker = LLMReranker(client, model="m", max_chars=100)
    reranker.rerank("北京?", [Passage("big", "zähler " * 100_000)])
    assert len(client.calls[0]["messages"][-1]["content"]) < 300


def test_llm_reranker_says_when_the_backend_gives_no_logprobs():
    with pytest.raises(RuntimeError, match="returned no logprobs"):
        LLMReranker(ScriptedClient(["yes"]), model="m").rerank("q", PASSAGES[:1])


def test_llm_reranker_lets_client_errors_through():
    with pytest.raises(Exception, match="Rate limit"):
        LLMReranker(ScriptedClient([rate_limit_error()]), model="m").rerank("q", PASSAGES[:1])


def test_empty_input_makes_no_calls():
    client = ScriptedClient([])
    assert LLMReranker(client, model="m").rerank("q", []) == []
    assert client.calls == []


def test_limit_and_bad_parameters():
    client = ScriptedClient([logprob_reply({"yes": 0.9, "no": 0.1})] * 3)
    assert len(LLMReranker(client, model="m").rerank("q", PASSAGES, limit=1)) == 1
    with pytest.raises(ValueError, match=r"limit \(0\) must be >= 1"):
        LLMReranker(client, model="m").rerank("q", PASSAGES, limit=0)
    with pytest.raises(ValueError, match=r"max_chars \(0\) must be >= 1"):
        LLMReranker(client, model="m", max_chars=0)
    with pytest.raises(TypeError, match="query must be a string"):
        LLMReranker(client, model="m").rerank(None, PASSAGES)


def test_dense_rescorer_prefers_shared_words(tmp_path):
    rescorer = DenseRescorer(CachedEmbedder(HashingEmbedder(64), EmbeddingCache(tmp_path / "c.db")))
    hits = rescorer.rerank("rotate api keys", PASSAGES)
    assert hits[0].id == "b" and [h.id for h in hits[1:]] == ["a", "c"]  # a tie at 0 keeps input order
    assert [h.score for h in rescorer.rerank("", PASSAGES)] == [0.0, 0.0, 0.0]


class FakeCrossEncoder:
    def __init__(self):
        self.pairs = []

    def predict(self, pairs):
        self.pairs.extend(pairs)
        return [float(len(set(q.split()) & set(p.split()))) for q, p in pairs]


def test_cross_encoder_adapter_takes_any_model_with_predict():
    model = FakeCrossEncoder()
    hits = CrossEncoderReranker(model).rerank("key rotation policy", PASSAGES)
    assert hits[0].id == "c" and model.pairs[0] == ("key rotation policy", "bread recipes")
    with pytest.raises(TypeError, match="no predict"):
        CrossEncoderReranker(object())


def test_cross_encoder_by_name_needs_sentence_transformers():
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs sentence-transformers"):
            CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2")
    else:
        pytest.skip("sentence-transformers is installed here; the missing-library path is untestable")


def test_a_reranker_returning_the_wrong_number_of_scores_is_reported():
    class Broken(Reranker):
        name = "broken"

        def score(self, query, passages):
            return [1.0]

    with pytest.raises(RuntimeError, match="broken returned 1 scores for 3 passages"):
        Broken().rerank("q", PASSAGES)
