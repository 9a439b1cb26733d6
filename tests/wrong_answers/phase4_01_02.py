"""Plausible wrong answers to the exercises of phase4_production/01 and 02, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a student might write it. Each one
passes the visible tests and must lose points on the hidden ones:

- ``p4-contract-solution``: checks that a 429 has a ``Retry-After`` header but not its value, so
  ``"0"`` or ``"soon"`` pass; and takes any dict with an ``error`` key as a good error body.
- ``p4-token-bucket-solution``: refills without the ``burst`` cap, so a key that was idle for a
  long time banks tokens and can then burst far past the limit.
- ``p4-next-wait-solution``: applies the cap after honouring ``Retry-After``, so a server that asks
  for 5 s gets called again after 2 s.
- ``p4-breaker-solution``: half-open lets every call through instead of one trial call, so a
  still-broken dependency gets the whole backlog at once.
"""

WRONG = {
    "p4-contract-solution": '''
def contract_violations(status, headers, body):
    """Ways one response breaks the service contract; [] when it keeps it."""
    found = []
    if status >= 500:
        found.append(f"server error {status}")
    if not headers.get("x-request-id"):
        found.append("missing X-Request-Id")
    if status >= 400 and not (isinstance(body, dict) and "error" in body):
        found.append("bad error body")
    if status == 429 and "retry-after" not in headers:
        found.append("bad Retry-After: missing")
    if status == 200 and isinstance(body, dict) and "citations" in body and "context_ids" in body:
        found += [f"uncited context: {c}" for c in body["citations"] if c not in body["context_ids"]]
    return found
''',
    "p4-token-bucket-solution": '''
class TokenBucket:
    """A token bucket per key: bursts of up to `burst` requests, `rate` per second sustained."""

    def __init__(self, rate, burst):
        if not rate > 0:
            raise ValueError(f"rate ({rate}) must be positive")
        if not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst ({burst}) must be a whole number, at least 1")
        self.rate, self.burst = rate, burst
        self.buckets = {}

    def acquire(self, key, now):
        """0.0 if the request may go ahead now, else the seconds until it may."""
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = tokens + (now - last) * self.rate
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate
''',
    "p4-next-wait-solution": '''
def next_wait(attempt, base, cap, retry_after=None, rng=random.random):
    """Seconds to wait before retry `attempt`: capped exponential backoff, full jitter, >= Retry-After."""
    if attempt < 1:
        raise ValueError(f"attempt ({attempt}) must be at least 1 (the first retry)")
    wait = rng() * base * 2 ** (attempt - 1)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return min(cap, wait)
''',
    "p4-breaker-solution": '''
class CircuitBreaker:
    """Closed -> open after `threshold` failures in a row -> half-open after `reset_s` -> closed on success."""

    def __init__(self, threshold, reset_s):
        if not isinstance(threshold, int) or threshold < 1:
            raise ValueError(f"threshold ({threshold}) must be a whole number, at least 1")
        if not reset_s > 0:
            raise ValueError(f"reset_s ({reset_s}) must be positive")
        self.threshold, self.reset_s = threshold, reset_s
        self.failures, self.opened_at = 0, None

    def state(self, now):
        """'closed', 'open' or 'half_open' at time `now`."""
        if self.opened_at is None:
            return "closed"
        return "open" if now - self.opened_at < self.reset_s else "half_open"

    def allow(self, now):
        """May a call go through at time `now`?"""
        return self.state(now) != "open"

    def record(self, ok, now):
        """Record the outcome of a call that was allowed."""
        if ok:
            self.failures, self.opened_at = 0, None
        else:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = now
''',
}
