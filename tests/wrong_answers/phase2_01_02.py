"""Plausible wrong answers to the exercises of phase2_rag/01 and 02, one per solution cell.

``WRONG[grade_id]`` is the whole source of a solution cell as a student might write it. Each one
passes the visible tests and must lose points on the hidden ones:

- ``p2-chunk-tokens-solution``: the loop never stops early, so after the chunk that reaches the
  last token it emits tail chunks that only repeat tokens already covered (``"a b c d e"``,
  size 3, overlap 1 gives ``['a b c', 'c d e', 'e']``).
- ``p2-chunk-headings-solution``: ignores fenced code blocks, so a ``## comment`` line inside a
  code sample starts a new section and cuts the example in two.
- ``p2-exact-top-k-solution``: ranks by the raw dot product, which equals the cosine only for unit
  vectors: a long row beats a better-aligned short one.
- ``p2-ann-recall-solution``: intersects the whole approximate list with the exact one instead of
  its first k ids, so returning more than k results inflates recall.
"""

WRONG = {
    "p2-chunk-tokens-solution": '''
def chunk_tokens(text, size, overlap):
    """Split text into chunks of `size` whitespace tokens; neighbours share `overlap` tokens."""
    if size < 1:
        raise ValueError(f"size ({size}) must be at least 1 token")
    if overlap < 0 or overlap >= size:
        raise ValueError(f"overlap ({overlap}) must be between 0 and size - 1 ({size - 1})")
    tokens = text.split()
    return [" ".join(tokens[start : start + size]) for start in range(0, len(tokens), size - overlap)]
''',
    "p2-chunk-headings-solution": '''
def chunk_by_headings(markdown):
    """Split markdown into (heading path, text) sections at its ## and ### headings."""
    groups = [((), [])]
    h2 = None
    for line in markdown.split("\\n"):
        if line.startswith("## "):
            h2 = line[3:].strip()
            groups.append(((h2,), []))
        elif line.startswith("### "):
            title = line[4:].strip()
            groups.append(((h2, title) if h2 else (title,), []))
        else:
            groups[-1][1].append(line)
    sections = [(path, "\\n".join(lines).strip()) for path, lines in groups]
    return [(path, text) for path, text in sections if text]
''',
    "p2-exact-top-k-solution": '''
def exact_top_k(query_vec, matrix, k):
    """Indices of the k rows of matrix most cosine-similar to query_vec, best first."""
    if k < 1:
        raise ValueError(f"k ({k}) must be at least 1")
    scores = np.asarray(matrix, dtype=float) @ np.asarray(query_vec, dtype=float)
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
''',
    "p2-ann-recall-solution": '''
def ann_recall(approx_ids, exact_ids):
    """Share of the exact top-k ids found in the approximate ids."""
    if not exact_ids:
        raise ValueError("exact_ids is empty")
    return len(set(approx_ids) & set(exact_ids)) / len(set(exact_ids))
''',
}
