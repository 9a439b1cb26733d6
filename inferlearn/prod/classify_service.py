"""Tool 3: a ticket-routing endpoint that records what every request cost.

Introduced in ``phase1_llm_api/03_prompt_engineering`` (the LLM router); the endpoint and the
baseline in ``phase1_llm_api/04_model_selection_and_costs``. Two classifiers share one interface, ``classify(text, subject)``:

- ``LLMClassifier``: a versioned prompt + a chat model, output constrained to the team names by a
  JSON schema, every call logged with ``CallLog``;
- ``SklearnClassifier``: any fitted scikit-learn pipeline, e.g. ``train_baseline`` (TF-IDF +
  logistic regression), which costs no tokens.

``create_app(classifier)`` serves either::

    app = create_app(LLMClassifier(client, model, load_prompt("route_ticket", 2)))
    TestClient(app).post("/v1/classify", json={"text": "my invoice is wrong"}).json()
    # {"team": "billing", "cost_usd": 4.9e-06, "latency_ms": 512.3, ...}
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import openai
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from inferlearn.larkspur import TEAMS
from inferlearn.llm.calllog import CallLog, call_cost
from inferlearn.prompts import Prompt


def ticket_text(text: str, subject: str | None = None) -> str:
    """How a ticket is shown to every classifier: ``Subject: ...``, a blank line, the body."""
    return f"Subject: {subject}\n\n{text}" if subject else text


def route_response_format(labels: tuple[str, ...] = TEAMS) -> dict:
    """``response_format`` that constrains the reply to ``{"team": <one of labels>}``."""
    schema = {"type": "object", "properties": {"team": {"type": "string", "enum": list(labels)}},
              "required": ["team"], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "route", "schema": schema, "strict": True}}


class ClassificationError(RuntimeError):
    """The model answered, but not with one of the labels.
    Introduced in ``phase4_production/06_prompt_releases_and_monitoring``."""


class Classification(BaseModel):
    """One routed ticket and what it cost."""

    team: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # None: the model has no price in the catalogue
    latency_ms: float = 0.0


class Classifier(Protocol):
    name: str

    def classify(self, text: str, subject: str | None = None) -> Classification: ...


def parse_team(content: str | None, labels: tuple[str, ...] = TEAMS) -> str:
    """The team from a ``{"team": ...}`` reply; ``ClassificationError`` says what came back."""
    try:
        team = json.loads(content or "")["team"]
    except (ValueError, KeyError, TypeError):
        raise ClassificationError(f"expected JSON like {{\"team\": \"billing\"}}, got "
                                  f"{(content or '')[:200]!r}") from None
    if team not in labels:
        raise ClassificationError(f"the model answered team {team!r}, not one of {', '.join(labels)}")
    return team


@dataclass
class LLMClassifier:
    """Route tickets with a versioned prompt and a chat model (``examples`` fills a few-shot
    prompt's ``{{ examples }}``). Introduced in ``phase1_llm_api/04_model_selection_and_costs``."""

    client: Any
    model: str
    prompt: Prompt
    examples: str = ""
    temperature: float = 0.0
    max_tokens: int = 20
    log: CallLog | None = None
    labels: tuple[str, ...] = TEAMS
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.model} {self.prompt.name}@v{self.prompt.version}"
        self.log = self.log or CallLog()

    def classify(self, text: str, subject: str | None = None,
                 tags: dict | None = None) -> Classification:
        variables = {"ticket": ticket_text(text, subject), "examples": self.examples}
        start = time.perf_counter()
        completion = self.log.call(self.client, model=self.model, prompt=self.prompt,
                                   variables=variables, tags=tags, temperature=self.temperature,
                                   max_tokens=self.max_tokens,
                                   response_format=route_response_format(self.labels))
        latency_ms = (time.perf_counter() - start) * 1000
        team = parse_team(completion.choices[0].message.content, self.labels)
        usage = completion.usage
        cost = call_cost(self.model, usage.prompt_tokens, usage.completion_tokens)
        return Classification(team=team, model=self.model, prompt_tokens=usage.prompt_tokens,
                              completion_tokens=usage.completion_tokens, cost_usd=cost,
                              latency_ms=latency_ms)


