"""Structured extraction: ask for JSON, validate it with Pydantic, retry with the error fed back.

Introduced in ``phase1_llm_api/02_structured_outputs``, which builds ``extract_with_retry`` by hand
first. Three ways to ask for a record (``mode``):

- ``"text"``: the instructions ask for JSON; nothing enforces it.
- ``"json_object"``: ``response_format={"type": "json_object"}``; the reply parses as JSON, but
  nothing makes it match the schema.
- ``"json_schema"``: ``response_format`` carries the model's strict JSON schema (what
  ``client.chat.completions.parse`` sends); the shape is enforced, validators the schema cannot
  express (a real calendar date, "currency only with an amount") are not, and a reply cut off by
  ``max_tokens`` is still invalid.

Validation retries and transport retries are different budgets. A reply that fails validation is
retried here, with the error shown to the model. A rate limit (429), a timeout or a server error
is **not** caught: it propagates unchanged, because the SDK already retries those with backoff
(``openai.OpenAI(max_retries=...)``), and resending at once to a rate-limited API makes it worse.
Phase 4 (``02_resilience``) builds that backoff by hand.

>>> record = extract_with_retry(client, ticket_text, TicketFields, max_retries=2)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError
from tqdm.auto import tqdm

# Tool #1's record and its email pattern live with the domain; phase1/02 reads them here.
from inferlearn.larkspur import EMAIL_PATTERN as EMAIL_PATTERN
from inferlearn.larkspur import TicketFields

MODES = ("text", "json_object", "json_schema")
DEFAULT_INSTRUCTIONS = "Extract the requested fields from the user's message."


class ExtractionError(ValueError):
    """Every attempt's reply failed validation; ``errors`` and ``replies`` hold each attempt's."""

    def __init__(self, message: str, attempts: int, errors: list[str], replies: list[str | None]):
        super().__init__(message)
        self.attempts, self.errors, self.replies = attempts, errors, replies


@dataclass
class Extraction:
    """What one extraction run did: the record (None if every attempt failed) and its cost."""

    value: BaseModel | None
    attempts: int
    errors: list[str] = field(default_factory=list)
    replies: list[str | None] = field(default_factory=list)
    finish_reasons: list[str | None] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def valid(self) -> bool:
        """True when some attempt produced a valid record."""
        return self.value is not None

    @property
    def valid_first(self) -> bool:
        """True when the first reply was already valid."""
        return self.valid and self.attempts == 1

    @property
    def parses_first(self) -> bool:
        """True when the first reply was at least valid JSON (whatever its shape)."""
        return bool(self.replies) and parses_as_json(self.replies[0])


def parses_as_json(content: str | None) -> bool:
    """True when ``content`` is a JSON document (of any shape)."""
    if content is None:
        return False
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(the whole reply)"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, without pydantic's documentation URLs (they waste prompt tokens)."""
    lines = []
    for err in exc.errors(include_url=False):
        if err["type"] == "json_invalid":
            lines.append(f"the reply is not valid JSON ({err['msg']})")
            continue
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        got = "" if err["type"] == "missing" else f" (got {shown})"
        lines.append(f"{_location(err['loc'])}: {err['msg']}{got}")
    return "; ".join(lines)


