"""The embedded server through the official openai SDK: the happy paths of issue 2."""

from __future__ import annotations

import json

import jsonschema
import pytest
from pydantic import BaseModel

pytestmark = [pytest.mark.needs_models, pytest.mark.slow]

DANA = "Hi, I'm Dana Reyes from Northwind Traders, reach me at dana.reyes@northwind.example."


class Contact(BaseModel):
    name: str
    company: str
    email: str


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"], "additionalProperties": False}}}
TICKET = {"type": "function", "function": {
    "name": "open_ticket", "parameters": {"type": "object", "properties": {
        "severity": {"type": "integer", "minimum": 1, "maximum": 4}, "summary": {"type": "string"}},
        "required": ["severity", "summary"]}}}


def test_lists_chat_and_embedding_models(client, model):
    ids = {m.id for m in client.models.list()}
    assert {model, "minilm-l6-int8", "wordllama-256"} <= ids


def test_chat_reply_has_text_and_usage(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Name a colour."}], max_tokens=12, seed=3)
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_same_seed_same_text_at_temperature_one(client, model):
    ask = dict(model=model, messages=[{"role": "user", "content": "Invent a product name."}],
               max_tokens=10, temperature=1.0, seed=42)
    first = client.chat.completions.create(**ask).choices[0].message.content
    assert client.chat.completions.create(**ask).choices[0].message.content == first


def test_parse_with_pydantic_model_returns_parsed_object(client, model):
    reply = client.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": DANA}], response_format=Contact,
        temperature=0)
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, Contact)
    assert "@" in parsed.email or parsed.email  # the contract is the schema, not the model's accuracy


@pytest.mark.parametrize("seed", range(5))
def test_json_schema_output_is_valid_every_time(client, model, seed):
    schema = {"type": "object", "properties": {
        "team": {"type": "string", "enum": ["billing", "technical", "account"]},
        "urgent": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3}},
        "required": ["team", "urgent", "tags"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model=model, temperature=1.0, seed=seed, max_tokens=200,
        messages=[{"role": "user", "content": "My invoice is wrong and I was charged twice!"}],
        response_format={"type": "json_schema", "json_schema": {"name": "route", "schema": schema}})
    jsonschema.validate(json.loads(reply.choices[0].message.content), schema)


def test_json_object_mode_returns_an_object(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Describe a cat as a JSON object with the keys name and age."}],
        response_format={"type": "json_object"}, max_tokens=200, temperature=0)
    # A reply cut at max_tokens cannot be whole JSON (an open-ended prompt can loop until then).
    assert reply.choices[0].finish_reason == "stop", reply.choices[0].message.content
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def test_named_tool_call_arguments_match_the_tool_schema(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "What's the weather in Lisbon?"}],
        tools=[WEATHER, TICKET], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def test_required_tool_choice_calls_one_of_the_tools(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Production is down, open a sev 1 ticket."}],
        tools=[WEATHER, TICKET], tool_choice="required", seed=1)
    call = reply.choices[0].message.tool_calls[0]
    schema = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, TICKET)}
    jsonschema.validate(json.loads(call.function.arguments), schema[call.function.name])


def test_tool_result_turn_is_accepted(client, model):
    messages = [
        {"role": "user", "content": "Weather in Porto?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Porto", "unit": "celsius"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 19, "sky": "cloudy"}'},
    ]
    reply = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER],
                                           tool_choice="none", max_tokens=30)
    assert reply.choices[0].message.content is not None


def test_stream_yields_text_then_a_final_usage_chunk(client, model):
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say something about queues."}],
        max_tokens=16, stream=True, stream_options={"include_usage": True}, seed=5)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [finishes[-1]] and finishes[-1] in {"stop", "length"}


def test_stream_text_equals_non_stream_text_for_same_seed(client, model):
    ask = dict(model=model, messages=[{"role": "user", "content": "Describe Kafka."}],
               max_tokens=20, seed=11, temperature=0.8)
    whole = client.chat.completions.create(**ask).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or ""
                       for c in client.chat.completions.create(stream=True, **ask) if c.choices)
    assert streamed == whole


def test_stop_sequence_ends_the_reply_before_it(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count: 1, 2, 3, 4, 5, 6"}],
        max_tokens=40, stop=["4"], temperature=0)
    assert "4" not in reply.choices[0].message.content


def test_logprobs_are_returned_per_token(client, model):
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Is water wet? Answer yes or no."}],
        max_tokens=3, logprobs=True, top_logprobs=3, temperature=0)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    first = content[0]
    assert first.logprob <= 0 and len(first.top_logprobs) == 3
    assert first.top_logprobs[0].logprob >= first.top_logprobs[-1].logprob


@pytest.mark.parametrize(("name", "dims"), [("minilm-l6-int8", 384), ("wordllama-256", 256)])
def test_embeddings_have_the_documented_dimension(client, name, dims):
    reply = client.embeddings.create(model=name, input=["rotate an API key", "partition leader"])
    assert [len(d.embedding) for d in reply.data] == [dims, dims]
    assert reply.usage.prompt_tokens > 0


def test_embeddings_float_and_base64_agree(client):
    floats = client.embeddings.create(model="minilm-l6-int8", input="hello", encoding_format="float")
    default = client.embeddings.create(model="minilm-l6-int8", input="hello")  # SDK asks for base64
    assert floats.data[0].embedding == pytest.approx(default.data[0].embedding, abs=1e-6)


def test_schema_with_regex_pattern_does_not_take_the_server_down(client, model, base_url):
    """llama.cpp's converter turned `pattern: "\\s"` into a grammar that aborted the process."""
    import httpx

    schema = {"type": "object", "properties": {
        "code": {"type": "string", "pattern": "^LS-\\s*\\d{4}$", "maxLength": 12},
        "day": {"type": "string", "format": "date", "maxLength": 12}},
              "required": ["code", "day"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model=model, max_tokens=100, temperature=0,
        messages=[{"role": "user", "content": "Error code and date, as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "err", "schema": schema}})
    assert set(json.loads(reply.choices[0].message.content)) == {"code", "day"}
    assert httpx.get(base_url.removesuffix("/v1") + "/health", timeout=10).status_code == 200


def test_keys_come_out_in_schema_order(client, model):
    schema = {"type": "object", "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "integer"}},
              "required": ["zeta", "alpha"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model=model, max_tokens=30, temperature=0, messages=[{"role": "user", "content": "Two numbers."}],
        response_format={"type": "json_schema", "json_schema": {"name": "pair", "schema": schema}})
    assert list(json.loads(reply.choices[0].message.content)) == ["zeta", "alpha"]
