"""Plausible wrong answers to the graded exercises of phase1_llm_api/01 and 02.

``WRONG[solution_grade_id]`` is the source of a solution cell that a learner could plausibly
write and that the exercise's tests must not give full marks. Each one here passes the visible
tests and is caught by a hidden one, so swapping it in shows that the hidden tests earn their
keep. ``MORE_WRONG`` holds further wrong answers per exercise (most of them the visible tests
already catch); a test of the tests may use them too.

The sources rely only on what the notebooks import before the solution cell (``json``,
``ValidationError``, ``default_model``, and 02's ``EMAIL`` and ``ACCOUNT`` patterns).
"""

WRONG = {
    # Crashes on content None (a tool-call-only message) and ignores the `name` field.
    "p1-count-message-tokens-solution": '''
def count_message_tokens(messages, count, per_message=3, per_reply=3):
    total = per_reply
    for message in messages:
        total += per_message + count(message["content"])
    return total
''',
    # Drops oldest turns but leaves an assistant reply without its question at the start.
    "p1-fit-to-context-solution": '''
def fit_to_context(messages, budget, count):
    kept = list(messages)
    while count(kept) > budget:
        history = [i for i in range(len(kept) - 1) if kept[i]["role"] != "system"]
        if not history:
            raise ValueError(f"need {count(kept)} tokens, budget {budget}")
        del kept[history[0]]
    return kept
''',
    # Right arithmetic, no input checks: negative tokens give a negative cost, a missing price a KeyError.
    "p1-estimate-cost-solution": '''
def estimate_cost(usage, prices):
    if isinstance(usage, dict):
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    else:
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
    return (prompt * prices["input_per_mtok"] + completion * prices["output_per_mtok"]) / 1_000_000
''',
    # Catches every exception, so a 429 is retried at once as if the reply were invalid.
    "p1-extract-with-retry-solution": '''
def extract_with_retry(client, text, Model, max_retries=2, model=None, **create_kwargs):
    model = model or default_model()
    schema = json.dumps(Model.model_json_schema())
    messages = [{"role": "system", "content": f"Reply with JSON matching this schema: {schema}"},
                {"role": "user", "content": text}]
    error = None
    for _ in range(max_retries + 1):
        try:
            reply = client.chat.completions.create(model=model, messages=list(messages), **create_kwargs)
            content = reply.choices[0].message.content
            return Model.model_validate_json(content)
        except Exception as exc:
            error = str(exc)
            messages += [{"role": "assistant", "content": ""},
                         {"role": "user", "content": f"Invalid: {error}. Try again."}]
    raise ValueError(f"no valid {Model.__name__} after {max_retries + 1} attempts: {error}")
''',
    # zip() silently drops the extra records when the lists differ in length.
    "p1-field-accuracy-solution": '''
def field_accuracy(predictions, golds, fields):
    if not golds:
        raise ValueError("no records")

    def correct(p, g):
        if p is None or g is None:
            return p is None and g is None
        if isinstance(p, str) and isinstance(g, str):
            return p.strip().casefold() == g.strip().casefold()
        if isinstance(p, (int, float)) and isinstance(g, (int, float)):
            return abs(p - g) <= 0.005
        return p == g

    pairs = list(zip(predictions, golds, strict=False))
    return {f: sum(p is not None and correct(p.get(f), g[f]) for p, g in pairs) / len(pairs)
            for f in fields}
''',
    # The regex baseline with the fallback: always the first candidate, so the model's choice
    # among several addresses or ids (a forwarded mail, a merge request) is thrown away.
    "p1-hybrid-record-solution": '''
def hybrid_record(text, model_record, fallback):
    merged = dict(model_record if model_record is not None else fallback)
    emails = [e for e in EMAIL.findall(text) if not e.casefold().endswith("@larkspur.example")]
    accounts = ACCOUNT.findall(text)
    merged["email"] = emails[0] if emails else None
    merged["account_id"] = accounts[0] if accounts else None
    return merged
''',
}

