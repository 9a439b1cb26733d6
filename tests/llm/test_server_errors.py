"""Bad requests get OpenAI-shaped 4xx answers, never a 500, and never take the server down."""

from __future__ import annotations

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from inferlearn.server.app import ServerSettings, create_app

pytestmark = [pytest.mark.needs_models, pytest.mark.slow]

OK_MESSAGES = [{"role": "user", "content": "hi"}]


def _post(base_url: str, body, path="/chat/completions", **kw) -> httpx.Response:
    headers = {"Authorization": "Bearer x", **kw.pop("headers", {})}
    if isinstance(body, (bytes, str)):
        return httpx.post(base_url + path, content=body, headers=headers, timeout=60, **kw)
    return httpx.post(base_url + path, json=body, headers=headers, timeout=60, **kw)


def _error(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(("body", "param", "words"), [
    (b"{not json", None, "JSON"),
    (b"[1, 2]", None, "JSON object"),
    ({"messages": OK_MESSAGES}, "model", "Missing"),
    ({"model": "smollm2-135m-instruct"}, "messages", "Missing"),
    ({"model": "smollm2-135m-instruct", "messages": []}, "messages", "at least 1"),
    ({"model": "smollm2-135m-instruct", "messages": "hi"}, "messages", "list"),
    ({"model": "smollm2-135m-instruct", "messages": [{"role": "robot", "content": "x"}]},
     "messages[0].role", "'user'"),
    ({"model": "smollm2-135m-instruct", "messages": [{"role": "user"}]}, "messages[0]", "content"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "temperature": "hot"},
     "temperature", "number"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "temperature": 3}, "temperature", "2"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "max_tokens": 0}, "max_tokens", "1"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "n": 2}, "n", "n=1"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "stop": ["a", "b", "c", "d", "e"]},
     "stop", "at most 4"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES,
      "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}}},
     "response_format", "JSON Schema"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES,
      "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format", "schema"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "response_format": {"type": "json_object"}},
     "messages", "json"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "tool_choice": "required"},
     "tool_choice", "tools"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES,
      "tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}],
      "tool_choice": {"type": "function", "function": {"name": "b"}}}, "tool_choice.function.name", "'b'"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES,
      "tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": 5}}}]},
     "tools", "tools[0]"),
    ({"model": "smollm2-135m-instruct", "messages": OK_MESSAGES, "top_logprobs": 2}, "top_logprobs", "logprobs"),
    ({"model": "smollm2-135m-instruct",
      "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages", "image_url"),
])
def test_bad_chat_request_is_a_400_naming_the_problem(base_url, body, param, words):
    error = _error(_post(base_url, body), 400)
    assert error["type"] == "invalid_request_error"
    if param:
        assert (error["param"] or "").startswith(param.split(".")[0])
    assert words.lower() in error["message"].lower()


def test_oversized_prompt_is_context_length_exceeded(client, model):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "word " * 9000}])
    assert info.value.code == "context_length_exceeded"
    assert "8192" in info.value.message


def test_prompt_plus_max_tokens_over_window_is_rejected(client, model):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=OK_MESSAGES, max_tokens=9000)
    assert info.value.code == "context_length_exceeded"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=OK_MESSAGES)
    assert info.value.code == "model_not_found" and "smollm2" in info.value.message


def test_oversized_body_is_413(base_url):
    error = _error(_post(base_url, b"x" * (5 * 1024 * 1024)), 413)
    assert "limit" in error["message"]


@pytest.mark.parametrize("body", [
    {"model": "minilm-l6-int8"},
    {"model": "minilm-l6-int8", "input": []},
    {"model": "minilm-l6-int8", "input": ["ok", ""]},
    {"model": "minilm-l6-int8", "input": [[1, 2, 3]]},
    {"model": "minilm-l6-int8", "input": "x", "dimensions": 10},
    {"model": "minilm-l6-int8", "input": "x", "encoding_format": "hex"},
    {"model": "minilm-l6-int8", "input": 42},
])
def test_bad_embedding_request_is_a_400(base_url, body):
    _error(_post(base_url, body, path="/embeddings"), 400)


def test_embedding_with_chat_model_is_404(base_url):
    _error(_post(base_url, {"model": "smollm2-135m-instruct", "input": "x"}, path="/embeddings"), 404)


GARBAGE = [b"", b"null", b"\xff\xfe", b'{"model": null, "messages": null}', b'{"model": 1, "messages": [1]}',
           b'{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": {"a": 1}}]}',
           b'{"model": "smollm2-135m-instruct", "messages": [{"role": "tool", "content": "x"}]}',
           b'{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}], "stream": "maybe"}',
           b'{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}], "seed": 1e400}',
           b'{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}], "tools": [{}]}']


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_never_gets_a_500_and_server_stays_up(base_url, body):
    reply = _post(base_url, body, headers={"Content-Type": "application/json"})
    assert 400 <= reply.status_code < 500, reply.text
    assert httpx.get(base_url.removesuffix("/v1") + "/health", timeout=10).json()["status"] == "ok"


def test_api_key_is_required_when_configured(engine, tmp_path):
    app = create_app(ServerSettings(model_path="unused", api_key="sekret",
                                    usage_path=str(tmp_path / "u.sqlite")), engine=engine)
    with TestClient(app) as http:
        missing = http.get("/v1/models")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        assert http.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.get("/v1/models", headers={"Authorization": "Bearer sekret"}).status_code == 200
        assert http.get("/health").status_code == 200  # health needs no key


def test_full_queue_answers_503_with_retry_after(engine, tmp_path):
    app = create_app(ServerSettings(model_path="unused", max_queue=0,
                                    usage_path=str(tmp_path / "u.sqlite")), engine=engine)
    with TestClient(app) as http:
        reply = http.post("/v1/chat/completions", json={"model": "smollm2-135m-instruct",
                                                        "messages": OK_MESSAGES})
        assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
