"""Concurrency limit and Retry-After-aware retries (inferlearn.llm.concurrency), without a network:
the scripted client raises the SDK's own exceptions, and sleeping is recorded, not done."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from inferlearn.llm.concurrency import create_with_retries, map_with_limit, retry_after_seconds
from inferlearn.llm.testing import ScriptedClient, rate_limit_error, server_error


@pytest.mark.parametrize("headers, want", [
    ({}, 1.0),
    ({"Retry-After": "2"}, 2.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"Retry-After": "-3"}, 0.0),
    ({"Retry-After": "999"}, 30.0),
    ({"Retry-After": "soon"}, 1.0),
    ({"Retry-After": "nan"}, 1.0),
    ({"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"}, 5.0),  # 10 s after the epoch, now = 5
    ({"Retry-After": "Thu, 01 Jan 1970 00:00:01 GMT"}, 0.0),
])
def test_retry_after_seconds(headers, want):
    assert retry_after_seconds(headers, now=5.0) == want


def test_retries_wait_what_the_server_says_then_succeed():
    slept: list[float] = []
    client = ScriptedClient([rate_limit_error(retry_after=2), server_error(503), "ok"])
    reply = create_with_retries(client, sleep=slept.append, model="m", messages=[])
    assert reply.choices[0].message.content == "ok"
    assert slept[0] == 2.0 and 0 <= slept[1] <= 10.0 and len(client.calls) == 3


def test_retries_give_up_after_max_attempts_with_the_last_error():
    client = ScriptedClient([rate_limit_error(0)] * 3)
    with pytest.raises(openai.RateLimitError):
        create_with_retries(client, max_attempts=3, sleep=lambda s: None, model="m", messages=[])
    assert client.remaining == 0


def test_a_bad_request_is_not_retried():
    bad = openai.BadRequestError("bad", response=rate_limit_error().response, body=None)
    client = ScriptedClient([bad, "never"])
    with pytest.raises(openai.BadRequestError):
        create_with_retries(client, sleep=lambda s: None, model="m", messages=[])
    assert client.remaining == 1


def test_map_with_limit_keeps_order_bounds_concurrency_and_keeps_failures():
    running, peak, lock = 0, 0, threading.Lock()

    def work(x):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        if x == 3:
            raise ValueError("three")
        return x * 10

    out = map_with_limit(work, range(8), limit=3)
    assert out[:3] == [0, 10, 20] and isinstance(out[3], ValueError) and out[4:] == [40, 50, 60, 70]
    assert peak <= 3


@pytest.mark.parametrize("call", [lambda: map_with_limit(str, [1], 0),
                                  lambda: create_with_retries(ScriptedClient([]), max_attempts=0)])
def test_limits_below_one_are_clear_errors(call):
    with pytest.raises(ValueError, match="at least 1, got 0"):
        call()
