"""Plausible wrong answers to the graded exercises of phase3_eval/01, 02 and 05, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a learner might write it. Each one
passes the visible tests and is caught by a hidden one:

- ``p3-leaks-solution``: compares the questions as raw strings, so "How long is the REFUND window??"
  and "how long is the refund window" are not seen as the same question.
- ``p3-split-solution``: shuffles all ids at once instead of per type, so a small type (4 multi-hop
  questions) does not get its share of dev.
- ``p3-ndcg-solution``: builds the ideal ranking from the retrieved docs only, so a relevant page the
  run never found costs nothing.
- ``p3-bootstrap-solution``: resamples *without* replacement (a permutation), so every resample has
  the same mean and the interval collapses to a point.
- ``p3-mcnemar-solution``: forgets the gained items (p = 0.5 ** lost), so 3 lost and 3 gained looks
  as significant as 3 lost and 0 gained.
- ``p3-detect-regression-solution``: no Holm correction: raw p-values against alpha, so two metrics
  at p = 0.031 both "regress".

The sources rely only on what the notebooks import before the solution cell (``re``, ``random``,
``math``, ``np``) and, in 05, on the learner's ``mcnemar_p``.
"""

WRONG = {
    "p3-leaks-solution": '''
def find_leaks(dev, test, threshold=0.8):
    leaks = []
    for d in dev:
        for t in test:
            if d["id"] == t["id"] or d["question"] == t["question"]:
                leaks.append((d["id"], t["id"]))
    return sorted(leaks)
''',
    "p3-split-solution": '''
def split_by_type(items, dev_fraction=0.4, seed=13):
    ids = sorted(it["id"] for it in items)
    random.Random(seed).shuffle(ids)
    n_dev = round(len(ids) * dev_fraction)
    return {gid: ("dev" if n < n_dev else "test") for n, gid in enumerate(ids)}
''',
    "p3-ndcg-solution": '''
def ndcg_at_k(rels, ranking, k):
    gains = [rels.get(d, 0) for d in ranking[:k]]
    dcg = sum(g / math.log2(r + 1) for r, g in enumerate(gains, 1) if g > 0)
    ideal = sum(g / math.log2(r + 1) for r, g in enumerate(sorted(gains, reverse=True), 1) if g > 0)
    return dcg / ideal if ideal > 0 else 0.0
''',
    "p3-bootstrap-solution": '''
def bootstrap_ci(values, confidence=0.95, n_resamples=2000, seed=0):
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("values is empty")
    rng = np.random.default_rng(seed)
    means = np.array([rng.permutation(values).mean() for _ in range(n_resamples)])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)
''',
    "p3-mcnemar-solution": '''
def mcnemar_p(baseline, candidate):
    shared = set(baseline) & set(candidate)
    lost = sum(1 for i in shared if baseline[i] and not candidate[i])
    return 0.5 ** lost
''',
    "p3-detect-regression-solution": '''
def detect_regression(baseline, candidate, tolerance=0.02, alpha=0.05):
    regressed = []
    for name in sorted(set(baseline) & set(candidate)):
        shared = set(baseline[name]) & set(candidate[name])
        drop = sum(baseline[name][i] - candidate[name][i] for i in shared) / len(shared) if shared else 0.0
        if drop > tolerance and mcnemar_p(baseline[name], candidate[name]) < alpha:
            regressed.append(name)
    return regressed
''',
}
