"""The server's OpenAPI document: the real request and response models, with their bounds.

Routes read their JSON bodies themselves (so a depth limit and UTF-8 checks run before
validation, and every failure is an OpenAI-shaped 400), so FastAPI cannot see the request
models; ``install_openapi`` adds them, and the routes declare their responses, so an API fuzzer
(schemathesis, ``tests/llm/test_schemathesis.py``) or a generated client learns the real shapes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from inferlearn.llm.models import MODELS
from inferlearn.server.protocol import ChatRequest, EmbeddingRequest


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """Every error the server returns: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorDetail


class Usage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    refusal: None = None
    tool_calls: list[dict[str, Any]] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: dict[str, Any] | None
    finish_reason: Literal["stop", "length", "tool_calls"]


class ChatCompletion(BaseModel):
    """A non-streaming reply (a streaming one is ``text/event-stream`` of chunks)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[Choice] = Field(min_length=1, max_length=1)
    usage: Usage


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int = Field(ge=0)
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    pid: int
    uptime_s: float
    idle_s: float


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error statuses, all in the OpenAI error shape."""
    return {status: {"model": ErrorBody, "description": "an OpenAI-shaped error"} for status in statuses}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads ``model`` as its JSON body."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the request models the routes read by hand."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                          description=__doc__.split("\n")[0])
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for model, kind in ((ChatRequest, "chat"), (EmbeddingRequest, "embedding")):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            served = [m.id for m in MODELS.values() if m.provider == "local" and m.kind == kind]
            schema["properties"]["model"] = {"type": "string", "enum": served,
                                             "description": "a model this server serves (else 404)"}
            components[model.__name__] = schema
        app.openapi_schema = doc
        return doc

    app.openapi = build  # type: ignore[method-assign]
