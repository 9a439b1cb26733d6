"""Telemetry: one JSON line per request, Prometheus metrics, and the numbers a dashboard needs.

Introduced in ``phase4_production/06_prompt_releases_and_monitoring``. ``log_request(**fields)``
is the one call a service makes per request: it appends a JSON line to the request log (what
the dashboard notebook reads), writes the same line to the ``inferlearn.requests`` logger, and
updates the metrics served at ``/metrics`` by ``metrics_app()``::

    log_request(route="/v1/answer", status=200, latency_ms=412.0, stages={"retrieve": 12.5},
                model="smollm2-135m-instruct", prompt_tokens=900, completion_tokens=80,
                cost_usd=4.1e-05, cache="miss", abstained=False, prompt="grounded_answer@v2#ab12...")

Free text (``query``, ``answer``) is redacted with ``inferlearn.prod.pii.redact`` when that
module is installed; without it the text is never logged, only its length and sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app

TEXT_FIELDS = ("query", "answer")
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
logger = logging.getLogger("inferlearn.requests")


class Metrics:
    """The service's Prometheus metrics in their own registry (tests make as many as they like)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.latency = Histogram("inferlearn_request_seconds", "Latency by route and stage",
                                 ["route", "stage"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.requests = Counter("inferlearn_requests", "Requests by route and status",
                                ["route", "status"], registry=r)
        self.errors = Counter("inferlearn_errors", "Errors by route and type", ["route", "type"], registry=r)
        self.tokens = Counter("inferlearn_tokens", "Tokens by model and kind", ["model", "kind"], registry=r)
        self.cost = Counter("inferlearn_cost_usd", "Spend in USD by model", ["model"], registry=r)
        self.cache = Counter("inferlearn_cache", "Cache lookups by result", ["result"], registry=r)
        self.abstentions = Counter("inferlearn_abstentions", "Honest abstentions", ["route"], registry=r)
        self.breaker = Gauge("inferlearn_breaker_state", "Circuit breaker: 0 closed, 1 half open, 2 open",
                             ["name"], registry=r)

    def observe(self, fields: dict[str, Any]) -> None:
        """Update every metric the fields of one request log line speak about."""
        route = str(fields.get("route", "unknown"))
        self.requests.labels(route, str(fields.get("status", "unknown"))).inc()
        if fields.get("latency_ms") is not None:
            self.latency.labels(route, "total").observe(float(fields["latency_ms"]) / 1000)
        for stage, ms in (fields.get("stages") or {}).items():
            self.latency.labels(route, str(stage)).observe(float(ms) / 1000)
        if fields.get("error"):
            self.errors.labels(route, str(fields["error"])).inc()
        model = str(fields.get("model", "unknown"))
        for kind in ("prompt_tokens", "completion_tokens"):
            if fields.get(kind):
                self.tokens.labels(model, kind.split("_")[0]).inc(int(fields[kind]))
        if fields.get("cost_usd"):
            self.cost.labels(model).inc(float(fields["cost_usd"]))
        if fields.get("cache"):
            self.cache.labels(str(fields["cache"])).inc()
        if fields.get("abstained"):
            self.abstentions.labels(route).inc()
        if fields.get("breaker") in BREAKER_STATES:
            self.breaker.labels(str(fields.get("breaker_name", "llm"))).set(BREAKER_STATES[fields["breaker"]])


METRICS = Metrics()
_write_lock = threading.Lock()


def metrics_app(metrics: Metrics | None = None):
    """An ASGI app serving ``metrics`` (default: the process-wide ones) in Prometheus' text format;
    mount it at ``/metrics``: ``app.mount("/metrics", metrics_app())``."""
    return make_asgi_app(registry=(metrics or METRICS).registry)


def request_log_path() -> Path:
    """``INFERLEARN_REQUEST_LOG`` if set, else ``requests.jsonl`` in the runtime folder."""
    from inferlearn.config import runtime_dir, settings

    return settings().request_log or runtime_dir() / "requests.jsonl"


def scrub_text(text: str) -> dict[str, Any]:
    """What may be logged of free text: redacted text if PII redaction is installed, else only
    its length and sha256 (never the raw text)."""
    try:
        from inferlearn.prod.pii import redact
    except ImportError:
        return {"chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]}
    return {"chars": len(text), "redacted": redact(text).text}


def log_request(log_path: str | Path | None = None, metrics: Metrics | None = None, /,
                **fields: Any) -> dict:
    """Record one request: a JSON line in the request log, the logger, the metrics; returns the line.

    ``log_path`` and ``metrics`` are positional-only, so any field name (``path``, ``metrics``)
    is free for the caller; ``ts`` (UTC) is added; ``query`` and ``answer`` are scrubbed."""
    line = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
    for name in TEXT_FIELDS:
        if isinstance(line.get(name), str):
            line[name] = scrub_text(line[name])
    (metrics or METRICS).observe(line)
    text = json.dumps(line, ensure_ascii=False, default=str)
    target = Path(log_path) if log_path else request_log_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _write_lock, open(target, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    logger.info(text)
    return line


def read_request_log(path: str | Path | None = None):
    """The request log as a pandas DataFrame (``ts`` parsed); a broken line is reported, not skipped."""
    import pandas as pd

    target = Path(path) if path else request_log_path()
    if not target.exists():
        raise FileNotFoundError(f"no request log at {target}; run some requests first "
                                "(or set INFERLEARN_REQUEST_LOG)")
    rows = []
    for number, raw in enumerate(target.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except ValueError as exc:
                raise ValueError(f"{target}, line {number}: not JSON ({exc}): {raw[:80]!r}") from None
    frame = pd.DataFrame(rows)
    if "ts" in frame:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def latency_percentiles(latencies_ms: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[float, float]:
    """Nearest-rank percentiles (each one a latency that was really observed); NaNs ignored."""
    values = sorted(v for v in latencies_ms if v is not None and not math.isnan(v))
    if not values:
        raise ValueError("no latencies to summarise (empty, or all NaN)")
    out = {}
    for q in qs:
        if not 0 < q <= 100:
            raise ValueError(f"a percentile lies in (0, 100], got {q}")
        out[q] = values[max(1, math.ceil(q / 100 * len(values))) - 1]
    return out


def alert_fires(windows: Sequence[tuple[int, int]], threshold: float, for_windows: int) -> bool:
    """True when the error rate (errors / requests) is above ``threshold`` in each of the last
    ``for_windows`` windows (Prometheus' ``for:``). A window with no requests breaks the streak."""
    if for_windows < 1:
        raise ValueError(f"for_windows must be >= 1, got {for_windows}")
    recent = list(windows)[-for_windows:]
    return len(recent) == for_windows and all(n > 0 and errors / n > threshold for n, errors in recent)


class Stopwatch:
    """Stage timings for one request: ``with watch.stage("retrieve"): ...``; ``watch.stages`` in ms."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name`` (repeated stages add up)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + (time.perf_counter() - start) * 1000

    @property
    def elapsed_ms(self) -> float:
        """Milliseconds since the stopwatch was made."""
        return (time.perf_counter() - self.started) * 1000
