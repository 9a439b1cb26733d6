"""Plausible wrong answers to the graded exercises of phase4_production/03 and 06, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a learner might write it. Each one
passes the visible tests and is caught by a hidden one:

- ``p4-budget-solution``: does the arithmetic in float dollars (``cap - spent - ...``), so
  ``0.3 - 0.1`` leaves 0.19999999999999998 and one affordable token is lost to rounding.
- ``p4-request-key-solution``: hashes ``str(request)``, so two requests that differ only in key
  order get different keys (a cache that misses for no reason).
- ``p4-percentiles-solution``: forgets to sort, so it is right only when latencies arrive sorted.
- ``p4-alert-solution``: compares with ``>=``, so an error rate exactly at the threshold alerts.

The sources rely only on what the notebooks import before the solution cell (``math``, ``json``,
``hashlib``).
"""

WRONG = {
    "p4-budget-solution": '''
def enforce_budget(prompt_tokens, max_tokens, spent_usd, cap_usd, price_in, price_out):
    """The max_tokens a request may send so its worst case fits in the rest of the cap (0: refuse)."""
    if min(prompt_tokens, max_tokens, spent_usd, cap_usd, price_in, price_out) < 0:
        raise ValueError("token counts, amounts and prices must be >= 0")
    left = cap_usd - spent_usd - prompt_tokens * price_in / 1_000_000
    if left < 0:
        return 0
    if price_out == 0:
        return max_tokens
    affordable = int(left / (price_out / 1_000_000))
    return min(max_tokens, affordable) if affordable >= 1 else 0
''',
    "p4-request-key-solution": '''
IGNORED = ("user", "stream", "request_id")


def request_key(request):
    """sha256 of the request as canonical JSON (IGNORED fields dropped), or None if not cacheable."""
    if request.get("temperature", 1.0) != 0 and request.get("seed") is None:
        return None
    kept = {k: v for k, v in request.items() if k not in IGNORED}
    return hashlib.sha256(str(kept).encode("utf-8")).hexdigest()
''',
    "p4-percentiles-solution": '''
def latency_percentiles(latencies_ms, qs=(50, 95, 99)):
    """Nearest-rank percentiles of the latencies, as {q: value}; None and NaN are ignored."""
    values = [v for v in latencies_ms if v is not None and not math.isnan(v)]
    if not values:
        raise ValueError("no latencies to summarise")
    out = {}
    for q in qs:
        if not 0 < q <= 100:
            raise ValueError(f"a percentile lies in (0, 100], got {q}")
        out[q] = values[max(1, math.ceil(q / 100 * len(values))) - 1]
    return out
''',
    "p4-alert-solution": '''
def should_alert(windows, threshold, for_windows):
    """True when each of the last for_windows windows has an error rate above threshold."""
    if for_windows < 1:
        raise ValueError(f"for_windows must be at least 1, got {for_windows}")
    recent = list(windows)[-for_windows:]
    if len(recent) < for_windows:
        return False
    return all(requests > 0 and errors / requests >= threshold for requests, errors in recent)
''',
}
