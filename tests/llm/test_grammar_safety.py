"""JSON-schema grammars: the pattern subset compiles, unsafe schemas are refused or reported, and
generated patterns and schemas never take the server down (issues 11 and 16): 300 in-process
(grammar checked), and ``INFERLEARN_GRAMMAR_EXAMPLES`` (default 40) through the live server."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferlearn import config
from inferlearn.larkspur import EMAIL_PATTERN, TicketFields
from inferlearn.server.grammar import MAX_COUNT, SchemaProblem, check_gbnf, schema_grammar
from inferlearn.server.regex_gbnf import PatternUnsupported, pattern_to_gbnf

MODEL = "smollm2-135m-instruct"
COMMON = [EMAIL_PATTERN, r"^ACC-[0-9]{6}$", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", r"^(sev1|sev2|sev3)$",
          r"^[A-Z][a-z]+( [A-Z][a-z]+)?$", r"^\d{3}-\d{4}$", r"^[a-z0-9_.+-]+@[a-z0-9-]+\.[a-z]{2,6}$",
          r"^LS-\s*\d{4}$", r'^say "hi"\\now$']


@pytest.mark.parametrize("pattern", COMMON)
def test_common_patterns_compile_into_the_grammar(pattern):
    compiled = schema_grammar({"type": "object", "properties": {"x": {"type": "string", "pattern": pattern}},
                               "required": ["x"]})
    assert compiled.dropped == []
    check_gbnf(compiled.text)


@pytest.mark.parametrize("pattern", [r"^(?=a)b$", r"^(a)\1$", r"^\bword$", r"(?i)^abc$",
                                     "^a{1000}$", "^[^\\x00-\\U0010FFFF]$", "^(" * 200 + ")" * 200 + "$"])
def test_patterns_outside_the_subset_are_reported_not_compiled(pattern):
    with pytest.raises(PatternUnsupported):
        pattern_to_gbnf(pattern)
    compiled = schema_grammar({"type": "string", "pattern": pattern})
    assert compiled.dropped and "pattern" in compiled.dropped[0]


def test_the_course_schemas_compile_whole():
    assert schema_grammar(TicketFields.model_json_schema()).dropped == []


def test_json_text_escapes_in_patterns():
    assert pattern_to_gbnf('^a"b$') == '"a" "\\x5C\\x22" "b"'  # the JSON text of '"' is \"
    assert "\\x22" in pattern_to_gbnf("^[^@]$")  # negated classes never admit a raw quote


@pytest.mark.parametrize(("schema", "words"), [
    ({"enum": []}, "enum is empty"), ({"anyOf": []}, "non-empty"),
    (json.loads('{"items": ' * 80 + "{}" + "}" * 80), "nested"),
])
def test_unusable_schemas_are_refused(schema, words):
    with pytest.raises(SchemaProblem, match=words):
        schema_grammar(schema)


def test_bounds_above_the_limit_are_dropped_and_reported():
    compiled = schema_grammar({"type": "array", "items": {"type": "string", "maxLength": MAX_COUNT + 1},
                               "maxItems": 10 * MAX_COUNT})
    assert len(compiled.dropped) == 2 and all("limit" in d for d in compiled.dropped)


# ---- property: generated patterns and schemas against the live server -------------------------

_ATOMS = st.sampled_from(["a", "Z", "0", "-", "_", ".", '"', "\\\\", "\\.", "\\d", "\\w", "\\s", "\\S",
                          "[a-z]", "[^a-z]", "[^@ \"]", '["\\\\]', "[\\x00-\\x1f]", "\u00e9", "\U0001F600",
                          "\\n", "\\t", "[0-9A-F]", "(?=x)", "\\b", "(?:ab)", "\\1", "$", "^"])
_QUANT = st.sampled_from(["", "", "?", "*", "+", "{3}", "{0,2}", "{1,64}", "{2,}", "{65}", "{5000}"])


@st.composite
def _patterns(draw) -> str:
    pieces = draw(st.lists(st.tuples(_ATOMS, _QUANT).map("".join), min_size=1, max_size=6))
    if draw(st.booleans()):
        pieces = ["(" + "|".join(pieces[:2]) + ")", *pieces[2:]]
    core = "".join(pieces)
    return draw(st.sampled_from([f"^{core}$", core, f"^{core}", f"{core}$"]))


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_LEAF = st.one_of(
    _patterns().map(lambda p: {"type": "string", "pattern": p}),
    st.lists(st.text(max_size=6), max_size=3).map(lambda v: {"enum": v}),
    st.text(max_size=6).map(lambda v: {"const": v}),
    st.integers(0, 3000).map(lambda n: {"type": "string", "maxLength": n}),
    st.integers(0, 3000).map(lambda n: {"type": "array", "items": {"type": "integer"}, "maxItems": n}),
    st.sampled_from([{"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]),
)
_SCHEMAS = st.recursive(_LEAF, lambda inner: st.one_of(
    st.dictionaries(_KEYS, inner, max_size=3).map(
        lambda props: {"type": "object", "properties": props, "required": list(props)}),
    st.lists(inner, max_size=3).map(lambda options: {"anyOf": options}),
    inner.map(lambda item: {"type": "array", "items": item, "maxItems": 3}),
), max_leaves=6)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(schema=_SCHEMAS)
def test_generated_schemas_compile_to_checked_grammars_or_are_refused(schema):
    """300 generated schemas: a grammar that passes ``check_gbnf``, or a ``SchemaProblem``."""
    try:
        compiled = schema_grammar(schema)
    except SchemaProblem as exc:
        assert str(exc).startswith("response_format")
        return
    check_gbnf(compiled.text)


@pytest.mark.slow
@pytest.mark.needs_models
def test_generated_schemas_never_take_the_server_down(base_url):
    """Each generated schema is a 200 or an OpenAI-shaped 400; the server's pid never changes."""
    root = base_url.removesuffix("/v1")
    pid = httpx.get(root + "/health", timeout=30).json()["pid"]
    seen: dict[int, int] = {}

    @settings(max_examples=config.settings().grammar_examples, deadline=None,
              derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(schema=_SCHEMAS)
    def run(schema):
        body = {"model": MODEL, "messages": [{"role": "user", "content": "go"}], "max_tokens": 3,
                "response_format": {"type": "json_schema", "json_schema": {"name": "g", "schema": schema}}}
        reply = httpx.post(base_url + "/chat/completions", json=body, timeout=120)
        seen[reply.status_code] = seen.get(reply.status_code, 0) + 1
        assert reply.status_code in (200, 400), reply.text[:300]
        if reply.status_code == 400:
            assert set(reply.json()["error"]) == {"message", "type", "param", "code"}

    run()
    print(f"generated schemas by status: {seen}")
    assert httpx.get(root + "/health", timeout=30).json()["pid"] == pid
    assert sum(seen.values()) >= 20 and seen.get(200, 0) > 0
