"""The assistant service's contract: its settings, request and response models, and the one
error shape every route answers with. Introduced in ``phase4_production/01_service_contract``."""

from __future__ import annotations

from typing import Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from inferlearn.prod.resilience import RetryPolicy


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
    use_telemetry: bool = False  # inferlearn.prod.telemetry: a JSON line and metrics per request
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


ERRORS = {401: {"model": ErrorBody, "description": "no API key, or an unknown one"},
          422: {"model": ErrorBody, "description": "the body does not match the schema"},
          429: {"model": ErrorBody, "description": "rate limit (or daily budget); see Retry-After"}}
