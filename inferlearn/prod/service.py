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

import json
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferlearn.prod.classify_service import Classifier, ClassifyRequest, ClassifyResponse
from inferlearn.prod.resilience import (
    CircuitBreaker,
    Deadline,
    DeadlineExceeded,
    LadderResult,
    answer_with_fallback,
)
from inferlearn.prod.service_schema import (
    ERRORS,
    AnswerRequest,
    AnswerResponse,
    ErrorBody,
    ErrorDetail,
    ServiceError,
    ServiceSettings,
    error_response,
)

__all__ = ["AnswerRequest", "AnswerResponse", "ErrorBody", "RateLimiter", "ServiceError",
           "ServiceSettings", "create_app", "error_response"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
router = APIRouter()


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


def caller(request: Request) -> str:
    """The API key of the request (401 without a known one, 429 over its rate); the key's client
    name goes to ``request.state.client_name``."""
    settings, limiter = request.app.state.settings, request.app.state.limiter
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


@router.get("/healthz", tags=["ops"])
def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], responses={503: {"model": ErrorBody}})
def readyz(request: Request):
    """Readiness: the retriever is loaded. A degraded model (breaker open) is still ready:
    the fallback answers."""
    answerer = request.app.state.answerer
    if answerer is None:
        return error_response(503, "unavailable", "not_ready", "no retriever is loaded")
    return {"status": "ready", "breaker": answerer.breaker.state,
            "degraded": answerer.breaker.state != "closed"}


@router.post("/v1/answer", response_model=AnswerResponse, tags=["assistant"],
             responses={**ERRORS, 402: {"model": ErrorBody}, 503: {"model": ErrorBody},
                        200: {"content": {"text/event-stream": {}}}})
def answer(body: AnswerRequest, request: Request, key: str = Depends(caller)):
    """A grounded answer with citations; degraded answers say so (``source``, ``errors``)."""
    state = request.app.state
    if state.answerer is None:
        raise ServiceError(503, "unavailable", "not_ready", "no retriever is loaded; retry later")
    query = state.pii.redact(body.query).text if state.pii is not None else body.query
    deadline = Deadline(min(body.deadline_ms / 1000, state.settings.max_deadline_s))
    rid, start = request.state.request_id, time.perf_counter()
    reservation = _reserve(state.budget, key, state.settings)
    run = partial(_answer, state, query, body.k, deadline, reservation, rid, start)
    if body.stream:
        return StreamingResponse(_sse(run, rid), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return run()


@router.post("/v1/classify", response_model=ClassifyResponse, tags=["assistant"],
             responses={**ERRORS, 503: {"model": ErrorBody}})
def classify(body: ClassifyRequest, request: Request, key: str = Depends(caller)):
    """Route a ticket to a team (phase 1's router)."""
    classifier = request.app.state.classifier
    if classifier is None:
        raise ServiceError(503, "unavailable", "no_classifier", "no classifier is configured")
    result = classifier.classify(body.text, body.subject)
    return ClassifyResponse(request_id=request.state.request_id, **result.model_dump())


def create_app(settings: ServiceSettings, retriever: Any = None, client: Any = None,
               classifier: Classifier | None = None, budget: Any = None) -> FastAPI:
    """The service. ``retriever`` has ``search(query, k)`` and ``passages`` (a phase 2 pipeline);
    ``client`` is an OpenAI-style chat client; ``budget`` an ``inferlearn.prod.budgets.Budget``.

    Introduced in ``phase4_production/01_service_contract``.
    """
    app = FastAPI(title="Larkspur assistant", version="1.0.0",
                  description="Grounded answers over the Larkspur docs and ticket routing.")
    telemetry = pii = None
    if settings.use_telemetry:  # imported only when asked for: prometheus and the request log
        from inferlearn.prod import telemetry
    if settings.use_pii:  # imported only when asked for: presidio and spaCy take seconds to load
        from inferlearn.prod import pii
    state = app.state
    state.settings, state.limiter = settings, RateLimiter(settings.rate_per_s, settings.burst)
    state.answerer = Answerer(retriever, client, settings.model or "", settings) \
        if retriever is not None else None
    state.classifier, state.budget, state.pii = classifier, budget, pii
    _install_error_handlers(app)
    app.include_router(router)
    if telemetry is not None:
        app.mount("/metrics", telemetry.metrics_app())
    app.add_middleware(RequestIdMiddleware, telemetry=telemetry)
    return app


def _answer(state: State, query: str, k: int, deadline: Deadline, reservation: Any, rid: str,
            start: float, on_delta: Callable[[str], None] | None = None) -> AnswerResponse:
    """Run the answerer's ladder and settle the budget reservation at what it used."""
    model = state.settings.model or ""
    try:
        result, ids = state.answerer.answer(query, k, deadline, on_delta)
    except DeadlineExceeded as exc:
        result, ids = LadderResult("", "abstain", errors=[str(exc)]), []
    except BaseException:
        _settle(state.budget, reservation, None, model)
        raise
    _settle(state.budget, reservation, result, model)
    return AnswerResponse(request_id=rid, answer=result.text, source=result.source,
                          citations=result.citations, context_ids=ids, degraded=result.degraded,
                          errors=result.errors, latency_ms=(time.perf_counter() - start) * 1000,
                          usage=result.usage)


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
