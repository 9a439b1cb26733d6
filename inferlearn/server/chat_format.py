"""How OpenAI-style messages become a local model's prompt: ChatML, in each model's dialect.

Both local chat models speak ChatML (``<|im_start|>role ... <|im_end|>``); they differ in the
default system prompt and in how tools are described and answered. ``qwen2.5`` follows Qwen2.5's
own chat template (tools in ``<tools>``, calls in ``<tool_call>``, results as a user turn in
``<tool_response>``); ``smollm2`` keeps the simple format SmolLM2 has always been served with.
The server and ``count_tokens`` both call ``render_prompt``, so a token count computed in a
notebook equals the ``prompt_tokens`` the server reports.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_SYSTEM = {
    "smollm2": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    "qwen2.5": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
}
TEMPLATES = tuple(DEFAULT_SYSTEM)
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


def tools_instruction(tools: list[dict], template: str = "smollm2") -> str:
    """The system-prompt paragraph that describes the callable tools."""
    if template == "qwen2.5":
        listed = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        return (
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            f"{listed}\n</tools>\n\nFor each function call, return a json object with function name "
            "and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
        )
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


def _turn(message: dict, template: str) -> tuple[str, str]:
    role = "system" if message["role"] == "developer" else message["role"]
    if role == "assistant":
        return role, _assistant_text(message)
    text = message_text(message.get("content"))
    if role == "tool" and template == "qwen2.5":
        return "user", f"<tool_response>\n{text}\n</tool_response>"
    return role, text


def render_prompt(messages: list[dict], tools: list[dict] | None = None,
                  system_suffix: str = "", template: str = "smollm2") -> str:
    """ChatML prompt for ``messages`` in ``template``'s dialect, ending with the open assistant turn."""
    if template not in DEFAULT_SYSTEM:
        raise ValueError(f"unknown chat template {template!r}; use one of {', '.join(TEMPLATES)}")
    turns = [_turn(message, template) for message in messages]
    described = tools_instruction(tools, template) if tools else ""
    extra = "\n\n".join(s for s in (described, system_suffix) if s)
    if not turns or turns[0][0] != "system":
        turns.insert(0, ("system", DEFAULT_SYSTEM[template]))
    if extra:
        turns[0] = ("system", turns[0][1] + "\n\n" + extra)
    body = "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in turns)
    return body + "<|im_start|>assistant\n"
