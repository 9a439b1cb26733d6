"""A learner's spend cap on paid backends (``notebooks/00_start_here`` explains it). Library only.

``INFERLEARN_MAX_SPEND_USD`` caps what every client from ``get_client()`` may spend, summed over
all calls, kernels and notebooks: default $2 on the ``openai`` backend, no cap on ``local``
(free, never refused) and on ``compatible`` unless the variable is set; ``off`` disables it.

Each priced request (chat completions, completions, responses, embeddings) first *reserves* its
worst case in a SQLite ledger under the cache folder (``<cache>/spend.sqlite3``): every byte of
the request body counted as an input token (a token is at least one byte of text, and the JSON
around a message is longer than its token overhead), plus ``max_tokens`` (else the model's
largest output) at the output price. The reservation runs in one ``BEGIN IMMEDIATE`` transaction,
which holds SQLite's file lock, so two kernels can never both squeeze under the cap. A request
whose reservation would cross the cap is refused before it is sent. After the reply, the
reservation is settled to the usage the reply reports; a reply without usage (a stream without
``stream_options={"include_usage": True}``, a timeout) keeps its worst case; an error status or
a refused connection costs nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai

from inferlearn.config import cache_dir, settings
from inferlearn.llm.models import get_model_info, usage_cost

DEFAULT_CAP_USD = {"openai": 2.0}
PRICED_PATHS = ("/chat/completions", "/completions", "/responses", "/embeddings")
FREE_PATHS = ("/moderations",)
MEDIA_TOKENS = 30_000  # worst case charged per image or audio part (their bytes do not bound it)
OUTPUT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
# Largest output a model can produce (OpenAI's model pages); others fall back to the context window.
MAX_OUTPUT_TOKENS = {"gpt-4o-mini": 16_384, "gpt-4o": 16_384, "gpt-4.1-nano": 32_768,
                     "gpt-4.1-mini": 32_768, "gpt-4.1": 32_768, "gpt-5-nano": 128_000,
                     "gpt-5-mini": 128_000, "gpt-5": 128_000, "gpt-3.5-turbo": 4_096}

SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, pid INTEGER NOT NULL, backend TEXT NOT NULL,
    model TEXT NOT NULL, endpoint TEXT NOT NULL, reserved_usd REAL NOT NULL,
    cost_usd REAL, status TEXT NOT NULL
)
"""


class SpendCapExceeded(openai.OpenAIError):
    """A call refused before it was sent: it could have taken the total past the cap.

    It subclasses ``openai.OpenAIError`` so the SDK raises it as it is, without retrying."""


def ledger_path() -> Path:
    """``<cache>/spend.sqlite3``: one ledger for every kernel and notebook of this user."""
    return cache_dir() / "spend.sqlite3"


def spend_cap(backend_name: str) -> float | None:
    """The cap in USD for a backend: ``INFERLEARN_MAX_SPEND_USD``, else the backend's default."""
    if backend_name.startswith("local"):  # the embedded server: free, never capped
        return None
    raw = settings().max_spend_usd
    if raw is None:
        return DEFAULT_CAP_USD.get(backend_name)
    if raw.lower() in ("off", "none"):
        return None
    try:
        cap = float(raw)
    except ValueError:
        cap = -1.0
    if not cap >= 0:
        raise ValueError(f"INFERLEARN_MAX_SPEND_USD={raw!r} is not an amount in USD; set a number "
                         "such as 5 (or off for no cap)")
    return cap


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) the ledger; ``isolation_level=None`` so we manage transactions."""
    path = Path(path or ledger_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(SCHEMA)
    return conn


def total_spent(path: Path | None = None) -> float:
    """USD spent so far: settled costs plus open or unsettled reservations at their worst case."""
    conn = connect(path)
    try:
        return float(conn.execute(
            "SELECT COALESCE(SUM(COALESCE(cost_usd, reserved_usd)), 0) FROM spend").fetchone()[0])
    finally:
        conn.close()


def worst_case_usd(model: str, body: bytes, payload: dict[str, Any]) -> float:
    """The most a request can cost: body bytes as input tokens plus the largest allowed output."""
    info = get_model_info(model)
    media = body.count(b'"image_url"') + body.count(b'"input_audio"') + body.count(b'"input_image"')
    prompt = len(body) + MEDIA_TOKENS * media
    if info.kind == "embedding":
        return usage_cost(model, prompt)
    limit = next((payload[k] for k in OUTPUT_KEYS if isinstance(payload.get(k), int)), None)
    if limit is None:
        limit = MAX_OUTPUT_TOKENS.get(info.id, info.context_window)
    return usage_cost(model, prompt, max(int(limit), 0) * max(int(payload.get("n") or 1), 1))


def reserve(backend_name: str, cap: float, model: str, endpoint: str, usd: float,
            path: Path | None = None) -> int:
    """Record a reservation of ``usd`` if the total stays within ``cap``; else refuse."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock on the file: one reserver at a time
        spent = conn.execute(
            "SELECT COALESCE(SUM(COALESCE(cost_usd, reserved_usd)), 0) FROM spend").fetchone()[0]
        if spent + usd > cap:
            conn.execute("ROLLBACK")
            raise SpendCapExceeded(
                f"refused before sending: this {model} call could cost up to ${usd:.4f}, and "
                f"${spent:.4f} of your ${cap:.2f} cap (INFERLEARN_MAX_SPEND_USD) is spent or "
                f"reserved. Raise it in .env, e.g. INFERLEARN_MAX_SPEND_USD={max(cap * 2, 1):g}, "
                "or lower max_tokens; the ledger is " + str(path or ledger_path()))
        cur = conn.execute(
            "INSERT INTO spend (time, pid, backend, model, endpoint, reserved_usd, status) "
            "VALUES (?, ?, ?, ?, ?, ?, 'reserved')",
            (time.time(), os.getpid(), backend_name, model, endpoint, usd))
        conn.execute("COMMIT")
        return int(cur.lastrowid)
    finally:
        conn.close()