MORE_WRONG = {
    "p1-count-message-tokens-solution": [
        # per_reply added for every message instead of once per request.
        '''
def count_message_tokens(messages, count, per_message=3, per_reply=3):
    return sum(per_message + per_reply + count(m.get("content") or "") for m in messages)
''',
    ],
    "p1-fit-to-context-solution": [
        # Drops the oldest message whatever its role: the system prompt goes first.
        '''
def fit_to_context(messages, budget, count):
    kept = list(messages)
    while count(kept) > budget and len(kept) > 1:
        kept.pop(0)
    return kept
''',
        # Strict < instead of <=, and modifies the caller's list.
        '''
def fit_to_context(messages, budget, count):
    dropped = False
    while True:
        history = [i for i in range(len(messages) - 1) if messages[i]["role"] != "system"]
        orphan = dropped and history and messages[history[0]]["role"] in ("assistant", "tool")
        if not orphan and count(messages) < budget:
            return messages
        if not history:
            raise ValueError(f"need {count(messages)} tokens, budget {budget}")
        del messages[history[0]]
        dropped = True
''',
    ],
    "p1-estimate-cost-solution": [
        # Prices read as dollars per thousand tokens.
        '''
def estimate_cost(usage, prices):
    u = usage if isinstance(usage, dict) else usage.model_dump()
    if u["prompt_tokens"] < 0 or u["completion_tokens"] < 0:
        raise ValueError("negative tokens")
    return (u["prompt_tokens"] * prices["input_per_mtok"] + u["completion_tokens"] * prices["output_per_mtok"]) / 1000
''',
    ],
    "p1-extract-with-retry-solution": [
        # Off by one: max_retries calls in all, not max_retries retries.
        '''
def extract_with_retry(client, text, Model, max_retries=2, model=None, **create_kwargs):
    model = model or default_model()
    messages = [{"role": "system", "content": "Reply with JSON: " + json.dumps(Model.model_json_schema())},
                {"role": "user", "content": text}]
    error = None
    for _ in range(max_retries):
        content = client.chat.completions.create(model=model, messages=list(messages), **create_kwargs
                                                 ).choices[0].message.content
        try:
            return Model.model_validate_json(content)
        except ValidationError as exc:
            error = str(exc)
            messages += [{"role": "assistant", "content": content or ""}, {"role": "user", "content": error}]
    raise ValueError(f"no valid {Model.__name__} after {max_retries} attempts: {error}")
''',
        # Retries without telling the model what was wrong.
        '''
def extract_with_retry(client, text, Model, max_retries=2, model=None, **create_kwargs):
    model = model or default_model()
    messages = [{"role": "system", "content": "Reply with JSON: " + json.dumps(Model.model_json_schema())},
                {"role": "user", "content": text}]
    for _ in range(max_retries + 1):
        content = client.chat.completions.create(model=model, messages=messages, **create_kwargs
                                                 ).choices[0].message.content
        try:
            return Model.model_validate_json(content)
        except ValidationError:
            continue
    raise ValueError(f"no valid {Model.__name__} after {max_retries + 1} attempts")
''',
    ],
    "p1-field-accuracy-solution": [
        # A failed extraction (None) is read as "every field null", so null golds count as correct.
        '''
def field_accuracy(predictions, golds, fields):
    if len(predictions) != len(golds) or not golds:
        raise ValueError("bad lengths")
    def same(p, g):
        if isinstance(p, str) and isinstance(g, str):
            return p.strip().casefold() == g.strip().casefold()
        if isinstance(p, (int, float)) and isinstance(g, (int, float)):
            return abs(p - g) <= 0.005
        return p == g
    return {f: sum(same((p or {}).get(f), g[f]) for p, g in zip(predictions, golds, strict=True)) / len(golds)
            for f in fields}
''',
        # Exact comparison: case, spaces and float noise all count as wrong.
        '''
def field_accuracy(predictions, golds, fields):
    if len(predictions) != len(golds) or not golds:
        raise ValueError("bad lengths")
    return {f: sum(p is not None and p.get(f) == g[f] for p, g in zip(predictions, golds, strict=True)) / len(golds)
            for f in fields}
''',
    ],
    "p1-hybrid-record-solution": [
        # Fills a gap with the model: keeps a made-up id when the text has none, and edits the
        # caller's record in place.
        '''
def hybrid_record(text, model_record, fallback):
    merged = model_record if model_record is not None else fallback
    emails = [e for e in EMAIL.findall(text) if not e.endswith("@larkspur.example")]
    accounts = ACCOUNT.findall(text)
    if emails and merged.get("email") not in emails:
        merged["email"] = emails[0]
    if accounts and merged.get("account_id") not in accounts:
        merged["account_id"] = accounts[0]
    return merged
''',
    ],
}
