"""One summary of measured latencies for every report in the library. Library only.

(``inferlearn.prod.telemetry.latency_percentiles`` is the phase 4 exercise's nearest-rank version,
for alerting on observed values; this one interpolates, as numpy does, for benchmark reports.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def latency_summary(values_ms: Sequence[float], digits: int = 3) -> dict[str, float]:
    """``{"p50", "p95", "mean"}`` of ``values_ms`` (interpolated percentiles), rounded to
    ``digits``; all 0.0 when there are no values."""
    if len(values_ms) == 0:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    p50, p95 = np.percentile(values_ms, [50, 95])
    return {"p50": round(float(p50), digits), "p95": round(float(p95), digits),
            "mean": round(float(np.mean(values_ms)), digits)}
