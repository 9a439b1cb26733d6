"""One shared on-demand server per machine; backends switch by one environment variable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from inferlearn.llm.client import default_model, get_client
from inferlearn.server import daemon

CALL = ("from inferlearn.llm import get_client; c = get_client(); "
        "import json, inferlearn.server.daemon as d; print(json.dumps(d.read_record()))")


def _in_subprocess(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CALL], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.needs_models
@pytest.mark.slow
def test_two_processes_share_one_server_and_a_killed_one_is_replaced(tmp_path):
    env = {**os.environ, "INFERLEARN_RUNTIME": str(tmp_path), "INFERLEARN_IDLE_TIMEOUT": "120"}
    env.pop("INFERLEARN_BACKEND", None)
    procs = [_in_subprocess(env), _in_subprocess(env)]
    records = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        records.append(json.loads(out.strip().splitlines()[-1]))
    assert records[0]["pid"] == records[1]["pid"]
    try:
        os.kill(records[0]["pid"], signal.SIGKILL)
        time.sleep(0.5)
        proc = _in_subprocess(env)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        fresh = json.loads(out.strip().splitlines()[-1])
        assert fresh["pid"] != records[0]["pid"]
    finally:
        subprocess.run([sys.executable, "-m", "inferlearn", "serve", "--stop"],
                       env=env, capture_output=True, timeout=60)
    assert not (tmp_path / "server.json").exists()


def test_stale_record_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERLEARN_RUNTIME", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "server.json").write_text(json.dumps({"pid": dead.pid, "port": 1, "host": "127.0.0.1"}))
    assert daemon.running_server() is None
    assert not (tmp_path / "server.json").exists()


def test_openai_backend_needs_a_key(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY"):
        get_client()


def test_openai_backend_targets_the_api_without_calling_it(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.delenv("INFERLEARN_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    client = get_client()
    assert str(client.base_url).startswith("https://api.openai.com")
    assert default_model() == "gpt-4o-mini"


def test_compatible_backend_needs_a_base_url_and_a_model(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "compatible")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("INFERLEARN_MODEL", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_BASE_URL"):
        get_client()
    with pytest.raises(RuntimeError, match="INFERLEARN_MODEL"):
        default_model()


def test_unknown_backend_is_named(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "anthropic")
    with pytest.raises(ValueError, match="'anthropic' is not a backend"):
        get_client()


@pytest.mark.needs_models
@pytest.mark.slow
def test_same_code_runs_on_the_compatible_backend(client, monkeypatch):
    """Point the `compatible` backend at the embedded server: the notebook code is unchanged."""
    def lesson_cell() -> str:
        c = get_client()
        reply = c.chat.completions.create(model=default_model(), max_tokens=5,
                                          messages=[{"role": "user", "content": "hi"}])
        return reply.choices[0].message.content

    monkeypatch.setenv("INFERLEARN_BACKEND", "compatible")
    monkeypatch.setenv("OPENAI_BASE_URL", str(client.base_url))
    monkeypatch.setenv("INFERLEARN_MODEL", "smollm2-135m-instruct")
    assert isinstance(lesson_cell(), str)


def test_model_override_wins_on_every_backend(monkeypatch):
    monkeypatch.setenv("INFERLEARN_MODEL", "my-model")
    for name in ("local", "openai", "compatible"):
        assert default_model(name) == "my-model"


@pytest.mark.needs_models
@pytest.mark.slow
def test_serve_command_applies_server_wide_chaos(tmp_path):
    """`inferlearn serve --chaos ...` faults every request, no header needed."""
    import httpx

    env = {**os.environ, "INFERLEARN_RUNTIME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inferlearn", "serve", "--port", "0", "--record",
         "--chaos", "error_rate=1;status=503;retry_after=2"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (tmp_path / "server.json").exists():
            time.sleep(0.2)
        port = json.loads((tmp_path / "server.json").read_text())["port"]
        while time.time() < deadline and not daemon.is_healthy(port):
            time.sleep(0.2)
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30,
                           json={"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 503 and reply.headers["retry-after"] == "2"
        assert reply.json()["error"]["code"] == "overloaded"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_rejects_bad_chaos_spec_clearly(tmp_path):
    env = {**os.environ, "INFERLEARN_RUNTIME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "inferlearn", "serve", "--port", "0",
                          "--chaos", "error_rate=7"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "error_rate=7 must be between 0 and 1" in out.stderr