def check_reply(content: str | None, model_cls: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """Validate one reply: ``(record, None)`` if valid, ``(None, error text)`` if not."""
    if content is None or not content.strip():
        return None, "the reply had no text (expected one JSON object)"
    try:
        return model_cls.model_validate_json(content), None
    except ValidationError as exc:
        return None, describe_validation_error(exc)


def _describe_type(node: dict, defs: dict) -> str:
    if "$ref" in node:
        node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in node:
        return " or ".join(_describe_type(option, defs) for option in node["anyOf"])
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    kind = {"string": "a string", "number": "a number", "integer": "an integer",
            "boolean": "true or false", "null": "null", "array": "a list",
            "object": "an object"}.get(node.get("type", ""), "a value")
    details = [f"matching {node['pattern']}"] if "pattern" in node else []
    if "maxLength" in node:
        details.append(f"at most {node['maxLength']} characters")
    return kind + (f" ({', '.join(details)})" if details else "")


def describe_fields(model_cls: type[BaseModel]) -> str:
    """One line per field (``- email: a string (matching ...) or null``): the shape of the JSON
    wanted, in far fewer tokens than the JSON schema itself."""
    schema = model_cls.model_json_schema()
    defs = schema.get("$defs", {})
    return "\n".join(f"- {name}: {_describe_type(node, defs)}"
                     for name, node in schema.get("properties", {}).items())


def extraction_messages(text: str, model_cls: type[BaseModel], instructions: str | None = None,
                        mode: str = "json_object") -> list[dict]:
    """System prompt and the text as the user message. The system prompt says "JSON" (which
    ``json_object`` mode requires) and, except in ``json_schema`` mode (where the schema travels
    in ``response_format``), lists the fields wanted."""
    system = f"{instructions or DEFAULT_INSTRUCTIONS}\nReply with only a JSON object, no other text."
    if mode != "json_schema":
        system += f" Its keys:\n{describe_fields(model_cls)}"
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def retry_message(error: str) -> str:
    """The user turn that feeds a validation error back to the model."""
    return (f"Your reply was not valid: {error}\n"
            "Reply again with only the corrected JSON object.")


def response_format_for(model_cls: type[BaseModel], mode: str) -> dict | None:
    """The ``response_format`` to send for ``mode`` (None for ``"text"``)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "text":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    from openai.lib._parsing._completions import type_to_response_format_param

    fmt = dict(type_to_response_format_param(model_cls))  # what .parse() would send, ...
    fmt["json_schema"] = dict(fmt["json_schema"], schema=_without_titles(fmt["json_schema"]["schema"]))
    return fmt  # ... less the "title" keys: they cost prompt tokens and constrain nothing


def _without_titles(node: Any) -> Any:
    if isinstance(node, dict):  # a property *named* "title" has a dict value and is kept
        return {k: _without_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


def _check_arguments(text: Any, model_cls: Any, max_retries: Any) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r:.80}")
    if not (isinstance(model_cls, type) and issubclass(model_cls, BaseModel)):
        raise TypeError(f"the record type must be a pydantic BaseModel subclass, got {model_cls!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")


def run_extraction(client: Any, text: str, model_cls: type[BaseModel], max_retries: int = 2, *,
                   model: str | None = None, mode: str = "json_object",
                   instructions: str | None = None, temperature: float = 0.0,
                   **create_kwargs: Any) -> Extraction:
    """Extract one record, retrying (at most ``max_retries`` times) with the error fed back.

    Never raises for an invalid reply: the result says what happened (``value`` is None when every
    attempt failed). API errors (rate limits, timeouts, 4xx/5xx) propagate unchanged.
    Extra keyword arguments (``max_tokens``, ``seed``, ``extra_headers`` ...) go to ``create``.
    """
    _check_arguments(text, model_cls, max_retries)
    if model is None:
        from inferlearn.llm.client import default_model
        model = default_model()
    fmt = response_format_for(model_cls, mode)
    if fmt is not None:
        create_kwargs["response_format"] = fmt
    messages = extraction_messages(text, model_cls, instructions, mode)
    result = Extraction(value=None, attempts=0)
    for _ in range(max_retries + 1):
        reply = client.chat.completions.create(model=model, messages=list(messages),
                                               temperature=temperature, **create_kwargs)
        result.attempts += 1
        if reply.usage is not None:
            result.prompt_tokens += reply.usage.prompt_tokens
            result.completion_tokens += reply.usage.completion_tokens
        choice = reply.choices[0]
        content = choice.message.content
        result.replies.append(content)
        result.finish_reasons.append(choice.finish_reason)
        value, error = check_reply(content, model_cls)
        if value is not None:
            result.value = value
            return result
        if choice.finish_reason == "length":
            error += " (the reply was cut off by max_tokens: it is incomplete)"
        result.errors.append(error)
        messages += [{"role": "assistant", "content": content or ""},
                     {"role": "user", "content": retry_message(error)}]
    return result


def extract_with_retry(client: Any, text: str, model_cls: type[BaseModel], max_retries: int = 2,
                       **kwargs: Any) -> BaseModel:
    """The validated record from ``text``, retrying with the validation error fed back.

    Args:
        client: an ``openai.OpenAI`` (or ``inferlearn.llm.testing.ScriptedClient``).
        text: what to extract from.
        model_cls: the pydantic model the record must validate against.
        max_retries: extra attempts after the first (0 = one call only).
        **kwargs: ``model``, ``mode``, ``instructions``, ``temperature``, then ``create`` arguments.
    Returns:
        An instance of ``model_cls``.
    Raises:
        ExtractionError (a ValueError): every attempt failed validation; says how many and why.
        openai.APIError subclasses (RateLimitError, APITimeoutError ...): not caught, see module doc.
    """
    result = run_extraction(client, text, model_cls, max_retries, **kwargs)
    if result.value is not None:
        return result.value
    raise ExtractionError(
        f"no valid {model_cls.__name__} after {result.attempts} attempt(s) "
        f"(max_retries={max_retries}); last error: {result.errors[-1]}. Try a clearer instruction, "
        "a schema-constrained mode, a larger max_tokens or a stronger model.",
        result.attempts, result.errors, result.replies)


def measure_validity(client: Any, texts: Iterable[str], model_cls: type[BaseModel],
                     modes: Iterable[str] = MODES, max_retries: int = 0, progress: bool = True,
                     **kwargs: Any) -> pd.DataFrame:
    """One extraction per (mode, text); a row each: did the first reply parse and validate, was
    there a valid record after ``max_retries``, attempts used, tokens spent."""
    texts, modes = list(texts), list(modes)
    rows = []
    # Text by text, every mode in turn: modes that send the same prompt (text, json_object) then
    # follow each other, so a server with a prompt cache evaluates it once.
    jobs = [(mode, i, text) for i, text in enumerate(texts) for mode in modes]
    for mode, i, text in tqdm(jobs, desc="extractions", disable=not progress):
        run = run_extraction(client, text, model_cls, max_retries, mode=mode, **kwargs)
        rows.append({"mode": mode, "sample": i, "parses_first": run.parses_first,
                     "valid_first": run.valid_first, "valid": run.valid, "attempts": run.attempts,
                     "prompt_tokens": run.prompt_tokens, "completion_tokens": run.completion_tokens,
                     "first_error": run.errors[0] if run.errors else None})
    return pd.DataFrame(rows)


def validity_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per mode: samples, % parsing as JSON and % valid on the first try, % valid after retries,
    mean attempts and tokens per valid record (``measure_validity``'s output in, one row a mode)."""
    if runs.empty:
        raise ValueError("no runs to summarise: measure_validity returned no rows (no texts?)")
    grouped = runs.groupby("mode", sort=False)
    table = pd.DataFrame({
        "samples": grouped.size(),
        "parses_json_%": 100 * grouped["parses_first"].mean(),
        "valid_first_%": 100 * grouped["valid_first"].mean(),
        "valid_after_retries_%": 100 * grouped["valid"].mean(),
        "mean_attempts": grouped["attempts"].mean(),
    })
    tokens = grouped["prompt_tokens"].sum() + grouped["completion_tokens"].sum()
    table["tokens_per_valid"] = tokens / grouped["valid"].sum().replace(0, float("nan"))
    return table.round(1)


# -- tool #1: the Larkspur ticket field extractor -----------------------------------------------

TICKET_INSTRUCTIONS = (
    "Extract fields from a support ticket sent to Larkspur Streams (event streaming SaaS). "
    "Use null when the ticket does not say.\n"
    "customer_name, email: the writer's own, as written.\n"
    "account_id: ACC- and 6 digits, as written.\n"
    "product: billing for invoices, prices, plans; platform for compliance, SLA, legal.\n"
    "severity: sev1 production down, sev2 degraded or blocked, sev3 question, sev4 feature "
    "request.\n"
    "date: the past event's date as YYYY-MM-DD.\n"
    "amount: the main money amount, a number; currency: its code.")


def extract_ticket_fields(client: Any, text: str, max_retries: int = 1,
                          **kwargs: Any) -> Extraction:
    """Tool #1: ``TicketFields`` from one ticket, schema-constrained, with validation retries.

    ``max_tokens`` defaults to 200: room for the longest record the schema allows (strings are
    bounded), so a reply is not cut off just because the model filled a field with junk."""
    kwargs.setdefault("mode", "json_schema")
    kwargs.setdefault("instructions", TICKET_INSTRUCTIONS)
    kwargs.setdefault("max_tokens", 200)
    return run_extraction(client, text, TicketFields, max_retries, **kwargs)


def records(runs: Iterable[Extraction], to_dict: Callable[[BaseModel], dict] | None = None
            ) -> list[dict | None]:
    """The extracted records as dicts (None where the extraction failed), for scoring."""
    dump = to_dict or (lambda value: value.model_dump())
    return [dump(run.value) if run.value is not None else None for run in runs]