@dataclass
class SklearnClassifier:
    """Route tickets with a fitted scikit-learn pipeline that takes raw text.
    Introduced in ``phase1_llm_api/04_model_selection_and_costs``."""

    pipeline: Any
    name: str = "tfidf-logreg"
    cost_per_request: float = 0.0

    def classify(self, text: str, subject: str | None = None) -> Classification:
        start = time.perf_counter()
        team = str(self.pipeline.predict([ticket_text(text, subject)])[0])
        return Classification(team=team, model=self.name, cost_usd=self.cost_per_request,
                              latency_ms=(time.perf_counter() - start) * 1000)


def train_baseline(texts: list[str], labels: list[str], seed: int = 0) -> SklearnClassifier:
    """TF-IDF (words and bigrams) + logistic regression with balanced class weights.
    Introduced in ``phase1_llm_api/04_model_selection_and_costs``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
        LogisticRegression(max_iter=2000, class_weight="balanced", C=10.0, random_state=seed))
    pipeline.fit(texts, labels)
    return SklearnClassifier(pipeline)


class ClassifyRequest(BaseModel):
    """A ticket to route."""

    text: str = Field(min_length=1, max_length=20_000, description="the ticket body")
    subject: str | None = Field(default=None, max_length=500)
    ticket_id: str | None = Field(default=None, max_length=64)

    @field_validator("text")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank; send the ticket body")
        return value


class ClassifyResponse(BaseModel):
    """The routed team and what this request cost."""

    request_id: str
    team: str
    model: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = Field(description="USD for this request; null if the model has no "
                                   "price in the catalogue (inferlearn/llm/models.py)")


@dataclass
class CostLedger:
    """Per-request costs the service has recorded since it started."""

    rows: list[dict] = field(default_factory=list)

    def add(self, response: ClassifyResponse) -> None:
        self.rows.append(response.model_dump())

    def summary(self) -> dict[str, float]:
        costs = [r["cost_usd"] for r in self.rows if r["cost_usd"] is not None]
        latency = [r["latency_ms"] for r in self.rows]
        n = len(self.rows)
        return {"requests": n, "unpriced_requests": n - len(costs),
                "total_cost_usd": float(sum(costs)),
                "cost_per_1k": float(sum(costs) / len(costs) * 1000) if costs else 0.0,
                "p50_ms": float(np.percentile(latency, 50)) if n else 0.0,
                "p95_ms": float(np.percentile(latency, 95)) if n else 0.0}


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"type": kind, "message": message}})


def create_app(classifier: Classifier) -> FastAPI:
    """The classification service: ``POST /v1/classify``, ``GET /v1/costs``, ``GET /health``.
    Introduced in ``phase1_llm_api/04_model_selection_and_costs``."""
    app = FastAPI(title="Larkspur ticket router", version="1.0.0")
    app.state.ledger = CostLedger()

    @app.exception_handler(ClassificationError)
    def bad_model_output(_: Request, exc: ClassificationError) -> JSONResponse:
        return _error(502, "bad_model_output", str(exc))

    @app.exception_handler(openai.APIError)
    def upstream_failed(_: Request, exc: openai.APIError) -> JSONResponse:
        return _error(502, "upstream_error", f"the model call failed: {exc}")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "classifier": classifier.name}

    @app.post("/v1/classify", response_model=ClassifyResponse)
    def classify(request: ClassifyRequest) -> ClassifyResponse:
        result = classifier.classify(request.text, request.subject)
        response = ClassifyResponse(request_id=request.ticket_id or uuid.uuid4().hex[:12],
                                    **result.model_dump())
        app.state.ledger.add(response)
        return response

    @app.get("/v1/costs")
    def costs() -> dict:
        return {"classifier": classifier.name, **app.state.ledger.summary()}

    return app
