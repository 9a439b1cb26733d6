"""JSON schemas to llama.cpp grammars, so structured output is valid JSON every time.

llama-cpp-python's own server rejects ``json_schema`` response formats; we translate the schema
to a GBNF grammar ourselves and sample under it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


class SchemaProblem(ValueError):
    """A schema (response format or tool parameters) that cannot be used."""


def check_schema(schema: Any, where: str) -> dict:
    """Validate ``schema`` as JSON Schema; raise ``SchemaProblem`` naming ``where`` and the fault."""
    if not isinstance(schema, dict):
        raise SchemaProblem(f"{where} must be a JSON Schema object, got {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise SchemaProblem(f"{where} is not a valid JSON Schema at {path}: {exc.message}") from None
    return schema


@lru_cache(maxsize=64)
def _grammar_from_text(schema_text: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_text, verbose=False)


UNENFORCED = ("pattern", "patternProperties", "format")


def _without_unenforced(node: Any) -> Any:
    """The schema minus keywords the grammar cannot enforce safely. llama.cpp's converter turns
    some regex ``pattern``s (``\\s``, for one) into a grammar that aborts the whole server process,
    so patterns and formats are validated by the caller's own schema check, not by the grammar."""
    if isinstance(node, dict):
        return {k: _without_unenforced(v) for k, v in node.items()
                if not (k in UNENFORCED and not isinstance(v, dict | list) or k == "patternProperties")}
    if isinstance(node, list):
        return [_without_unenforced(v) for v in node]
    return node


def schema_grammar(schema: dict, where: str = "response_format.json_schema.schema"):
    """A grammar that only admits JSON documents valid for ``schema`` (keys in schema order;
    ``pattern`` and ``format`` are not enforced)."""
    check_schema(schema, where)
    try:
        return _grammar_from_text(json.dumps(_without_unenforced(schema)))
    except Exception as exc:  # the converter raises bare exceptions on unsupported features
        raise SchemaProblem(f"{where} uses a feature the local model cannot enforce: {exc}") from None


def json_object_grammar():
    """Any JSON object (``response_format={"type": "json_object"}``)."""
    return _grammar_from_text(json.dumps({"type": "object"}))


def tool_call_schema(tools: list[dict], only: str | None = None) -> dict:
    """Schema of ``{"name": ..., "arguments": {...}}`` for one named tool or any of ``tools``."""
    options = []
    for tool in tools:
        fn = tool["function"]
        if only is not None and fn["name"] != only:
            continue
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        options.append({
            "type": "object",
            "properties": {"name": {"const": fn["name"]}, "arguments": params},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        })
    return options[0] if len(options) == 1 else {"anyOf": options}
