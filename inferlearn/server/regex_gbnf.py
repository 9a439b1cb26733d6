"""JSON-schema ``pattern`` to a llama.cpp grammar expression, for the subset that compiles safely.

The subset: literals, character classes (``[a-z]``, ``[^@ ]``, ``\\d``, ``\\w``, ``\\s``, ``.``),
groups, alternation, ``? * +`` and bounded counts ``{n}``/``{m,n}`` up to ``MAX_COUNT``, and the
anchors ``^``/``$`` at the ends. Anything else (look-arounds, back-references, flags, word
boundaries, huge counts) raises ``PatternUnsupported`` and the caller leaves the pattern out of
the grammar. The expression describes the *JSON text* between the quotes, so characters that JSON
must escape (``"``, ``\\``, control characters) are either written as their JSON escape or kept
out of negated classes. Classes follow ECMA-262's ASCII meaning of ``\\d \\w \\s``.
"""

from __future__ import annotations

import json
import re
import re._constants as C  # noqa: N812 - the stdlib's own regex parser, well kept and exact
import re._parser as sre

MAX_COUNT = 64  # the largest {m,n} bound compiled; measured safe (tests/llm/test_grammar_safety)
MAX_NODES = 400  # regex parse nodes compiled at most
_MAXREPEAT = C.MAXREPEAT
_CATEGORIES = {
    C.CATEGORY_DIGIT: [(48, 57)],
    C.CATEGORY_WORD: [(48, 57), (65, 90), (95, 95), (97, 122)],
    C.CATEGORY_SPACE: [(9, 13), (32, 32)],
}
_NEGATED_CATEGORIES = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
                       C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE}
_NEEDS_JSON_ESCAPE = [(0, 31), (34, 34), (92, 92)]  # control characters, '"' and '\'


class PatternUnsupported(ValueError):
    """A pattern outside the subset this module compiles."""


def _hex(code: int) -> str:
    if code < 0x80:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _literal(text: str) -> str:
    """A GBNF string literal for JSON text; every non-alphanumeric character hex-escaped."""
    return '"' + "".join(c if c.isascii() and c.isalnum() else _hex(ord(c)) for c in text) + '"'


def _json_text(code: int) -> str:
    """How the character ``code`` is written inside a JSON string."""
    return json.dumps(chr(code))[1:-1]


