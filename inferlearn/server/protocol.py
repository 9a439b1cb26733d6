"""OpenAI wire format for the local server: request models and the error body.

Requests are validated here, so every bad request becomes a 400 whose message names the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class APIError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type_: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_ or ("server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}

    def body(self) -> dict:
        """The JSON body."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionDef(_Open):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open):
    type: Literal["function"]
    function: FunctionDef


class ToolCallFunction(_Open):
    name: str
    arguments: str


class ToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_rules(self) -> Message:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a message with role 'tool' needs 'tool_call_id'")
        if self.role != "assistant" and self.content is None:
            raise ValueError(f"a message with role '{self.role}' needs 'content'")
        return self


class JSONSchemaFormat(_Open):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and (self.json_schema is None or self.json_schema.schema_ is None):
            raise ValueError("type 'json_schema' needs json_schema.schema")
        return self


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: dict[str, str]


class StreamOptions(_Open):
    include_usage: bool | None = None


class ChatRequest(_Open):
    model: str
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    stop: str | list[str] | None = Field(default=None, json_schema_extra={"maxItems": 4})
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > 4:
            raise ValueError(f"at most 4 stop sequences are allowed, got {len(stops)}")
        return stops


class EmbeddingRequest(_Open):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)


def _param_of(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after[_content_rules()]", "function-after[_schema_present()]"):
            continue
        elif isinstance(part, str) and ("[" in part or part in {"str", "list[str]", "list[int]",
                                                                  "list[list[int]]"}):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_request(model: type[BaseModel], body: Any):
    """Validate a decoded JSON body; raise a 400 ``APIError`` that names the first bad field."""
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(body).__name__}")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _param_of(first["loc"]) or None
        detail = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            raise APIError(400, f"Missing required parameter: '{param}'.", param=param,
                           code="missing_required_parameter") from None
        raise APIError(400, f"Invalid value for '{param}': {detail}.", param=param,
                       code="invalid_value") from None


MAX_BODY_DEPTH = 64


def _bad_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_body(body: Any, max_depth: int = MAX_BODY_DEPTH) -> None:
    """Raise a 400 ``APIError`` if ``body`` nests deeper than ``max_depth`` or holds text that is
    not encodable UTF-8 (a lone surrogate such as ``"\\ud800"``), naming the field."""
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            raise APIError(400, f"the request body nests deeper than {max_depth} levels (at "
                                f"'{path}'); flatten it", param=path or None, code="invalid_value")
        if isinstance(node, str):
            if _bad_text(node):
                raise APIError(400, f"'{path or 'body'}' is not valid UTF-8 text (it contains a lone "
                                    "surrogate such as \\ud800); send well-formed Unicode",
                               param=path or None, code="invalid_value")
        elif isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                if _bad_text(key):
                    raise APIError(400, f"a key in '{path or 'body'}' is not valid UTF-8 text (a "
                                        "lone surrogate); send well-formed Unicode",
                                   param=path or None, code="invalid_value")
                stack.append((value, where, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]", depth + 1) for i, value in enumerate(node))
