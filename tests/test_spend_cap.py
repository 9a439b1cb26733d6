"""The learner's spend cap (INFERLEARN_MAX_SPEND_USD): refused before sending, never crossed.

Every backend here is a recorded fake (httpx.MockTransport, or a fake OpenAI server on a free
loopback port): no key, no network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest

from inferlearn.llm.models import usage_cost
from inferlearn.llm.spend import (
    SpendCapExceeded,
    SpendCapTransport,
    spend_cap,
    total_spent,
    with_spend_cap,
    worst_case_usd,
)

REPO = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"


def chat_reply(payload: dict, prompt_tokens: int = 12) -> dict:
    """A chat completion as OpenAI sends it, charging ``max_tokens`` completion tokens."""
    completion = int(payload.get("max_tokens") or 5)
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": payload["model"],
        "choices": [{"index": 0, "finish_reason": "length",
                     "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                  "total_tokens": prompt_tokens + completion},
    }


class Recorder:
    """A MockTransport handler that records what reached the 'network'."""

    def __init__(self, status: int = 200, stream_usage: bool | None = None,
                 chunked: bool = True) -> None:
        self.sent: list[dict] = []
        self.status, self.stream_usage, self.chunked = status, stream_usage, chunked

    def __call__(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        self.sent.append(payload)
        if self.status >= 400:
            return httpx.Response(self.status, json={"error": {"message": "boom", "type": "x"}})
        if payload.get("stream"):
            events = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                       "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]}]
            if self.stream_usage:
                events.append({"id": "c", "object": "chat.completion.chunk", "created": 0,
                               "model": MODEL, "choices": [],
                               "usage": {"prompt_tokens": 7, "completion_tokens": 3,
                                         "total_tokens": 10}})
            body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            lines = [line.encode() + b"\n" for line in body.split("\n")]
            return httpx.Response(200, content=iter(lines) if self.chunked else body.encode(),
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=chat_reply(payload))


def capped_client(tmp_path: Path, handler, cap: float) -> openai.OpenAI:
    """The SDK over the spend-cap transport over a fake backend."""
    transport = SpendCapTransport("openai", cap, httpx.MockTransport(handler), tmp_path / "l.db")
    return openai.OpenAI(api_key="test", base_url="http://fake.invalid/v1", max_retries=0,
                         http_client=httpx.Client(transport=transport))


def ask(client: openai.OpenAI, max_tokens: int = 100, **extra):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=max_tokens, **extra)


def test_the_call_that_would_cross_the_cap_is_refused_before_it_is_sent(tmp_path):
    rec = Recorder()
    client = capped_client(tmp_path, rec, cap=0.0005)
    sent_ok = 0
    with pytest.raises(SpendCapExceeded) as refused:
        for _ in range(100):
            ask(client)
            sent_ok += 1
    assert sent_ok == len(rec.sent) >= 1, "the refused call must never reach the backend"
    spent = total_spent(tmp_path / "l.db")
    assert spent <= 0.0005
    assert spent == pytest.approx(sent_ok * usage_cost(MODEL, 12, 100))
    message = str(refused.value)
    assert "INFERLEARN_MAX_SPEND_USD" in message and "$0.00" in message and "cap" in message


def test_settled_cost_is_the_usage_the_reply_reports(tmp_path):
    client = capped_client(tmp_path, Recorder(), cap=2.0)
    ask(client, max_tokens=50)
    assert total_spent(tmp_path / "l.db") == pytest.approx(usage_cost(MODEL, 12, 50))


def test_an_error_reply_costs_nothing(tmp_path):
    client = capped_client(tmp_path, Recorder(status=400), cap=2.0)
    with pytest.raises(openai.BadRequestError):
        ask(client)
    assert total_spent(tmp_path / "l.db") == 0


def test_a_refused_connection_costs_nothing(tmp_path):
    def down(request):
        raise httpx.ConnectError("refused", request=request)

    client = capped_client(tmp_path, down, cap=2.0)
    with pytest.raises(openai.APIConnectionError):
        ask(client)
    assert total_spent(tmp_path / "l.db") == 0


@pytest.mark.parametrize("chunked", [True, False], ids=["from the wire", "already read"])
def test_a_stream_settles_from_its_usage_chunk_or_keeps_its_worst_case(tmp_path, chunked):
    client = capped_client(tmp_path, Recorder(stream_usage=True, chunked=chunked), cap=2.0)
    chunks = list(ask(client, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 3
    assert total_spent(tmp_path / "l.db") == pytest.approx(usage_cost(MODEL, 7, 3))

    other = tmp_path / "other"
    other.mkdir()
    client = capped_client(other, Recorder(stream_usage=False), cap=2.0)
    list(ask(client, max_tokens=100, stream=True))
    spent = total_spent(other / "l.db")
    assert spent > usage_cost(MODEL, 0, 100), "without usage the reservation (worst case) stays"


def test_worst_case_bounds_the_real_cost():
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "hello " * 200}],
               "max_tokens": 64}
    body = json.dumps(payload).encode()
    real_prompt_tokens = 200 + 7  # "hello " is one token in o200k_base; plus message overhead
    assert worst_case_usd(MODEL, body, payload) >= usage_cost(MODEL, real_prompt_tokens, 64)
    no_limit = dict(payload, max_tokens=None)
    assert worst_case_usd(MODEL, body, no_limit) >= usage_cost(MODEL, 0, 16_384)


def test_an_unpriced_model_or_endpoint_is_refused_under_a_cap(tmp_path):
    rec = Recorder()
    client = capped_client(tmp_path, rec, cap=2.0)
    with pytest.raises(SpendCapExceeded, match="not in the inferlearn catalogue"):
        client.chat.completions.create(model="mystery-model", messages=[{"role": "user",
                                                                          "content": "hi"}])
    with pytest.raises(SpendCapExceeded, match="no price"):
        client.images.generate(model="dall-e-3", prompt="a cat")
    assert rec.sent == []


def test_the_cap_setting(monkeypatch):
    monkeypatch.delenv("INFERLEARN_MAX_SPEND_USD", raising=False)
    assert spend_cap("openai") == 2.0
    assert spend_cap("local") is None and spend_cap("compatible") is None
    monkeypatch.setenv("INFERLEARN_MAX_SPEND_USD", "5")
    assert spend_cap("openai") == 5.0 and spend_cap("compatible") == 5.0
    assert spend_cap("local") is None, "local calls are free and never capped"
    assert with_spend_cap("local", {"timeout": 3}) == {"timeout": 3}
    assert "http_client" in with_spend_cap("openai", {})
    monkeypatch.setenv("INFERLEARN_MAX_SPEND_USD", "off")
    assert spend_cap("openai") is None
    for bad in ("two dollars", "-1", "nan"):
        monkeypatch.setenv("INFERLEARN_MAX_SPEND_USD", bad)
        with pytest.raises(ValueError, match="INFERLEARN_MAX_SPEND_USD"):
            spend_cap("openai")


# -- two processes at once, through get_client(), against a fake OpenAI server -------------------

class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers chat completions at their worst case; records the cost of every reply it sends."""

    charged: list[float] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        size = int(self.headers["Content-Length"])
        payload = json.loads(self.rfile.read(size))
        reply = chat_reply(payload, prompt_tokens=size)  # charge the worst case: no slack to hide in
        with self.lock:
            FakeOpenAI.charged.append(usage_cost(payload["model"], size, reply["usage"]
                                                 ["completion_tokens"]))
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


