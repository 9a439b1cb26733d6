"""Log every model call: which prompt (name, version, hash), model, latency, tokens, cost.

Introduced in ``phase1_llm_api/03_prompt_engineering``. The local server keeps its own usage log
(``read_usage``); this one is the *caller's* view, one JSON line per call, and it works on every
backend (and with ``ScriptedClient``)::

    log = CallLog()                                   # appends to <cache>/logs/calls.jsonl
    prompt = load_prompt("route_ticket", 2)
    completion = log.call(client, model=model, prompt=prompt, variables={"ticket": text},
                          tags={"ticket_id": "T-0002"}, temperature=0)
    log.frame()                                       # this run's calls as a DataFrame

Message text is not logged unless ``log_output=True``: tickets carry personal data (phase 4
redacts it before logging).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from inferlearn.config import cache_dir
from inferlearn.llm.models import usage_cost
from inferlearn.prompts import Prompt


@dataclass
class CallRecord:
    """One model call as logged."""

    time: float
    run: str
    call_id: str
    model: str
    prompt: str | None  # prompt name, or None for hand-written messages
    prompt_version: int | None
    prompt_hash: str | None
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None  # None when the model is not in the catalogue
    status: str  # "ok" or "error"
    error: str = ""
    tags: dict[str, Any] = field(default_factory=dict)
    output: str | None = None


def default_log_path() -> Path:
    """``<cache>/logs/calls.jsonl`` (outside the repository: logs are not course files)."""
    return cache_dir() / "logs" / "calls.jsonl"


def new_run_id() -> str:
    """A run id that sorts by time: ``20250601-142233-1a2b``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]


def call_cost(model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """USD for one call from the catalogue, or None if the model or its usage is unknown."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    try:
        return usage_cost(model, prompt_tokens, completion_tokens)
    except KeyError:
        return None


class CallLog:
    """An append-only JSONL log of model calls, shared safely between threads."""

    def __init__(self, path: str | Path | None = None, run: str | None = None,
                 log_output: bool = False) -> None:
        self.path = Path(path) if path else default_log_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run = run or new_run_id()
        self.log_output = log_output
        self._lock = threading.Lock()

    def write(self, record: CallRecord) -> None:
        """Append one record."""
        line = json.dumps(asdict(record), ensure_ascii=False)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def call(self, client: Any, *, model: str, prompt: Prompt | None = None,
             variables: dict[str, Any] | None = None, messages: list[dict] | None = None,
             tags: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call ``client.chat.completions`` and log the call; returns the completion.

        Give a ``prompt`` and its ``variables``, or ready ``messages``, or both (messages you
        rendered from ``prompt`` yourself: they are sent, the prompt is logged). A Pydantic class
        as ``response_format`` goes through ``.parse`` (``message.parsed`` holds the object).
        Errors are logged with ``status="error"`` and raised again.
        """
        if prompt is None and messages is None:
            raise ValueError("give prompt= (with variables=) or messages=, so there is something "
                             "to send")
        if messages is None:
            messages = prompt.render(**(variables or {}))
        completions = client.chat.completions
        response_format = kwargs.get("response_format")
        method = completions.create
        if isinstance(response_format, type) and issubclass(response_format, BaseModel):
            method = completions.parse
        record = CallRecord(time=time.time(), run=self.run, call_id=uuid.uuid4().hex[:12],
                            model=model, prompt=prompt.name if prompt else None,
                            prompt_version=prompt.version if prompt else None,
                            prompt_hash=prompt.hash if prompt else None, latency_ms=0.0,
                            prompt_tokens=None, completion_tokens=None, cost_usd=None,
                            status="ok", tags=dict(tags or {}))
        start = time.perf_counter()
        try:
            completion = method(model=model, messages=messages, **kwargs)
        except Exception as exc:
            record.latency_ms = (time.perf_counter() - start) * 1000
            record.status, record.error = "error", f"{type(exc).__name__}: {exc}"[:500]
            self.write(record)
            raise
        record.latency_ms = (time.perf_counter() - start) * 1000
        usage = getattr(completion, "usage", None)
        if usage is not None:
            record.prompt_tokens = usage.prompt_tokens
            record.completion_tokens = usage.completion_tokens
        record.cost_usd = call_cost(model, record.prompt_tokens, record.completion_tokens)
        if self.log_output:
            record.output = completion.choices[0].message.content
        self.write(record)
        return completion

    def records(self, all_runs: bool = False) -> list[dict]:
        """Logged records, oldest first: this run's, or every run's with ``all_runs=True``."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        return rows if all_runs else [r for r in rows if r.get("run") == self.run]

    def frame(self, all_runs: bool = False) -> pd.DataFrame:
        """``records()`` as a DataFrame (tags as columns ``tag_<name>``)."""
        rows = [{**{k: v for k, v in r.items() if k != "tags"},
                 **{f"tag_{k}": v for k, v in (r.get("tags") or {}).items()}}
                for r in self.records(all_runs)]
        columns = list(CallRecord.__dataclass_fields__)
        columns.remove("tags")
        return pd.DataFrame(rows, columns=None if rows else columns)


def summarise_calls(records: list[dict] | pd.DataFrame) -> dict[str, float]:
    """Calls, error rate, p50/p95 latency (ms), mean tokens and cost per 1,000 calls (USD).

    Library only.
    """
    frame = pd.DataFrame(records)
    if frame.empty:
        raise ValueError("no calls to summarise: the log has no records for this run")
    ok = frame[frame["status"] == "ok"]
    latency = ok["latency_ms"].to_numpy(dtype=float)
    costs = ok["cost_usd"].dropna()
    return {
        "calls": int(len(frame)),
        "error_rate": float((frame["status"] != "ok").mean()),
        "p50_ms": float(np.percentile(latency, 50)) if len(latency) else float("nan"),
        "p95_ms": float(np.percentile(latency, 95)) if len(latency) else float("nan"),
        "prompt_tokens": float(ok["prompt_tokens"].mean()) if len(ok) else float("nan"),
        "completion_tokens": float(ok["completion_tokens"].mean()) if len(ok) else float("nan"),
        "cost_per_1k": float(costs.mean() * 1000) if len(costs) else float("nan"),
    }
