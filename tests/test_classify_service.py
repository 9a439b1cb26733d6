"""The routing endpoint: typed contract, 4xx for bad input, 502 for bad upstream, cost per request."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from inferlearn.llm.calllog import CallLog
from inferlearn.llm.models import usage_cost
from inferlearn.llm.testing import ScriptedClient, server_error
from inferlearn.prod.classify_service import (
    ClassificationError,
    LLMClassifier,
    create_app,
    parse_team,
    route_response_format,
    ticket_text,
    train_baseline,
)
from inferlearn.prompts import load_prompt


@pytest.fixture
def log(tmp_path):
    return CallLog(tmp_path / "calls.jsonl")


def llm(replies, log, model="gpt-4o-mini", version=2, **kwargs):
    client = ScriptedClient(replies)
    return client, LLMClassifier(client, model, load_prompt("route_ticket", version), log=log, **kwargs)


def test_llm_classifier_constrains_output_to_teams_and_costs_the_call(log):
    client, classifier = llm(['{"team": "billing"}'], log)
    result = classifier.classify("My invoice is wrong", subject="Invoice")
    assert result.team == "billing"
    call = client.calls[0]
    assert call["response_format"] == route_response_format()
    assert call["temperature"] == 0.0
    assert "Subject: Invoice\n\nMy invoice is wrong" in call["messages"][-1]["content"]
    assert result.cost_usd == pytest.approx(
        usage_cost("gpt-4o-mini", result.prompt_tokens, result.completion_tokens))
    [record] = log.records()
    assert record["prompt"] == "route_ticket" and record["prompt_version"] == 2


def test_few_shot_examples_fill_the_prompt(log):
    client, classifier = llm(['{"team": "legal"}'], log, version=3,
                             examples="Ticket: DPA please\nTeam: legal")
    classifier.classify("Send the DPA")
    assert "Ticket: DPA please\nTeam: legal" in client.calls[0]["messages"][0]["content"]


@pytest.mark.parametrize("content, message", [("billing", "expected JSON"),
                                              ('{"team": "finance"}', "not one of"),
                                              ('{"dept": "billing"}', "expected JSON")])
def test_parse_team_rejects_what_is_not_a_team(content, message):
    with pytest.raises(ClassificationError, match=message):
        parse_team(content)


def test_ticket_text_puts_the_subject_first():
    assert ticket_text("body", "subj") == "Subject: subj\n\nbody"
    assert ticket_text("body") == "body"


@pytest.fixture(scope="module")
def baseline():
    texts = ["invoice charge refund", "refund my card", "sdk error timeout", "consumer lag error"]
    return train_baseline(texts, ["billing", "billing", "technical", "technical"])


def test_baseline_learns_words_and_costs_nothing(baseline):
    result = baseline.classify("please refund the invoice")
    assert result.team == "billing" and result.cost_usd == 0.0 and result.prompt_tokens == 0


def test_endpoint_returns_the_team_and_records_cost_per_request(log):
    _, classifier = llm(['{"team": "billing"}', '{"team": "technical"}'], log)
    http = TestClient(create_app(classifier))
    first = http.post("/v1/classify", json={"text": "invoice wrong", "ticket_id": "T-9"})
    second = http.post("/v1/classify", json={"text": "sdk crash", "subject": "help"})
    assert first.status_code == 200 and first.json()["team"] == "billing"
    assert first.json()["request_id"] == "T-9" and second.json()["team"] == "technical"
    costs = http.get("/v1/costs").json()
    total = first.json()["cost_usd"] + second.json()["cost_usd"]
    assert costs["requests"] == 2 and costs["total_cost_usd"] == pytest.approx(total)
    assert costs["cost_per_1k"] == pytest.approx(total / 2 * 1000) and total > 0


def test_a_model_without_a_price_records_null_cost_not_zero(log):
    _, classifier = llm(['{"team": "sales"}'], log, model="my-ollama-model")
    http = TestClient(create_app(classifier))
    assert http.post("/v1/classify", json={"text": "quote please"}).json()["cost_usd"] is None
    costs = http.get("/v1/costs").json()
    assert costs["requests"] == 1 and costs["unpriced_requests"] == 1


def test_health_names_the_classifier(baseline):
    assert TestClient(create_app(baseline)).get("/health").json() == \
        {"status": "ok", "classifier": "tfidf-logreg"}


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   \n"}, {"text": 42},
                                  {"text": "x" * 20_001}, {"text": "ok", "subject": "s" * 501}])
def test_bad_input_is_a_4xx_and_calls_no_model(body, log):
    client, classifier = llm([], log)
    response = TestClient(create_app(classifier)).post("/v1/classify", json=body)
    assert 400 <= response.status_code < 500
    assert client.calls == []


def test_a_reply_that_is_not_a_team_is_a_502_with_a_reason(log):
    _, classifier = llm(['{"team": "finance"}'], log)
    response = TestClient(create_app(classifier)).post("/v1/classify", json={"text": "hi"})
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "bad_model_output"
    assert "finance" in response.json()["error"]["message"]


def test_an_upstream_failure_is_a_502_and_is_logged(log):
    _, classifier = llm([server_error(503)], log)
    http = TestClient(create_app(classifier))
    response = http.post("/v1/classify", json={"text": "hi"})
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
    assert log.records()[0]["status"] == "error"
    assert http.get("/v1/costs").json()["requests"] == 0
