"""Plausible wrong answers to the graded exercises of phase1_llm_api/05 (the tool-use loop).

``WRONG[solution_grade_id]`` passes the visible tests and is caught by a hidden one:

- ``p1-run-tool-call-solution``: ``json.loads`` on every argument string, so a tool that takes no
  arguments, called with ``""`` (as models do), becomes an error instead of running.
- ``p1-tool-loop-solution``: runs only the first tool call of a reply, so with parallel calls the
  second is never answered (the next request would be rejected by a real API).

The sources rely only on what the notebook imports before the solution cells (``json``) and on
``run_tool_call`` from exercise 1.
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
}
