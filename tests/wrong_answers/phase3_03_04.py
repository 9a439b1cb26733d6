"""Plausible wrong answers to the exercises of phase3_eval/03 and 04, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a student might write it. Each one
passes the visible tests and must lose points on the hidden ones:

- ``p3-citations-solution``: counts cited chunks, not distinct sections, so two chunks of one
  section count twice (and a nested section or a prefix like ``a#bc`` is judged by ``startswith``).
- ``p3-claim-support-solution``: word overlap only, no number check: "within 14 days" is fully
  supported by a context that says 7 days.
- ``p3-kappa-solution``: divides by zero guard missing and None pairs kept: a judge's abstention is
  compared like a label, and one label throughout raises ZeroDivisionError instead of giving 1.0.
- ``p3-parse-verdict-solution``: looks for the words "yes"/"no" after each key instead of parsing
  JSON, so "maybe", a JSON true or a missing field turn into a verdict instead of None.
"""

WRONG = {
    "p3-citations-solution": '''
def citation_precision_recall(citations, anchors):
    """(precision, recall) of the sections an answer cites against the golden anchors."""
    cited = [c.rsplit(":", 1)[0] for c in citations]
    if not cited:
        return (1.0, 1.0) if not anchors else (0.0, 0.0)
    if not anchors:
        return 0.0, 1.0
    precision = sum(any(c.startswith(a) for a in anchors) for c in cited) / len(cited)
    recall = sum(any(c.startswith(a) for c in cited) for a in anchors) / len(anchors)
    return precision, recall
''',
    "p3-claim-support-solution": '''
def claim_support(claim, context):
    """Support of one claim by one context in [0, 1] (0 when a number of the claim is missing)."""
    words = set(gen.content_words(claim))
    if not words:
        return 1.0
    return len(words & set(gen.content_words(context))) / len(words)
''',
    "p3-kappa-solution": '''
def cohens_kappa(a, b):
    """Cohen's kappa of two label lists; pairs with a None are left out."""
    if len(a) != len(b):
        raise ValueError(f"the label lists differ in length ({len(a)} vs {len(b)})")
    n = len(a)
    if n == 0:
        raise ValueError("no labels")
    observed = sum(x == y for x, y in zip(a, b)) / n
    values = set(a) | set(b)
    expected = sum((list(a).count(v) / n) * (list(b).count(v) / n) for v in values)
    return (observed - expected) / (1 - expected)
''',
    "p3-parse-verdict-solution": '''
def parse_verdict(content):
    """{"faithful": bool, "relevant": bool} from a judge reply, or None when it does not parse."""
    import re

    if not content or "{" not in content:
        return None
    verdict = {}
    for key in ("faithful", "relevant"):
        match = re.search(rf'"{key}"\\s*:\\s*"?(\\w+)', content, re.I)
        verdict[key] = bool(match) and match.group(1).lower() == "yes"
    return verdict
''',
}
