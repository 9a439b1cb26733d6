"""Benchmark budgets and caches: overspend under concurrency, reserve latency, semantic false hits.

1. Budget: ``--clients`` threads (default 50) share one API key with a daily cost cap. Each
   request reserves its worst case (prompt + ``max_tokens`` at the local model's notional price),
   "calls the model" (a sleep; the ledger is real, the model is not), then settles the cost of a
   random completion length or releases on a simulated failure. Goal (issue 13): 0 requests over
   the cap, to the cent. The same load on a *naive* ledger (read what was spent, then write,
   without a lock) shows what the transaction prevents.
2. Semantic cache: the golden questions cached with their answers; false hits by leave-one-out
   and true/false hits on the hand-written paraphrases (``data/golden/paraphrases.jsonl``), per
   cosine threshold.

Writes JSON (default ``build/bench/budgets.json``). A benchmark, not a test: it measures.

    python benchmarks/bench_budgets.py [--out PATH] [--clients 50] [--requests 8] [--cap 0.002]
        [--embedding-model minilm-l6-int8] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from _common import write_json

MODEL = "smollm2-135m-instruct"
THRESHOLDS = [0.50, 0.60, 0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98]


def run_clients(reserve, settle, release, clients: int, requests: int, seed: int) -> dict:
    """``clients`` threads, ``requests`` each; returns settled micro-dollars and reserve latencies."""
    from inferlearn.llm.models import usage_cost
    from inferlearn.prod.budgets import BudgetExceeded, to_micro, worst_case_cost

    barrier, lock = threading.Barrier(clients), threading.Lock()
    out = {"settled_micro": 0, "granted": 0, "refused": 0, "released": 0, "reserve_ms": []}

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        barrier.wait()
        for _ in range(requests):
            prompt, max_tokens = rng.randint(600, 1400), rng.choice([128, 256, 512])
            start = time.perf_counter()
            try:
                res = reserve("key-1", prompt + max_tokens, worst_case_cost(MODEL, prompt, max_tokens))
            except BudgetExceeded:
                with lock:
                    out["refused"] += 1
                continue
            finally:
                with lock:
                    out["reserve_ms"].append((time.perf_counter() - start) * 1000)
            time.sleep(rng.uniform(0.001, 0.01))  # the model call
            if rng.random() < 0.1:
                release(res)
                with lock:
                    out["released"] += 1
                continue
            used = rng.randint(1, max_tokens)
            cost = usage_cost(MODEL, prompt, used)
            settle(res, prompt + used, cost)
            with lock:
                out["granted"] += 1
                out["settled_micro"] += to_micro(cost)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


class NaiveLedger:
    """The bug the transaction prevents: read the total, decide, write, with no lock held."""

    def __init__(self, path: Path, cap_usd: float) -> None:
        from inferlearn.prod.budgets import to_micro

        self.path, self.cap = path, to_micro(cap_usd)
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS spend (id INTEGER PRIMARY KEY, micro INTEGER)")

    def reserve(self, key: str, tokens: int, cost_usd: float):
        from inferlearn.prod.budgets import BudgetExceeded, to_micro

        micro = to_micro(cost_usd, up=True)
        db = sqlite3.connect(self.path, timeout=30)
        spent = db.execute("SELECT COALESCE(SUM(micro), 0) FROM spend").fetchone()[0]
        if spent + micro > self.cap:
            db.close()
            raise BudgetExceeded("daily_usd", self.cap / 1e6, spent / 1e6, micro / 1e6, key)
        time.sleep(0.001)  # anything between the check and the write opens the race
        rowid = db.execute("INSERT INTO spend (micro) VALUES (?)", (micro,)).lastrowid
        db.commit()
        db.close()
        return rowid

    def _set(self, rowid: int, micro: int) -> None:
        with sqlite3.connect(self.path, timeout=30) as db:
            db.execute("UPDATE spend SET micro = ? WHERE id = ?", (micro, rowid))

    def settle(self, rowid, tokens: int, cost_usd: float) -> None:
        from inferlearn.prod.budgets import to_micro

        self._set(rowid, to_micro(cost_usd))

    def release(self, rowid) -> None:
        self._set(rowid, 0)


def bench_budget(clients: int, requests: int, cap: float, seed: int, folder: Path) -> dict:
    """The real ledger and the naive one under the same load."""
    from inferlearn.prod.budgets import MICRO, Budget, Limits, to_micro

    budget = Budget(folder / "budget.sqlite", Limits(daily_usd=cap))
    real = run_clients(budget.reserve, budget.settle, budget.release, clients, requests, seed)
    ledger_micro = to_micro(budget.spent("key-1")[1])
    naive = NaiveLedger(folder / "naive.sqlite", cap)
    bad = run_clients(naive.reserve, naive.settle, naive.release, clients, requests, seed)
    with sqlite3.connect(folder / "naive.sqlite") as db:
        naive_micro = db.execute("SELECT SUM(micro) FROM spend").fetchone()[0] or 0
    lat = sorted(real.pop("reserve_ms"))
    bad.pop("reserve_ms")
    return {
        "clients": clients, "requests_per_client": requests, "cap_usd": cap, "model": MODEL,
        "ledger": {**real, "spent_usd": ledger_micro / MICRO, "over_cap_usd": max(0, ledger_micro - to_micro(cap)) / MICRO,
                   "ledger_matches_clients": ledger_micro == real["settled_micro"],
                   "reserve_ms_p50": lat[len(lat) // 2], "reserve_ms_p95": lat[int(0.95 * (len(lat) - 1))]},
        "naive_ledger": {**bad, "spent_usd": naive_micro / MICRO,
                         "over_cap_usd": max(0, naive_micro - to_micro(cap)) / MICRO},
    }


def bench_semantic(embedding_model: str, n_questions: int | None) -> dict:
    """False/true hit rates per threshold on the golden questions and paraphrases."""
    from inferlearn.data import data_dir, read_jsonl
    from inferlearn.evals.golden import load_golden
    from inferlearn.prod.caching import sweep_threshold
    from inferlearn.rag.dense import CachedEmbedder

    golden = load_golden()
    paraphrases = read_jsonl(data_dir() / "golden" / "paraphrases.jsonl")
    ids = [p["id"] for p in paraphrases]
    items = [g for g in golden if g["id"] in ids] + [g for g in golden if g["id"] not in ids]
    items = items[: n_questions or len(items)]
    index = {g["id"]: i for i, g in enumerate(items)}
    pairs = [(p["paraphrase"], index[p["id"]]) for p in paraphrases if p["id"] in index]
    start = time.perf_counter()
    rows = sweep_threshold(CachedEmbedder(embedding_model), [g["question"] for g in items],
                           [g["answer"] for g in items], pairs, THRESHOLDS)
    return {"embedding_model": embedding_model, "questions": len(items), "paraphrases": len(pairs),
            "seconds": round(time.perf_counter() - start, 1), "sweep": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench/budgets.json")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--cap", type=float, default=0.002, help="daily cap of the shared key, USD")
    parser.add_argument("--embedding-model", default="minilm-l6-int8")
    parser.add_argument("--questions", type=int, default=None, help="golden questions cached (default all)")
    parser.add_argument("--quick", action="store_true", help="4 requests per client, 60 questions, wordllama")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.questions, args.embedding_model = 4, args.questions or 60, "wordllama-256"
    with tempfile.TemporaryDirectory() as folder:
        budget = bench_budget(args.clients, args.requests, args.cap, args.seed, Path(folder))
    result = {"machine": platform.processor() or platform.machine(), "quick": args.quick,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "budget": budget, "semantic_cache": bench_semantic(args.embedding_model, args.questions)}
    write_json(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
