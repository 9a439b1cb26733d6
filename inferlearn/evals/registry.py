"""The run registry: every evaluation run, with what produced it, in one SQLite file (WAL).

    registry = Registry()                                   # INFERLEARN_REGISTRY or the cache folder
    run_id = registry.record(RunRecord(pipeline="hybrid_pages", split="test",
                                       scores={"recall@5": {"g-0001": 1.0, ...}}))
    run = registry.get("latest")                            # StoredRun: metadata, metrics, scores
    registry.history()                                      # one row per run and metric

A run holds its id, time, git sha, pipeline config (and its hash), prompt versions and hashes,
model ids and file sha256, golden version, per-item scores and aggregate metrics with bootstrap
intervals. Each run is written in one ``BEGIN IMMEDIATE`` transaction, so two writers at once
queue (``busy_timeout``) instead of corrupting the file, and a run is either all there or absent.
A file that is not a readable registry is refused with a clear error and never overwritten.
Introduced in ``phase3_eval/05_regressions_in_ci``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from inferlearn.evals.metrics import bootstrap_ci

SCHEMA_VERSION = 1
STATUSES = ("ok", "regressed")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created TEXT NOT NULL, git_sha TEXT, pipeline TEXT NOT NULL,
    config_hash TEXT NOT NULL, config TEXT NOT NULL, prompts TEXT NOT NULL, models TEXT NOT NULL,
    golden_version TEXT, split TEXT, n_items INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'ok',
    notes TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id), name TEXT NOT NULL, value REAL NOT NULL,
    low REAL, high REAL, n INTEGER NOT NULL, PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT NOT NULL REFERENCES runs(run_id), item_id TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (run_id, metric, item_id));
"""


class RegistryError(ValueError):
    """A registry that cannot be read, or a run that is not in it (the message says which)."""


def config_hash(config: Mapping[str, Any]) -> str:
    """First 12 hex digits of the sha256 of ``config`` as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def git_sha(folder: str | Path | None = None) -> str | None:
    """The checkout's commit (with ``+dirty`` when files changed), or None outside git."""
    cwd = str(folder or Path(__file__).resolve().parents[2])
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha


def default_path() -> Path:
    """``INFERLEARN_REGISTRY``, else ``runs.sqlite3`` in the inferlearn cache folder."""
    from inferlearn.config import cache_dir, settings

    return settings().registry or cache_dir() / "runs.sqlite3"


@dataclass
class RunRecord:
    """What one evaluation run produced. ``scores[metric][item_id]`` is a per-item score;
    ``prompts`` maps a prompt name to ``{"version", "sha256"}``, ``models`` a model id to its
    file sha256 (None when unknown)."""

    pipeline: str
    scores: dict[str, dict[str, float]]
    split: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, dict[str, str]] = field(default_factory=dict)
    models: dict[str, str | None] = field(default_factory=dict)
    golden_version: str | None = None
    git_sha: str | None = None
    notes: str = ""


@dataclass
class StoredRun:
    """A run read back: its ``info`` row, ``metrics`` (name -> value, low, high, n) and ``scores``."""

    run_id: str
    info: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    scores: dict[str, dict[str, float]]


