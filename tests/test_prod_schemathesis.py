"""schemathesis against the service's own OpenAPI: valid and invalid generated requests, with
and without an API key; no response may be a 5xx. Bounded: about 600 requests, in-process (about 20 s)."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from inferlearn.llm.testing import ScriptedClient  # noqa: E402
from inferlearn.prod.resilience import RetryPolicy  # noqa: E402
from inferlearn.prod.service import ServiceSettings, create_app  # noqa: E402
from inferlearn.rag.pipelines import build_pipeline  # noqa: E402

KEY = "sk-fuzz-0001"
DOCS = [{"id": "refunds#window:0", "text": "You can ask for a refund within 14 days of the charge."},
        {"id": "sso#setup:0", "text": "Single sign-on is set up under Settings, Security, SSO."}]
EXAMPLES = 150  # per operation and mode: 2 POST routes x 2 modes x 150, plus the GETs (one case each)


class Router:
    name = "fixed"

    def classify(self, text, subject=None):
        from inferlearn.prod.classify_service import Classification

        return Classification(team="billing", model="fixed")


@pytest.mark.timeout(600)
def test_no_generated_request_gets_a_server_error():
    client = ScriptedClient(["Within 14 days [refunds#window:0]."] * 10_000)
    app = create_app(ServiceSettings(api_keys={KEY: "fuzz"}, model="m", rate_per_s=1e6, burst=10**6,
                                     retry=RetryPolicy(attempts=1)),
                     retriever=build_pipeline("bm25", DOCS), client=client, classifier=Router())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    sent: dict[int, int] = {}
    errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck), derandomize=True)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                # Every third case without a key: the auth path is fuzzed too.
                headers = {} if sum(sent.values()) % 3 == 0 else {"Authorization": f"Bearer {KEY}"}
                response = case.call(headers=headers)
                sent[response.status_code] = sent.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    errors.append(f"{case.method} {case.path}: {response.status_code} "
                                  f"{response.text[:200]}")
                elif response.status_code >= 400 and "/openapi" not in case.path:
                    assert set(response.json()["error"]) == {"type", "code", "message"}

            try:
                run()
            except Unsatisfiable:  # no invalid request exists for a route without inputs
                assert mode is GenerationMode.NEGATIVE
    total = sum(sent.values())
    print(f"schemathesis: {total} requests, status counts {dict(sorted(sent.items()))}")
    assert not errors, errors[:5]
    assert total >= 500, f"only {total} requests were generated"
