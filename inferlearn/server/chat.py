"""Chat completions on the local engine: prompt, constraints, reply and stream chunks."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from inferlearn.server.chat_format import render_prompt
from inferlearn.server.engine import GenParams, LocalEngine, Outcome, Piece
from inferlearn.server.grammar import (
    Compiled,
    SchemaProblem,
    json_object_grammar,
    schema_grammar,
    tool_call_schema,
)
from inferlearn.server.grammar_probe import probe_for
from inferlearn.server.protocol import APIError, ChatRequest

DEFAULT_MAX_TOKENS = 512
_FENCED_JSON = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)
_DECODER = json.JSONDecoder()


@dataclass
class Plan:
    """Everything decided about a chat request before the model runs."""

    request: ChatRequest
    prompt_tokens: list[int]
    params: GenParams
    mode: str = "text"  # text | json_object | json_schema | tool_forced | tool_auto
    malformed: bool = False
    dropped: list[str] = field(default_factory=list)  # schema parts the grammar does not enforce
    cancelled: threading.Event = field(default_factory=threading.Event)
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24])


def _messages(req: ChatRequest) -> list[dict]:
    return [m.model_dump(exclude_none=True) for m in req.messages]


def _mentions_json(messages: list[dict]) -> bool:
    return any("json" in json.dumps(m.get("content", "")).lower() for m in messages)


def _constraint(req: ChatRequest, messages: list[dict], probe
                ) -> tuple[str, Compiled | None, str, list[dict] | None]:
    """(mode, compiled grammar, system suffix, tools to describe) for a request."""
    tools = [t.model_dump(exclude_none=True) for t in req.tools or []]
    choice = req.tool_choice or ("auto" if tools else "none")
    if req.tool_choice is not None and not tools:
        raise APIError(400, "'tool_choice' is only allowed when 'tools' are specified.", param="tool_choice")
    for i, tool in enumerate(tools):
        if "parameters" in tool["function"]:
            schema_grammar(tool["function"]["parameters"], f"tools[{i}].function.parameters", probe)
    if choice != "none":
        only = None
        if not isinstance(choice, str):
            only = choice.function.get("name")
            if only not in {t["function"]["name"] for t in tools}:
                raise APIError(400, f"tool_choice names function {only!r}, which is not in 'tools'.",
                               param="tool_choice.function.name")
        if choice == "auto":
            return "tool_auto", None, "", tools
        return "tool_forced", schema_grammar(tool_call_schema(tools, only), "tools", probe), "", tools
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return "text", None, "", None
    if fmt.type == "json_object":
        if not _mentions_json(messages):
            raise APIError(400, "'messages' must contain the word 'json' in some form, to use "
                                "'response_format' of type 'json_object'.", param="messages")
        return "json_object", json_object_grammar(probe), "Reply with a JSON object.", None
    schema = fmt.json_schema.schema_
    compiled = schema_grammar(schema, probe=probe)
    return "json_schema", compiled, "Reply with JSON that matches this JSON schema: " + \
        json.dumps(schema, ensure_ascii=False), None


def plan_chat(req: ChatRequest, engine: LocalEngine) -> Plan:
    """Validate what the model cannot do, render and count the prompt, set the sampling."""
    if (req.n or 1) != 1:
        raise APIError(400, f"the local server supports n=1 only, got n={req.n}.", param="n")
    if req.top_logprobs is not None and not req.logprobs:
        raise APIError(400, "'top_logprobs' needs 'logprobs' set to true.", param="top_logprobs")
    messages = _messages(req)
    model_path = getattr(engine, "model_path", None)
    probe = probe_for(model_path) if isinstance(model_path, str) else None
    try:
        mode, compiled, suffix, tools = _constraint(req, messages, probe)
        prompt = render_prompt(messages, tools=tools, system_suffix=suffix, template=engine.template)
    except SchemaProblem as exc:
        raise APIError(400, str(exc), param="response_format" if "response" in str(exc) else "tools",
                       code="invalid_schema") from None
    except ValueError as exc:
        raise APIError(400, str(exc), param="messages") from None
    tokens = engine.tokenize(prompt)
    window = engine.n_ctx if not req.logprobs else min(engine.n_ctx, 2048)
    asked = req.max_completion_tokens or req.max_tokens
    max_tokens = asked or max(1, min(DEFAULT_MAX_TOKENS, window - len(tokens)))
    if len(tokens) + max(max_tokens, 1) > window:
        raise APIError(
            400, f"This model's maximum context length is {window} tokens. However, you requested "
                 f"{len(tokens) + max_tokens} tokens ({len(tokens)} in the messages, {max_tokens} in "
                 "the completion). Please reduce the length of the messages or completion.",
            param="messages", code="context_length_exceeded")
    params = GenParams(
        max_tokens=max_tokens, temperature=1.0 if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        seed=None if req.seed is None else req.seed % 2**31, stop=req.stop or [],
        grammar=compiled.grammar if compiled else None,
        top_logprobs=(req.top_logprobs or 0) if req.logprobs else None)
    return Plan(req, tokens, params, mode, dropped=compiled.dropped if compiled else [])


def _call_texts(mode: str, text: str) -> list[str]:
    """The JSON texts of the tool calls in a reply: every ``<tool_call>`` block; else (auto mode)
    every ```json fenced object, or a reply that is one JSON object: small models often write a
    call so, inside prose (Qwen2.5-Coder-1.5B does, measured 2026-12-04)."""
    if mode != "tool_auto":
        return [text]
    blocks = [part.split("</tool_call>")[0] for part in text.split("<tool_call>")[1:]]
    if blocks:
        return blocks
    fenced = _FENCED_JSON.findall(text)
    if fenced:
        return fenced
    return [text] if text.strip().startswith("{") else []


def _tool_calls(mode: str, text: str, names: set[str]) -> list[dict] | None:
    calls = []
    for raw in _call_texts(mode, text):
        try:
            call, _ = _DECODER.raw_decode(raw.strip())
            name, args = call["name"], call.get("arguments", {})
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if mode == "tool_auto" and name not in names:
            continue  # a JSON reply that is not a call of an offered tool stays text
        calls.append({"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                      "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}})
    return calls or None


def _finish(plan: Plan, text: str, outcome: Outcome) -> tuple[dict, str]:
    """The assistant message and finish reason for a completed generation."""
    names = {t.function.name for t in plan.request.tools or []}
    calls = _tool_calls(plan.mode, text, names) if plan.mode.startswith("tool") else None
    if calls:
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": calls}, "tool_calls"
    if plan.malformed and plan.mode == "json_object":
        text = text.rstrip().rstrip("}") + ',"'  # chaos: a reply that no JSON parser accepts
    return {"role": "assistant", "content": text, "refusal": None}, outcome.finish_reason


def usage_of(plan: Plan, outcome: Outcome) -> dict:
    """The ``usage`` object."""
    prompt = len(plan.prompt_tokens)
    return {"prompt_tokens": prompt, "completion_tokens": outcome.completion_tokens,
            "total_tokens": prompt + outcome.completion_tokens}


def complete(plan: Plan, engine: LocalEngine) -> dict:
    """Run the model to the end and build a ``chat.completion`` (holds the engine lock)."""
    outcome, pieces = Outcome(), []
    with engine.lock:
        if plan.cancelled.is_set():  # its client left while it waited for the model
            return {}
        for piece in engine.generate(plan.prompt_tokens, plan.params, outcome):
            if plan.cancelled.is_set():  # its client left: stop generating for nobody
                return {}
            pieces.append(piece)
    text = "".join(p.text for p in pieces)
    message, finish = _finish(plan, text, outcome)
    logprobs = None
    if plan.params.top_logprobs is not None:
        logprobs = {"content": [e for p in pieces for e in p.logprobs], "refusal": None}
    return {"id": plan.id, "object": "chat.completion", "created": plan.created,
            "model": plan.request.model, "system_fingerprint": "inferlearn-local",
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish}],
            "usage": usage_of(plan, outcome)}


def _chunk(plan: Plan, delta: dict | None, finish: str | None = None, usage: dict | None = None,
           logprobs: list | None = None) -> str:
    body = {"id": plan.id, "object": "chat.completion.chunk", "created": plan.created,
            "model": plan.request.model, "system_fingerprint": "inferlearn-local",
            "choices": [] if delta is None else [{
                "index": 0, "delta": delta, "finish_reason": finish,
                "logprobs": None if logprobs is None else {"content": logprobs, "refusal": None}}],
            "usage": usage}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


class StreamJob:
    """Generates in a worker thread that holds the engine lock; stops early if cancelled."""

    def __init__(self, plan: Plan, engine: LocalEngine) -> None:
        self.plan, self.engine = plan, engine
        self.outcome = Outcome()
        self.pieces: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        try:
            with self.engine.lock:
                if self.cancelled.is_set():
                    return
                for piece in self.engine.generate(self.plan.prompt_tokens, self.plan.params, self.outcome):
                    if self.cancelled.is_set():
                        break
                    self.pieces.put(piece)
        except Exception as exc:  # surfaced to the reader, never swallowed
            self.pieces.put(exc)
        finally:
            self.pieces.put(None)

    def events(self) -> Iterator[str | Exception]:
        """SSE lines: role, content deltas (or one tool-call delta), finish, optional usage, [DONE]."""
        plan, forced = self.plan, self.plan.mode.startswith("tool")
        yield _chunk(plan, {"role": "assistant", "content": "" if not forced else None})
        text = ""
        while (item := self.pieces.get()) is not None:
            if isinstance(item, Exception):
                yield item
                return
            text += item.text
            if not forced and item.text:
                yield _chunk(plan, {"content": item.text},
                             logprobs=item.logprobs if plan.params.top_logprobs is not None else None)
        message, finish = _finish(plan, text, self.outcome)
        if message.get("tool_calls"):
            calls = [dict(c, index=i) for i, c in enumerate(message["tool_calls"])]
            yield _chunk(plan, {"tool_calls": calls})
        elif forced:
            yield _chunk(plan, {"content": text})
        yield _chunk(plan, {}, finish)
        opts = plan.request.stream_options
        if opts and opts.include_usage:
            yield _chunk(plan, None, usage=usage_of(plan, self.outcome))
        yield "data: [DONE]\n\n"


__all__ = ["Plan", "Piece", "plan_chat", "complete", "StreamJob", "usage_of"]