def settle(row: int, cost: float | None, status: str, path: Path | None = None) -> None:
    """Replace a reservation by the call's cost (``None`` keeps the reserved worst case)."""
    conn = connect(path)
    try:
        conn.execute("UPDATE spend SET cost_usd = COALESCE(?, reserved_usd), status = ? WHERE id = ?",
                     (cost, status, row))
    finally:
        conn.close()


def usage_cost_from(model: str, usage: dict[str, Any] | None) -> float | None:
    """Cost of a reply's ``usage`` (chat, responses or embeddings shape), or None if absent."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    if not isinstance(prompt, int):
        return None
    return usage_cost(model, prompt, int(completion or 0))


def stream_usage(data: bytes) -> dict[str, Any] | None:
    """The last ``usage`` object in a server-sent-event stream, if the server sent one."""
    found = None
    for line in data.splitlines():
        if line.startswith(b"data:") and b'"usage"' in line:
            try:
                event = json.loads(line[5:])
            except ValueError:
                continue
            usage = event.get("usage") or (event.get("response") or {}).get("usage")
            found = usage or found
    return found


class SettlingStream(httpx.SyncByteStream):
    """A streamed reply that settles its reservation when the caller closes it."""

    def __init__(self, inner: httpx.SyncByteStream, on_close) -> None:
        self.inner, self.on_close, self.data = inner, on_close, bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.data.extend(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.on_close(bytes(self.data))


class SpendCapTransport(httpx.BaseTransport):
    """An httpx transport that reserves before sending and settles after the reply."""

    def __init__(self, backend_name: str, cap: float, inner: httpx.BaseTransport | None = None,
                 path: Path | None = None) -> None:
        self.backend_name, self.cap, self.path = backend_name, cap, path
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` only if its worst case fits under the cap."""
        endpoint = request.url.path
        if request.method != "POST" or endpoint.endswith(FREE_PATHS):
            return self.inner.handle_request(request)
        if not endpoint.endswith(PRICED_PATHS):
            raise SpendCapExceeded(f"refused: {endpoint} has no price in inferlearn, so the spend "
                                   "cap cannot bound it; set INFERLEARN_MAX_SPEND_USD=off to allow it")
        body = request.read()
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise SpendCapExceeded(f"refused: the body sent to {endpoint} is not JSON, so the spend "
                                   "cap cannot price it; set INFERLEARN_MAX_SPEND_USD=off to allow "
                                   "it") from None
        model = str(payload.get("model", ""))
        try:
            worst = worst_case_usd(model, body, payload)
        except KeyError as err:
            raise SpendCapExceeded(f"refused: {err.args[0]} Or set INFERLEARN_MAX_SPEND_USD=off "
                                   "to call it without a cap.") from None
        row = reserve(self.backend_name, self.cap, model, endpoint, worst, self.path)
        try:
            response = self.inner.handle_request(request)
        except httpx.ConnectError:
            settle(row, 0.0, "not sent", self.path)
            raise
        except Exception:
            settle(row, None, "no reply", self.path)  # it may have been charged: keep the worst
            raise
        return self.settle_response(row, model, response)

    def settle_response(self, row: int, model: str, response: httpx.Response) -> httpx.Response:
        """Settle at once for a JSON reply; when the caller closes it for a stream."""
        if response.status_code >= 400:
            settle(row, 0.0, f"http {response.status_code}", self.path)
            return response
        if "text/event-stream" in response.headers.get("content-type", ""):
            if isinstance(response.stream, httpx.ByteStream):  # already in memory (a fake backend)
                settle(row, usage_cost_from(model, stream_usage(response.read())), "streamed",
                       self.path)
                return response

            def done(data: bytes) -> None:
                settle(row, usage_cost_from(model, stream_usage(data)), "streamed", self.path)

            response.stream = SettlingStream(response.stream, done)
            return response
        response.read()
        try:
            reply = response.json()
        except ValueError:
            reply = None
        usage = reply.get("usage") if isinstance(reply, dict) else None
        settle(row, usage_cost_from(model, usage), "settled", self.path)
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()


def with_spend_cap(backend_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``get_client`` kwargs with a capped ``http_client`` when the backend has a cap."""
    cap = spend_cap(backend_name)
    if cap is None:
        return kwargs
    if "http_client" in kwargs:
        raise ValueError("get_client(http_client=...) cannot be combined with the spend cap "
                         f"(${cap:g} on {backend_name}); set INFERLEARN_MAX_SPEND_USD=off to "
                         "pass your own http_client")
    transport = SpendCapTransport(backend_name, cap)
    return {**kwargs, "http_client": httpx.Client(transport=transport, follow_redirects=True)}