def _subtract(ranges: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for lo, hi in ranges:
        pieces = [(lo, hi)]
        for c_lo, c_hi in cut:
            nxt = []
            for p_lo, p_hi in pieces:
                if c_hi < p_lo or c_lo > p_hi:
                    nxt.append((p_lo, p_hi))
                    continue
                if p_lo < c_lo:
                    nxt.append((p_lo, c_lo - 1))
                if c_hi < p_hi:
                    nxt.append((c_hi + 1, p_hi))
            pieces = nxt
        out.extend(pieces)
    return out


def _class_ranges(items: list) -> tuple[bool, list[tuple[int, int]]]:
    negate, ranges = False, []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            ranges.append((av, av))
        elif op is C.RANGE:
            ranges.append(av)
        elif op is C.CATEGORY and av in _CATEGORIES:
            ranges.extend(_CATEGORIES[av])
        else:
            raise PatternUnsupported(f"character class item {op} {av}")
    return negate, ranges


def _char_set(negate: bool, ranges: list[tuple[int, int]]) -> str:
    """A GBNF expression for one character of a set, as JSON text."""
    if negate:
        if not _subtract([(0, 0x10FFFF)], ranges + _NEEDS_JSON_ESCAPE):
            raise PatternUnsupported("a character class that matches nothing")
        return "[^" + "".join(_range(r) for r in ranges + _NEEDS_JSON_ESCAPE) + "]"
    plain = _subtract(ranges, _NEEDS_JSON_ESCAPE)
    escaped = [c for lo, hi in ranges for c in range(lo, hi + 1)
               if any(e_lo <= c <= e_hi for e_lo, e_hi in _NEEDS_JSON_ESCAPE)]
    options = (["[" + "".join(_range(r) for r in plain) + "]"] if plain else []) + \
        [_literal(_json_text(c)) for c in sorted(set(escaped))]
    if not options:
        raise PatternUnsupported("an empty character class")
    return options[0] if len(options) == 1 else "(" + " | ".join(options) + ")"


def _range(r: tuple[int, int]) -> str:
    lo, hi = r
    return _hex(lo) if lo == hi else f"{_hex(lo)}-{_hex(hi)}"


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0

    def seq(self, items) -> str:
        parts = [self.node(op, av) for op, av in items]
        parts = [p for p in parts if p]
        return " ".join(parts) if parts else '""'

    def node(self, op, av) -> str:  # noqa: C901 - one branch per regex construct
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise PatternUnsupported(f"more than {MAX_NODES} regex elements")
        if op is C.LITERAL:
            return _literal(_json_text(av))
        if op is C.NOT_LITERAL:
            return _char_set(True, [(av, av)])
        if op is C.ANY:
            return _char_set(True, [(10, 10), (13, 13)])
        if op is C.IN:
            return _char_set(*_class_ranges(av))
        if op is C.CATEGORY and av in _CATEGORIES:
            return _char_set(False, _CATEGORIES[av])
        if op is C.CATEGORY and av in _NEGATED_CATEGORIES:
            return _char_set(True, _CATEGORIES[_NEGATED_CATEGORIES[av]])
        if op is C.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise PatternUnsupported("inline flags")
            return "(" + self.seq(sub) + ")"
        if op is C.BRANCH:
            return "(" + " | ".join(self.seq(alt) for alt in av[1]) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            return self.repeat(*av)
        raise PatternUnsupported(f"the construct {op}")

    def repeat(self, low: int, high: int, sub) -> str:
        inner = "(" + self.seq(sub) + ")"
        if high == _MAXREPEAT:
            if low > MAX_COUNT:
                raise PatternUnsupported(f"a count of {low} (at most {MAX_COUNT})")
            return inner + ("*" if low == 0 else "+" if low == 1 else f"{{{low},}}")
        if high > MAX_COUNT:
            raise PatternUnsupported(f"a count of {high} (at most {MAX_COUNT})")
        if (low, high) == (0, 1):
            return inner + "?"
        return inner + (f"{{{low}}}" if low == high else f"{{{low},{high}}}")


def _strip_anchors(items: list) -> tuple[list, bool, bool]:
    start = bool(items) and items[0] == (C.AT, C.AT_BEGINNING)
    end = bool(items) and items[-1] in ((C.AT, C.AT_END), (C.AT, C.AT_END_STRING))
    body = items[int(start):len(items) - int(end)]
    if any(op is C.AT for op, _ in body):
        raise PatternUnsupported("an anchor or word boundary inside the pattern")
    return body, start, end


def pattern_to_gbnf(pattern: str) -> str:
    """A GBNF expression for the JSON text of a string matching ``pattern`` (quotes excluded).

    Raises ``PatternUnsupported`` (a ``ValueError``) naming what is outside the subset.
    Library only (the server side of ``phase1_llm_api/02_structured_outputs``).
    """
    if not isinstance(pattern, str) or len(pattern) > 1000:
        raise PatternUnsupported("a pattern longer than 1000 characters")
    try:
        parsed = sre.parse(pattern)
    except re.error as exc:
        raise PatternUnsupported(f"not a valid regular expression ({exc})") from None
    except (RecursionError, OverflowError):
        raise PatternUnsupported("too deeply nested") from None
    if parsed.state.flags & ~(C.SRE_FLAG_UNICODE):
        raise PatternUnsupported("inline flags")
    body, start, end = _strip_anchors(list(parsed))
    compiler = _Compiler()
    try:
        core = compiler.seq(body)
    except RecursionError:
        raise PatternUnsupported("too deeply nested") from None
    anything = _char_set(True, [(10, 10), (13, 13)]) + "*"
    return " ".join(([] if start else [anything]) + [core] + ([] if end else [anything]))
