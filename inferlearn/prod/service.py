"""The Larkspur assistant as a service: the phase 2 RAG answer and the ticket router behind one
typed HTTP contract.

    app = create_app(ServiceSettings(api_keys={"sk-web-1": "web"}), retriever=pipeline, client=client)
    POST /v1/answer    {"query": "How long is the refund window?", "k": 5}   -> AnswerResponse
    POST /v1/classify  {"text": "my invoice is wrong"}                       -> ClassifyResponse
    GET  /healthz (alive) · GET /readyz (ready to answer) · GET /openapi.json

Every error has one shape, ``{"error": {"type", "code", "message"}}``; callers authenticate with
``Authorization: Bearer <key>`` (or ``X-API-Key``); each key has its own rate limit (429 with
``Retry-After``); every response carries ``X-Request-Id``; ``"stream": true`` answers as
server-sent events. Answers go through ``inferlearn.prod.resilience``: when the model fails the
service still answers from the top chunks, or abstains. Introduced in
``phase4_production/01_service_contract``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferlearn.prod.classify_service import Classifier, ClassifyRequest, ClassifyResponse
from inferlearn.prod.resilience import (
    CircuitBreaker,
    Deadline,
    DeadlineExceeded,
    LadderResult,
    RetryPolicy,
    answer_with_fallback,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class ServiceSettings(BaseModel):
    """Everything the service is configured with (``inferlearn app`` fills it from flags)."""

    api_keys: dict[str, str] = Field(default_factory=dict, description="API key -> client name")
    rate_per_s: float = Field(5.0, gt=0, description="requests per second per key, sustained")
    burst: int = Field(10, ge=1, description="requests a key may send at once")
    max_deadline_s: float = Field(30.0, gt=0)
    model: str | None = None
    max_tokens: int = Field(200, ge=1)
    budget_tokens: int = Field(1000, ge=1, description="context budget in tokens")
    retry: RetryPolicy = RetryPolicy()
    breaker_failures: int = Field(5, ge=1)
    breaker_reset_s: float = Field(30.0, gt=0)
    chaos: str | None = Field(None, description="X-Inferlearn-Chaos header sent to the local model")
    use_budget: bool = False  # inferlearn.prod.budgets, when that module exists
    use_telemetry: bool = False  # inferlearn.prod.telemetry, when that module exists
    use_pii: bool = False  # inferlearn.prod.pii: redact queries before the model sees them


class ErrorDetail(BaseModel):
    type: str = Field(description="invalid_request, authentication, rate_limit, budget, not_found, "
                                  "unavailable")
    code: str = Field(description="machine-readable, e.g. missing_api_key")
    message: str = Field(description="what went wrong and what to do")


class ErrorBody(BaseModel):
    """The one error shape of every route."""

    error: ErrorDetail


class AnswerRequest(BaseModel):
    """A question for the documentation assistant."""

    query: str = Field(min_length=1, max_length=2000, description="the user's question")
    k: int = Field(5, ge=1, le=20, description="chunks to retrieve")
    deadline_ms: int = Field(5000, ge=50, le=60_000, description="the most the caller will wait")
    stream: bool = Field(False, description="answer as server-sent events")

    @field_validator("query")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is blank; send a question")
        return value


class AnswerResponse(BaseModel):
    """An answer, where it came from, and what it cost in time."""

    request_id: str
    answer: str
    source: Literal["llm", "extractive", "abstain"] = Field(
        description="llm; extractive (the model failed: quoted from the top chunks); abstain")
    citations: list[str]
    context_ids: list[str]
    degraded: bool
    errors: list[str] = Field(default_factory=list, description="why it degraded, if it did")
    latency_ms: float
    usage: dict[str, int] = Field(default_factory=dict)


class ServiceError(Exception):
    """An error answered in the error model."""

    def __init__(self, status: int, type_: str, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.code, self.message, self.headers = status, type_, code, message, headers


def error_response(status: int, type_: str, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response in the error model."""
    body = ErrorBody(error=ErrorDetail(type=type_, code=code, message=message))
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, ``rate_per_s`` sustained."""

    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate_per_s, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def _optional(module: str) -> Any | None:
    """``inferlearn.prod.<module>`` when that module exists in this checkout, else None."""
    name = f"inferlearn.prod.{module}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


class Answerer:
    """Retrieval, then the fallback ladder around the grounded answer."""

    def __init__(self, retriever: Any, client: Any, model: str, settings: ServiceSettings) -> None:
        self.retriever, self.model, self.settings = retriever, model, settings
        self.client = client.with_options(max_retries=0) if hasattr(client, "with_options") else client
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)

    def chunks(self, query: str, k: int) -> list[dict]:
        """The top ``k`` chunks as dicts (id, text, score)."""
        hits = self.retriever.search(query, k=k).hits
        passages = getattr(self.retriever, "passages", {})
        return [{"id": h.id, "text": passages[h.id].text if h.id in passages else "", "score": h.score}
                for h in hits]

    def answer(self, query: str, k: int, deadline: Deadline, on_delta=None) -> tuple[LadderResult, list[str]]:
        """The ladder's answer and the ids of the chunks it was given."""
        from inferlearn.rag.answer import grounded_answer

        deadline.check("retrieval")
        chunks = self.chunks(query, k)
        headers = {"X-Inferlearn-Chaos": self.settings.chaos} if self.settings.chaos else None

        def call_llm(timeout: float) -> Any:
            kwargs = {"extra_headers": headers} if headers else {}
            return grounded_answer(self.client, self.model, query, chunks,
                                   budget=self.settings.budget_tokens, max_tokens=self.settings.max_tokens,
                                   stream=on_delta is not None, on_delta=on_delta, timeout=timeout, **kwargs)

        result = answer_with_fallback(call_llm, query, chunks, breaker=self.breaker, deadline=deadline,
                                      policy=self.settings.retry)
        return result, [c["id"] for c in chunks]


