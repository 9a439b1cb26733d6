"""Query expansion (multi-query, HyDE) with a scripted client."""

from __future__ import annotations

import pytest

from inferlearn.llm.testing import ScriptedClient, timeout_error
from inferlearn.rag.expansion import hyde, hyde_query, multi_query, parse_queries


def test_multi_query_keeps_the_original_first_and_drops_duplicates():
    client = ScriptedClient(["1. refund window annual plan\n- How do I get my money back?\n"
                             "refund window annual plan\nREFUND POLICY?"])
    queries = multi_query(client, "refund policy?", n=3, model="m")
    assert queries == ["refund policy?", "refund window annual plan", "How do I get my money back?"]
    assert "refund policy?" in client.calls[0]["messages"][0]["content"]
    assert client.calls[0]["model"] == "m"


def test_multi_query_caps_at_n():
    client = ScriptedClient(["a\nb\nc\nd"])
    assert multi_query(client, "q", n=2, model="m") == ["q", "a", "b"]


@pytest.mark.parametrize("reply, expected", [
    ('["one", "two"]', ["one", "two"]),
    ('{"queries": ["one"]}', ["one"]),
    ('Query 1: "one"\n\n* two\n', ["one", "two"]),
    ("", []),
])
def test_parse_queries_reads_lists_json_and_lines(reply, expected):
    assert parse_queries(reply) == expected


def test_an_empty_reply_leaves_only_the_original():
    assert multi_query(ScriptedClient([""]), "q", model="m") == ["q"]


def test_empty_query_makes_no_call():
    client = ScriptedClient([])
    assert multi_query(client, "  ", model="m") == ["  "]
    assert hyde(client, "", model="m") == ""
    assert client.calls == []


def test_huge_and_unicode_queries_are_cut_in_the_prompt():
    client = ScriptedClient(["北京 zähler"])
    assert multi_query(client, "ü" * 50_000, model="m")[1] == "北京 zähler"
    assert len(client.calls[0]["messages"][0]["content"]) < 3_000


def test_hyde_returns_the_hypothetical_passage():
    client = ScriptedClient(["  Refunds are available within 30 days.  ", "Keys rotate."])
    assert hyde(client, "refund window?", model="m") == "Refunds are available within 30 days."
    assert hyde_query(client, "how to rotate keys", model="m") == "how to rotate keys\nKeys rotate."


@pytest.mark.parametrize("call, message", [
    (lambda c: multi_query(c, "q", n=0, model="m"), r"n \(0\) must be >= 1"),
    (lambda c: hyde(c, "q", max_tokens=0, model="m"), r"max_tokens \(0\) must be >= 1"),
])
def test_bad_parameters_name_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call(ScriptedClient([]))


def test_non_string_query_and_client_errors():
    with pytest.raises(TypeError, match="query must be a string"):
        multi_query(ScriptedClient([]), ["q"], model="m")
    with pytest.raises(Exception, match="timed out"):
        hyde(ScriptedClient([timeout_error()]), "q", model="m")
