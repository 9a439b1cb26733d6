"""Resilience for model calls: deadlines, retries with backoff, a circuit breaker, a fallback ladder.

    deadline = Deadline(5.0)                         # the caller waits 5 s, no longer
    breaker = CircuitBreaker(failure_threshold=5, reset_s=30)
    result = answer_with_fallback(call_llm, query, chunks, breaker=breaker, deadline=deadline)
    result.source        # "llm", "extractive" (top chunks, quoted) or "abstain"

Retries use tenacity: exponential backoff with full jitter, never shorter than the server's
``Retry-After``, and never a wait (or an attempt) the deadline has no room for.
Introduced in ``phase4_production/02_resilience``.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from inferlearn.llm.concurrency import retry_after_seconds

T = TypeVar("T")
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class DeadlineExceeded(TimeoutError):
    """The caller's deadline has no room left for this stage."""


class CircuitOpen(RuntimeError):
    """The circuit breaker is open: the dependency is skipped until ``retry_in`` seconds pass."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit {name!r} is open after repeated failures; next trial call "
                         f"in {retry_in:.1f} s")
        self.retry_in = retry_in


@dataclass
class Deadline:
    """A point in time the caller stops waiting at, passed down so no stage starts late work.

    Introduced in ``phase4_production/01_service_contract``.
    """

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if not isinstance(self.seconds, (int, float)) or self.seconds <= 0:
            raise ValueError(f"deadline ({self.seconds!r} s) must be a positive number of seconds")
        if self.start < 0:
            self.start = self.clock()

    def remaining(self) -> float:
        """Seconds left (0 when past)."""
        return max(0.0, self.start + self.seconds - self.clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self, stage: str, needs: float = 0.0) -> float:
        """The seconds left; ``DeadlineExceeded`` when fewer than ``needs`` remain for ``stage``."""
        left = self.remaining()
        if left <= needs:
            raise DeadlineExceeded(f"{stage}: {left * 1000:.0f} ms left of the {self.seconds:g} s "
                                   f"deadline, {needs * 1000:.0f} ms needed; not starting it")
        return left


def backoff_schedule(attempts: int, base: float = 0.1, cap: float = 2.0, jitter: bool = True,
                     seed: int | None = None) -> list[float]:
    """Waits before retries 1..attempts-1: ``min(cap, base * 2**i)``, times U(0, 1) with jitter.

    Full jitter (AWS's name) spreads clients that failed together so they do not retry together.
    Built by hand in ``phase4_production/02_resilience``; this is the library's version.
    """
    if not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts ({attempts!r}) must be a whole number, at least 1")
    if base <= 0 or cap < base:
        raise ValueError(f"need 0 < base ({base}) <= cap ({cap})")
    rng = random.Random(seed)
    waits = [min(cap, base * 2 ** i) for i in range(attempts - 1)]
    return [rng.uniform(0, w) for w in waits] if jitter else waits


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error (``openai.APIStatusError`` and the like), else None."""
    status = getattr(exc, "status_code", None)
    if status is None and getattr(exc, "response", None) is not None:
        status = getattr(exc.response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms`` or ``Retry-After``, seconds or an
    HTTP date: ``inferlearn.llm.concurrency.retry_after_seconds``), else None."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    return retry_after_seconds(headers, None, cap=math.inf)


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, dropped connections, 408/409/429/5xx: worth another try. Bad requests are not."""
    if isinstance(exc, (DeadlineExceeded, CircuitOpen)):
        return False
    status = status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUSES
    name = type(exc).__name__
    return isinstance(exc, (TimeoutError, ConnectionError)) or name in (
        "APITimeoutError", "APIConnectionError", "ConnectError", "ReadTimeout", "RemoteProtocolError")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``attempts`` counts the first call."""

    attempts: int = 4
    base: float = 0.1
    cap: float = 2.0
    attempt_timeout: float = 30.0  # no single call may take longer than this
    min_attempt_s: float = 0.05  # do not start a call with less time than this left


def _wait(policy: RetryPolicy, deadline: Deadline | None) -> Callable[[tenacity.RetryCallState], float]:
    jitter = tenacity.wait_random_exponential(multiplier=policy.base, max=policy.cap)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        seconds = max(jitter(state), retry_after_s(exc) or 0.0) if exc else jitter(state)
        if deadline is not None and seconds + policy.min_attempt_s >= deadline.remaining():
            raise DeadlineExceeded(f"retry {state.attempt_number}: waiting {seconds:.2f} s would "
                                   f"pass the deadline ({deadline.remaining():.2f} s left)") from exc
        return seconds

    return wait


def call_with_retries(fn: Callable[[float], T], policy: RetryPolicy = RetryPolicy(),
                      deadline: Deadline | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn(timeout_s)`` with retries; each attempt's timeout is what the deadline still allows.

    Raises the last error when attempts run out, ``DeadlineExceeded`` when the deadline leaves no
    room for the next wait or attempt. Introduced in ``phase4_production/02_resilience``.
    """
    def attempt() -> T:
        timeout = policy.attempt_timeout
        if deadline is not None:
            timeout = min(timeout, deadline.check("model call", policy.min_attempt_s))
        return fn(timeout)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts), wait=_wait(policy, deadline),
        retry=tenacity.retry_if_exception(is_retryable), reraise=True, sleep=sleep)
    return retrying(attempt)


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures -> half-open after
    ``reset_s`` (one trial call) -> closed on success, open again on failure. Thread-safe.

    Built by hand in ``phase4_production/02_resilience``; this is the library's version.
    """

    def __init__(self, failure_threshold: int = 5, reset_s: float = 30.0, name: str = "model",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError(f"failure_threshold ({failure_threshold!r}) must be a whole number >= 1")
        if reset_s <= 0:
            raise ValueError(f"reset_s ({reset_s!r}) must be positive")
        self.failure_threshold, self.reset_s, self.name, self.clock = failure_threshold, reset_s, name, clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.opened_count = 0
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.reset_s else "open"

    def allow(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go through now."""
        with self._lock:
            state = self.state
            if state == "closed":
                return
            if state == "half_open" and not self.trial_running:
                self.trial_running = True
                return
            wait = self.reset_s - (self.clock() - self.opened_at) if state == "open" else self.reset_s
            raise CircuitOpen(self.name, max(0.0, wait))

    def record_success(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self.trial_running = 0, None, False

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.trial_running or (self.opened_at is None and self.failures >= self.failure_threshold):
                self.opened_at, self.trial_running = self.clock(), False
                self.opened_count += 1

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` through the breaker: skipped when open, its outcome recorded."""
        self.allow()
        try:
            result = fn()
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an and are can do does for have how i in is it my of on or the to what when "
                  "where which who why with you your".split())


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _units(text: str) -> tuple[str, list[str]]:
    """A chunk's breadcrumb title (first line with ``>``, if any) and its quotable units:
    sentences of prose lines and table rows as ``cell | cell``; headings, code blocks and
    questions left out."""
    lines = [line.strip() for line in text.strip().splitlines()]
    title = lines.pop(0) if lines and " > " in lines[0] else ""
    units: list[str] = []
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line or line.startswith(("#", "```")) or set(line) <= set("|-: "):
            continue
        if line.startswith("|"):
            units.append(" | ".join(cell.strip() for cell in line.strip("|").split("|")))
        else:
            units += [u for u in _SENTENCE.split(line) if u and not u.rstrip().endswith("?")]
    return title, units


def extractive_answer(query: str, chunks: Sequence[Any], max_units: int = 2,
                      max_words: int = 60) -> tuple[str, list[str]]:
    """A quote from the top chunks, cited: the sentences or table rows sharing most words with
    ``query`` (at least two), else the opening of the best chunk that shares any word with it.

    Returns ``(text, cited ids)``; ``("", [])`` when no chunk shares a word with the query, so
    the caller abstains. Introduced in ``phase4_production/02_resilience``.
    """
    from inferlearn.rag.answer import as_retrieved

    terms, scored, opening = _terms(query), [], None
    for rank, item in enumerate(chunks[:3]):
        chunk = as_retrieved(item)
        title, units = _units(chunk.text)
        if opening is None and units and terms & _terms(chunk.text):
            words = " ".join(units).split()
            opening = (f"{title}: " if title else "") + " ".join(words[:max_words]) + \
                (" ..." if len(words) > max_words else "") + f" [{chunk.id}]"
            opening = (opening, [chunk.id])
        for pos, unit in enumerate(units):
            overlap = len(terms & _terms(unit))
            if overlap >= 2:
                scored.append((-overlap, rank, pos, unit.strip(), chunk.id))
    if not scored:
        return opening or ("", [])
    best = sorted(sorted(scored)[:max_units], key=lambda row: (row[1], row[2]))  # reading order
    return " ".join(f"{row[3]} [{row[4]}]" for row in best), list(dict.fromkeys(row[4] for row in best))


@dataclass
class LadderResult:
    """What the fallback ladder answered and why."""

    text: str
    source: str  # "llm", "extractive" or "abstain"
    citations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return self.source != "llm"


def answer_with_fallback(call_llm: Callable[[float], Any], query: str, chunks: Sequence[Any], *,
                         breaker: CircuitBreaker | None = None, deadline: Deadline | None = None,
                         policy: RetryPolicy = RetryPolicy(), abstain_text: str | None = None,
                         sleep: Callable[[float], None] = time.sleep) -> LadderResult:
    """LLM answer -> extractive answer from the top chunks -> honest abstention.

    ``call_llm(timeout_s)`` returns a ``GroundedAnswer``-like object (``.text``, ``.citations``,
    ``.abstained``, ``.usage``). It runs behind ``breaker`` with retries under ``deadline``; any
    failure drops to the next rung, recorded in ``errors``.
    Built by hand in ``phase4_production/02_resilience``; this is the library's version.
    """
    from inferlearn.rag.answer import ABSTAIN_ANSWER

    errors: list[str] = []
    if chunks:
        try:
            def guarded() -> Any:
                return (breaker.call if breaker else (lambda f: f()))(
                    lambda: call_with_retries(call_llm, policy, deadline, sleep))

            reply = guarded()
            usage = {k: v for k, v in (reply.usage or {}).items() if isinstance(v, int)}
            return LadderResult(reply.text, "abstain" if reply.abstained else "llm",
                                list(reply.citations), errors, usage)
        except Exception as exc:  # every failure of the model call degrades, none escapes
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        text, ids = extractive_answer(query, chunks)
        if text:
            return LadderResult(text, "extractive", ids, errors)
    else:
        errors.append("no chunks were retrieved")
    return LadderResult(abstain_text or ABSTAIN_ANSWER, "abstain", [], errors)
