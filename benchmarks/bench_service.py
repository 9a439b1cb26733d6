"""Benchmark the phase 4 service (``inferlearn.prod.service``) against issue 13's goals.

Writes JSON (default ``build/bench/service.json``). A benchmark, not a test: it measures.

1. chaos: answers through the service while the local model server injects errors (half the
   requests 429, half 503, each at ``--error-rate``) plus ``--latency-ms`` on every call, via
   ``X-Inferlearn-Chaos``. Goal: >= 99.5% of 1,000 requests answered by the model within 5 s.
2. stopped: the model server is a port nothing listens on. Goal: the breaker opens within 5
   failed requests, then the fallback answers at p95 < 100 ms.
3. overhead: the same answers (scripted model) called directly and through the service over
   HTTP on localhost. Goal: the service adds <= 5 ms at p95.

    python benchmarks/bench_service.py [--out PATH] [--requests 1000] [--quick]
    python benchmarks/bench_service.py --upstream stub-engine --workers 8   # chaos without llama.cpp
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import threading
import time

import numpy as np
from _common import write_json

KEY = "sk-bench-0001"


def _percentiles(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(max(ms)), 2)} if ms else {}


def _queries(n: int) -> list[str]:
    from inferlearn.evals.golden import load_golden

    questions = [item["question"] for item in load_golden("dev")]
    return [questions[i % len(questions)] for i in range(n)]


def _app(client, retriever, **settings):
    from inferlearn.prod.service import ServiceSettings, create_app

    base = dict(api_keys={KEY: "bench"}, rate_per_s=1e6, burst=10**6, max_tokens=12, budget_tokens=200)
    return create_app(ServiceSettings(**{**base, **settings}), retriever=retriever, client=client)


class StubEngine:
    """Stands in for llama.cpp in the local server: the server's HTTP and chaos layers run as
    they are, generation is one canned sentence, so the chaos run measures resilience rather than
    how busy the CPU is."""

    n_ctx = 8192

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def tokenize(self, prompt: str) -> list[int]:
        return list(range(len(prompt.split())))

    def generate(self, prompt_tokens, params, outcome):
        from inferlearn.server.engine import Piece

        outcome.completion_tokens, outcome.finish_reason = 8, "stop"
        yield Piece("The answer is in the docs.")


def _serve(app) -> tuple[str, object, threading.Thread]:
    """Serve ``app`` with uvicorn in a thread on a free port; (base url, server, thread)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def _upstream(kind: str):
    """(client, model, stop) for the model server the chaos run talks to."""
    from inferlearn.llm import default_model, get_client

    if kind == "local":
        return get_client(), default_model(), lambda: None
    import openai

    from inferlearn.server.app import ServerSettings, create_app

    url, server, thread = _serve(create_app(ServerSettings(model_path="stub", max_queue=64), engine=StubEngine()))

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return openai.OpenAI(base_url=f"{url}/v1", api_key="x"), default_model(), stop


