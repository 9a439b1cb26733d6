"""inferlearn.prod.resilience: backoff, retries honouring Retry-After, deadlines, breaker, ladder."""

from __future__ import annotations

import openai
import pytest

from inferlearn.llm.testing import ScriptedClient, rate_limit_error, server_error, timeout_error
from inferlearn.prod.resilience import (
    CircuitBreaker,
    CircuitOpen,
    Deadline,
    DeadlineExceeded,
    RetryPolicy,
    answer_with_fallback,
    backoff_schedule,
    call_with_retries,
    extractive_answer,
    is_retryable,
    retry_after_s,
)
from inferlearn.rag.answer import ABSTAIN_ANSWER, grounded_answer

CHUNKS = [{"id": "refunds#window:0", "text": "Refunds. You can ask for a refund within 14 days of "
           "the charge. After that the plan renews.", "score": 3.0},
          {"id": "billing#invoices:0", "text": "Invoices are sent on the first day of the month.",
           "score": 1.0}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_backoff_schedule_doubles_up_to_the_cap_and_jitters_below_it():
    assert backoff_schedule(5, base=0.1, cap=0.5, jitter=False) == pytest.approx([0.1, 0.2, 0.4, 0.5])
    assert backoff_schedule(1) == []
    waits = backoff_schedule(6, base=0.1, cap=1.0, seed=3)
    assert all(0 <= w <= c for w, c in zip(waits, backoff_schedule(6, 0.1, 1.0, jitter=False), strict=True))
    assert waits == backoff_schedule(6, base=0.1, cap=1.0, seed=3)
    with pytest.raises(ValueError, match="attempts"):
        backoff_schedule(0)


def test_retry_after_is_read_and_errors_are_classified():
    assert retry_after_s(rate_limit_error(2.5)) == 2.5
    assert retry_after_s(ValueError("x")) is None
    assert is_retryable(rate_limit_error()) and is_retryable(server_error(503)) and is_retryable(timeout_error())
    bad = openai.BadRequestError("bad", response=server_error().response.__class__(
        400, request=server_error().response.request), body=None)
    assert not is_retryable(bad)


def test_retries_wait_at_least_retry_after_then_succeed():
    clock, calls = FakeClock(), []

    def fn(timeout: float) -> str:
        calls.append(timeout)
        if len(calls) < 3:
            raise rate_limit_error(0.7)
        return "ok"

    assert call_with_retries(fn, RetryPolicy(attempts=4, base=0.01, cap=0.05), sleep=clock.sleep) == "ok"
    assert len(calls) == 3 and clock.now == pytest.approx(1.4)  # two waits, each the server's 0.7 s


def test_a_wait_past_the_deadline_is_not_started():
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock)
    calls = []

    def fn(timeout: float) -> str:
        calls.append(timeout)
        raise rate_limit_error(5.0)

    with pytest.raises(DeadlineExceeded, match="deadline"):
        call_with_retries(fn, RetryPolicy(attempts=5), deadline=deadline, sleep=clock.sleep)
    assert calls == [1.0]  # one attempt, its timeout the whole deadline; no 5 s wait


def test_bad_requests_are_not_retried():
    calls = []

    def fn(timeout: float) -> str:
        calls.append(1)
        raise ValueError("malformed")

    with pytest.raises(ValueError):
        call_with_retries(fn, RetryPolicy(attempts=4), sleep=lambda s: None)
    assert calls == [1]


def test_breaker_opens_after_threshold_half_opens_then_closes():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_s=10, clock=clock)

    def boom():
        raise ConnectionError("down")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match="open"):
        breaker.call(lambda: "never")
    clock.now = 10.0
    assert breaker.state == "half_open"
    with pytest.raises(ConnectionError):
        breaker.call(boom)  # the trial fails: open again for another reset_s
    assert breaker.state == "open" and breaker.opened_count == 2
    clock.now = 20.0
    assert breaker.call(lambda: "back") == "back" and breaker.state == "closed"


def test_extractive_answer_quotes_the_best_sentence_with_its_citation():
    text, ids = extractive_answer("How many days do I have for a refund?", CHUNKS)
    assert "within 14 days" in text and "[refunds#window:0]" in text and ids[0] == "refunds#window:0"
    assert extractive_answer("zebra xylophone", CHUNKS) == ("", [])


def _llm(client):
    return lambda timeout: grounded_answer(client, "m", "refund window?", CHUNKS, timeout=timeout)


def test_ladder_llm_then_extractive_then_abstain():
    ok = ScriptedClient(["Within 14 days [refunds#window:0]."])
    result = answer_with_fallback(_llm(ok), "refund window?", CHUNKS, sleep=lambda s: None)
    assert result.source == "llm" and result.citations == ["refunds#window:0"] and not result.degraded

    down = ScriptedClient([server_error(503)] * 4)
    result = answer_with_fallback(_llm(down), "refund days?", CHUNKS, sleep=lambda s: None)
    assert result.source == "extractive" and "14 days" in result.text and len(down.calls) == 4
    assert "InternalServerError" in result.errors[0]

    result = answer_with_fallback(_llm(ScriptedClient([])), "refund?", [], sleep=lambda s: None)
    assert result.source == "abstain" and result.text == ABSTAIN_ANSWER


def test_ladder_skips_the_model_while_the_breaker_is_open():
    breaker = CircuitBreaker(failure_threshold=2, reset_s=60)
    client = ScriptedClient([timeout_error()] * 4)
    policy = RetryPolicy(attempts=2, base=0.001, cap=0.001)
    for _ in range(2):
        answer_with_fallback(_llm(client), "refund days", CHUNKS, breaker=breaker, policy=policy)
    assert breaker.state == "open" and len(client.calls) == 4
    result = answer_with_fallback(_llm(client), "refund days", CHUNKS, breaker=breaker, policy=policy)
    assert result.source == "extractive" and "CircuitOpen" in result.errors[0] and len(client.calls) == 4


def test_deadline_rejects_bad_values_and_counts_down():
    clock = FakeClock()
    deadline = Deadline(2.0, clock=clock)
    clock.now = 1.5
    assert deadline.remaining() == pytest.approx(0.5) and not deadline.expired
    with pytest.raises(DeadlineExceeded, match="rerank"):
        deadline.check("rerank", needs=0.6)
    with pytest.raises(ValueError, match="positive"):
        Deadline(0)
