"""The local server's routes, as small functions on one ``APIRouter``.

Every route finds the shared ``ServerState`` at ``request.app.state.inferlearn``. The two model
routes read their JSON body themselves (``read_json``: size, depth and UTF-8 checks before
validation) and run through ``run_with_gate``: the in-flight gate, chaos, disconnects, the usage log.
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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from inferlearn.llm.models import MODELS
from inferlearn.server.chaos import ChaosConfig, ChaosDecision, parse_chaos
from inferlearn.server.chat import Plan, StreamJob, complete, plan_chat
from inferlearn.server.embeddings import get_embedder
from inferlearn.server.engine import LocalEngine
from inferlearn.server.guard import ClientGone, unless_disconnected
from inferlearn.server.openapi import (
    ChatCompletion,
    EmbeddingList,
    Health,
    ModelCard,
    ModelList,
    errors,
    json_body,
)
from inferlearn.server.protocol import (
    APIError,
    ChatRequest,
    EmbeddingRequest,
    check_body,
    parse_request,
)
from inferlearn.server.state import ServerState

CHAOS_HEADER = "x-inferlearn-chaos"
DROPPED_HEADER = "x-inferlearn-grammar-dropped"
CLIENT_GONE = 499  # logged status of a request whose client disconnected first
MAX_EMBEDDING_INPUTS = 2048
CREATED = 1735689600  # the "created" time every local model card reports
log = logging.getLogger("inferlearn.server")
router = APIRouter()

# A model route's work: (body, chaos decision, cancel event) -> (response, (prompt, completion)
# tokens to log, or None when the response logs itself, as a stream does).
Handler = Callable[[Any, ChaosDecision, threading.Event],
                   Awaitable[tuple[Response, tuple[int, int] | None]]]


def server_state(request: Request) -> ServerState:
    """The ``ServerState`` of the app serving ``request``."""
    return request.app.state.inferlearn


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, or a 413/400 naming what is wrong with it."""
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


def dropped_header(dropped: list[str]) -> dict[str, str]:
    """Tell the client (ASCII header) and the server log what the grammar leaves unenforced."""
    if not dropped:
        return {}
    text = "; ".join(dropped)
    log.warning("grammar does not enforce: %s", text)
    return {DROPPED_HEADER: json.dumps(text)[1:-1][:2000]}


def chaos_for(request: Request, state: ServerState) -> tuple[ChaosConfig, str]:
    """The request's chaos settings (its header, else the server's) and the header's text."""
    header = request.headers.get(CHAOS_HEADER)
    if header is None:
        return state.settings.chaos, ""
    try:
        return parse_chaos(header), header
    except ValueError as exc:
        raise APIError(400, f"bad {CHAOS_HEADER} header: {exc}", param=CHAOS_HEADER) from None


async def apply_chaos(decision: ChaosDecision) -> None:
    """Sleep, hang or raise the injected error that ``decision`` asks for."""
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


def check_model(model: str, kind: str) -> None:
    """404 unless ``model`` is a local model of ``kind`` (chat or embedding)."""
    info = MODELS.get(model)
    if info is None or info.provider != "local" or info.kind != kind:
        local = [m.id for m in MODELS.values() if m.provider == "local" and m.kind == kind]
        raise APIError(404, f"The model '{model}' does not exist on this server; "
                            f"available {kind} models: {', '.join(local)}.",
                       param="model", code="model_not_found")


def embedding_inputs(req: EmbeddingRequest) -> list[str]:
    """The texts to embed, or a 400 naming the bad input."""
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


def embed(req: EmbeddingRequest) -> tuple[dict, int]:
    """The OpenAI-shaped embeddings answer and its token count."""
    texts = embedding_inputs(req)
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


async def run_with_gate(request: Request, endpoint: str, handler: Handler) -> Response:
    """Admit, read the body, apply chaos, run ``handler`` unless the client leaves; log it all."""
    state = server_state(request)
    rid, start = request.state.rid, request.state.start
    model, chaos_text = None, ""
    try:
        state.enter()
    except APIError as exc:
        state.record(rid, endpoint, None, start, exc.status)
        raise
    try:
        body = await read_json(request, state.settings.max_body_bytes)
        model = body.get("model") if isinstance(body, dict) else None
        config, chaos_text = chaos_for(request, state)
        decision = state.chaos.decide(config)
        cancel = threading.Event()
        await unless_disconnected(request, apply_chaos(decision), cancel)
        response, tokens = await unless_disconnected(request, handler(body, decision, cancel), cancel)
        if tokens is not None:
            state.record(rid, endpoint, model, start, 200, *tokens, chaos=chaos_text)
        return response
    except (ClientGone, APIError) as exc:
        status = CLIENT_GONE if isinstance(exc, ClientGone) else exc.status
        state.record(rid, endpoint, model if isinstance(model, str) else None, start, status,
                     chaos=chaos_text)
        if isinstance(exc, ClientGone):
            return Response(status_code=CLIENT_GONE)
        raise
    finally:
        state.leave()


