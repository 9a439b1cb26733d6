"""Plausible wrong answers to the exercises of phase1_llm_api/03 and 04, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a student might write it. Each one
passes the visible tests and must lose points on the hidden ones:

- ``p1-render-prompt-solution``: renders with one ``re.sub`` per variable, so a value that
  contains a placeholder (a ticket quoting ``{{ examples }}``) is rendered again.
- ``p1-accuracy-confusion-solution``: accuracy as trace / sum of the matrix, which silently drops
  predictions outside ``labels`` (and divides by zero on empty input instead of a ValueError).
- ``p1-pareto-frontier-solution``: "dominated" needs strictly better on *both* axes, so a
  candidate with the same cost and lower accuracy stays on the frontier.
- ``p1-choose-model-solution``: strict limits (``<`` / ``>``), so a candidate exactly at the budget
  or at the accuracy floor is rejected.
"""

WRONG = {
    "p1-render-prompt-solution": '''
import re


def select_examples(pool, k):
    """Pick k few-shot examples from pool (dicts with a "team" key), balanced across teams."""
    by_team = {}
    for example in pool:
        by_team.setdefault(example["team"], []).append(example)
    queues = [list(by_team[team]) for team in sorted(by_team)]
    chosen = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    return chosen


def render_prompt(template, variables):
    """Fill every {{ name }} placeholder in template from variables."""
    text = template
    for name, value in variables.items():
        text = re.sub(r"\\{\\{\\s*" + name + r"\\s*\\}\\}", lambda m: str(value), text)
    left = re.findall(r"\\{\\{\\s*(\\w+)\\s*\\}\\}", text)
    if left:
        raise KeyError(left[0])
    return text
''',
    "p1-accuracy-confusion-solution": '''
def accuracy_and_confusion(y_true, y_pred, labels):
    """(accuracy, matrix): matrix[i][j] counts items of true labels[i] predicted as labels[j]."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    total = sum(sum(row) for row in matrix)
    correct = sum(matrix[i][i] for i in range(len(labels)))
    return correct / total, matrix
''',
    "p1-pareto-frontier-solution": '''
def pareto_frontier(results):
    """The candidates no other candidate dominates, cheapest first."""
    frontier = [r for r in results
                if not any(o["cost_per_1k"] < r["cost_per_1k"] and o["accuracy"] > r["accuracy"]
                           for o in results)]
    return sorted(frontier, key=lambda r: (r["cost_per_1k"], -r["accuracy"], r["name"]))
''',
    "p1-choose-model-solution": '''
def choose_model(results, max_cost, min_accuracy):
    """The most accurate candidate within both limits (ties: cheaper, then name), or None."""
    fits = [r for r in results if r["cost_per_1k"] < max_cost and r["accuracy"] > min_accuracy]
    if not fits:
        return None
    return min(fits, key=lambda r: (-r["accuracy"], r["cost_per_1k"], r["name"]))
''',
}
