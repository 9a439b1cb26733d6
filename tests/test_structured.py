"""inferlearn.llm.structured: validate-and-retry extraction, tested only with ScriptedClient."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel, ConfigDict, Field

from inferlearn.llm.structured import (
    ExtractionError,
    TicketFields,
    check_reply,
    describe_fields,
    describe_validation_error,
    extract_ticket_fields,
    extract_with_retry,
    extraction_messages,
    measure_validity,
    records,
    response_format_for,
    run_extraction,
    validity_table,
)
from inferlearn.llm.testing import ScriptedClient, rate_limit_error, timeout_error, tool_call


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: str | None = Field(pattern=r"^[^@ ]+@[^@ ]+$")


GOOD = '{"name": "Dana Ruiz", "email": "dana@corvid.example"}'
MISSING_EMAIL = '{"name": "Dana Ruiz"}'
TICKET = "Hi, Dana Ruiz here (dana@corvid.example). Our producers get 429s."


def test_a_valid_first_reply_is_returned_after_one_call():
    client = ScriptedClient([GOOD])
    assert extract_with_retry(client, TICKET, Contact) == Contact(name="Dana Ruiz",
                                                                   email="dana@corvid.example")
    assert len(client.calls) == 1


def test_malformed_json_then_valid_succeeds_on_the_retry():
    client = ScriptedClient(['{"name": "Dana", ', GOOD])
    assert extract_with_retry(client, TICKET, Contact, max_retries=1).name == "Dana Ruiz"
    assert len(client.calls) == 2


def test_the_retry_prompt_carries_the_validation_error_and_the_bad_reply():
    client = ScriptedClient([MISSING_EMAIL, GOOD])
    extract_with_retry(client, TICKET, Contact, max_retries=2)
    retry = client.calls[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": MISSING_EMAIL}
    assert "email" in retry[-1]["content"] and "Field required" in retry[-1]["content"]
    assert len(client.calls[0]["messages"]) == 2, "the first call's messages must not grow afterwards"


def test_exhausting_retries_raises_a_clear_error_with_every_attempt():
    client = ScriptedClient(["nope", MISSING_EMAIL, "{}"])
    with pytest.raises(ExtractionError, match=r"after 3 attempt\(s\).*max_retries=2") as info:
        extract_with_retry(client, TICKET, Contact, max_retries=2)
    assert isinstance(info.value, ValueError)
    assert info.value.attempts == 3 and len(info.value.errors) == 3
    assert "name: Field required" in str(info.value)
    assert client.remaining == 0


def test_max_retries_zero_makes_exactly_one_call():
    client = ScriptedClient(["not json", GOOD])
    with pytest.raises(ExtractionError):
        extract_with_retry(client, TICKET, Contact, max_retries=0)
    assert len(client.calls) == 1


def test_rate_limit_errors_propagate_and_are_not_retried_here():
    client = ScriptedClient([rate_limit_error(2), GOOD])
    with pytest.raises(openai.RateLimitError):
        extract_with_retry(client, TICKET, Contact, max_retries=3)
    assert len(client.calls) == 1


def test_a_timeout_after_an_invalid_reply_propagates():
    client = ScriptedClient(["not json", timeout_error(), GOOD])
    with pytest.raises(openai.APITimeoutError):
        extract_with_retry(client, TICKET, Contact, max_retries=3)


def test_a_reply_without_text_counts_as_invalid():
    client = ScriptedClient([tool_call("x", {}), GOOD])
    run = run_extraction(client, TICKET, Contact, max_retries=1)
    assert run.valid and run.attempts == 2 and "no text" in run.errors[0]


def test_a_cut_off_reply_says_so_in_the_error():
    from openai.types.chat import ChatCompletion

    cut = ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": None,
                     "message": {"role": "assistant", "content": '{"name": "Da'}}]})
    run = run_extraction(ScriptedClient([cut, GOOD]), TICKET, Contact, max_retries=1)
    assert "cut off by max_tokens" in run.errors[0]


@pytest.mark.parametrize("bad, match", [
    ({"text": ""}, "non-empty string"),
    ({"text": None}, "non-empty string"),
    ({"max_retries": -1}, "max_retries must be an integer >= 0"),
    ({"max_retries": 1.5}, "max_retries must be an integer >= 0"),
])
def test_bad_arguments_are_rejected_before_any_call(bad, match):
    client = ScriptedClient([GOOD])
    args = {"text": TICKET, "max_retries": 1, **bad}
    with pytest.raises(ValueError, match=match):
        extract_with_retry(client, args["text"], Contact, args["max_retries"])
    assert client.calls == []


def test_a_model_class_that_is_not_pydantic_is_rejected():
    with pytest.raises(TypeError, match="pydantic BaseModel"):
        extract_with_retry(ScriptedClient([GOOD]), TICKET, dict)


def test_modes_send_the_matching_response_format():
    assert response_format_for(Contact, "text") is None
    assert response_format_for(Contact, "json_object") == {"type": "json_object"}
    schema_fmt = response_format_for(Contact, "json_schema")
    assert schema_fmt["type"] == "json_schema" and schema_fmt["json_schema"]["strict"] is True
    with pytest.raises(ValueError, match="not one of"):
        response_format_for(Contact, "yaml")
    client = ScriptedClient([GOOD])
    run_extraction(client, TICKET, Contact, mode="text")
    assert "response_format" not in client.calls[0]


def test_the_prompt_says_json_and_lists_the_fields_except_in_schema_mode():
    system, user = extraction_messages(TICKET, Contact)
    assert "JSON" in system["content"] and user["content"] == TICKET
    assert "- name: a string\n- email: a string (matching ^[^@ ]+@[^@ ]+$) or null" in system["content"]
    system, _ = extraction_messages(TICKET, Contact, mode="json_schema")
    assert "JSON" in system["content"] and "- email" not in system["content"]


def test_describe_fields_shows_enums_and_lengths():
    text = describe_fields(TicketFields)
    assert '- product: one of "streams", "queues"' in text and "or null" in text
    assert "- customer_name: a string (at most 40 characters) or null" in text


def test_validation_errors_are_described_in_one_line_without_urls():
    _, error = check_reply('{"name": 3, "email": "not-an-email"}', Contact)
    assert "name: Input should be a valid string (got 3)" in error
    assert "email: String should match pattern" in error and "https://" not in error
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as info:
        Contact.model_validate_json("{")
    assert describe_validation_error(info.value).startswith("the reply is not valid JSON")


def test_measure_validity_counts_first_try_and_after_retries():
    # calls go text by text: (text, json_object) for the first text, then for the second
    client = ScriptedClient(["not json", GOOD, "[1]", MISSING_EMAIL, GOOD, "{}", "{}"])
    runs = measure_validity(client, [TICKET, TICKET], Contact, modes=["text", "json_object"],
                            max_retries=1, progress=False)
    assert list(runs["mode"]) == ["text", "json_object", "text", "json_object"]
    assert list(runs["valid_first"]) == [False, False, True, False]
    table = validity_table(runs)
    assert table.loc["text", "valid_first_%"] == 50.0
    assert table.loc["text", "valid_after_retries_%"] == 100.0
    assert table.loc["json_object", "parses_json_%"] == 100.0
    assert table.loc["json_object", "valid_after_retries_%"] == 0.0


def test_ticket_fields_rejects_what_a_schema_cannot_express():
    base = {"customer_name": "Dana", "email": None, "account_id": "ACC-904471", "product": "billing",
            "severity": "sev3", "date": "2025-02-30", "amount": None, "currency": None}
    _, error = check_reply(json.dumps(base), TicketFields)
    assert "2025-02-30 is not a real calendar date" in error
    _, error = check_reply(json.dumps(dict(base, date=None, amount=12.5)), TicketFields)
    assert "amount and currency go together" in error
    value, _ = check_reply(json.dumps(dict(base, date=None, amount=12.5, currency="USD")),
                           TicketFields)
    assert value is not None and value.amount == 12.5


def test_extract_ticket_fields_uses_the_schema_mode_and_returns_records():
    reply = json.dumps({"customer_name": None, "email": None, "account_id": None,
                        "product": "streams", "severity": "sev1", "date": None,
                        "amount": None, "currency": None})
    client = ScriptedClient([reply])
    run = extract_ticket_fields(client, TICKET)
    assert client.calls[0]["response_format"]["type"] == "json_schema"
    assert records([run])[0]["severity"] == "sev1"
    assert records([run_extraction(ScriptedClient(["x"]), TICKET, Contact, 0)]) == [None]


def test_the_schema_format_drops_title_keys_but_keeps_a_field_named_title():
    class Doc(BaseModel):
        model_config = ConfigDict(extra="forbid")
        title: str

    schema = response_format_for(Doc, "json_schema")["json_schema"]["schema"]
    assert "title" not in schema and "title" in schema["properties"]
    assert "title" not in schema["properties"]["title"] and schema["required"] == ["title"]
