"""The service against the real local model server with injected faults (``X-Inferlearn-Chaos``):
a 503 is retried after its Retry-After and the model still answers. Tiny: one question, 4 tokens."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from inferlearn.prod.resilience import RetryPolicy
from inferlearn.prod.service import ServiceSettings, create_app
from inferlearn.rag.pipelines import build_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.needs_models]
KEY = "sk-chaos-0001"
DOCS = [{"id": "refunds#window:0", "text": "You can ask for a refund within 14 days of the charge."}]
# With seed 4 the chaos sequence starts 503, then no error (checked against ChaosMonkey).
CHAOS = "error_rate=0.5;status=503;latency_ms=50;retry_after=0.2;seed=4"


def test_injected_503_is_retried_and_the_model_answers(client, model, base_url):
    httpx.post(f"{base_url}/chaos/reset", timeout=30)
    statuses: list[int] = []

    def hook(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    settings = ServiceSettings(api_keys={KEY: "chaos"}, model=model, max_tokens=4, budget_tokens=60,
                               chaos=CHAOS, retry=RetryPolicy(attempts=4, base=0.05, cap=0.5))
    app = create_app(settings, retriever=build_pipeline("bm25", DOCS), client=client)
    client._client.event_hooks["response"].append(hook)
    try:
        r = TestClient(app).post("/v1/answer", json={"query": "refund window?", "deadline_ms": 60_000},
                                 headers={"Authorization": f"Bearer {KEY}"})
    finally:
        client._client.event_hooks["response"].remove(hook)
    body = r.json()
    assert r.status_code == 200 and statuses == [503, 200], (statuses, body)
    assert body["source"] in ("llm", "abstain") and not body["degraded"] and body["answer"], body
