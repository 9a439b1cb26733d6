"""Plausible wrong answers to the graded exercises of phase4_production/04 and 05.

``WRONG[grade_id]`` is the whole source of a solution cell as a learner might write it. Each one
passes the visible tests and is caught by a hidden one:

- ``p4-luhn-solution``: doubles every second digit counting from the *left*. For 16-digit cards
  (every visible case) that is the same digits; for a 15-digit Amex or a 13-digit Visa it is not.
- ``p4-redact-solution``: replaces spans from the last to the first so offsets stay valid, but
  never merges overlapping spans, so a name found twice ("Ana Silva" and "Silva") is mangled.
- ``p4-injection-score-solution``: counts every match of a pattern (``len(re.findall(...))``), so a
  phrase repeated three times weighs three times.
- ``p4-check-links-solution``: allows a host when an allowed host is a *substring* of it, so
  ``larkspur.example.attacker.example`` passes.

The sources rely only on what the notebooks import before the solution cell (``re``, ``math``).
"""

WRONG = {
    "p4-luhn-solution": '''
def luhn_valid(number):
    compact = re.sub(r"[ -]", "", number)
    if not compact.isdigit() or not 12 <= len(compact) <= 19:
        return False
    total = 0
    for position, char in enumerate(compact):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
''',
    "p4-redact-solution": '''
def redact_pii(text, spans):
    for kind, start, end in spans:
        if start < 0 or end > len(text) or start >= end:
            raise ValueError(f"bad span {(kind, start, end)}")
    for kind, start, end in sorted(spans, key=lambda s: s[1], reverse=True):
        text = text[:start] + f"<{kind}>" + text[end:]
    return text
''',
    "p4-injection-score-solution": '''
def injection_score(text, weights, bias=-2.0):
    total = bias
    for pattern, weight in weights.items():
        total += weight * len(re.findall(pattern, text, re.IGNORECASE))
    return 1.0 / (1.0 + math.exp(-total))
''',
    "p4-check-links-solution": '''
def check_links(output, allowed_hosts):
    bad = []
    for url in re.findall(r"https?://[^\\s)\\"'<>\\]]+", output, flags=re.IGNORECASE):
        host = re.split(r"[/?#:]", url.split("//", 1)[1], maxsplit=1)[0].lower()
        if not any(h.lower() in host for h in allowed_hosts):
            bad.append(url)
    return bad
''',
}
