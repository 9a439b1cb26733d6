"""Every model call is logged with its prompt version and hash, latency, tokens and cost."""

from __future__ import annotations

import json

import pydantic
import pytest

from inferlearn.llm.calllog import CallLog, call_cost, summarise_calls
from inferlearn.llm.models import usage_cost
from inferlearn.llm.testing import ScriptedClient, rate_limit_error
from inferlearn.prompts import parse_prompt

PROMPT = parse_prompt("---\nname: echo\nversion: 3\n---\n## system\nRepeat.\n## user\n{{ text }}\n")


class Team(pydantic.BaseModel):
    team: str


@pytest.fixture
def log(tmp_path):
    return CallLog(tmp_path / "logs" / "calls.jsonl", run="run-a")


def test_a_prompt_call_records_prompt_identity_tokens_and_cost(log):
    client = ScriptedClient(["one two three"])
    completion = log.call(client, model="gpt-4o-mini", prompt=PROMPT, variables={"text": "a b"},
                          tags={"ticket_id": "T-1"}, temperature=0)
    assert completion.choices[0].message.content == "one two three"
    assert client.calls[0]["messages"][1] == {"role": "user", "content": "a b"}
    assert client.calls[0]["temperature"] == 0
    [record] = log.records()
    assert (record["prompt"], record["prompt_version"], record["prompt_hash"]) == \
        ("echo", 3, PROMPT.hash)
    assert record["status"] == "ok" and record["latency_ms"] >= 0
    assert (record["prompt_tokens"], record["completion_tokens"]) == (3, 3)
    assert record["cost_usd"] == pytest.approx(usage_cost("gpt-4o-mini", 3, 3))
    assert record["tags"] == {"ticket_id": "T-1"} and record["output"] is None


def test_the_file_is_one_json_object_per_line(log):
    log.call(ScriptedClient(["a"]), model="m", messages=[{"role": "user", "content": "hi"}])
    log.call(ScriptedClient(["b"]), model="m", messages=[{"role": "user", "content": "hi"}])
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["run"] for line in lines] == ["run-a", "run-a"]


def test_unknown_models_log_no_cost_and_hand_written_messages_no_prompt(log):
    log.call(ScriptedClient(["a"]), model="scripted-model", messages=[{"role": "user", "content": "x"}])
    [record] = log.records()
    assert record["cost_usd"] is None and record["prompt"] is None


def test_errors_are_logged_then_raised(log):
    import openai

    with pytest.raises(openai.RateLimitError):
        log.call(ScriptedClient([rate_limit_error()]), model="m", prompt=PROMPT,
                 variables={"text": "x"})
    [record] = log.records()
    assert record["status"] == "error" and "RateLimitError" in record["error"]
    assert record["prompt_tokens"] is None


def test_a_pydantic_response_format_goes_through_parse(log):
    completion = log.call(ScriptedClient(['{"team": "billing"}']), model="m", prompt=PROMPT,
                          variables={"text": "x"}, response_format=Team)
    assert completion.choices[0].message.parsed == Team(team="billing")


def test_output_is_logged_only_when_asked(tmp_path):
    log = CallLog(tmp_path / "c.jsonl", log_output=True)
    log.call(ScriptedClient(["the reply"]), model="m", messages=[{"role": "user", "content": "x"}])
    assert log.records()[0]["output"] == "the reply"


def test_records_and_frame_show_this_run_unless_all_runs(tmp_path):
    path = tmp_path / "c.jsonl"
    for run in ("r1", "r2"):
        CallLog(path, run=run).call(ScriptedClient(["x"]), model="m", prompt=PROMPT,
                                    variables={"text": "y"}, tags={"case": run})
    log = CallLog(path, run="r2")
    assert [r["run"] for r in log.records()] == ["r2"]
    assert len(log.records(all_runs=True)) == 2
    frame = log.frame()
    assert list(frame["tag_case"]) == ["r2"] and "prompt_hash" in frame.columns


def test_an_empty_log_gives_an_empty_frame(tmp_path):
    frame = CallLog(tmp_path / "none.jsonl").frame()
    assert frame.empty and "latency_ms" in frame.columns


def test_a_call_needs_a_prompt_or_messages(log):
    with pytest.raises(ValueError, match="prompt= .* or messages="):
        log.call(ScriptedClient(["x"]), model="m")


def test_messages_rendered_by_hand_are_sent_and_the_prompt_is_logged(log):
    client = ScriptedClient(["x"])
    log.call(client, model="m", prompt=PROMPT, messages=[{"role": "user", "content": "mine"}])
    assert client.calls[0]["messages"] == [{"role": "user", "content": "mine"}]
    assert log.records()[0]["prompt_hash"] == PROMPT.hash


def test_missing_variables_fail_before_any_call(log):
    client = ScriptedClient(["x"])
    with pytest.raises(KeyError, match="text"):
        log.call(client, model="m", prompt=PROMPT, variables={})
    assert client.calls == []


def test_summarise_calls_gives_percentiles_error_rate_and_cost_per_1k():
    records = [{"status": "ok", "latency_ms": float(ms), "prompt_tokens": 10,
                "completion_tokens": 2, "cost_usd": 0.001} for ms in range(1, 101)]
    records.append({"status": "error", "latency_ms": 5000.0, "prompt_tokens": None,
                    "completion_tokens": None, "cost_usd": None})
    summary = summarise_calls(records)
    assert summary["calls"] == 101 and summary["error_rate"] == pytest.approx(1 / 101)
    assert summary["p50_ms"] == pytest.approx(50.5) and summary["p95_ms"] == pytest.approx(95.05)
    assert summary["cost_per_1k"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no calls"):
        summarise_calls([])


def test_call_cost_is_none_without_usage_or_catalogue_entry():
    assert call_cost("gpt-4o-mini", None, 3) is None
    assert call_cost("no-such-model", 1, 1) is None
    assert call_cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
