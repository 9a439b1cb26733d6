"""Budgets: worst-case reservations, settle/release, clear errors, and no overspend under
50 concurrent clients (threads) or several processes sharing one ledger file."""

from __future__ import annotations

import multiprocessing
import random
import threading
from datetime import datetime, timezone

import pytest

from inferlearn.prod.budgets import (
    MICRO,
    Budget,
    BudgetExceeded,
    Limits,
    seconds_to_midnight,
    to_micro,
    worst_case_cost,
)

NOON = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def make(tmp_path, **limits) -> Budget:
    return Budget(tmp_path / "budget.sqlite", Limits(**limits), clock=lambda: NOON)


def test_reserve_then_settle_counts_what_was_used_not_the_worst_case(tmp_path):
    budget = make(tmp_path, daily_usd=1.0)
    res = budget.reserve("a", tokens=300, cost_usd=0.10)
    assert budget.spent("a") == (300, 0.10)
    budget.settle(res, tokens=120, cost_usd=0.04)
    assert budget.spent("a") == (120, 0.04)
    assert budget.remaining("a") == (None, 0.96)


def test_release_gives_everything_back_and_a_reservation_closes_only_once(tmp_path):
    budget = make(tmp_path, daily_tokens=1000)
    res = budget.reserve("a", tokens=400, cost_usd=0.0)
    budget.release(res)
    assert budget.spent("a") == (0, 0.0)
    with pytest.raises(ValueError, match="already settled or released"):
        budget.settle(res, tokens=1, cost_usd=0.0)


def test_daily_cost_cap_is_402_and_names_the_cap_and_what_was_spent(tmp_path):
    budget = make(tmp_path, daily_usd=0.05)
    budget.reserve("team-a", tokens=10, cost_usd=0.03)
    with pytest.raises(BudgetExceeded) as caught:
        budget.reserve("team-a", tokens=10, cost_usd=0.03)
    err = caught.value
    assert (err.what, err.limit, err.spent, err.requested, err.status) == ("daily_usd", 0.05, 0.03, 0.03, 402)
    assert "daily_usd" in str(err) and "$0.050000" in str(err) and "team-a" in str(err)
    assert err.to_error()["error"] == {"type": "budget_exceeded", "code": "daily_usd", "message": str(err)}
    budget.reserve("team-b", tokens=10, cost_usd=0.03)  # another key has its own budget


def test_daily_token_quota_is_429_with_retry_after_until_midnight_utc(tmp_path):
    budget = make(tmp_path, daily_tokens=100)
    budget.reserve("a", tokens=100, cost_usd=0.0)  # exactly the cap fits
    with pytest.raises(BudgetExceeded) as caught:
        budget.reserve("a", tokens=1, cost_usd=0.0)
    assert caught.value.status == 429 and caught.value.retry_after == 12 * 3600
    assert "resets at 00:00 UTC" in str(caught.value)


def test_per_request_caps_refuse_before_touching_the_ledger(tmp_path):
    budget = make(tmp_path, request_tokens=500, request_usd=0.01)
    with pytest.raises(BudgetExceeded, match="request_tokens .*lower max_tokens"):
        budget.reserve("a", tokens=501, cost_usd=0.0)
    with pytest.raises(BudgetExceeded, match="request_usd"):
        budget.reserve("a", tokens=10, cost_usd=0.010001)
    assert budget.spent("a") == (0, 0.0)


def test_settling_more_than_was_reserved_records_the_truth_and_counts_an_overrun(tmp_path, caplog):
    budget = make(tmp_path)
    res = budget.reserve("a", tokens=100, cost_usd=0.001)
    assert budget.settle(res, tokens=101, cost_usd=0.001) is False
    assert budget.spent("a") == (101, 0.001) and budget.overruns == 1
    assert "budget overrun" in caplog.text and "max_tokens" in caplog.text
    assert budget.settle(budget.reserve("a", tokens=10, cost_usd=0.0), tokens=10, cost_usd=0.0) is True


def test_hold_settles_the_recorded_usage_or_releases_when_the_call_fails(tmp_path):
    budget = make(tmp_path, daily_usd=1.0)
    model = "smollm2-135m-instruct"
    with budget.hold("a", model, prompt_tokens=1000, max_tokens=200) as hold:
        assert budget.spent("a")[0] == 1200  # the worst case is held during the call
        hold.record(1000, 50)
    assert budget.spent("a") == (1050, round((1000 * 0.02 + 50 * 0.04) / 1e6, 6))
    with pytest.raises(RuntimeError, match="upstream down"):
        with budget.hold("a", model, prompt_tokens=1000, max_tokens=200):
            raise RuntimeError("upstream down")
    assert budget.spent("a")[0] == 1050, "a failed call gives its reservation back"


