"""Chaos for the resilience lessons: latency, errors, hangs, cut streams, malformed JSON.

Configured server-wide (``inferlearn serve --chaos "..."`` or ``INFERLEARN_CHAOS``) or per request
with the header ``X-Inferlearn-Chaos: error_rate=0.3;status=429;latency_ms=200;seed=7``. Keys:

==================  =====================================================  ========
key                 meaning                                                default
==================  =====================================================  ========
latency_ms          added delay before answering (at most 60000)           0
jitter_ms           plus a uniform random delay in [0, jitter_ms]          0
error_rate          probability of answering with ``status`` instead       0
status              429, 500 or 503                                        429
retry_after         seconds in ``Retry-After`` (429 and 503; <= 3600)      1
hang_rate           probability of hanging for ``hang_s`` seconds          0
hang_s              how long a hang lasts (at most 600)                    30
truncate_rate       probability a stream is cut off mid-way                0
malformed_rate      probability a ``json_object`` reply is made invalid    0
seed                seeds the random choices: same seed, same sequence     none
==================  =====================================================  ========

Random choices come from one generator per distinct configuration, so a sequence of requests
with the same header replays the same faults. ``POST /v1/chaos/reset`` restarts every sequence.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, fields

ERROR_STATUSES = (429, 500, 503)


@dataclass(frozen=True)
class ChaosConfig:
    """One parsed chaos setting."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    status: int = 429
    retry_after: float = 1.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    truncate_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int | None = None

    @property
    def active(self) -> bool:
        """True when the configuration can change any answer."""
        return any((self.latency_ms, self.jitter_ms, self.error_rate, self.hang_rate,
                    self.truncate_rate, self.malformed_rate))


# Upper bounds, so a typo cannot hang a request for days or overflow a header.
LIMITS = {"latency_ms": 60_000, "jitter_ms": 60_000, "retry_after": 3_600, "hang_s": 600,
          "seed": 2**63 - 1}


def _parse_value(key: str, raw: str, kind: type):
    try:
        number = float(raw)
        if not math.isfinite(number):
            raise ValueError
        value = kind(number) if kind is int else number
    except (ValueError, OverflowError):
        raise ValueError(f"chaos setting {key}={raw!r} is not a finite number") from None
    if key in LIMITS and abs(value) > LIMITS[key]:
        raise ValueError(f"chaos setting {key}={raw} is above the limit of {LIMITS[key]}")
    if key.endswith("_rate") and not 0 <= value <= 1:
        raise ValueError(f"chaos setting {key}={raw} must be between 0 and 1")
    if key == "status" and value not in ERROR_STATUSES:
        raise ValueError(f"chaos status={raw} must be one of {', '.join(map(str, ERROR_STATUSES))}")
    if key != "seed" and value < 0:
        raise ValueError(f"chaos setting {key}={raw} must not be negative")
    return value


def parse_chaos(spec: str | None) -> ChaosConfig:
    """Parse ``"key=value;key=value"`` (commas work too) into a ``ChaosConfig``."""
    if not spec or not spec.strip():
        return ChaosConfig()
    kinds = {f.name: (int if f.name in ("status", "seed") else float) for f in fields(ChaosConfig)}
    values: dict[str, float | int] = {}
    for item in spec.replace(",", ";").split(";"):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in kinds:
            raise ValueError(
                f"chaos setting {item.strip()!r} is not key=value with a known key; "
                f"known keys: {', '.join(kinds)}"
            )
        values[key] = _parse_value(key, raw.strip(), kinds[key])
    return ChaosConfig(**values)


@dataclass(frozen=True)
class ChaosDecision:
    """What chaos does to one request."""

    delay_s: float = 0.0
    error_status: int | None = None
    retry_after: float = 1.0
    hang_s: float = 0.0
    truncate_after: int | None = None  # stream chunks to send before cutting the connection
    malformed: bool = False


class ChaosMonkey:
    """Draws seeded decisions; one random generator per distinct configuration."""

    def __init__(self) -> None:
        self._rngs: dict[ChaosConfig, random.Random] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Restart every seeded sequence from its beginning."""
        with self._lock:
            self._rngs.clear()

    def decide(self, config: ChaosConfig) -> ChaosDecision:
        """The faults for the next request under ``config`` (always draws the same 5 numbers)."""
        if not config.active:
            return ChaosDecision()
        with self._lock:
            rng = self._rngs.setdefault(config, random.Random(config.seed))
            draws = [rng.random() for _ in range(5)]
        error = draws[1] < config.error_rate
        return ChaosDecision(
            delay_s=(config.latency_ms + draws[0] * config.jitter_ms) / 1000,
            error_status=config.status if error else None,
            retry_after=config.retry_after,
            hang_s=config.hang_s if draws[2] < config.hang_rate else 0.0,
            truncate_after=1 + int(draws[3] * 8) if draws[3] < config.truncate_rate else None,
            malformed=draws[4] < config.malformed_rate,
        )