CALLER = """
import sys, time
from inferlearn.llm import get_client
from inferlearn.llm.spend import SpendCapExceeded
client = get_client(max_retries=0)
while time.time() < float(sys.argv[1]):
    time.sleep(0.01)
ok = 0
try:
    for _ in range(200):
        client.chat.completions.create(model="gpt-4o-mini", max_tokens=100,
                                       messages=[{"role": "user", "content": "hello"}])
        ok += 1
except SpendCapExceeded as err:
    print(ok, "refused", err)
else:
    print(ok, "never refused")
"""


def test_two_processes_calling_at_once_never_cross_the_cap(tmp_path):
    import time

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    FakeOpenAI.charged = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cap = 0.002
    env = {**os.environ, "PYTHONPATH": str(REPO), "INFERLEARN_CACHE": str(tmp_path),
           "INFERLEARN_BACKEND": "openai", "OPENAI_API_KEY": "test-key",
           "OPENAI_BASE_URL": f"http://127.0.0.1:{server.server_port}/v1",
           "INFERLEARN_MAX_SPEND_USD": str(cap)}
    start = str(time.time() + 3)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", CALLER, start], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        server.shutdown()
    for out, err in outs:
        assert "refused" in out and "never" not in out, f"stdout {out!r} stderr {err[-2000:]!r}"
    done = [int(out.split()[0]) for out, _ in outs]
    assert sum(done) == len(FakeOpenAI.charged), "every call sent was counted once"
    assert min(done) >= 1, f"both processes got calls through: {done}"
    assert sum(FakeOpenAI.charged) <= cap, "the backend charged more than the cap"
    assert total_spent(tmp_path / "spend.sqlite3") <= cap
    # the cap was used, not refused early: one more call's worst case would not have fit
    worst = worst_case_usd("gpt-4o-mini", b"x" * 120, {"max_tokens": 100})
    assert total_spent(tmp_path / "spend.sqlite3") > cap - 2 * worst