@pytest.mark.parametrize("bad", [{"tokens": -1, "cost_usd": 0.0}, {"tokens": 1.5, "cost_usd": 0.0},
                                 {"tokens": 1, "cost_usd": float("nan")}, {"tokens": 1, "cost_usd": -0.1}])
def test_bad_amounts_are_clear_value_errors(tmp_path, bad):
    with pytest.raises(ValueError, match=r"tokens must|cost must"):
        make(tmp_path).reserve("a", **bad)


def test_bad_limits_and_empty_key_are_refused(tmp_path):
    with pytest.raises(ValueError, match="daily_usd"):
        Budget(tmp_path / "b.sqlite", Limits(daily_usd=-1))
    with pytest.raises(ValueError, match="non-empty"):
        make(tmp_path).reserve("", tokens=1, cost_usd=0.0)


def test_money_is_counted_in_whole_micro_dollars():
    assert to_micro(0.1) + to_micro(0.2) == to_micro(0.3)
    assert to_micro(0.000003, up=True) == 3 and to_micro(0.0000031, up=True) == 4
    assert worst_case_cost("smollm2-135m-instruct", 1000, 200) == pytest.approx((1000 * 0.02 + 200 * 0.04) / 1e6)


def test_a_new_utc_day_starts_a_new_budget(tmp_path):
    now = [NOON]
    budget = Budget(tmp_path / "b.sqlite", Limits(daily_usd=0.01), clock=lambda: now[0])
    budget.reserve("a", tokens=1, cost_usd=0.01)
    with pytest.raises(BudgetExceeded):
        budget.reserve("a", tokens=1, cost_usd=0.01)
    now[0] = datetime(2026, 12, 5, 0, 0, 1, tzinfo=timezone.utc)
    budget.reserve("a", tokens=1, cost_usd=0.01)
    assert seconds_to_midnight(datetime(2026, 12, 4, 23, 59, 59, 500000, tzinfo=timezone.utc)) == 1


def _client(budget: Budget, seed: int, barrier: threading.Barrier, out: list) -> None:
    rng = random.Random(seed)
    barrier.wait()
    for _ in range(6):
        worst = rng.choice([0.0123, 0.0311, 0.0457, 0.0099])
        try:
            res = budget.reserve("shared-key", tokens=rng.randint(50, 400), cost_usd=worst)
        except BudgetExceeded:
            out.append(("refused", 0))
            continue
        if rng.random() < 0.2:
            budget.release(res)  # a failed call
            out.append(("released", 0))
        else:
            actual = round(worst * rng.uniform(0.3, 1.0), 6)
            budget.settle(res, tokens=res.tokens // 2, cost_usd=actual)
            out.append(("settled", to_micro(actual)))


def test_fifty_concurrent_clients_never_spend_a_micro_dollar_over_the_cap(tmp_path):
    cap = 1.00
    budget = make(tmp_path, daily_usd=cap)
    barrier, out = threading.Barrier(50), []
    threads = [threading.Thread(target=_client, args=(budget, seed, barrier, out)) for seed in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settled = sum(micro for state, micro in out if state == "settled")
    assert len(out) == 300
    assert settled == to_micro(budget.spent("shared-key")[1])
    assert settled <= cap * MICRO, f"overspent: ${settled / MICRO:.6f} > ${cap}"
    assert sum(1 for state, _ in out if state == "refused") > 0, "the cap was never reached: the test proves nothing"
    assert cap * MICRO - settled < 0.0457 * MICRO * 50, "released/settled money was not reusable"


def _process(path: str, seed: int, queue) -> None:
    budget = Budget(path, Limits(daily_tokens=5000), clock=lambda: NOON)
    granted = 0
    for _ in range(10):
        try:
            budget.reserve("k", tokens=random.Random(seed).randint(100, 300), cost_usd=0.0)
            granted += 1
        except BudgetExceeded:
            pass
    queue.put(granted)


def test_processes_sharing_one_ledger_file_cannot_overspend(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    Budget(path, Limits(daily_tokens=5000))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process, args=(path, seed, queue)) for seed in range(4)]
    for proc in procs:
        proc.start()
    granted = sum(queue.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    tokens, _ = Budget(path, Limits(), clock=lambda: NOON).spent("k")
    assert tokens <= 5000 and granted < 40, (tokens, granted)
    assert 5000 - tokens < 300, f"{tokens} tokens reserved: the quota was not filled"
