"""The embedded OpenAI-compatible server (``inferlearn serve``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/embeddings``,
``GET /health``, ``POST /v1/chaos/reset``. Errors use OpenAI's body; bad requests are 400s, never
500s. One model instance behind a lock and a bounded queue; every request goes to the usage log.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferlearn.llm.models import MODELS, usage_cost
from inferlearn.server.chaos import ChaosConfig, ChaosDecision, ChaosMonkey, parse_chaos
from inferlearn.server.chat import StreamJob, complete, plan_chat
from inferlearn.server.embeddings import get_embedder
from inferlearn.server.engine import LocalEngine
from inferlearn.server.guard import ClientGone, Guard, error_response, unless_disconnected
from inferlearn.server.modelfiles import ModelFilesError, chat_model_path
from inferlearn.server.openapi import (
    ChatCompletion,
    EmbeddingList,
    Health,
    ModelCard,
    ModelList,
    errors,
    install_openapi,
    json_body,
)
from inferlearn.server.protocol import (
    APIError,
    ChatRequest,
    EmbeddingRequest,
    check_body,
    parse_request,
)
from inferlearn.server.usage import UsageLog, UsageRecord

CHAOS_HEADER = "x-inferlearn-chaos"
DROPPED_HEADER = "x-inferlearn-grammar-dropped"
CLIENT_GONE = 499  # logged status of a request whose client disconnected first
log = logging.getLogger("inferlearn.server")
MAX_EMBEDDING_INPUTS = 2048


@dataclass
class ServerSettings:
    """How one server runs."""

    model_path: str | None = None  # one GGUF served for every local chat model id (tests, --model)
    n_ctx: int = 8192
    n_threads: int | None = None
    api_key: str | None = None
    chaos: ChaosConfig = field(default_factory=ChaosConfig)
    max_queue: int = 16
    max_body_bytes: int = 4 * 1024 * 1024
    usage_path: str | None = None


class ServerState:
    """What the routes share: engine, usage log, chaos, the in-flight gate, last activity."""

    def __init__(self, settings: ServerSettings, engine: LocalEngine | None = None) -> None:
        self.settings = settings
        self._fixed = engine  # given: it answers for every model id
        self._engines: dict[str, LocalEngine] = {}
        self._generate = threading.Lock()  # one generation at a time, whichever model
        self._loading = threading.Lock()
        self.usage = UsageLog(settings.usage_path)
        self.chaos = ChaosMonkey()
        self.started = time.time()
        self.last_active = time.time()
        self._inflight = 0
        self._gate = threading.Lock()

    def engine_for(self, model: str) -> LocalEngine:
        """The engine of a local chat model id, loaded on first use and kept resident."""
        if self._fixed is not None:
            return self._fixed
        with self._loading:
            if model not in self._engines:
                try:
                    path = self.settings.model_path or str(chat_model_path(model))
                except ModelFilesError as exc:
                    raise APIError(503, str(exc), param="model", code="model_not_installed") from None
                self._engines[model] = LocalEngine(
                    path, self.settings.n_ctx, self.settings.n_threads,
                    template=MODELS[model].template or "smollm2", lock=self._generate)
            return self._engines[model]

    def loaded_models(self) -> list[str]:
        """Chat model ids loaded so far (empty when one engine was given for every id)."""
        return sorted(self._engines)

    def enter(self) -> None:
        """Admit a request or answer 503 when the queue is full."""
        with self._gate:
            if self._inflight >= self.settings.max_queue:
                raise APIError(503, f"the local server is busy ({self._inflight} requests queued); "
                                    "retry shortly", code="overloaded", headers={"Retry-After": "1"})
            self._inflight += 1
            self.last_active = time.time()

    def leave(self) -> None:
        with self._gate:
            self._inflight -= 1
            self.last_active = time.time()


async def _read_json(request: Request, limit: int):
    body = await request.body()
    if len(body) > limit:
        raise APIError(413, f"request body is {len(body)} bytes; the limit is {limit}",
                       code="request_too_large")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"We could not parse the JSON body of your request ({exc}). "
                            "Send a valid JSON object.", code="invalid_json") from None
    except RecursionError:
        raise APIError(400, "the JSON body nests too deeply to parse; flatten it",
                       code="invalid_json") from None
    check_body(parsed)
    return parsed


def _dropped_header(dropped: list[str]) -> dict[str, str]:
    """Tell the client (ASCII header) and the server log what the grammar leaves unenforced."""
    if not dropped:
        return {}
    text = "; ".join(dropped)
    log.warning("grammar does not enforce: %s", text)
    return {DROPPED_HEADER: json.dumps(text)[1:-1][:2000]}


def _chaos_for(request: Request, state: ServerState) -> tuple[ChaosConfig, str]:
    header = request.headers.get(CHAOS_HEADER)
    if header is None:
        return state.settings.chaos, ""
    try:
        return parse_chaos(header), header
    except ValueError as exc:
        raise APIError(400, f"bad {CHAOS_HEADER} header: {exc}", param=CHAOS_HEADER) from None


async def _apply_chaos(decision: ChaosDecision) -> None:
    if decision.delay_s:
        await asyncio.sleep(decision.delay_s)
    if decision.hang_s:
        await asyncio.sleep(decision.hang_s)
    if decision.error_status:
        seconds = decision.retry_after
        headers = {"Retry-After": str(math.ceil(seconds)), "retry-after-ms": str(int(seconds * 1000))} \
            if decision.error_status in (429, 503) else {}
        kind = {429: ("rate_limit_exceeded", "requests"), 500: ("server_error", "server_error"),
                503: ("overloaded", "server_error")}[decision.error_status]
        raise APIError(decision.error_status, f"chaos: injected {decision.error_status} "
                       "(set by the inferlearn chaos settings)", code=kind[0], type_=kind[1],
                       headers=headers)


def _check_auth(request: Request, state: ServerState) -> None:
    key = state.settings.api_key
    if key and request.headers.get("authorization", "") != f"Bearer {key}":
        raise APIError(401, "Incorrect or missing API key. Send 'Authorization: Bearer <key>' with "
                            "the key the server was started with.", code="invalid_api_key")


def _check_model(model: str, kind: str) -> None:
    info = MODELS.get(model)
    if info is None or info.provider != "local" or info.kind != kind:
        local = [m.id for m in MODELS.values() if m.provider == "local" and m.kind == kind]
        raise APIError(404, f"The model '{model}' does not exist on this server; "
                            f"available {kind} models: {', '.join(local)}.",
                       param="model", code="model_not_found")


def _embedding_inputs(req: EmbeddingRequest) -> list[str]:
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not texts:
        raise APIError(400, "'input' must not be empty.", param="input")
    if not all(isinstance(t, str) for t in texts):
        raise APIError(400, "token-id inputs are not supported by the local server; send strings.",
                       param="input")
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise APIError(400, f"'input' has {len(texts)} items; at most {MAX_EMBEDDING_INPUTS} allowed.",
                       param="input")
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise APIError(400, f"'input[{empty[0]}]' is empty; every input must contain text.",
                       param="input")
    return texts


def _embed(req: EmbeddingRequest) -> tuple[dict, int]:
    texts = _embedding_inputs(req)
    embedder = get_embedder(req.model)
    if req.dimensions is not None and req.dimensions != embedder.dimensions:
        raise APIError(400, f"model '{req.model}' returns {embedder.dimensions} dimensions; "
                            f"'dimensions'={req.dimensions} is not supported.", param="dimensions")
    vectors = embedder.embed(texts)
    tokens = embedder.count_tokens(texts)
    data = []
    for i, vec in enumerate(vectors):
        value = base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode() \
            if req.encoding_format == "base64" else [float(x) for x in vec]
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "data": data, "model": req.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, tokens


def _admit(request: Request, state: ServerState) -> None:
    """Body-size limit and API key, before any route runs."""
    limit = state.settings.max_body_bytes
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise APIError(413, f"request body is {length} bytes; the limit is {limit}",
                       code="request_too_large")
    if request.url.path.startswith("/v1/"):
        _check_auth(request, state)


def create_app(settings: ServerSettings, engine: LocalEngine | None = None) -> FastAPI:
    """The FastAPI application. Chat models load on their first request (``engine``, when
    given, answers for every model id)."""
    state = ServerState(settings, engine)
    app = FastAPI(title="inferlearn local model server", docs_url=None, redoc_url=None)
    app.state.inferlearn = state
    install_openapi(app)

    def record(rid: str, endpoint: str, model: str | None, start: float, status: int,
               prompt: int = 0, completion: int = 0, chaos: str = "") -> None:
        cost = usage_cost(model, prompt, completion) if model in MODELS else 0.0
        state.usage.record(UsageRecord(rid, endpoint, model, prompt, completion,
                                       (time.perf_counter() - start) * 1000, status, cost, chaos))

    app.add_middleware(Guard, admit=lambda request: _admit(request, state))

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        rid = getattr(request.state, "rid", "req_unknown")
        return error_response(exc, rid)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        rid = getattr(request.state, "rid", "req_unknown")
        message = {404: f"Unknown request URL: {request.method} {request.url.path}. See the "
                        "server's /openapi.json for its routes.",
                   405: f"Method {request.method} is not allowed on {request.url.path}."
                   }.get(exc.status_code, str(exc.detail))
        code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
        return error_response(APIError(exc.status_code, message, code=code,
                                        headers=dict(exc.headers or {})), rid)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        rid = getattr(request.state, "rid", "req_unknown")
        return error_response(APIError(500, f"internal error in the local server: {exc!r}; "
                                        "see the server log", code="internal_error"), rid)

    @app.get("/health", response_model=None, responses={200: {"model": Health}})
    async def health():
        return {"status": "ok", "loaded_models": state.loaded_models(), "pid": os.getpid(),
                "uptime_s": round(time.time() - state.started, 1),
                "idle_s": round(time.time() - state.last_active, 1)}

    @app.get("/v1/models", response_model=None, responses={200: {"model": ModelList}, **errors(401)})
    async def list_models():
        local = [m for m in MODELS.values() if m.provider == "local"]
        return {"object": "list", "data": [{"id": m.id, "object": "model", "created": 1735689600,
                                            "owned_by": "inferlearn"} for m in local]}

    @app.get("/v1/models/{model_id}", response_model=None,
             responses={200: {"model": ModelCard}, **errors(401, 404)})
    async def get_model(model_id: str):
        if model_id not in MODELS or MODELS[model_id].provider != "local":
            raise APIError(404, f"The model '{model_id}' does not exist.", param="model",
                           code="model_not_found")
        return {"id": model_id, "object": "model", "created": 1735689600, "owned_by": "inferlearn"}

    @app.post("/v1/chaos/reset", responses=errors(401))
    async def chaos_reset():
        state.chaos.reset()
        return {"status": "reset"}

    async def run_with_gate(request: Request, endpoint: str, handler):
        rid, start = request.state.rid, request.state.start
        model, chaos_text = None, ""
        try:
            state.enter()
        except APIError as exc:
            record(rid, endpoint, None, start, exc.status)
            raise
        try:
            body = await _read_json(request, settings.max_body_bytes)
            model = body.get("model") if isinstance(body, dict) else None
            config, chaos_text = _chaos_for(request, state)
            decision = state.chaos.decide(config)
            cancel = threading.Event()
            await unless_disconnected(request, _apply_chaos(decision), cancel)
            response, tokens = await unless_disconnected(request, handler(body, decision, cancel),
                                                          cancel)
            if tokens is not None:
                record(rid, endpoint, model, start, 200, *tokens, chaos=chaos_text)
            return response
        except ClientGone:
            record(rid, endpoint, model if isinstance(model, str) else None, start, CLIENT_GONE,
                   chaos=chaos_text)
            return Response(status_code=CLIENT_GONE)
        except APIError as exc:
            record(rid, endpoint, model if isinstance(model, str) else None, start, exc.status,
                   chaos=chaos_text)
            raise
        finally:
            state.leave()

    @app.post("/v1/chat/completions", openapi_extra=json_body(ChatRequest), response_model=None,
              responses={200: {"model": ChatCompletion}, **errors(400, 401, 404, 413, 429, 500, 503)})
    async def chat_completions(request: Request):
        async def handle(body, decision, cancel: threading.Event):
            req = parse_request(ChatRequest, body)
            _check_model(req.model, "chat")
            engine = await run_in_threadpool(state.engine_for, req.model)
            plan = await run_in_threadpool(plan_chat, req, engine)
            plan.malformed, plan.cancelled = decision.malformed, cancel
            if req.stream:
                return _stream(request, plan, decision, engine), None
            result = await run_in_threadpool(complete, plan, engine)
            usage = result["usage"]
            return JSONResponse(result, headers=_dropped_header(plan.dropped)), \
                (usage["prompt_tokens"], usage["completion_tokens"])
        return await run_with_gate(request, "chat.completions", handle)

    def _stream(request: Request, plan, decision: ChaosDecision, engine: LocalEngine) -> StreamingResponse:
        job = StreamJob(plan, engine)
        rid, start = request.state.rid, request.state.start

        async def events():
            sent, status, logged = 0, 200, False
            try:
                async for event in iterate_in_threadpool(job.events()):
                    if isinstance(event, Exception):
                        status = 500
                        return
                    if decision.truncate_after is not None and sent >= decision.truncate_after:
                        status = 599  # chaos cut: the body ends with no finish_reason and no [DONE]
                        return
                    if event == "data: [DONE]\n\n":  # log before the client can see the end
                        logged = True
                        record(rid, "chat.completions", plan.request.model, start, status,
                               len(plan.prompt_tokens), job.outcome.completion_tokens)
                    sent += 1
                    yield event
            finally:
                job.cancelled.set()
                if not logged:
                    record(rid, "chat.completions", plan.request.model, start, status,
                           len(plan.prompt_tokens), job.outcome.completion_tokens)
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"x-request-id": rid, "cache-control": "no-cache",
                                          **_dropped_header(plan.dropped)})

    @app.post("/v1/embeddings", openapi_extra=json_body(EmbeddingRequest), response_model=None,
              responses={200: {"model": EmbeddingList}, **errors(400, 401, 404, 413, 429, 500, 503)})
    async def embeddings(request: Request):
        async def handle(body, decision, cancel: threading.Event):
            req = parse_request(EmbeddingRequest, body)
            _check_model(req.model, "embedding")
            result, tokens = await run_in_threadpool(_embed, req)
            return JSONResponse(result), (tokens, 0)
        return await run_with_gate(request, "embeddings", handle)

    return app
