"""``ScriptedClient``: a test double with the shape of ``openai.OpenAI`` for chat completions.

Graded exercises pass it instead of a real client, so grading never depends on a model's mood::

    client = ScriptedClient(['not json', '{"name": "Dana"}'])
    extract_with_retry(client, text, Contact, max_retries=2)
    assert len(client.calls) == 2

A script item is one reply: a string (the assistant's text, valid JSON or not), a
``tool_call(name, arguments)``, a list of them (parallel tool calls in one reply), an exception instance to raise (``rate_limit_error()``,
``timeout_error()``, ``server_error()``), a ready ``ChatCompletion``, or a callable
``(call_kwargs) -> item``. Usage is counted as whitespace-separated words, a stand-in for tokens.
Introduced in ``phase1_llm_api/02_structured_outputs``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ParsedChatCompletion

_REQUEST = httpx.Request("POST", "http://scripted.invalid/v1/chat/completions")


@dataclass
class ToolCallReply:
    """A scripted reply that calls one tool."""

    name: str
    arguments: dict | str


def tool_call(name: str, arguments: dict | str) -> ToolCallReply:
    """Script a tool call (``arguments`` may be a dict or a raw, possibly malformed, string)."""
    return ToolCallReply(name, arguments)


def _status_error(cls, status: int, message: str, headers: dict[str, str] | None = None):
    response = httpx.Response(status, headers=headers or {}, request=_REQUEST,
                              json={"error": {"message": message}})
    return cls(message, response=response, body={"message": message})


def rate_limit_error(retry_after: float = 1.0) -> openai.RateLimitError:
    """A 429 like the API's, with a ``Retry-After`` header."""
    return _status_error(openai.RateLimitError, 429, "Rate limit reached (scripted)",
                         {"retry-after": str(retry_after)})


def server_error(status: int = 503) -> openai.APIStatusError:
    """A 500 or 503 like the API's."""
    cls = openai.InternalServerError
    return _status_error(cls, status, f"Server error {status} (scripted)")


def timeout_error() -> openai.APITimeoutError:
    """The SDK's timeout exception."""
    return openai.APITimeoutError(request=_REQUEST)


def _tool_call_dict(reply: ToolCallReply) -> dict:
    args = reply.arguments if isinstance(reply.arguments, str) else json.dumps(reply.arguments)
    return {"id": "call_" + uuid.uuid4().hex[:12], "type": "function",
            "function": {"name": reply.name, "arguments": args}}


def _words(messages: list[dict]) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages)


@dataclass
class _Completions:
    owner: ScriptedClient

    def create(self, **kwargs: Any) -> ChatCompletion:
        """Record the call and replay the next scripted reply."""
        return self.owner._reply(kwargs)

    def parse(self, *, response_format: type, **kwargs: Any) -> ParsedChatCompletion:
        """Like ``create``, then validate the text with ``response_format`` (raises if invalid)."""
        completion = self.owner._reply(dict(kwargs, response_format=response_format))
        data = completion.model_dump()
        message = data["choices"][0]["message"]
        content = message.get("content")
        message["parsed"] = response_format.model_validate_json(content) if content else None
        return ParsedChatCompletion[response_format].model_validate(data)


@dataclass
class _Chat:
    completions: _Completions


@dataclass
class ScriptedClient:
    """Replays ``replies`` in order; ``calls`` holds the keyword arguments of every call."""

    replies: list[Any]
    model: str = "scripted-model"
    calls: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.replies = list(self.replies)
        self.chat = _Chat(_Completions(self))

    @property
    def remaining(self) -> int:
        """Replies not used yet."""
        return len(self.replies)

    def _reply(self, kwargs: dict) -> ChatCompletion:
        self.calls.append(kwargs)
        if not self.replies:
            raise AssertionError(f"ScriptedClient ran out of replies after {len(self.calls) - 1} "
                                 "call(s); the code under test called the model more often than scripted")
        item = self.replies.pop(0)
        if callable(item) and not isinstance(item, BaseException):
            item = item(kwargs)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, ChatCompletion):
            return item
        return self._completion(item, kwargs)

    def _completion(self, item: str | ToolCallReply | list, kwargs: dict) -> ChatCompletion:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if isinstance(item, ToolCallReply):
            item = [item]
        if isinstance(item, (list, tuple)) and item and all(isinstance(i, ToolCallReply) for i in item):
            calls = [_tool_call_dict(i) for i in item]
            message["tool_calls"] = calls
            finish = "tool_calls"
            words = sum(len(c["function"]["arguments"].split()) for c in calls)
        elif isinstance(item, str):
            message["content"], words = item, len(item.split())
        else:
            raise TypeError(f"cannot script a reply of type {type(item).__name__}: use a string, "
                            "tool_call(...), a list of tool_call(...), an exception or a ChatCompletion")
        prompt = _words(kwargs.get("messages", []))
        return ChatCompletion.model_validate({
            "id": "chatcmpl-scripted-" + uuid.uuid4().hex[:8], "object": "chat.completion",
            "created": int(time.time()), "model": kwargs.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": words,
                      "total_tokens": prompt + words}})
