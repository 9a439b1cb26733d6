"""inferlearn.prod.service: the contract (auth, errors, rate limit, request ids, SSE, health),
and degradation when the model server is down. The model is the scripted test double, or a port
nothing listens on."""

from __future__ import annotations

import json
import socket
import time

import openai
import pytest
from fastapi.testclient import TestClient

from inferlearn.llm.testing import ScriptedClient, server_error
from inferlearn.prod.commands import parse_keys
from inferlearn.prod.resilience import RetryPolicy
from inferlearn.prod.service import ServiceSettings, create_app
from inferlearn.rag.pipelines import build_pipeline

KEY, OTHER = "sk-test-0001", "sk-test-0002"
DOCS = [{"id": "refunds#window:0", "text": "Refunds. You can ask for a refund within 14 days of the "
         "charge. After that the plan renews."},
        {"id": "billing#invoices:0", "text": "Invoices are sent on the first day of the month."},
        {"id": "sso#setup:0", "text": "Single sign-on is set up under Settings, Security, SSO."}]
AUTH = {"Authorization": f"Bearer {KEY}"}


class Router:
    name = "fixed"

    def classify(self, text, subject=None):
        from inferlearn.prod.classify_service import Classification

        return Classification(team="billing", model="fixed")


def make(replies=(), **overrides) -> tuple[TestClient, ScriptedClient]:
    client = ScriptedClient(list(replies))
    settings = ServiceSettings(api_keys={KEY: "web", OTHER: "mobile"}, model="m",
                               retry=RetryPolicy(attempts=2, base=0.001, cap=0.001), **overrides)
    app = create_app(settings, retriever=build_pipeline("bm25", DOCS), client=client, classifier=Router())
    return TestClient(app), client


