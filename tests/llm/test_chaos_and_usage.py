"""Chaos faults are real, seeded and honoured by the SDK; every request lands in the usage log."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from inferlearn.llm import read_usage
from inferlearn.server.chaos import ChaosMonkey, parse_chaos

pytestmark = [pytest.mark.needs_models, pytest.mark.slow]
HI = [{"role": "user", "content": "hi"}]


def test_parse_chaos_reads_every_key():
    cfg = parse_chaos("error_rate=0.3;status=503;latency_ms=200;seed=7,jitter_ms=5")
    assert (cfg.error_rate, cfg.status, cfg.latency_ms, cfg.seed, cfg.jitter_ms) == (0.3, 503, 200, 7, 5)
    assert not parse_chaos("").active and parse_chaos("hang_rate=0.1").active


@pytest.mark.parametrize(("spec", "words"), [
    ("error_rate=2", "between 0 and 1"), ("status=418", "429, 500, 503"), ("latency_ms=fast", "number"),
    ("flood=1", "known keys"), ("latency_ms=-5", "negative"), ("error_rate", "key=value")])
def test_bad_chaos_settings_are_named(spec, words):
    with pytest.raises(ValueError, match=words):
        parse_chaos(spec)


def test_same_seed_gives_the_same_fault_sequence():
    cfg = parse_chaos("error_rate=0.5;seed=7;jitter_ms=100")
    monkey_a, monkey_b = ChaosMonkey(), ChaosMonkey()
    seq_a = [monkey_a.decide(cfg) for _ in range(30)]
    assert seq_a == [monkey_b.decide(cfg) for _ in range(30)]
    assert 5 < sum(d.error_status is not None for d in seq_a) < 25
    other = ChaosMonkey()
    other_cfg = parse_chaos("error_rate=0.5;seed=8;jitter_ms=100")
    assert [other.decide(other_cfg) for _ in range(30)] != seq_a
    monkey_a.reset()
    assert [monkey_a.decide(cfg) for _ in range(30)] == seq_a


def test_header_chaos_429_carries_retry_after(client, model):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=model, messages=HI,
                                       extra_headers={"X-Inferlearn-Chaos": "error_rate=1;status=429"})
    headers = info.value.response.headers
    assert headers["retry-after"] == "1" and info.value.code == "rate_limit_exceeded"


def test_sdk_retry_honours_retry_after(client, model, runtime):
    since = time.time()
    start = time.perf_counter()
    with pytest.raises(openai.RateLimitError):
        client.with_options(max_retries=2).chat.completions.create(
            model=model, messages=HI,
            extra_headers={"X-Inferlearn-Chaos": "error_rate=1;status=429;retry_after=1.5"})
    elapsed = time.perf_counter() - start
    log = read_usage(runtime / "usage.sqlite", since=since)
    assert (log["status"] == 429).sum() == 3  # the first try and two retries
    assert elapsed >= 2 * 1.5 - 0.1, f"the SDK waited only {elapsed:.2f}s between retries"


def test_seeded_header_chaos_repeats_exactly(client, model, base_url):
    header = {"X-Inferlearn-Chaos": "error_rate=0.5;status=503;seed=1234"}

    def statuses() -> list[int]:
        httpx.post(base_url + "/chaos/reset", timeout=10)
        out = []
        for _ in range(12):
            try:
                client.chat.completions.create(model=model, messages=HI, max_tokens=1, extra_headers=header)
                out.append(200)
            except openai.InternalServerError as exc:
                out.append(exc.status_code)
        return out

    first = statuses()
    assert first == statuses() and 200 in first and 503 in first


def test_latency_chaos_adds_delay(client, model):
    start = time.perf_counter()
    client.chat.completions.create(model=model, messages=HI, max_tokens=1,
                                   extra_headers={"X-Inferlearn-Chaos": "latency_ms=400"})
    assert time.perf_counter() - start >= 0.4


def test_hang_is_cut_by_client_timeout(client, model):
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.5, max_retries=0).chat.completions.create(
            model=model, messages=HI, max_tokens=1,
            extra_headers={"X-Inferlearn-Chaos": "hang_rate=1;hang_s=3"})


def test_truncated_stream_ends_without_finish_reason(client, model, runtime):
    since = time.time()
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell a long story."}], max_tokens=60,
        stream=True, extra_headers={"X-Inferlearn-Chaos": "truncate_rate=1;seed=3"})
    chunks = list(stream)
    assert 1 <= len(chunks) <= 9
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    rows = read_usage(runtime / "usage.sqlite", since=since)
    # (the previous test's abandoned request is logged as 499 when its disconnect is seen)
    mine = rows[rows["request_id"] == stream.response.headers["x-request-id"]]
    assert mine["status"].tolist() == [599]


def test_malformed_chaos_breaks_json_object_replies(client, model):
    import json

    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "A JSON object with a name please."}],
        response_format={"type": "json_object"}, max_tokens=60, temperature=0,
        extra_headers={"X-Inferlearn-Chaos": "malformed_rate=1"})
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.choices[0].message.content)


def test_every_request_is_logged_with_the_reported_tokens(client, model, runtime):
    # Select by request id: a request another test abandoned (a client timeout) may still finish
    # and be logged meanwhile, as on any real server.
    replies = [client.chat.completions.create(model=model, messages=[{"role": "user", "content": q}],
                                              max_tokens=8, seed=i)
               for i, q in enumerate(["one", "two words", "three little words"])]
    emb = client.embeddings.create(model="minilm-l6-int8", input=["a b c"])
    log = read_usage(runtime / "usage.sqlite").set_index("request_id")
    chats = log.loc[[r._request_id for r in replies]]
    assert list(chats["prompt_tokens"]) == [r.usage.prompt_tokens for r in replies]
    assert list(chats["completion_tokens"]) == [r.usage.completion_tokens for r in replies]
    assert (chats["cost_usd"] > 0).all() and (chats["status"] == 200).all()
    assert (chats["endpoint"] == "chat.completions").all()
    assert log.loc[emb._request_id, "prompt_tokens"] == emb.usage.prompt_tokens
    assert {"time", "model", "latency_ms", "status", "cost_usd"} <= set(log.columns)


def test_streamed_request_is_logged_too(client, model, runtime):
    stream = client.chat.completions.create(model=model, messages=HI, max_tokens=5, stream=True,
                                            stream_options={"include_usage": True})
    request_id = stream.response.headers["x-request-id"]
    chunks = list(stream)
    log = read_usage(runtime / "usage.sqlite").set_index("request_id")
    assert log.loc[request_id, "completion_tokens"] == chunks[-1].usage.completion_tokens


def test_read_usage_of_missing_database_is_empty(tmp_path):
    assert read_usage(tmp_path / "none.sqlite").empty