class RequestIdMiddleware:
    """Pure ASGI (cheaper than ``@app.middleware``): takes a valid ``X-Request-Id`` or makes one,
    puts it in ``scope["state"]`` and on the response, and logs the request when telemetry is on."""

    def __init__(self, app: Any, telemetry: Any = None) -> None:
        self.app, self.telemetry = app, telemetry

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        start, status = time.perf_counter(), [500]

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
        if self.telemetry is not None:
            self.telemetry.log_request(request_id=rid, route=scope["path"], status=status[0],
                                       latency_ms=(time.perf_counter() - start) * 1000)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                             for e in exc.errors()[:5])
        return error_response(422, "invalid_request", "invalid_body",
                              f"the request does not match the schema ({problems}); see /docs")

    @app.exception_handler(StarletteHTTPException)
    def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ("not_found", "no such route; see /docs"),
                 405: ("invalid_request", "method not allowed on this route; see /docs")}
        type_, hint = codes.get(exc.status_code, ("invalid_request", str(exc.detail)))
        return error_response(exc.status_code, type_, f"http_{exc.status_code}", hint,
                              getattr(exc, "headers", None))


ERRORS = {401: {"model": ErrorBody, "description": "no API key, or an unknown one"},
          422: {"model": ErrorBody, "description": "the body does not match the schema"},
          429: {"model": ErrorBody, "description": "rate limit (or daily budget); see Retry-After"}}


