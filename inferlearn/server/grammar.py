"""JSON schemas to llama.cpp grammars, so structured output is valid JSON every time.

llama-cpp-python's own server rejects ``json_schema`` response formats; we translate the schema
to a GBNF grammar ourselves and sample under it. A grammar reaches the model only after three
checks, because llama.cpp parses it in native code and a bad one kills the process:

1. the schema: valid JSON Schema, nested at most ``MAX_SCHEMA_DEPTH`` levels, no empty ``enum``
   (nothing could match it); bounds above ``MAX_COUNT`` and patterns outside the compiled subset
   are left out of the grammar and reported (``Compiled.dropped``), never silently;
2. the grammar text: parsed here, with bounded size, rule count and nesting depth, every literal
   hex-escaped (quotes, backslashes and control characters in enum values, consts and property
   names broke llama-cpp-python's converter);
3. a sacrificial child process compiles and test-samples it once (``grammar_probe``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from llama_cpp.llama_grammar import PRIMITIVE_RULES, SchemaConverter

from inferlearn.server.regex_gbnf import PatternUnsupported, _literal, pattern_to_gbnf

MAX_SCHEMA_DEPTH = 32  # levels of nested objects/arrays/keywords in a schema
# maxLength/maxItems above this are not put in the grammar. llama.cpp failed to parse the
# converter's grammar from about 1,000 nested repetitions (probe, 2026-12-04); 256 leaves margin.
MAX_COUNT = 256
MAX_GRAMMAR_CHARS = 200_000
MAX_GRAMMAR_RULES = 2_000
MAX_GRAMMAR_DEPTH = 300  # parentheses nested in one rule (llama.cpp fails near 1,000)
_BOUNDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_NOT_COMPILED = ("format", "patternProperties", "contentEncoding", "contentMediaType")


class SchemaProblem(ValueError):
    """A schema (response format or tool parameters) that cannot be used."""


@dataclass
class Compiled:
    """A checked grammar and what of the schema it does not enforce."""

    grammar: Any
    text: str
    dropped: list[str] = field(default_factory=list)


def _depth_ok(node: Any, limit: int) -> bool:
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def check_schema(schema: Any, where: str) -> dict:
    """Validate ``schema`` as JSON Schema; raise ``SchemaProblem`` naming ``where`` and the fault."""
    if not isinstance(schema, dict):
        raise SchemaProblem(f"{where} must be a JSON Schema object, got {type(schema).__name__}")
    if not _depth_ok(schema, MAX_SCHEMA_DEPTH * 2):
        raise SchemaProblem(f"{where} is nested more than {MAX_SCHEMA_DEPTH} levels deep; the local "
                            "server refuses deeper schemas")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise SchemaProblem(f"{where} is not a valid JSON Schema at {path}: {exc.message}") from None
    except RecursionError:
        raise SchemaProblem(f"{where} is nested too deeply") from None
    return schema


def _prepare(node: Any, where: str, dropped: list[str]) -> Any:
    """The schema as the grammar will enforce it: unsafe bounds and formats left out (noted)."""
    if isinstance(node, list):
        return [_prepare(v, f"{where}[{i}]", dropped) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        here = f"{where}.{key}"
        if key in ("enum", "anyOf", "oneOf", "allOf") and value == []:
            raise SchemaProblem(f"{here} is empty, so no value could ever match it; "
                                f"give '{key}' at least one entry")
        if key in _NOT_COMPILED and not isinstance(value, dict | list) or key == "patternProperties":
            dropped.append(f"{here} (not compiled into the grammar)")
            continue
        if key in _BOUNDS and isinstance(value, int) and value > MAX_COUNT:
            dropped.append(f"{here}={value} (above the grammar's limit of {MAX_COUNT})")
            continue
        out[key] = value if key in ("const", "enum", "default", "examples") else \
            _prepare(value, here, dropped)
    return out


class _SafeConverter(SchemaConverter):
    """llama-cpp-python's converter with safe literals and our pattern compiler."""

    def __init__(self, where: str, dropped: list[str]) -> None:
        super().__init__(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        self.where, self.dropped = where, dropped

    def _format_literal(self, literal: str) -> str:
        return _literal(literal)

    def _visit_pattern(self, pattern: str, name: str) -> str:
        try:
            expr = pattern_to_gbnf(pattern)
        except PatternUnsupported as exc:
            self.dropped.append(f"pattern {json.dumps(pattern)} ({exc})")
            return self._add_rule(name, self._add_primitive("string", PRIMITIVE_RULES["string"]))
        return self._add_rule(name, f'"\\"" {expr} "\\"" space')


_TOKEN = re.compile(r'\s+|"(?:\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[\\"nrt\[\]-])'
                    r'|[^"\\\x00-\x1f])*"|\[\^?(?:\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}'
                    r'|[\\"nrt\[\]^-])|[^\]\\\x00-\x1f])*\]|[A-Za-z0-9-]+|[()|*+?]|\{\d+(?:,\d*)?\}')


def _check_rule(name: str, body: str) -> set[str]:
    """Parse one rule body; return the rule names it uses. Raises ``ValueError``."""
    refs, depth, pos, last = set(), 0, 0, "|"
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if not match:
            raise ValueError(f"rule {name}: cannot parse at {body[pos:pos + 20]!r}")
        tok, pos = match.group(0), match.end()
        if tok.isspace():
            continue
        if tok == "(":
            depth += 1
            if depth > MAX_GRAMMAR_DEPTH:
                raise ValueError(f"rule {name} nests deeper than {MAX_GRAMMAR_DEPTH}")
        elif tok == ")":
            depth -= 1
            if depth < 0 or last in ("(", "|"):
                raise ValueError(f"rule {name}: unbalanced or empty group")
        elif tok == "|" and last in ("(", "|"):
            raise ValueError(f"rule {name}: empty alternative")
        elif tok[0] in "*+?{" and last in ("(", "|"):
            raise ValueError(f"rule {name}: a repetition with nothing to repeat")
        elif tok[0] not in '"[*+?{|':
            refs.add(tok)
        last = tok
    if depth != 0 or last == "|":
        raise ValueError(f"rule {name}: unbalanced parentheses or a trailing '|'")
    return refs


def check_gbnf(text: str) -> None:
    """Raise ``ValueError`` unless ``text`` is a GBNF grammar within the server's bounds."""
    if len(text) > MAX_GRAMMAR_CHARS:
        raise ValueError(f"the grammar is {len(text)} characters; the limit is {MAX_GRAMMAR_CHARS}")
    rules: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, body = line.partition(" ::= ")
        if not sep or not re.fullmatch(r"[A-Za-z0-9-]+", name) or not body.strip():
            raise ValueError(f"malformed grammar line {line[:60]!r}")
        rules[name] = body
    if len(rules) > MAX_GRAMMAR_RULES or "root" not in rules:
        raise ValueError(f"the grammar has {len(rules)} rules (limit {MAX_GRAMMAR_RULES}) or no root")
    for name, body in rules.items():
        missing = _check_rule(name, body) - set(rules)
        if missing:
            raise ValueError(f"rule {name} uses undefined rules {sorted(missing)}")


@lru_cache(maxsize=256)
def _compile(schema_text: str, where: str) -> Compiled:
    from llama_cpp import LlamaGrammar

    dropped: list[str] = []
    schema = _prepare(json.loads(schema_text), where, dropped)
    converter = _SafeConverter(where, dropped)
    try:
        converter.visit(converter.resolve_refs(schema, "stdin"), "")
        text = converter.format_grammar()
        check_gbnf(text)
    except SchemaProblem:
        raise
    except RecursionError:
        raise SchemaProblem(f"{where} is nested too deeply for the grammar") from None
    except Exception as exc:  # the converter raises bare exceptions on unsupported features
        raise SchemaProblem(f"{where} uses a feature the local model cannot enforce: {exc}") from None
    return Compiled(LlamaGrammar.from_string(text, verbose=False), text, dropped)


def schema_grammar(schema: dict, where: str = "response_format.json_schema.schema",
                   probe=None) -> Compiled:
    """A checked grammar that admits JSON documents valid for ``schema`` (keys in schema order);
    ``Compiled.dropped`` lists what it leaves to the caller's validator. ``probe`` (a
    ``GrammarProbe``) test-compiles it in a child process first.
    Library only (the server side of ``phase1_llm_api/02_structured_outputs``)."""
    check_schema(schema, where)
    compiled = _compile(json.dumps(schema, sort_keys=False), where)
    if probe is not None:
        problem = probe.verdict(compiled.text)
        if problem:
            raise SchemaProblem(f"{where} compiles to a grammar llama.cpp cannot use safely "
                                f"({problem}); simplify the schema")
    return compiled


def json_object_grammar(probe=None) -> Compiled:
    """Any JSON object (``response_format={"type": "json_object"}``)."""
    return schema_grammar({"type": "object"}, "response_format", probe)


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
