"""The usage log: every request the local server answers, in SQLite.

Read it with ``read_usage()`` (a pandas DataFrame); the token-economics lessons do.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from inferlearn.config import runtime_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    time REAL NOT NULL, request_id TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    latency_ms REAL NOT NULL, status INTEGER NOT NULL, cost_usd REAL NOT NULL, chaos TEXT
)
"""


@dataclass
class UsageRecord:
    """One answered request."""

    request_id: str
    endpoint: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    status: int
    cost_usd: float
    chaos: str = ""
    time: float = 0.0


def usage_db_path() -> Path:
    """Default location of the usage database (in the runtime folder)."""
    return runtime_dir() / "usage.sqlite"


class UsageLog:
    """Append-only writer, safe to share between the server's threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or usage_db_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(SCHEMA)
        self._conn.commit()

    def record(self, rec: UsageRecord) -> None:
        """Write one record (timestamped now when ``rec.time`` is 0)."""
        row = asdict(rec)
        row["time"] = row["time"] or time.time()
        with self._lock:
            self._conn.execute(
                "INSERT INTO usage VALUES (:time, :request_id, :endpoint, :model, :prompt_tokens, "
                ":completion_tokens, :latency_ms, :status, :cost_usd, :chaos)", row)
            self._conn.commit()


def read_usage(path: str | Path | None = None, since: float | None = None) -> pd.DataFrame:
    """Every logged request as a DataFrame (``time`` as UTC datetimes), oldest first.

    Args:
        path: the database; default the local server's.
        since: only requests at or after this UNIX time.
    """
    path = Path(path or usage_db_path())
    columns = ["time", "request_id", "endpoint", "model", "prompt_tokens", "completion_tokens",
               "latency_ms", "status", "cost_usd", "chaos"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    with sqlite3.connect(path, timeout=10) as conn:
        conn.execute(SCHEMA)
        frame = pd.read_sql_query(
            "SELECT * FROM usage WHERE time >= ? ORDER BY time", conn, params=(since or 0.0,))
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return frame
