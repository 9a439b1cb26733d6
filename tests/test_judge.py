"""inferlearn.evals.judge: verdict parsing, both orders, abstention, counted parse failures."""

from __future__ import annotations

import pytest

from inferlearn.evals.judge import (
    JUDGES,
    faithful_p_yes,
    judge_answers,
    judge_messages,
    parse_verdict,
)
from inferlearn.llm.testing import ScriptedClient

CTX = "You can ask for a refund of a monthly fee within **7 days** of the charge date."
ITEM = {"id": "a", "question": "How long do I have to ask for a refund?", "contexts": [CTX],
        "context_ids": ["policy-refunds-2025#monthly-plans:0"],
        "answer": "Within 7 days of the charge date [policy-refunds-2025#monthly-plans:0].",
        "reference": "7 days from the charge date."}
YES = '{"faithful": "yes", "relevant": "yes"}'
NO = '{"faithful": "no", "relevant": "yes"}'


def test_parse_verdict():
    assert parse_verdict(YES) == {"faithful": True, "relevant": True}
    assert parse_verdict('Sure!\n```json\n{"faithful": "No", "relevant": "yes"}\n```') == {
        "faithful": False, "relevant": True}
    for bad in (None, "", "yes", '{"faithful": "maybe", "relevant": "yes"}', '{"faithful": "yes"}', "{not json}"):
        assert parse_verdict(bad) is None


def test_both_orders_are_asked_and_agreement_gives_a_verdict():
    client = ScriptedClient([YES, YES])
    df = judge_answers([ITEM], "llm", client=client, model="m")
    assert df.loc[0, "faithful"] == True and df.loc[0, "abstained"] == False  # noqa: E712
    first, second = (c["messages"][-1]["content"] for c in client.calls)
    assert first.index("Context passages") < first.index("Answer to check")
    assert second.index("Answer to check") < second.index("Context passages")
    assert client.calls[0]["response_format"]["type"] == "json_schema"


def test_disagreement_abstains_and_parse_failures_are_counted():
    df = judge_answers([ITEM], "llm", client=ScriptedClient([YES, NO]), model="m")
    assert df.loc[0, "faithful"] is None and df.loc[0, "abstained"] == True  # noqa: E712
    assert df.loc[0, "order_flip"] == True  # noqa: E712
    df = judge_answers([ITEM], "llm", client=ScriptedClient(["I think it is fine", NO]), model="m")
    assert df.loc[0, "parse_failures"] == 1 and df.loc[0, "faithful"] == False  # noqa: E712
    df = judge_answers([ITEM], "llm", client=ScriptedClient(["??", "??"]), model="m")
    assert df.loc[0, "parse_failures"] == 2 and df.loc[0, "abstained"] == True  # noqa: E712


def test_p_yes_from_logprobs():
    tokens = [{"token": t, "top_logprobs": []} for t in ['{', ' "', 'faith', 'ful', '":', ' "']]
    tokens.append({"token": "yes", "top_logprobs": [{"token": "yes", "logprob": -0.1054},
                                                     {"token": "no", "logprob": -2.3026}]})
    assert faithful_p_yes(tokens) == pytest.approx(0.9 / 1.0, abs=0.01)
    assert faithful_p_yes(None) is None


def test_checks_judge_needs_no_model_and_catches_a_changed_number():
    wrong = dict(ITEM, id="b", answer="Within 30 days of the charge date [policy-refunds-2025#monthly-plans:0].")
    df = judge_answers([ITEM, wrong], "checks")
    assert list(df["faithful"]) == [True, False] and list(df["correct"]) == [True, False]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown judge 'nope'"):
        judge_answers([ITEM], "nope")
    with pytest.raises(ValueError, match="lacks reference"):
        judge_answers([{k: v for k, v in ITEM.items() if k != "reference"}], "checks")
    assert {"llm", "checks", "combined", "default"} <= set(JUDGES)
    assert judge_messages(ITEM, answer_first=True)[0]["role"] == "system"


def test_llm_cache_is_opt_in_and_keyed_by_item():
    from inferlearn.evals import judge as lib

    lib.USE_CACHE, lib.LLM_CACHE = True, {}
    try:
        judge_answers([ITEM], "llm", client=ScriptedClient([YES, YES]), model="m")
        client = ScriptedClient([])
        assert judge_answers([ITEM], "llm", client=client, model="m").loc[0, "faithful"] == True  # noqa: E712
        assert client.calls == []  # served from the cache
        with pytest.raises(AssertionError, match="ran out of replies"):
            judge_answers([dict(ITEM, answer="Other.")], "llm", client=ScriptedClient([]), model="m")
    finally:
        lib.USE_CACHE, lib.LLM_CACHE = False, {}


def test_prompt_version_is_pinned_and_v2_restates_the_question_last():
    import inferlearn.evals.judge as lib

    assert lib.PROMPT_VERSION == 1  # a new prompt file does not change the judge by itself
    assert "Context passages" in judge_messages(ITEM)[-1]["content"]
    for answer_first in (False, True):
        user = judge_messages(ITEM, answer_first=answer_first, version=2)[-1]["content"]
        assert "<context>" in user and "<answer>" in user
        assert (user.index("<answer>") < user.index("<context>")) == answer_first
        assert user.rstrip().endswith("Is it faithful? Is it relevant to the question?")
        assert user.index(ITEM["question"]) > max(user.index("</context>"), user.index("</answer>"))


def test_relevance_flips_are_counted_apart_from_faithfulness_flips():
    from inferlearn.evals.judge import llm_verdict

    row = llm_verdict(ITEM, ScriptedClient([YES, '{"faithful": "yes", "relevant": "no"}']), "m", JUDGES["llm"])
    assert row["order_flip"] is False and row["relevant_flip"] is True
    assert row["faithful"] is True and row["relevant"] is None
