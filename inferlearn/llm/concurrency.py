"""Many model calls at once: a concurrency limit, and retries that honour ``Retry-After``.

Introduced in ``phase1_llm_api/06_streaming_and_concurrency``, where learners write
``retry_after_seconds`` and ``map_with_limit`` by hand. Retries use tenacity: the wait is the
server's ``Retry-After`` when it sends one, else exponential backoff with full jitter.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
             openai.APIConnectionError)


def retry_after_seconds(headers: Mapping[str, str], default: float | None = 1.0,
                        cap: float = 30.0, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), within [0, cap].

    A missing or unreadable header gives ``default``; a date in the past gives 0.
    """
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            return default
        seconds = when - (time.time() if now is None else now)
    if math.isnan(seconds):
        return default
    return min(max(seconds, 0.0), cap)


def _wait_for(base: float, cap: float) -> Callable[[Any], float]:
    backoff = wait_random_exponential(multiplier=base, max=cap)

    def wait(state: Any) -> float:
        exc = state.outcome.exception()
        response = getattr(exc, "response", None)
        hinted = retry_after_seconds(response.headers, None, cap) if response is not None else None
        return hinted if hinted is not None else backoff(state)

    return wait


def create_with_retries(client: Any, max_attempts: int = 4, base: float = 0.5, cap: float = 10.0,
                        sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> Any:
    """``client.chat.completions.create(**kwargs)``, retried on 429, 5xx, timeouts and dropped
    connections: waits ``Retry-After`` when given, else jittered exponential backoff."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    retrying = Retrying(stop=stop_after_attempt(max_attempts), wait=_wait_for(base, cap),
                        retry=retry_if_exception_type(RETRYABLE), sleep=sleep, reraise=True)
    return retrying(client.chat.completions.create, **kwargs)


def map_with_limit(fn: Callable[[Any], Any], items: Iterable[Any], limit: int) -> list[Any]:
    """``[fn(x) for x in items]`` with at most ``limit`` calls running at once, in input order.

    A call that raises gives its exception object in its place; the others still run.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")

    def guarded(item: Any) -> Any:
        try:
            return fn(item)
        except Exception as exc:  # one failure is a result, not the end of the batch
            return exc

    with ThreadPoolExecutor(max_workers=limit) as pool:  # the pool's size is the limit
        return list(pool.map(guarded, items))
