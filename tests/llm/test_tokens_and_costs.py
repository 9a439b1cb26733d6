"""Token counts match the server's usage; OpenAI encoders agree; costs come from the catalogue."""

from __future__ import annotations

import pytest

from inferlearn.llm import count_tokens, get_model_info, usage_cost
from inferlearn.llm.tokens import openai_encoding, tiktoken_cached

CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Explain offsets."}],
    [{"role": "user", "content": "Résumé: naïve café ☕ — 東京 🚀"}],
    [{"role": "developer", "content": "Rules."}, {"role": "user", "content": "Q1"},
     {"role": "assistant", "content": "A1"}, {"role": "user", "content": "<|im_start|> is a token?"}],
    [{"role": "user", "content": [{"type": "text", "text": "part one "}, {"type": "text", "text": "two"}]}],
]


@pytest.mark.needs_models
@pytest.mark.slow
@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_local_count_equals_server_prompt_tokens(client, model, messages):
    reply = client.chat.completions.create(model=model, messages=messages, max_tokens=1)
    assert count_tokens(messages, model) == reply.usage.prompt_tokens


@pytest.mark.needs_models
def test_local_text_count_is_plausible():
    assert count_tokens("") == 0
    assert 1 <= count_tokens("hello") <= 2
    assert count_tokens("hello " * 100) >= 100


SAMPLES = ["Hello, world!", "Larkspur Streams bills $0.09 per GB of ingress.",
           "naïve café 東京 🚀", "def f(x):\n    return x ** 2\n", " " * 7 + "tabs\tand\nnewlines"]


LONG = open(__file__, encoding="utf-8").read()  # code, punctuation, unicode: a varied sample


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_tiktoken_and_bpe_openai_agree(encoding):
    """tiktoken (the reference) and bpe-openai (the offline fallback) give the same token ids.

    tiktoken runs on its own downloaded file when present, else on the rank file bpe-openai ships
    (the same file tiktoken downloads), so the comparison is two implementations on one vocabulary.
    """
    import bpe_openai
    import tiktoken
    from bpe_openai import registry

    ref = tiktoken.get_encoding(encoding) if tiktoken_cached(encoding) else \
        tiktoken.Encoding(**getattr(registry, encoding)())
    fast = bpe_openai.get_encoding(encoding)
    for text in [*SAMPLES, LONG]:
        assert fast.encode(text) == ref.encode(text), text[:40]


def test_bpe_openai_counts_known_strings_without_network():
    enc = openai_encoding("o200k_base")
    assert len(enc.encode("Hello world, tokens!")) == 5
    assert count_tokens("Hello world, tokens!", "gpt-4o-mini") == 5


def test_openai_message_overhead_follows_the_recipe():
    messages = [{"role": "user", "content": "hi"}]
    # 3 priming + 3 per message + role "user" (1) + content "hi" (1)
    assert count_tokens(messages, "gpt-4o") == 8


@pytest.mark.parametrize("bad", [None, 42, {"role": "user"}])
def test_count_tokens_rejects_other_types(bad):
    with pytest.raises(TypeError, match="string or a list"):
        count_tokens(bad, "gpt-4o")


def test_unknown_model_names_the_catalogue():
    with pytest.raises(KeyError, match="not in the inferlearn catalogue"):
        get_model_info("gpt-99")


def test_dated_snapshot_maps_to_family():
    assert get_model_info("gpt-4o-mini-2024-07-18").id == "gpt-4o-mini"


def test_usage_cost_uses_per_million_prices():
    info = get_model_info("gpt-4o-mini")
    assert usage_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(
        info.input_per_mtok + info.output_per_mtok)
    assert usage_cost("gpt-4o-mini", 0, 0) == 0
    with pytest.raises(ValueError, match="must be >= 0"):
        usage_cost("gpt-4o-mini", -1, 0)


def test_local_models_are_marked_notional():
    assert get_model_info("smollm2-135m-instruct").notional
    assert not get_model_info("gpt-4o").notional