def bench_chaos_concurrent(retriever, n: int, error_rate: float, latency_ms: int, deadline_ms: int,
                           upstream: str, workers: int) -> dict:
    """The chaos run with ``workers`` callers at once, over HTTP to the service."""
    import concurrent.futures

    import httpx

    client, model, stop_upstream = _upstream(upstream)
    statuses: dict[str, int] = {}
    lock = threading.Lock()

    def count(response) -> None:
        with lock:
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

    client._client.event_hooks["response"].append(count)
    app = _app(client, retriever, model=model)
    url, server, thread = _serve(app)
    specs = {429: f"error_rate={error_rate};status=429;latency_ms={latency_ms};seed=13",
             503: f"error_rate={error_rate};status=503;latency_ms={latency_ms};seed=13"}
    queries = _queries(n)

    def one(i: int) -> dict:
        # the service sends its settings' chaos header; here each request picks 429 or 503 itself
        headers = {"Authorization": f"Bearer {KEY}"}
        start = time.perf_counter()
        r = http.post(f"{url}/v1/answer", json={"query": queries[i], "deadline_ms": deadline_ms},
                      headers=headers)
        body = r.json()
        return {"status": r.status_code, "source": body.get("source"), "ms": (time.perf_counter() - start) * 1000,
                "errors": body.get("errors", [])}

    app.state.settings.chaos = specs[429]
    with httpx.Client(timeout=60) as http, concurrent.futures.ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(one, range(n // 2)))
        app.state.settings.chaos = specs[503]
        rows += list(pool.map(one, range(n // 2, n)))
    server.should_exit = True
    thread.join(5)
    stop_upstream()
    ok = [r for r in rows if r["status"] == 200 and r["source"] in ("llm", "abstain") and r["ms"] <= deadline_ms]
    failed = [r for r in rows if r not in ok]
    return {"requests": n, "upstream": upstream, "concurrent_callers": workers,
            "chaos": f"error_rate={error_rate} (first half 429, second half 503), latency_ms={latency_ms}, "
                     "Retry-After 1 s (the server's default)",
            "deadline_ms": deadline_ms, "model_answered_within_deadline": len(ok),
            "success_rate": round(len(ok) / n, 4),
            "sources": {s: sum(r["source"] == s for r in rows) for s in ("llm", "extractive", "abstain")},
            "model_server_statuses": statuses, "breaker_opened": app.state.answerer.breaker.opened_count,
            "what_failed": [r["errors"][:1] for r in failed[:10]], **_percentiles([r["ms"] for r in rows])}


def bench_chaos(retriever, n: int, error_rate: float, latency_ms: int, deadline_ms: int) -> dict:
    """Share of answers from the model within the deadline under injected 429/503s."""
    from fastapi.testclient import TestClient

    from inferlearn.llm import default_model, get_client

    client = get_client()
    statuses: dict[str, int] = {}

    def count(response) -> None:
        statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

    app = _app(client, retriever, model=default_model())
    http, rows = TestClient(app), []
    baseline = []
    for query in _queries(3):  # warm-up and a no-chaos baseline: how slow is the model right now?
        start = time.perf_counter()
        http.post("/v1/answer", json={"query": query, "deadline_ms": 60_000},
                  headers={"Authorization": f"Bearer {KEY}"})
        baseline.append((time.perf_counter() - start) * 1000)
    app.state.answerer.breaker.record_success()
    client._client.event_hooks["response"].append(count)
    for i, query in enumerate(_queries(n)):
        status = 429 if i < n // 2 else 503
        app.state.settings.chaos = f"error_rate={error_rate};status={status};latency_ms={latency_ms};seed=13"
        start = time.perf_counter()
        r = http.post("/v1/answer", json={"query": query, "deadline_ms": deadline_ms},
                      headers={"Authorization": f"Bearer {KEY}"})
        ms = (time.perf_counter() - start) * 1000
        body = r.json()
        rows.append({"status": r.status_code, "source": body.get("source"), "ms": ms})
    ok = [r for r in rows if r["status"] == 200 and r["source"] in ("llm", "abstain") and r["ms"] <= deadline_ms]
    return {"requests": n, "chaos": f"error_rate={error_rate} (429 then 503), latency_ms={latency_ms}",
            "deadline_ms": deadline_ms, "model_answered_within_deadline": len(ok),
            "success_rate": round(len(ok) / n, 4),
            "sources": {s: sum(r["source"] == s for r in rows) for s in ("llm", "extractive", "abstain")},
            "model_server_statuses": statuses, "no_chaos_baseline_ms": [round(b) for b in baseline],
            "breaker_opened": app.state.answerer.breaker.opened_count, **_percentiles([r["ms"] for r in rows])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_stopped(retriever, n: int) -> dict:
    """Requests until the breaker opens, then the fallback's latency, with the model server down."""
    import openai
    from fastapi.testclient import TestClient

    dead = openai.OpenAI(base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key="x", timeout=2.0)
    app = _app(dead, retriever, model="smollm2-135m-instruct")
    http, to_open, ms, sources = TestClient(app), None, [], {}
    for i, query in enumerate(_queries(n + 10), start=1):
        start = time.perf_counter()
        body = http.post("/v1/answer", json={"query": query}, headers={"Authorization": f"Bearer {KEY}"}).json()
        elapsed = (time.perf_counter() - start) * 1000
        if to_open is None and app.state.answerer.breaker.state == "open":
            to_open = i
        elif to_open is not None:
            ms.append(elapsed)
            sources[body["source"]] = sources.get(body["source"], 0) + 1
    return {"failed_requests_until_open": to_open, "fallback_requests": len(ms), "fallback_sources": sources,
            "fallback": _percentiles(ms)}


def _serve_in_child(app) -> tuple[str, object]:
    """Serve ``app`` from a forked process (so client and server do not share one GIL)."""
    import multiprocessing

    import httpx
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    child = multiprocessing.get_context("fork").Process(target=server.run, kwargs={"sockets": [sock]},
                                                        daemon=True)
    child.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return url, child


def bench_overhead(retriever, n: int) -> dict:
    """p50/p95 of the answer called directly vs through the service over localhost HTTP (the
    service in its own process, as in production); the model is the scripted double."""
    import httpx

    from inferlearn.llm.testing import ScriptedClient
    from inferlearn.prod.resilience import Deadline

    reply = "Within 14 days [x]."
    app = _app(ScriptedClient([reply] * (3 * n + 10)), retriever, model="m")
    queries = _queries(n)
    base, child = _serve_in_child(app)
    direct, via, url = [], [], f"{base}/v1/answer"
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as http:
            http.post(url, json={"query": "warm up"})
            app.state.answerer.answer("warm up", 5, Deadline(5.0))
            for query in queries:  # interleaved: a busy moment of the machine hits both alike
                start = time.perf_counter()
                app.state.answerer.answer(query, 5, Deadline(5.0))
                direct.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                http.post(url, json={"query": query}).raise_for_status()
                via.append((time.perf_counter() - start) * 1000)
    finally:
        child.terminate()
        child.join(10)
    d, s = _percentiles(direct), _percentiles(via)
    return {"requests": n, "direct": d, "service_http": s, "service_process": "forked child",
            "added_p95_ms": round(s["p95_ms"] - d["p95_ms"], 2), "added_p50_ms": round(s["p50_ms"] - d["p50_ms"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench/service.json")
    parser.add_argument("--requests", type=int, default=1000, help="chaos requests (goal: 1,000)")
    parser.add_argument("--quick", action="store_true", help="60 chaos requests, 100 elsewhere")
    parser.add_argument("--error-rate", type=float, default=0.2)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--deadline-ms", type=int, default=5000)
    parser.add_argument("--skip-chaos", action="store_true", help="no local model needed")
    parser.add_argument("--upstream", choices=["local", "stub-engine"], default="local",
                        help="chaos against the local model (default), or against the local server "
                             "with generation stubbed out (resilience without CPU contention)")
    parser.add_argument("--workers", type=int, default=1, help="concurrent callers in the chaos run")
    args = parser.parse_args()
    from inferlearn.prod.commands import default_retriever

    n_chaos, n_other = (60, 100) if args.quick else (args.requests, 500)
    retriever = default_retriever("bm25")
    out = {"benchmark": "service", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                       "load_avg_at_start": list(__import__("os").getloadavg())},
           "quick": args.quick, "overhead": bench_overhead(retriever, n_other),
           "stopped": bench_stopped(retriever, n_other)}
    print(json.dumps({k: out[k] for k in ("overhead", "stopped")}, indent=1), flush=True)
    if not args.skip_chaos:
        if args.upstream == "local" and args.workers == 1:
            out["chaos"] = bench_chaos(retriever, n_chaos, args.error_rate, args.latency_ms, args.deadline_ms)
        else:
            out["chaos"] = bench_chaos_concurrent(retriever, n_chaos, args.error_rate, args.latency_ms,
                                                  args.deadline_ms, args.upstream, args.workers)
        print(json.dumps(out["chaos"], indent=1))
    out["machine"]["load_avg_at_end"] = list(__import__("os").getloadavg())
    write_json(out, args.out)


if __name__ == "__main__":
    main()
