"""Plausible wrong answers to the graded exercises of phase1_llm_api/05 (the tool-use loop) and
06 (streaming and concurrency).

``WRONG[solution_grade_id]`` passes the visible tests and is caught by a hidden one:

- ``p1-run-tool-call-solution``: ``json.loads`` on every argument string, so a tool that takes no
  arguments, called with ``""`` (as models do), becomes an error instead of running.
- ``p1-tool-loop-solution``: runs only the first tool call of a reply, so with parallel calls the
  second is never answered (the next request would be rejected by a real API).

- ``p1-retry-after-solution``: looks the header up by its exact name, so ``retry-after`` (HTTP
  header names are case-insensitive; a plain dict is not) falls back to the default.
- ``p1-map-with-limit-solution``: lets an exception escape ``pool.map``, so one failing call sinks
  the whole batch.

The sources rely only on what the notebooks import before the solution cells (``json``,
``email.utils``, ``threading``, ``time``, ``ThreadPoolExecutor``) and, in 05, on ``run_tool_call``
from exercise 1.
"""

WRONG = {
    "p1-run-tool-call-solution": '''
def run_tool_call(call, registry):
    name = call.function.name
    try:
        if name not in registry:
            raise LookupError(f"unknown tool {name!r}")
        args = json.loads(call.function.arguments)
        if not isinstance(args, dict):
            raise ValueError("arguments must be a JSON object")
        content = json.dumps(registry[name](**args))
    except Exception as exc:
        content = json.dumps({"error": str(exc)})
    return {"role": "tool", "tool_call_id": call.id, "content": content}
''',
    "p1-tool-loop-solution": '''
def tool_loop(client, model, messages, tools, registry, max_steps=4):
    history = list(messages)
    for _ in range(max_steps):
        message = client.chat.completions.create(model=model, messages=history, tools=tools).choices[0].message
        if not message.tool_calls:
            history.append({"role": "assistant", "content": message.content})
            return message.content, history
        call = message.tool_calls[0]
        history.append({"role": "assistant", "content": message.content, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]})
        history.append(run_tool_call(call, registry))
    return None, history
''',
    "p1-retry-after-solution": '''
def retry_after_seconds(headers, default=1.0, cap=30.0, now=None):
    raw = headers.get("Retry-After")
    if raw is None:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(raw).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError):
            return default
    if seconds != seconds:
        return default
    return min(max(seconds, 0.0), cap)
''',
    "p1-map-with-limit-solution": '''
def map_with_limit(fn, items, limit):
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    with ThreadPoolExecutor(max_workers=limit) as pool:
        return list(pool.map(fn, items))
''',
}