def _new_run_id(created: datetime) -> str:
    return f"r-{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class Registry:
    """The run registry at ``path`` (created on first write). See the module docstring."""

    def __init__(self, path: str | Path | None = None, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.timeout = timeout

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.exists():
            raise RegistryError(f"no run registry at {self.path}: record a run first "
                                "(inferlearn eval rag --record)")
        if self.path.is_dir():
            raise RegistryError(f"run registry {self.path} is a folder, not a SQLite file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._check(conn)
            if write:
                conn.execute("BEGIN IMMEDIATE")
                for statement in filter(str.strip, _SCHEMA.split(";")):  # idempotent
                    conn.execute(statement)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            yield conn
            if write:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise RegistryError(f"run registry {self.path} is not a readable registry ({exc}); it was "
                                    "left untouched: move it aside (or restore a backup) and re-run") from None
            raise RegistryError(f"run registry {self.path} stayed locked by another writer for "
                                f"{self.timeout:.0f} s; nothing was written: try again") from None
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise RegistryError(f"run registry {self.path} is not a readable registry ({exc}); it was "
                                "left untouched: move it aside (or restore a backup) and re-run") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _check(self, conn: sqlite3.Connection) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and not {"meta", "runs", "metrics", "scores"} <= tables:
            raise RegistryError(f"{self.path} is a SQLite file but not a run registry (tables: "
                                f"{', '.join(sorted(tables))}); point --registry at another file")
        if not tables:
            return
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version and int(version[0]) > SCHEMA_VERSION:
            raise RegistryError(f"run registry {self.path} has schema {version[0]}, newer than this "
                                f"inferlearn ({SCHEMA_VERSION}): upgrade inferlearn")

    def record(self, run: RunRecord, confidence: float = 0.95, n_resamples: int = 2000) -> str:
        """Store ``run`` with its metrics (mean and bootstrap interval per metric); return its id."""
        if not run.scores or not any(run.scores.values()):
            raise ValueError("a run needs at least one per-item score to be recorded")
        metrics = {}
        for name, values in run.scores.items():
            ci = bootstrap_ci(values, confidence, n_resamples)
            metrics[name] = (ci.estimate, ci.low, ci.high, len(values))
        created = datetime.now(UTC)
        run_id = _new_run_id(created)
        items = {item for values in run.scores.values() for item in values}
        with self._connect(write=True) as conn:
            conn.execute("INSERT INTO runs (run_id, created, git_sha, pipeline, config_hash, config, prompts, "
                         "models, golden_version, split, n_items, notes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (run_id, created.isoformat(timespec="seconds"), run.git_sha, run.pipeline,
                          config_hash(run.config), json.dumps(run.config, sort_keys=True, default=str),
                          json.dumps(run.prompts, sort_keys=True), json.dumps(run.models, sort_keys=True),
                          run.golden_version, run.split, len(items), run.notes))
            conn.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?)",
                             [(run_id, name, *values) for name, values in metrics.items()])
            conn.executemany("INSERT INTO scores VALUES (?,?,?,?)",
                             [(run_id, item, name, float(value)) for name, values in run.scores.items()
                              for item, value in values.items()])
        return run_id

    def resolve(self, ref: str, pipeline: str | None = None, split: str | None = None) -> str:
        """A run id from ``latest``, ``last-good`` (the newest run not marked regressed), a full
        id or a unique prefix; ``pipeline``/``split`` narrow ``latest`` and ``last-good``."""
        where, args = ["1 = 1"], []
        if ref in ("latest", "last-good"):
            for column, value in (("pipeline", pipeline), ("split", split)):
                if value is not None:
                    where.append(f"{column} = ?")
                    args.append(value)
            if ref == "last-good":
                where.append("status = 'ok'")
        else:
            where.append("substr(run_id, 1, ?) = ?")
            args += [len(ref), ref]
        sql = f"SELECT run_id FROM runs WHERE {' AND '.join(where)} "
        with self._connect() as conn:
            if not self._has_runs(conn):
                raise RegistryError(f"run registry {self.path} holds no runs yet: record one first")
            rows = [r[0] for r in conn.execute(sql + "ORDER BY created DESC, rowid DESC", args)]
        if not rows:
            scope = f" for pipeline {pipeline!r}" if pipeline else ""
            raise RegistryError(f"unknown run {ref!r}{scope} in {self.path}: see `inferlearn eval history`")
        if ref not in ("latest", "last-good") and len(rows) > 1 and ref not in rows:
            raise RegistryError(f"run prefix {ref!r} matches {len(rows)} runs: give more of the id")
        return rows[0]

    @staticmethod
    def _has_runs(conn: sqlite3.Connection) -> bool:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return "runs" in tables and conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None

    def get(self, ref: str, pipeline: str | None = None, split: str | None = None) -> StoredRun:
        """The run named by ``ref`` (see ``resolve``), with its metrics and per-item scores."""
        run_id = self.resolve(ref, pipeline, split)
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            info = dict(conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone())
            for key in ("config", "prompts", "models"):
                info[key] = json.loads(info[key])
            metrics = {r["name"]: {"value": r["value"], "low": r["low"], "high": r["high"], "n": r["n"]}
                       for r in conn.execute("SELECT * FROM metrics WHERE run_id = ?", (run_id,))}
            scores: dict[str, dict[str, float]] = {}
            for r in conn.execute("SELECT metric, item_id, value FROM scores WHERE run_id = ?", (run_id,)):
                scores.setdefault(r["metric"], {})[r["item_id"]] = r["value"]
        return StoredRun(run_id, info, metrics, scores)

    def mark(self, run_id: str, status: str) -> None:
        """Set a run's status: ``ok`` or ``regressed`` (``last-good`` skips regressed runs)."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} must be one of {', '.join(STATUSES)}")
        run_id = self.resolve(run_id)
        with self._connect(write=True) as conn:
            conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))

    def count(self) -> int:
        """How many runs the registry holds (0 when the file does not exist yet)."""
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if self._has_runs(conn) else 0

    def history(self, pipeline: str | None = None, split: str | None = None) -> pd.DataFrame:
        """One row per run and metric, oldest first: run_id, created, pipeline, split, status,
        git_sha, config_hash, golden_version, metric, value, low, high, n."""
        where, args = ["1 = 1"], []
        for column, value in (("r.pipeline", pipeline), ("r.split", split)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        with self._connect() as conn:
            if not self._has_runs(conn):
                return pd.DataFrame(columns=["run_id", "created", "pipeline", "split", "status", "git_sha",
                                             "config_hash", "golden_version", "metric", "value", "low",
                                             "high", "n"])
            frame = pd.read_sql_query(
                "SELECT r.run_id, r.created, r.pipeline, r.split, r.status, r.git_sha, r.config_hash, "
                "r.golden_version, m.name AS metric, m.value, m.low, m.high, m.n FROM runs r JOIN metrics m "
                f"ON m.run_id = r.run_id WHERE {' AND '.join(where)} ORDER BY r.created, r.rowid, m.name",
                conn, params=args)
        frame["created"] = pd.to_datetime(frame["created"])
        return frame
