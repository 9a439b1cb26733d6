"""Judges of grounded answers: an LLM judge with schema-constrained verdicts, deterministic checks,
an embedding check, and logistic combinations of them fitted on the dev labels (``judge_model``).

    df = judge_answers(items, "llm", client=client, model=model)     # one row per item
    df[["id", "faithful", "relevant", "p_yes", "abstained", "parse_failures"]]

The LLM judge asks for ``{"faithful": "yes"|"no", "relevant": "yes"|"no"}`` under a JSON schema (the
local server turns it into a grammar, so a verdict always parses there), reads P(yes) for
``faithful`` from the logprobs when the backend gives them, runs every item with the context
before the answer *and* after it, ``repeats`` times each with seeded sampling, and abstains
(verdict None) when those runs disagree. A reply that does not parse is counted in
``parse_failures`` and casts no vote: it never silently becomes "no".
Introduced in ``phase3_eval/04_llm_as_judge``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from inferlearn.evals import judge_features as feats
from inferlearn.evals.judge_model import dev_combiner, with_llm
from inferlearn.prompts import load_prompt

PROMPT = "judge_answer"
PROMPT_VERSION = 1  # pinned: a new prompt file never changes the judge silently (bench: --prompt-version)
MAX_CONTEXT_CHARS = 3600
COLUMNS = ["id", "faithful", "relevant", "correct", "p_yes", "abstained", "parse_failures", "order_flip",
           "calls"]


class Verdict(BaseModel):
    """What the LLM judge must reply."""

    faithful: Literal["yes", "no"]
    relevant: Literal["yes", "no"]


VERDICT_SCHEMA = {"type": "json_schema", "json_schema": {"name": "verdict", "strict": True, "schema": {
    "type": "object", "properties": {"faithful": {"type": "string", "enum": ["yes", "no"]},
                                     "relevant": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["faithful", "relevant"], "additionalProperties": False}}}


def parse_verdict(content: str | None) -> dict[str, bool] | None:
    """``{"faithful": bool, "relevant": bool}`` from a judge reply, or None when it does not parse.

    Accepts the JSON object alone or wrapped in a code fence / prose; "yes"/"no" in any case.
    """
    if not isinstance(content, str):
        return None
    match = re.search(r"\{.*\}", content, re.S)
    if not match:
        return None
    try:
        data = json.loads(match.group())
        verdict = Verdict.model_validate({k: str(v).strip().lower() if isinstance(v, str) else v
                                          for k, v in data.items()} if isinstance(data, dict) else data)
    except (ValueError, ValidationError):
        return None
    return {"faithful": verdict.faithful == "yes", "relevant": verdict.relevant == "yes"}


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _word(token: Any) -> str:
    return str(token or "").strip().strip("\"'.,:").lower()


def faithful_p_yes(logprobs: list[Any] | None) -> float | None:
    """P(yes) / (P(yes) + P(no)) at the token where the ``faithful`` value starts (None when the
    backend sent no logprobs or neither word is among the alternatives)."""
    text = ""
    for entry in logprobs or []:
        token = str(_field(entry, "token") or "")
        if '"faithful"' in text and _word(token)[:2] in ("ye", "no") and _word(token) in ("yes", "no", "y", "n"):
            mass = {"yes": 0.0, "no": 0.0}
            for alt in _field(entry, "top_logprobs") or []:
                word = _word(_field(alt, "token"))
                if word in mass:
                    mass[word] += math.exp(float(_field(alt, "logprob")))
            total = mass["yes"] + mass["no"]
            return round(mass["yes"] / total, 4) if total > 0 else None
        text += token
    return None


def _blocks(item: dict[str, Any], version: int) -> tuple[str, str]:
    ids = item.get("context_ids") or [f"passage-{i + 1}" for i in range(len(item["contexts"]))]
    budget = MAX_CONTEXT_CHARS // max(len(item["contexts"]), 1)
    context = "\n\n".join(f"[{cid}] {text[:budget]}" for cid, text in zip(ids, item["contexts"], strict=False))
    if version == 1:
        return "Context passages:\n" + context, "Answer to check:\n" + item["answer"]
    return f"<context>\n{context}\n</context>", f"<answer>\n{item['answer']}\n</answer>"  # v2 on: tagged


def judge_messages(item: dict[str, Any], answer_first: bool = False, version: int | None = None) -> list[dict]:
    """The judge prompt's messages for one item, context first (or answer first); ``version`` of
    the prompt ``judge_answer`` (default ``PROMPT_VERSION``)."""
    prompt = load_prompt(PROMPT, version or PROMPT_VERSION)
    context, answer = _blocks(item, prompt.version)
    first, second = (answer, context) if answer_first else (context, answer)
    return prompt.render(question=item["question"], first=first, second=second)


@dataclass(frozen=True)
class JudgeSpec:
    """A named judge: which evidence it uses and how often it asks the LLM."""

    name: str
    description: str
    uses_llm: bool = False
    uses_embeddings: bool = False
    repeats: int = 1
    both_orders: bool = True
    temperature: float = 0.0
    combine: bool = False


JUDGES: dict[str, JudgeSpec] = {
    "llm": JudgeSpec("llm", "LLM only: both orders, greedy, abstains when the orders disagree", uses_llm=True),
    "llm_k3": JudgeSpec("llm_k3", "LLM only: both orders x 3 seeded samples (temperature 0.7)", uses_llm=True,
                        repeats=3, temperature=0.7),
    "checks": JudgeSpec("checks", "deterministic: claim support, citations, numbers vs the reference"),
    "embed": JudgeSpec("embed", "checks plus MiniLM claim-to-context similarity", uses_embeddings=True),
    "default": JudgeSpec("default", "deterministic checks combined by logistic models fitted on the dev labels "
                         "(no model at all): the judge with the best cross-validated kappa on dev", combine=True),
    "default_embed": JudgeSpec("default_embed", "checks + MiniLM similarities combined by logistic models fitted "
                               "on the dev labels", uses_embeddings=True, combine=True),
    "combined": JudgeSpec("combined", "the default judge, with the LLM's P(yes) deciding faithfulness where the "
                          "logistic model is unsure", uses_llm=True, combine=True),
}


def _call(client: Any, model: str, messages: list[dict], seed: int, temperature: float) -> tuple[dict | None, float | None]:
    reply = client.chat.completions.create(model=model, messages=messages, temperature=temperature, seed=seed,
                                           max_tokens=24, response_format=VERDICT_SCHEMA, logprobs=True,
                                           top_logprobs=5)
    choice = reply.choices[0]
    content = _field(_field(choice, "logprobs"), "content") if _field(choice, "logprobs") else None
    return parse_verdict(choice.message.content), faithful_p_yes(content)


# LLM verdicts already computed in this process, by (model, prompt, settings, seed, item): a
# benchmark that runs "llm" and then "combined" asks the model once. Saved/loaded by bench_judge.
LLM_CACHE: dict[str, dict[str, Any]] = {}
USE_CACHE = False  # off by default: a scripted test client must never be answered from a cache


def _cache_key(item: dict[str, Any], model: str, spec: JudgeSpec, seed: int) -> str:
    import hashlib

    text = json.dumps([model, load_prompt(PROMPT, PROMPT_VERSION).ref, spec.repeats, spec.both_orders, spec.temperature, seed,
                       item["question"], item["answer"], item["contexts"], item.get("context_ids")])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def llm_verdict(item: dict[str, Any], client: Any, model: str, spec: JudgeSpec, seed: int = 0) -> dict[str, Any]:
    """One item judged by the LLM: every order x repeat, then a unanimous verdict or abstention."""
    cache_key = _cache_key(item, model, spec, seed)
    if USE_CACHE and cache_key in LLM_CACHE:
        return {**LLM_CACHE[cache_key], "id": item["id"]}
    votes, p_yes, failures, by_order = [], [], 0, {}
    for answer_first in ([False, True] if spec.both_orders else [False]):
        for r in range(spec.repeats):
            verdict, p = _call(client, model, judge_messages(item, answer_first), seed + r, spec.temperature)
            if verdict is None:
                failures += 1
                continue
            votes.append(verdict)
            by_order.setdefault(answer_first, []).append(verdict)
            if p is not None:
                p_yes.append(p)
    row: dict[str, Any] = {"id": item["id"], "parse_failures": failures, "calls": len(votes) + failures,
                           "p_yes": round(float(np.mean(p_yes)), 4) if p_yes else None}
    for key in ("faithful", "relevant"):
        values = {v[key] for v in votes}
        row[key] = values.pop() if len(values) == 1 else None
    row["abstained"] = row["faithful"] is None
    first, second = by_order.get(False), by_order.get(True)
    row["order_flip"] = (first[0]["faithful"] != second[0]["faithful"]) if first and second else None
    row["relevant_flip"] = (first[0]["relevant"] != second[0]["relevant"]) if first and second else None
    if USE_CACHE:
        LLM_CACHE[cache_key] = row
    return row


def judge_answers(items: list[dict], name: str = "default", *, client: Any = None, model: str | None = None,
                  seed: int = 0, embedder: Any = None) -> pd.DataFrame:
    """Judge ``items`` (``id``, ``question``, ``answer``, ``contexts``, ``reference``; optionally
    ``context_ids``) with judge ``name`` (see ``JUDGES``). One row per item: id, faithful,
    relevant, correct (bool or None when abstained), p_yes, abstained, parse_failures, order_flip."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; choose one of {', '.join(JUDGES)}")
    spec = JUDGES[name]
    for i, item in enumerate(items):
        missing = [k for k in ("id", "question", "answer", "contexts", "reference") if k not in item]
        if missing:
            raise ValueError(f"item {i} ({item.get('id', '?')}) lacks {', '.join(missing)}")
    llm_rows = _llm_rows(items, spec, client, model, seed) if spec.uses_llm else None
    if spec.uses_llm and not spec.combine:
        return pd.DataFrame([{**r, "correct": None} for r in llm_rows], columns=COLUMNS)
    table = feats.feature_table(items, embedder=embedder if spec.uses_embeddings else False)
    if llm_rows is not None:
        table["p_yes"] = [r["p_yes"] for r in llm_rows]
    if spec.combine:
        combiner = dev_combiner(spec.uses_embeddings, embedder)
        verdicts = combiner.verdicts(table)
        if llm_rows is not None:
            verdicts["faithful"] = with_llm(combiner.probabilities(table)["faithful"], verdicts["faithful"],
                                            [r["p_yes"] for r in llm_rows], [r["faithful"] for r in llm_rows])
    else:
        verdicts = feats.rule_verdicts(table, uses_embeddings=spec.uses_embeddings)
    out = pd.DataFrame({"id": [it["id"] for it in items], **verdicts})
    out["p_yes"] = table["p_yes"] if "p_yes" in table else None
    out["abstained"] = False
    out["parse_failures"] = [r["parse_failures"] for r in llm_rows] if llm_rows else 0
    out["order_flip"] = [r["order_flip"] for r in llm_rows] if llm_rows else None
    out["calls"] = [r["calls"] for r in llm_rows] if llm_rows else 0
    return out[COLUMNS]


def _llm_rows(items: list[dict], spec: JudgeSpec, client: Any, model: str | None, seed: int,
              progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    if client is None:
        from inferlearn.llm import get_client

        client = get_client()
    if model is None:
        from inferlearn.llm.client import default_model

        model = default_model()
    return [llm_verdict(item, client, model, spec, seed) for item in items]
