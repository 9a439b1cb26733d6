"""Benchmark the embedded model server, for each local chat model (the course model and the
fast model): HTTP vs in-process generation, time to first token, memory; then embeddings/s.

Writes JSON (default ``build/bench/llm_server.json``). A benchmark, not a test: it measures.
Goals: HTTP generation throughput >= 0.95 of llama.cpp in-process on the same prompts; the course
model >= 15 tokens/s, first token < 1 s, and >= 10 tokens/s while another process keeps one core
busy (``--busy-core``; the server's generation threads are ``INFERLEARN_LLM_THREADS``).

    python benchmarks/bench_llm_server.py [--out PATH] [--models a,b] [--max-tokens 128]
        [--rounds 2] [--busy-core]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time

import psutil
from _common import write_json

PROMPTS = [
    "Explain what a consumer group is in an event-streaming system.",
    "Write a short story about a message queue that lost a message.",
    "List ten tips for handling HTTP 429 responses in a client library.",
    "Describe how to rotate API keys safely in production.",
    "Summarise the difference between at-least-once and exactly-once delivery.",
]


def _in_process(model: str, max_tokens: int, rounds: int, threads: int | None) -> dict:
    from llama_cpp import Llama

    from inferlearn.llm.models import MODELS
    from inferlearn.server.chat_format import render_prompt
    from inferlearn.server.engine import LLAMA_OPTIONS
    from inferlearn.server.modelfiles import chat_model_path

    before = psutil.Process().memory_info().rss
    llm = Llama(str(chat_model_path(model)), n_ctx=8192, n_threads=threads, **LLAMA_OPTIONS)
    loaded_mb = (psutil.Process().memory_info().rss - before) / 1e6
    template = MODELS[model].template or "smollm2"
    tokens = elapsed = 0.0
    for _ in range(rounds):
        for prompt in PROMPTS:
            ids = llm.tokenize(render_prompt([{"role": "user", "content": prompt}], template=template).encode(),
                               add_bos=False, special=True)
            start = time.perf_counter()
            out = llm.create_completion(ids, max_tokens=max_tokens, temperature=0.0, top_k=40,
                                        min_p=0.05, repeat_penalty=1.1)
            elapsed += time.perf_counter() - start
            tokens += out["usage"]["completion_tokens"]
    return {"completion_tokens": int(tokens), "seconds": round(elapsed, 3),
            "tokens_per_s": round(tokens / elapsed, 1), "rss_after_load_mb": round(loaded_mb, 1)}


def _over_http(client, model: str, max_tokens: int, rounds: int) -> dict:
    tokens = elapsed = 0.0
    for _ in range(rounds):
        for prompt in PROMPTS:
            start = time.perf_counter()
            reply = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens, temperature=0.0)
            elapsed += time.perf_counter() - start
            tokens += reply.usage.completion_tokens
    return {"completion_tokens": int(tokens), "seconds": round(elapsed, 3),
            "tokens_per_s": round(tokens / elapsed, 1)}


def _ttft(client, model: str, rounds: int) -> dict:
    samples = []
    for _ in range(rounds):
        for prompt in PROMPTS:
            start = time.perf_counter()
            stream = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}], max_tokens=16,
                temperature=0.0, stream=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    samples.append((time.perf_counter() - start) * 1000)
                    break
            for _ in stream:
                pass
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1), "n": len(samples)}


def _embeddings(client, model: str, n: int) -> dict:
    texts = [f"Passage {i}: " + " ".join(PROMPTS) * 2 for i in range(n)]
    start = time.perf_counter()
    for i in range(0, n, 32):
        client.embeddings.create(model=model, input=texts[i:i + 32])
    seconds = time.perf_counter() - start
    return {"passages": n, "seconds": round(seconds, 2), "per_s": round(n / seconds, 1)}


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _server_rss_mb() -> float | None:
    from inferlearn.server.daemon import read_record

    rec = read_record()
    try:
        return round(psutil.Process(rec["pid"]).memory_info().rss / 1e6, 1) if rec else None
    except psutil.Error:
        return None


def _model_report(client, model: str, args, threads: int | None) -> dict:
    client.chat.completions.create(model=model, max_tokens=4,  # warm-up (loads the model)
                                   messages=[{"role": "user", "content": "hi"}])
    http = _over_http(client, model, args.max_tokens, args.rounds)
    report = {"generation_http": http, "time_to_first_token": _ttft(client, model, 1),
              "server_rss_mb_after": _server_rss_mb()}
    if args.busy_core:  # another process keeps one core busy meanwhile
        burner = multiprocessing.Process(target=_burn, args=(600.0,), daemon=True)
        burner.start()
        try:
            report["generation_http_one_core_busy"] = _over_http(client, model, args.max_tokens, 1)
        finally:
            burner.terminate()
    local = _in_process(model, args.max_tokens, args.rounds, threads)
    report["generation_in_process"] = local
    report["http_to_in_process_ratio"] = round(http["tokens_per_s"] / local["tokens_per_s"], 3)
    return report


def _goals(models: dict) -> dict:
    """Issue 10's goals, each True/False: the ratio for every model, speed goals for the course model."""
    from inferlearn.llm.models import LOCAL_COURSE_MODEL

    goals = {f"{m}: http/in-process >= 0.95": r["http_to_in_process_ratio"] >= 0.95
             for m, r in models.items()}
    course = models.get(LOCAL_COURSE_MODEL)
    if course:
        goals["course model >= 15 tokens/s"] = course["generation_http"]["tokens_per_s"] >= 15
        goals["course model first token < 1 s"] = course["time_to_first_token"]["p50_ms"] < 1000
        if "generation_http_one_core_busy" in course:
            busy = course["generation_http_one_core_busy"]["tokens_per_s"]
            goals["course model >= 10 tokens/s, one core busy"] = busy >= 10
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench/llm_server.json")
    parser.add_argument("--models", default="qwen2.5-coder-1.5b-instruct,smollm2-135m-instruct")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--busy-core", action="store_true",
                        help="also measure with another process keeping one core busy")
    args = parser.parse_args()

    from inferlearn.config import settings
    from inferlearn.llm import get_client

    threads = settings().llm_threads
    client = get_client()
    result = {
        "benchmark": "llm_server", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
        "generation_threads": threads or "llama.cpp default (half the cores)",
        "prompts": len(PROMPTS), "rounds": args.rounds, "max_tokens": args.max_tokens,
        "goal_ratio": 0.95, "models": {},
    }
    for model in args.models.split(","):
        result["models"][model] = _model_report(client, model, args, threads)
    result["embeddings_minilm"] = _embeddings(client, "minilm-l6-int8", args.passages)
    result["embeddings_wordllama"] = _embeddings(client, "wordllama-256", args.passages * 4)
    result["goals"] = _goals(result["models"])
    result["goal_met"] = all(result["goals"].values())
    write_json(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