def test_answer_with_citations_and_a_request_id():
    http, client = make(["Within 14 days [refunds#window:0]."])
    r = http.post("/v1/answer", json={"query": "How long is the refund window?", "k": 2},
                  headers={**AUTH, "X-Request-Id": "req-42"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "llm" and body["citations"] == ["refunds#window:0"] and not body["degraded"]
    assert body["request_id"] == "req-42" and r.headers["x-request-id"] == "req-42"
    assert client.calls[0]["timeout"] <= 5.0  # the deadline travels down to the model call


def test_auth_errors_are_distinct_and_in_the_error_model():
    http, _ = make()
    missing = http.post("/v1/answer", json={"query": "x"})
    wrong = http.post("/v1/answer", json={"query": "x"}, headers={"Authorization": "Bearer nope-nope"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert wrong.json()["error"]["code"] == "invalid_api_key" and "nope" in wrong.json()["error"]["message"]
    assert set(missing.json()["error"]) == {"type", "code", "message"}
    assert missing.headers["x-request-id"]


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": "   "}, {"query": "x", "k": 0},
                                  {"query": "x", "k": "many"}, {"query": "x" * 2001}, [1, 2]])
def test_bad_bodies_get_422_in_the_error_model(body):
    http, _ = make()
    r = http.post("/v1/answer", json=body, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request", r.text


def test_not_json_unknown_route_and_wrong_method_are_4xx():
    http, _ = make()
    assert http.post("/v1/answer", content=b"{not json", headers={**AUTH, "content-type":
                                                                  "application/json"}).status_code == 422
    assert http.get("/v1/nothing").json()["error"]["type"] == "not_found"
    assert http.get("/v1/answer", headers=AUTH).status_code == 405


def test_rate_limit_is_per_key_with_retry_after():
    http, _ = make(["[refunds#window:0] ok."] * 3, rate_per_s=0.5, burst=2)
    codes = [http.post("/v1/answer", json={"query": "refund"}, headers=AUTH).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = http.post("/v1/answer", json={"query": "refund"}, headers=AUTH)
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
    assert http.post("/v1/answer", json={"query": "refund"},
                     headers={"X-API-Key": OTHER}).status_code == 200  # another key, its own bucket


def test_sse_streams_meta_deltas_and_done():
    http, _ = make(["Within 14 days [refunds#window:0]."])
    with http.stream("POST", "/v1/answer", json={"query": "refund window", "stream": True},
                     headers=AUTH) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [block.split("\n", 1) for block in text.strip().split("\n\n")]
    kinds = [e[0].removeprefix("event: ") for e in events]
    assert kinds[0] == "meta" and kinds[-1] == "done" and "delta" in kinds
    done = json.loads(events[-1][1].removeprefix("data: "))
    assert done["source"] == "llm" and done["answer"].startswith("Within 14 days")


def test_model_errors_degrade_to_an_extractive_answer_not_a_5xx():
    http, client = make([server_error(503), server_error(503)])
    r = http.post("/v1/answer", json={"query": "how many days for a refund"}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "extractive" and body["degraded"] and "14 days" in body["answer"]
    assert len(client.calls) == 2


def test_health_ready_classify_and_openapi():
    http, _ = make()
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json()["breaker"] == "closed"
    r = http.post("/v1/classify", json={"text": "my invoice is wrong"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["team"] == "billing"
    spec = http.get("/openapi.json").json()
    assert {"/v1/answer", "/v1/classify", "/healthz", "/readyz"} <= set(spec["paths"])
    assert "401" in spec["paths"]["/v1/answer"]["post"]["responses"]


def test_parse_keys_names_the_bad_setting():
    assert parse_keys(["sk-dev-0001=dev,sk-ops-0001=ops"]) == {"sk-dev-0001": "dev", "sk-ops-0001": "ops"}
    with pytest.raises(ValueError, match="KEY=CLIENT"):
        parse_keys(["short=dev"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stopped_model_server_opens_the_breaker_and_the_fallback_answers_fast():
    down = openai.OpenAI(base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key="x", timeout=2.0)
    settings = ServiceSettings(api_keys={KEY: "web"}, model="m", rate_per_s=1000, burst=1000,
                               retry=RetryPolicy(attempts=2, base=0.01, cap=0.02), breaker_failures=5)
    app = create_app(settings, retriever=build_pipeline("bm25", DOCS), client=down)
    http = TestClient(app)
    failures_to_open = None
    for i in range(1, 8):
        body = http.post("/v1/answer", json={"query": "refund days"}, headers=AUTH).json()
        assert body["source"] == "extractive", body
        if failures_to_open is None and app.state.answerer.breaker.state == "open":
            failures_to_open = i
    assert failures_to_open is not None and failures_to_open <= 5
    assert http.get("/readyz").json()["degraded"] is True
    latencies = []
    for _ in range(20):
        start = time.perf_counter()
        body = http.post("/v1/answer", json={"query": "refund days"}, headers=AUTH).json()
        latencies.append((time.perf_counter() - start) * 1000)
        assert "CircuitOpen" in body["errors"][0]
    assert sorted(latencies)[18] < 100, latencies  # p95 of the fallback, in-process


class BudgetExceeded(Exception):
    """Stands in for inferlearn.prod.budgets.BudgetExceeded (matched by name, imported lazily)."""

    def __init__(self, what, limit, spent):
        super().__init__(what)
        self.what, self.limit, self.spent = what, limit, spent


class FakeBudget:
    def __init__(self, refuse=None):
        self.refuse, self.reserved, self.settled = refuse, [], []

    def reserve(self, key, tokens, cost_usd):
        if self.refuse:
            raise BudgetExceeded(*self.refuse)
        self.reserved.append((key, tokens, cost_usd))
        return len(self.reserved)

    def settle(self, res, tokens, cost_usd):
        self.settled.append((res, tokens, cost_usd))

    def release(self, res):
        self.settled.append((res, 0, 0.0))


def _with_budget(budget, replies=()):
    settings = ServiceSettings(api_keys={KEY: "web"}, model="smollm2-135m-instruct",
                               retry=RetryPolicy(attempts=1))
    app = create_app(settings, retriever=build_pipeline("bm25", DOCS), client=ScriptedClient(list(replies)),
                     budget=budget)
    return TestClient(app)


def test_budget_reserves_the_worst_case_and_settles_what_was_used():
    budget = FakeBudget()
    r = _with_budget(budget, ["Within 14 days [refunds#window:0]."]).post(
        "/v1/answer", json={"query": "refund window"}, headers=AUTH)
    assert r.status_code == 200
    (key, tokens, worst), = budget.reserved
    (_, used_tokens, cost), = budget.settled
    assert key == KEY and tokens == 1000 + 300 + 200 and 0 < cost < worst
    assert used_tokens == r.json()["usage"]["total_tokens"]


@pytest.mark.parametrize("what, status", [("per-request cost", 402), ("per-key tokens per day", 429)])
def test_an_exceeded_budget_gets_its_own_clear_error(what, status):
    r = _with_budget(FakeBudget(refuse=(what, 0.01, 0.0100))).post(
        "/v1/answer", json={"query": "refund window"}, headers=AUTH)
    assert r.status_code == status and r.json()["error"]["code"] == "budget_exceeded"
    assert what in r.json()["error"]["message"]
