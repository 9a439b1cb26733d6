"""How OpenAI-style messages become the local model's prompt (ChatML, as SmolLM2 expects).

The server and ``count_tokens`` both call ``render_prompt``, so a token count computed in a
notebook equals the ``prompt_tokens`` the server reports.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
ROLES = ("system", "developer", "user", "assistant", "tool")


def message_text(content: Any) -> str:
    """Text of a message ``content``: a string, None, or a list of ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ValueError(f"content part of type {kind!r} is not supported; send text parts")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise ValueError(f"message content must be a string or a list of parts, got {type(content).__name__}")


def tools_instruction(tools: list[dict]) -> str:
    """The system-prompt paragraph that describes the callable tools."""
    specs = [t["function"] for t in tools]
    return (
        "You can call these tools:\n" + json.dumps(specs, ensure_ascii=False) +
        '\nTo call one, reply with <tool_call>{"name": "...", "arguments": {...}}</tool_call>.'
    )


def _assistant_text(message: dict) -> str:
    text = message_text(message.get("content"))
    for call in message.get("tool_calls") or []:
        fn = call.get("function", {})
        args = fn.get("arguments", "{}")
        text += f'<tool_call>{{"name": "{fn.get("name", "")}", "arguments": {args}}}</tool_call>'
    return text


def render_prompt(messages: list[dict], tools: list[dict] | None = None,
                  system_suffix: str = "") -> str:
    """ChatML prompt for ``messages``, ending with the open assistant turn."""
    turns: list[tuple[str, str]] = []
    for message in messages:
        role = "system" if message["role"] == "developer" else message["role"]
        text = _assistant_text(message) if role == "assistant" else message_text(message.get("content"))
        turns.append((role, text))
    extra = "\n\n".join(s for s in (tools_instruction(tools) if tools else "", system_suffix) if s)
    if not turns or turns[0][0] != "system":
        turns.insert(0, ("system", DEFAULT_SYSTEM))
    if extra:
        turns[0] = ("system", turns[0][1] + "\n\n" + extra)
    body = "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in turns)
    return body + "<|im_start|>assistant\n"
