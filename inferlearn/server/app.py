"""The embedded OpenAI-compatible server (``inferlearn serve``).

Endpoints (``inferlearn.server.routes``): ``GET /v1/models``, ``POST /v1/chat/completions``,
``POST /v1/embeddings``, ``GET /health``, ``POST /v1/chaos/reset``. Errors use OpenAI's body; bad
requests are 400s, never 500s. One model instance behind a lock and a bounded queue; every request
goes to the usage log.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferlearn.server.engine import LocalEngine
from inferlearn.server.guard import Guard, error_response
from inferlearn.server.openapi import install_openapi
from inferlearn.server.protocol import APIError
from inferlearn.server.routes import router
from inferlearn.server.state import ServerSettings, ServerState

__all__ = ["ServerSettings", "ServerState", "create_app"]


def _check_auth(request: Request, state: ServerState) -> None:
    key = state.settings.api_key
    if key and request.headers.get("authorization", "") != f"Bearer {key}":
        raise APIError(401, "Incorrect or missing API key. Send 'Authorization: Bearer <key>' with "
                            "the key the server was started with.", code="invalid_api_key")


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


def _request_id(request: Request) -> str:
    return getattr(request.state, "rid", "req_unknown")


async def api_error(request: Request, exc: APIError) -> JSONResponse:
    """An ``APIError`` raised by a route, in OpenAI's error body."""
    return error_response(exc, _request_id(request))


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's 404/405 (and any other HTTP error) in OpenAI's error body."""
    message = {404: f"Unknown request URL: {request.method} {request.url.path}. See the "
                    "server's /openapi.json for its routes.",
               405: f"Method {request.method} is not allowed on {request.url.path}."
               }.get(exc.status_code, str(exc.detail))
    code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(APIError(exc.status_code, message, code=code,
                                   headers=dict(exc.headers or {})), _request_id(request))


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Anything else: an OpenAI-shaped 500 that points at the server log."""
    return error_response(APIError(500, f"internal error in the local server: {exc!r}; "
                                   "see the server log", code="internal_error"), _request_id(request))


def create_app(settings: ServerSettings, engine: LocalEngine | None = None) -> FastAPI:
    """The FastAPI application. Chat models load on their first request (``engine``, when
    given, answers for every model id)."""
    state = ServerState(settings, engine)
    app = FastAPI(title="inferlearn local model server", docs_url=None, redoc_url=None)
    app.state.inferlearn = state
    app.include_router(router)
    install_openapi(app)
    app.add_middleware(Guard, admit=lambda request: _admit(request, state))
    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app
