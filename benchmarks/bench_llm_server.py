"""Benchmark the embedded model server: HTTP vs in-process generation, TTFT, embeddings/s.

Writes JSON (default ``build/bench/llm_server.json``). A benchmark, not a test: it measures.
Goal from issue 2: HTTP generation throughput >= 0.95 of llama.cpp in-process on the same prompts.

    python benchmarks/bench_llm_server.py [--out PATH] [--max-tokens 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

PROMPTS = [
    "Explain what a consumer group is in an event-streaming system.",
    "Write a short story about a message queue that lost a message.",
    "List ten tips for handling HTTP 429 responses in a client library.",
    "Describe how to rotate API keys safely in production.",
    "Summarise the difference between at-least-once and exactly-once delivery.",
]


def _in_process(max_tokens: int, rounds: int) -> dict:
    from llama_cpp import Llama

    from inferlearn.server.chat_format import render_prompt
    from inferlearn.server.engine import LLAMA_OPTIONS
    from inferlearn.server.modelfiles import MODEL_FILES, model_path

    llm = Llama(str(model_path(MODEL_FILES[0].name)), n_ctx=8192, **LLAMA_OPTIONS)
    tokens = elapsed = 0.0
    for _ in range(rounds):
        for prompt in PROMPTS:
            ids = llm.tokenize(render_prompt([{"role": "user", "content": prompt}]).encode(),
                               add_bos=False, special=True)
            start = time.perf_counter()
            out = llm.create_completion(ids, max_tokens=max_tokens, temperature=0.0, top_k=40,
                                        min_p=0.05, repeat_penalty=1.1)
            elapsed += time.perf_counter() - start
            tokens += out["usage"]["completion_tokens"]
    return {"completion_tokens": int(tokens), "seconds": round(elapsed, 3),
            "tokens_per_s": round(tokens / elapsed, 1)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench/llm_server.json")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--passages", type=int, default=256)
    args = parser.parse_args()

    from inferlearn.llm import get_client
    from inferlearn.llm.models import LOCAL_CHAT_MODEL

    client = get_client()
    client.chat.completions.create(model=LOCAL_CHAT_MODEL, max_tokens=4,  # warm-up
                                   messages=[{"role": "user", "content": "hi"}])
    http = _over_http(client, LOCAL_CHAT_MODEL, args.max_tokens, args.rounds)
    local = _in_process(args.max_tokens, args.rounds)
    result = {
        "benchmark": "llm_server", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": __import__("os").cpu_count(), "python": platform.python_version()},
        "prompts": len(PROMPTS), "rounds": args.rounds, "max_tokens": args.max_tokens,
        "generation_http": http, "generation_in_process": local,
        "http_to_in_process_ratio": round(http["tokens_per_s"] / local["tokens_per_s"], 3),
        "goal_ratio": 0.95,
        "time_to_first_token": _ttft(client, LOCAL_CHAT_MODEL, 1),
        "embeddings_minilm": _embeddings(client, "minilm-l6-int8", args.passages),
        "embeddings_wordllama": _embeddings(client, "wordllama-256", args.passages * 4),
    }
    result["goal_met"] = result["http_to_in_process_ratio"] >= result["goal_ratio"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
