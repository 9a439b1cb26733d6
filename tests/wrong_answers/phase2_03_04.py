"""Plausible wrong answers to the graded exercises of phase2_rag/03 and 04, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a learner might write it. Each one
passes the visible tests and is caught by a hidden one:

- ``p2-rrf-solution``: sorts by score only, so equal scores keep insertion order instead of
  ascending id (``[["b", "a"], ["a", "b"]]`` gives ``b`` first).
- ``p2-blend-solution``: gives a list whose scores are all equal 0.0 instead of 1.0 (dodging the
  division by zero the wrong way), so a retriever that found one hit contributes nothing.
- ``p2-pack-context-solution``: never counts the separators between blocks, so with a real
  tokenizer (or characters) the packed context overruns the budget.
- ``p2-citations-solution``: takes every bracketed text, so a markdown link label
  (``[the guide](https://...)``) and a phrase like ``[see above]`` become citations.
- ``p2-abstain-solution``: abstains when the best score *equals* the threshold (``<=``).

``MORE_WRONG[grade_id]`` holds further wrong answers per exercise (RRF ranks counted from 0,
blending without normalisation, stopping at the first chunk that does not fit, ...); the visible
tests catch some of them, the hidden tests the rest. The sources rely only on what the notebooks
import before the solution cell (``re``, ``math``).
"""

WRONG = {
    "p2-rrf-solution": '''
def reciprocal_rank_fusion(rankings, k=60):
    scores = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
''',
    "p2-blend-solution": '''
def blend_scores(results, weights=None):
    weights = weights or [1.0] * len(results)
    if len(weights) != len(results):
        raise ValueError("one weight per result list")
    blended = {}
    for weight, hits in zip(weights, results):
        if not hits:
            continue
        low, high = min(s for _, s in hits), max(s for _, s in hits)
        for doc_id, score in hits:
            normalised = (score - low) / (high - low) if high > low else 0.0
            blended[doc_id] = blended.get(doc_id, 0.0) + weight * normalised
    return sorted(blended.items(), key=lambda pair: (-pair[1], pair[0]))
''',
    "p2-pack-context-solution": '''
def pack_context(chunks, budget, count):
    if budget < 1:
        raise ValueError("budget must be at least 1")
    blocks, ids, used = [], [], 0
    for chunk in chunks:
        if chunk["id"] in ids:
            continue
        block = f"[{chunk['id']}]\\n{chunk['text'].strip()}"
        if used + count(block) > budget:
            continue
        blocks.append(block)
        ids.append(chunk["id"])
        used += count(block)
    return "\\n\\n".join(blocks), ids
''',
    "p2-citations-solution": '''
def extract_citations(text):
    found = []
    for inside in re.findall(r"\\[([^\\]]+)\\]", text):
        for part in re.split(r"[,;]", inside):
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found
''',
    "p2-abstain-solution": '''
def should_abstain(scores, threshold):
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    usable = [s for s in scores if s is not None and not math.isnan(s)]
    return not usable or max(usable) <= threshold
''',
}

MORE_WRONG = {
    "p2-rrf-solution": [
        # ranks counted from 0: every score is 1/(k + rank - 1)
        '''
def reciprocal_rank_fusion(rankings, k=60):
    scores = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
''',
        # k ignored: always 60
        '''
def reciprocal_rank_fusion(rankings, k=60):
    scores = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (60 + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
''',
        # only ids found by every ranking are fused
        '''
def reciprocal_rank_fusion(rankings, k=60):
    if not rankings:
        return []
    common = set(rankings[0]).intersection(*map(set, rankings[1:]))
    scores = {d: sum(1.0 / (k + r.index(d) + 1) for r in rankings) for d in common}
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
''',
    ],
    "p2-blend-solution": [
        # no normalisation: BM25's scale swamps the cosines
        '''
def blend_scores(results, weights=None):
    weights = weights or [1.0] * len(results)
    blended = {}
    for weight, hits in zip(weights, results):
        for doc_id, score in hits:
            blended[doc_id] = blended.get(doc_id, 0.0) + weight * score
    return sorted(blended.items(), key=lambda pair: (-pair[1], pair[0]))
''',
        # all-equal scores divide by zero
        '''
def blend_scores(results, weights=None):
    weights = weights or [1.0] * len(results)
    if len(weights) != len(results):
        raise ValueError("one weight per result list")
    blended = {}
    for weight, hits in zip(weights, results):
        if not hits:
            continue
        low, high = min(s for _, s in hits), max(s for _, s in hits)
        for doc_id, score in hits:
            blended[doc_id] = blended.get(doc_id, 0.0) + weight * (score - low) / (high - low)
    return sorted(blended.items(), key=lambda pair: (-pair[1], pair[0]))
''',
        # weights ignored
        '''
def blend_scores(results, weights=None):
    blended = {}
    for hits in results:
        if not hits:
            continue
        low, high = min(s for _, s in hits), max(s for _, s in hits)
        for doc_id, score in hits:
            normalised = (score - low) / (high - low) if high > low else 1.0
            blended[doc_id] = blended.get(doc_id, 0.0) + normalised
    return sorted(blended.items(), key=lambda pair: (-pair[1], pair[0]))
''',
    ],
    "p2-pack-context-solution": [
        # stops at the first chunk that does not fit
        '''
def pack_context(chunks, budget, count):
    if budget < 1:
        raise ValueError("budget must be at least 1")
    blocks, ids, used = [], [], 0
    for chunk in chunks:
        block = f"[{chunk['id']}]\\n{chunk['text'].strip()}"
        cost = count(block) + (count("\\n\\n") if blocks else 0)
        if used + cost > budget:
            break
        if chunk["id"] not in ids:
            blocks.append(block)
            ids.append(chunk["id"])
            used += cost
    return "\\n\\n".join(blocks), ids
''',
        # a block that exactly fills the budget is refused, and repeated ids go in twice
        '''
def pack_context(chunks, budget, count):
    if budget < 1:
        raise ValueError("budget must be at least 1")
    blocks, ids, used = [], [], 0
    for chunk in chunks:
        block = f"[{chunk['id']}]\\n{chunk['text'].strip()}"
        cost = count(block) + (count("\\n\\n") if blocks else 0)
        if used + cost >= budget:
            continue
        blocks.append(block)
        ids.append(chunk["id"])
        used += cost
    return "\\n\\n".join(blocks), ids
''',
    ],
    "p2-citations-solution": [
        # commas only: "[a; b]" stays one id
        '''
def extract_citations(text):
    found = []
    for inside in re.findall(r"\\[([^\\[\\]]+)\\](?!\\()", text):
        for part in inside.split(","):
            part = part.strip()
            if part and " " not in part and part not in found:
                found.append(part)
    return found
''',
    ],
    "p2-abstain-solution": [
        # the first score decides, not the best one
        '''
def should_abstain(scores, threshold):
    scores = list(scores)
    return not scores or scores[0] < threshold
''',
        # crashes on None and lets NaN through
        '''
def should_abstain(scores, threshold):
    scores = list(scores)
    return not scores or max(scores) < threshold
''',
    ],
}