def stream_chat(request: Request, plan: Plan, decision: ChaosDecision,
                engine: LocalEngine) -> StreamingResponse:
    """A chat completion as server-sent events, logged once when it ends (however it ends)."""
    state, job = server_state(request), StreamJob(plan, engine)
    rid, start = request.state.rid, request.state.start

    def record(status: int) -> None:
        state.record(rid, "chat.completions", plan.request.model, start, status,
                     len(plan.prompt_tokens), job.outcome.completion_tokens)

    async def events() -> AsyncIterator[str]:
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
                    record(status)
                sent += 1
                yield event
        finally:
            job.cancelled.set()
            if not logged:
                record(status)
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"x-request-id": rid, "cache-control": "no-cache",
                                      **dropped_header(plan.dropped)})


@router.get("/health", response_model=None, responses={200: {"model": Health}})
async def health(request: Request) -> dict:
    """Alive, which chat models are loaded, and for how long the server has been idle."""
    state = server_state(request)
    return {"status": "ok", "loaded_models": state.loaded_models(), "pid": os.getpid(),
            "uptime_s": round(time.time() - state.started, 1),
            "idle_s": round(time.time() - state.last_active, 1)}


@router.get("/v1/models", response_model=None, responses={200: {"model": ModelList}, **errors(401)})
async def list_models() -> dict:
    """The local models, as OpenAI lists them."""
    local = [m for m in MODELS.values() if m.provider == "local"]
    return {"object": "list", "data": [{"id": m.id, "object": "model", "created": CREATED,
                                        "owned_by": "inferlearn"} for m in local]}


@router.get("/v1/models/{model_id}", response_model=None,
            responses={200: {"model": ModelCard}, **errors(401, 404)})
async def get_model(model_id: str) -> dict:
    """One local model's card, or 404."""
    if model_id not in MODELS or MODELS[model_id].provider != "local":
        raise APIError(404, f"The model '{model_id}' does not exist.", param="model",
                       code="model_not_found")
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "inferlearn"}


@router.post("/v1/chaos/reset", responses=errors(401))
async def chaos_reset(request: Request) -> dict:
    """Forget the chaos counters (seeded sequences start again)."""
    server_state(request).chaos.reset()
    return {"status": "reset"}


@router.post("/v1/chat/completions", openapi_extra=json_body(ChatRequest), response_model=None,
             responses={200: {"model": ChatCompletion}, **errors(400, 401, 404, 413, 429, 500, 503)})
async def chat_completions(request: Request) -> Response:
    """OpenAI's chat completions, streamed or whole."""
    async def handle(body: Any, decision: ChaosDecision, cancel: threading.Event):
        req = parse_request(ChatRequest, body)
        check_model(req.model, "chat")
        engine = await run_in_threadpool(server_state(request).engine_for, req.model)
        plan = await run_in_threadpool(plan_chat, req, engine)
        plan.malformed, plan.cancelled = decision.malformed, cancel
        if req.stream:
            return stream_chat(request, plan, decision, engine), None
        result = await run_in_threadpool(complete, plan, engine)
        usage = result["usage"]
        return JSONResponse(result, headers=dropped_header(plan.dropped)), \
            (usage["prompt_tokens"], usage["completion_tokens"])
    return await run_with_gate(request, "chat.completions", handle)


@router.post("/v1/embeddings", openapi_extra=json_body(EmbeddingRequest), response_model=None,
             responses={200: {"model": EmbeddingList}, **errors(400, 401, 404, 413, 429, 500, 503)})
async def embeddings(request: Request) -> Response:
    """OpenAI's embeddings, floats or base64."""
    async def handle(body: Any, decision: ChaosDecision, cancel: threading.Event):
        req = parse_request(EmbeddingRequest, body)
        check_model(req.model, "embedding")
        result, tokens = await run_in_threadpool(embed, req)
        return JSONResponse(result), (tokens, 0)
    return await run_with_gate(request, "embeddings", handle)
