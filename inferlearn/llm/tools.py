"""A tool-use loop: the model asks for tools, your code runs them, until it answers or a cap hits.

Introduced in ``phase1_llm_api/05_tool_use_loop``, where learners write ``run_tool_call`` and the
loop by hand. The rules this version keeps:

- every tool call is answered with a ``tool`` message (its ``tool_call_id``), even when the tool
  does not exist, its arguments are not JSON, or it raises: the model sees the error as text and
  may recover; the loop never crashes on what the model asked for;
- parallel tool calls (several in one reply) run in order, each answered;
- at most ``max_steps`` model calls; hitting the cap is a result (``stopped="max_steps"``), not a hang;
- every step is logged (``ToolStep``): name, arguments, result, ok, latency.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Registry = dict[str, Callable[..., Any]]


@dataclass
class ToolStep:
    """One tool call the loop ran."""

    round: int
    name: str
    arguments: str
    result: str
    ok: bool
    ms: float


@dataclass
class ToolLoopResult:
    """How a loop ended: the answer (None if none), why it stopped, and every step."""

    answer: str | None
    stopped: str  # "answered" or "max_steps"
    model_calls: int
    steps: list[ToolStep] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def run_tool_call(call: Any, registry: Registry, round_: int = 0) -> tuple[dict, ToolStep]:
    """Run one tool call (an SDK object or a dict); return its ``tool`` message and the log step.

    Errors (unknown tool, arguments that are not a JSON object, wrong arguments, the tool raising)
    become ``{"error": "..."}`` content, so the model can read what went wrong.
    """
    function = _field(call, "function")
    name, raw = _field(function, "name") or "", _field(function, "arguments") or ""
    started = time.perf_counter()
    try:
        if name not in registry:
            raise LookupError(f"unknown tool {name!r}; available: {', '.join(sorted(registry))}")
        args = json.loads(raw) if raw.strip() else {}
        if not isinstance(args, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(args).__name__}")
        result, ok = json.dumps(registry[name](**args), default=str), True
    except Exception as exc:  # the model asked for it: report, never crash the loop
        result, ok = json.dumps({"error": f"{type(exc).__name__}: {exc}"}), False
    step = ToolStep(round_, name, raw, result, ok, round((time.perf_counter() - started) * 1000, 2))
    return {"role": "tool", "tool_call_id": _field(call, "id"), "content": result}, step


def _assistant_message(message: Any) -> dict:
    calls = [{"id": c.id, "type": "function",
              "function": {"name": c.function.name, "arguments": c.function.arguments}}
             for c in message.tool_calls or []]
    return {"role": "assistant", "content": message.content, "tool_calls": calls}


def run_tool_loop(client: Any, model: str, messages: list[dict], tools: list[dict],
                  registry: Registry, max_steps: int = 5, **create_kwargs: Any) -> ToolLoopResult:
    """Call the model with ``tools`` until it answers without tool calls, or ``max_steps`` calls.

    ``messages`` is not modified; the conversation, tool results included, is in the result.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    history, steps = list(messages), []
    for round_ in range(1, max_steps + 1):
        reply = client.chat.completions.create(model=model, messages=history, tools=tools,
                                               **create_kwargs)
        message = reply.choices[0].message
        if not message.tool_calls:
            history.append({"role": "assistant", "content": message.content})
            return ToolLoopResult(message.content, "answered", round_, steps, history)
        history.append(_assistant_message(message))
        for call in message.tool_calls:
            tool_message, step = run_tool_call(call, registry, round_)
            history.append(tool_message)
            steps.append(step)
    return ToolLoopResult(None, "max_steps", max_steps, steps, history)
