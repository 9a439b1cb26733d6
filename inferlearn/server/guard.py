"""The server's outer ASGI layer: request ids, admission, OpenAI-shaped errors, disconnects.

A pure ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: that one hides a client's
disconnect from the routes, so abandoned requests kept their place in the queue (issue 16).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse

from inferlearn.server.protocol import APIError

log = logging.getLogger("inferlearn.server")


def error_response(exc: APIError, request_id: str) -> JSONResponse:
    """The OpenAI-shaped JSON answer for ``exc``."""
    headers = {"x-request-id": request_id, **exc.headers}
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def unless_disconnected(request: Request, work, cancel: threading.Event | None = None):
    """Await ``work``; if the client disconnects first, stop it (and set ``cancel``)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if await request.is_disconnected():
                if cancel is not None:
                    cancel.set()
                raise ClientGone()
    finally:
        if not task.done():
            task.cancel()


class Guard:
    """Request id, ``admit`` (raises ``APIError``), and an OpenAI-shaped 500 for anything
    unexpected, answered here so the keep-alive connection stays open."""

    def __init__(self, app, admit: Callable[[Request], None]) -> None:
        self.app, self.admit = app, admit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = "req_" + uuid.uuid4().hex[:20]
        scope.setdefault("state", {}).update(rid=rid, start=time.perf_counter())
        started = False

        async def send_with_id(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        request = Request(scope)
        try:
            self.admit(request)
            await self.app(scope, receive, send_with_id)
        except APIError as exc:
            if not started:
                await error_response(exc, rid)(scope, receive, send)
        except Exception as exc:
            log.exception("unexpected error")
            if not started:
                error = APIError(500, f"internal error in the local server: {exc!r}; see the "
                                 "server log", code="internal_error")
                await error_response(error, rid)(scope, receive, send)
