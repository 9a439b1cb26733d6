"""The library's tool-use loop (inferlearn.llm.tools), on the scripted client: every call answered
by id, errors returned as data, parallel calls in order, the cap, the step log."""

from __future__ import annotations

import json

import pytest

from inferlearn.llm.testing import ScriptedClient, tool_call
from inferlearn.llm.tools import run_tool_call, run_tool_loop

REGISTRY = {"add": lambda a, b: {"sum": a + b}, "boom": lambda: 1 / 0, "now": lambda: {"t": 1}}
ASK = [{"role": "user", "content": "add things"}]


def _call(name: str, arguments: str) -> dict:
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize("name, arguments, error", [
    ("nope", "{}", "unknown tool 'nope'"),
    ("add", '{"a": 1', "JSONDecodeError"),
    ("add", "[1, 2]", "must be a JSON object"),
    ("add", '{"a": 1}', "TypeError"),
    ("boom", "", "ZeroDivisionError"),
])
def test_a_failing_call_is_answered_with_an_error_message(name, arguments, error):
    message, step = run_tool_call(_call(name, arguments), REGISTRY)
    assert message["role"] == "tool" and message["tool_call_id"] == "c1"
    assert error in json.loads(message["content"])["error"]
    assert step.ok is False and step.name == name


def test_an_empty_argument_string_means_no_arguments():
    message, step = run_tool_call(_call("now", ""), REGISTRY)
    assert json.loads(message["content"]) == {"t": 1} and step.ok


def test_parallel_calls_are_answered_in_order_and_logged():
    client = ScriptedClient([[tool_call("add", {"a": 1, "b": 1}), tool_call("nope", {})], "done"])
    result = run_tool_loop(client, "m", ASK, [], REGISTRY)
    assert (result.answer, result.stopped, result.model_calls) == ("done", "answered", 2)
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "tool", "assistant"]
    ids = [c["id"] for c in result.messages[1]["tool_calls"]]
    assert [m["tool_call_id"] for m in result.messages[2:4]] == ids
    assert [(s.name, s.ok, s.round) for s in result.steps] == [("add", True, 1), ("nope", False, 1)]
    assert client.calls[1]["messages"][2]["content"] == json.dumps({"sum": 2})
    assert ASK == [{"role": "user", "content": "add things"}]


def test_the_cap_stops_a_model_that_keeps_asking():
    client = ScriptedClient([tool_call("add", {"a": 1, "b": 1})] * 5)
    result = run_tool_loop(client, "m", ASK, [], REGISTRY, max_steps=3)
    assert (result.answer, result.stopped, result.model_calls) == (None, "max_steps", 3)
    assert len(client.calls) == 3 and client.remaining == 2


def test_max_steps_below_one_is_a_clear_error():
    with pytest.raises(ValueError, match="max_steps must be at least 1, got 0"):
        run_tool_loop(ScriptedClient([]), "m", ASK, [], REGISTRY, max_steps=0)
