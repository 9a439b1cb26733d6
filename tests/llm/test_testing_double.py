"""ScriptedClient replays replies, raises scripted errors and records calls."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest

from inferlearn.llm.testing import (
    ScriptedClient,
    rate_limit_error,
    server_error,
    timeout_error,
    tool_call,
)


class Contact(pydantic.BaseModel):
    name: str


def test_replays_text_in_order_and_records_calls():
    client = ScriptedClient(["first", "second"])
    a = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "one two"}])
    b = client.chat.completions.create(model="m", messages=[], temperature=0)
    assert [a.choices[0].message.content, b.choices[0].message.content] == ["first", "second"]
    assert client.calls[1]["temperature"] == 0 and client.remaining == 0
    assert a.usage.prompt_tokens == 2 and a.usage.completion_tokens == 1


def test_parse_validates_with_the_response_format():
    client = ScriptedClient(['{"name": "Dana"}', "not json"])
    parsed = client.chat.completions.parse(model="m", messages=[], response_format=Contact)
    assert parsed.choices[0].message.parsed == Contact(name="Dana")
    with pytest.raises(pydantic.ValidationError):
        client.chat.completions.parse(model="m", messages=[], response_format=Contact)


def test_raises_the_sdk_exceptions():
    client = ScriptedClient([rate_limit_error(2), timeout_error(), server_error(503)])
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=[])
    assert info.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=[])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=[])


def test_tool_calls_and_malformed_arguments():
    client = ScriptedClient([tool_call("lookup", {"id": 7}), tool_call("lookup", "{broken")])
    first = client.chat.completions.create(model="m", messages=[])
    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(first.choices[0].message.tool_calls[0].function.arguments) == {"id": 7}
    second = client.chat.completions.create(model="m", messages=[])
    assert second.choices[0].message.tool_calls[0].function.arguments == "{broken"


def test_callable_reply_sees_the_call():
    client = ScriptedClient([lambda call: call["messages"][-1]["content"].upper()])
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "echo"}])
    assert reply.choices[0].message.content == "ECHO"


def test_running_out_of_replies_says_so():
    client = ScriptedClient([])
    with pytest.raises(AssertionError, match="ran out of replies"):
        client.chat.completions.create(model="m", messages=[])


def test_unscriptable_reply_is_a_type_error():
    with pytest.raises(TypeError, match="cannot script"):
        ScriptedClient([3.14]).chat.completions.create(model="m", messages=[])