def create_app(settings: ServiceSettings, retriever: Any = None, client: Any = None,
               classifier: Classifier | None = None, budget: Any = None) -> FastAPI:
    """The service. ``retriever`` has ``search(query, k)`` and ``passages`` (a phase 2 pipeline);
    ``client`` is an OpenAI-style chat client; ``budget`` an ``inferlearn.prod.budgets.Budget``.

    Introduced in ``phase4_production/01_service_contract``.
    """
    app = FastAPI(title="Larkspur assistant", version="1.0.0",
                  description="Grounded answers over the Larkspur docs and ticket routing.")
    limiter = RateLimiter(settings.rate_per_s, settings.burst)
    answerer = Answerer(retriever, client, settings.model or "", settings) if retriever is not None else None
    telemetry = _optional("telemetry") if settings.use_telemetry else None
    if budget is None and settings.use_budget and _optional("budgets") is not None:
        budget = _optional("budgets").Budget()  # the lead's merge sets its limits
    pii = _optional("pii") if settings.use_pii else None
    app.state.answerer, app.state.settings, app.state.limiter = answerer, settings, limiter
    _install_error_handlers(app)
    if telemetry is not None:
        app.mount("/metrics", telemetry.metrics_app())

    app.add_middleware(RequestIdMiddleware, telemetry=telemetry)

    def caller(request: Request) -> str:
        """The client name of the request's API key (401 without one, 429 over its rate)."""
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if not key:
            raise ServiceError(401, "authentication", "missing_api_key",
                               "no API key: send 'Authorization: Bearer <key>' (or X-API-Key)")
        if key not in settings.api_keys:
            raise ServiceError(401, "authentication", "invalid_api_key",
                               f"API key ending '{key[-4:]}' is not known here; check the key you were issued")
        wait = limiter.acquire(key)
        if wait:
            raise ServiceError(429, "rate_limit", "rate_limited",
                               f"more than {settings.rate_per_s:g} requests/s for client "
                               f"{settings.api_keys[key]!r}; retry after {math.ceil(wait)} s",
                               {"Retry-After": str(math.ceil(wait))})
        request.state.client_name = settings.api_keys[key]
        return key

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"model": ErrorBody}})
    def readyz():
        """Readiness: the retriever is loaded. A degraded model (breaker open) is still ready:
        the fallback answers."""
        if answerer is None:
            return error_response(503, "unavailable", "not_ready", "no retriever is loaded")
        return {"status": "ready", "breaker": answerer.breaker.state,
                "degraded": answerer.breaker.state != "closed"}

    @app.post("/v1/answer", response_model=AnswerResponse, tags=["assistant"],
              responses={**ERRORS, 402: {"model": ErrorBody}, 503: {"model": ErrorBody},
                         200: {"content": {"text/event-stream": {}}}})
    def answer(body: AnswerRequest, request: Request, key: str = Depends(caller)):
        """A grounded answer with citations; degraded answers say so (``source``, ``errors``)."""
        if answerer is None:
            raise ServiceError(503, "unavailable", "not_ready", "no retriever is loaded; retry later")
        query = pii.redact(body.query).text if pii is not None else body.query
        deadline = Deadline(min(body.deadline_ms / 1000, settings.max_deadline_s))
        rid, start = request.state.request_id, time.perf_counter()
        reservation = _reserve(budget, key, settings)

        def run(on_delta=None) -> AnswerResponse:
            try:
                result, ids = answerer.answer(query, body.k, deadline, on_delta)
            except DeadlineExceeded as exc:
                result, ids = LadderResult("", "abstain", errors=[str(exc)]), []
            except BaseException:
                _settle(budget, reservation, None, settings.model or "")
                raise
            _settle(budget, reservation, result, settings.model or "")
            return AnswerResponse(request_id=rid, answer=result.text, source=result.source,
                                  citations=result.citations, context_ids=ids, degraded=result.degraded,
                                  errors=result.errors, latency_ms=(time.perf_counter() - start) * 1000,
                                  usage=result.usage)

        if body.stream:
            return StreamingResponse(_sse(run, rid), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return run()

    @app.post("/v1/classify", response_model=ClassifyResponse, tags=["assistant"],
              responses={**ERRORS, 503: {"model": ErrorBody}})
    def classify(body: ClassifyRequest, request: Request, key: str = Depends(caller)):
        """Route a ticket to a team (phase 1's router)."""
        if classifier is None:
            raise ServiceError(503, "unavailable", "no_classifier", "no classifier is configured")
        result = classifier.classify(body.text, body.subject)
        return ClassifyResponse(request_id=request.state.request_id, **result.model_dump())

    return app


def _reserve(budget: Any, key: str, settings: ServiceSettings) -> Any:
    """Reserve the worst case of one answer, or answer 402/429 naming what was exceeded."""
    if budget is None:
        return None
    from inferlearn.llm.calllog import call_cost

    prompt = settings.budget_tokens + 300  # context + system prompt and question, at most
    worst = call_cost(settings.model or "", prompt, settings.max_tokens) or 0.0
    try:
        return budget.reserve(key, prompt + settings.max_tokens, worst)
    except Exception as exc:
        if type(exc).__name__ != "BudgetExceeded":
            raise
        what = str(getattr(exc, "what", "budget"))
        status = 429 if "day" in what else 402
        raise ServiceError(status, "budget", "budget_exceeded",
                           f"{what} exceeded: limit {getattr(exc, 'limit', '?')}, spent "
                           f"{getattr(exc, 'spent', '?')}; wait for the next day or ask for a "
                           "higher limit", {"Retry-After": "3600"} if status == 429 else None) from None


def _settle(budget: Any, reservation: Any, result: LadderResult | None, model: str) -> None:
    """Settle the reservation at what the call used (release it when nothing was answered)."""
    if budget is None or reservation is None:
        return
    if result is None:
        budget.release(reservation)
        return
    from inferlearn.llm.calllog import call_cost

    usage = result.usage
    cost = call_cost(model, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)) or 0.0
    budget.settle(reservation, int(usage.get("total_tokens", 0)), cost)


def _sse(run, request_id: str) -> Iterator[str]:
    """Server-sent events: ``meta``, then ``delta`` pieces as the model writes, then ``done``
    (the whole ``AnswerResponse``; when the model failed mid-way ``done`` holds the fallback)."""
    events: queue.Queue = queue.Queue()

    def worker() -> None:
        try:
            events.put(("done", run(lambda piece: events.put(("delta", {"text": piece})))))
        except Exception as exc:  # reported in-stream: the 200 status is already sent
            events.put(("error", ErrorBody(error=ErrorDetail(type="unavailable", code="stream_failed",
                                                              message=str(exc)[:300]))))

    threading.Thread(target=worker, daemon=True).start()
    yield f"event: meta\ndata: {json.dumps({'request_id': request_id})}\n\n"
    while True:
        kind, payload = events.get()
        data = payload.model_dump_json() if isinstance(payload, BaseModel) else json.dumps(payload)
        yield f"event: {kind}\ndata: {data}\n\n"
        if kind in ("done", "error"):
            return
