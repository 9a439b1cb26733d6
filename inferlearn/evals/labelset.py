"""The labelled answers in ``data/labels``: build them (reference answers, seeded planted faults,
real local-model answers labelled by hand) and load them.

``python -m inferlearn.evals.labelset`` rebuilds ``data/labels/labels.jsonl`` deterministically
from the golden set, the corpus, ``model_answers.jsonl`` and ``model_labels.jsonl``; the rules
that set each label are in ``data/labels/README.md``. Introduced in ``phase3_eval/04_llm_as_judge``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from inferlearn.evals.answers import context_chunks
from inferlearn.evals.generation import extract_values, key_sentence, section_of
from inferlearn.evals.golden import load_golden
from inferlearn.rag.corpus import normalize_space

SEED = 12
N_ANSWERABLE = 210
N_UNANSWERABLE = 24
FAULTS = ("none", "swapped_entity", "changed_number", "unsupported_claim", "none", "partial",
          "wrong_citation", "off_topic", "swapped_entity", "partial")
ENTITIES = (("Free", "Team", "Business", "Enterprise"), ("monthly", "annual"), ("MB", "GB"),
            ("Python", "Go", "Java", "Node"), ("GET", "POST", "DELETE"), ("topic", "queue"),
            ("producer", "consumer"), ("minutes", "hours", "days"))
# (current value, value on a superseded page, superseded page, text that finds its chunk)
# (current value, value on a superseded page, superseded page, text that finds its chunk, a word
# the question must contain so that the value means the same thing there)
SUPERSEDED = (("$249", "$199", "billing-price-list-2024", "$199", "Team"),
              ("$1,490", "$1,290", "billing-price-list-2024", "$1,290", "Business"),
              ("8 MiB", "4 MiB", "billing-price-list-2024", "4 MiB", "message"),
              ("7 days", "14 days", "policy-refunds-2024", "14 days", "refund"),
              ("200", "500", "changelog-2024", "max_poll_records", "max_poll_records"))
EXTRA_CLAIMS = ("Enterprise customers can have this limit waived on request at no charge.",
                "This changes again on 2027-01-01, when the limit doubles.",
                "Support can apply this retroactively to the last 12 months of invoices.",
                "The same rule applies to connectors, which are billed at half the rate.",
                "A 30-day grace period applies before anything is enforced.",
                "You can also do this from the mobile app under Settings > Limits.",
                "Customers in the EU region get twice the allowance.",
                "Larkspur refunds any difference automatically within 3 business days.")


def labels_dir() -> Path:
    """``data/labels`` in this checkout."""
    return Path(__file__).resolve().parents[2] / "data" / "labels"


def load_labels(split: str | None = None, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The labelled answers (``dev``, ``test`` or both), each with its context texts added.
    Introduced in ``phase3_eval/03_generation_metrics``."""
    if split not in (None, "dev", "test"):
        raise ValueError(f"split must be 'dev', 'test' or None, not {split!r}")
    path = Path(path) if path else labels_dir() / "labels.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run python -m inferlearn.evals.labelset to build it")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def judge_items(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Labelled rows as judge / generation-metric items (question, contexts, reference, anchors).
    Introduced in ``phase3_eval/03_generation_metrics``."""
    _, by_id = context_chunks()
    golden = {g["id"]: g for g in load_golden()}
    return [{"id": r["id"], "question": golden[r["question_id"]]["question"], "answer": r["answer"],
             "contexts": [by_id[c].text for c in r["context_ids"]], "context_ids": r["context_ids"],
             "reference": golden[r["question_id"]]["answer"], "anchors": golden[r["question_id"]]["anchors"]}
            for r in labels]


def _evidence_chunks(item: dict[str, Any], chunks: list[Any]) -> list[str]:
    """The chunk holding each evidence quote (else the first chunk of each anchor)."""
    found: list[str] = []
    for quote in item["evidence"]:
        squashed = normalize_space(quote)
        hit = next((c.id for c in chunks if c.doc_id in item["doc_ids"] and squashed in normalize_space(c.text)), None)
        if hit and hit not in found:
            found.append(hit)
    for anchor in item["anchors"]:
        if not any(section_of(c) == anchor for c in found):
            hit = next((c.id for c in chunks if section_of(c.id) == anchor), None)
            if hit and hit not in found:
                found.append(hit)
    return found[:3]


class _Planter:
    """Plants one fault in a reference answer; returns None when the fault does not apply."""

    def __init__(self, chunks: list[Any], golden: list[dict[str, Any]], rng: random.Random):
        self.chunks, self.golden, self.rng = chunks, golden, rng
        self.by_id = {c.id: c for c in chunks}

    def distractor(self, item: dict[str, Any], avoid: list[str]) -> str:
        """A chunk from another page of the same product area (or any other page)."""
        prefix = item["doc_ids"][0].split("-")[0]
        pool = [c.id for c in self.chunks if c.doc_id not in item["doc_ids"] and c.id not in avoid
                and c.doc_id.startswith(prefix)] or [c.id for c in self.chunks if c.doc_id not in item["doc_ids"]]
        return self.rng.choice(sorted(pool))

    def changed_number(self, text: str, ctx: list[str], _: dict) -> tuple[str, list[str]] | None:
        match = next((m for m in re.finditer(r"(?<![\w.$-])\d+(?:\.\d+)?(?![\w-])", key_sentence(text))), None)
        if not match:
            return None
        old = match.group()
        new = str(int(float(old)) * 2 + 1) if "." not in old else f"{float(old) * 1.5:.2f}"
        joined = " ".join(self.by_id[c].text for c in ctx)
        if extract_values(new) & extract_values(joined):
            return None
        return text[:match.start()] + new + text[match.end():], ctx

    def swapped_entity(self, text: str, ctx: list[str], _: dict) -> tuple[str, list[str]] | None:
        for group in ENTITIES:
            for name in group:
                if re.search(rf"\b{re.escape(name)}\b", text):
                    other = self.rng.choice([g for g in group if g != name])
                    return re.sub(rf"\b{re.escape(name)}\b", other, text, count=1), ctx
        return None

    def unsupported_claim(self, text: str, ctx: list[str], _: dict) -> tuple[str, list[str]] | None:
        return text.rstrip() + " " + self.rng.choice(EXTRA_CLAIMS), ctx

    def partial(self, text: str, ctx: list[str], item: dict) -> tuple[str, list[str]] | None:
        key = key_sentence(item["answer"])
        cut = [m.start() for m in re.finditer(r"[,;:]\s| and | plus ", key) if m.start() > 15]
        for pos in cut:
            kept, dropped = key[:pos], key[pos:]
            if extract_values(dropped) - extract_values(kept):
                return kept.rstrip(" ,;:") + ". " + _cite(ctx[:1]), ctx
        return None

    def wrong_citation(self, text: str, ctx: list[str], item: dict) -> tuple[str, list[str]] | None:
        # ctx ends with a distractor from another page: cite it instead of the evidence
        return re.sub(r"\[[^\]]+\]$", _cite(ctx[-1:]), text), ctx

    def off_topic(self, text: str, ctx: list[str], item: dict) -> tuple[str, list[str]] | None:
        others = [g for g in self.golden if g["doc_ids"] and not set(g["doc_ids"]) & set(item["doc_ids"])]
        other = self.rng.choice(others)
        return other["answer"] + " " + _cite(_evidence_chunks(other, self.chunks)[:1]), ctx


def _cite(ids: list[str]) -> str:
    return "[" + ", ".join(ids) + "]" if ids else ""


# fault -> (faithful, relevant, correct), as the label card's rules set them
RULE_LABELS: dict[str, tuple[bool, bool, bool]] = {
    "none": (True, True, True), "changed_number": (False, True, False), "swapped_entity": (False, True, False),
    "unsupported_claim": (False, True, False), "partial": (True, True, False),
    "wrong_citation": (False, True, True), "off_topic": (False, False, False),
    "superseded_number": (True, True, False)}


def _superseded(item: dict[str, Any], chunks: list[Any], ctx: list[str]) -> tuple[str, list[str]] | None:
    key = re.sub(r"\s*\([^()]*\b(?:20\d\d|v\d)[^()]*\)", "", key_sentence(item["answer"]))
    for current, stale, page, marker, word in SUPERSEDED:
        if current in key and stale not in key and word in item["question"]:
            hit = next((c.id for c in chunks if c.doc_id == page and marker in c.text and stale in c.text), None)
            if hit:
                return key.replace(current, stale, 1) + " " + _cite([hit]), [hit] + ctx
    return None


def _superseded_faithful(answer: str, stale_text: str) -> bool:
    """A superseded-number answer is faithful when every number in it is on the cited stale page."""
    return not extract_values(answer) - extract_values(stale_text)


def _first_fault(planter: _Planter, i: int, reference: str, ctx: list[str],
                 item: dict[str, Any]) -> tuple[str, tuple[str, list[str]] | None]:
    """The fault planned for position ``i``, or the next one in ``FAULTS`` that applies."""
    for step in range(len(FAULTS)):
        fault = FAULTS[(i + step) % len(FAULTS)]
        if fault != "none":
            planted = getattr(planter, fault)(reference, ctx, item)
            if planted:
                return fault, planted
    return "none", None


def _row(item: dict[str, Any], answer: str, ctx: list[str], fault: str, source: str,
         faithful: bool | None = None) -> dict[str, Any]:
    rule_faithful, relevant, correct = RULE_LABELS[fault]
    faithful = rule_faithful if faithful is None else faithful
    return {"question_id": item["id"], "answer": answer, "context_ids": ctx, "source": source, "fault": fault,
            "faithful": faithful, "relevant": relevant, "correct": correct, "labeller": "rule",
            "split": item["split"]}


def planted_rows(seed: int = SEED) -> list[dict[str, Any]]:
    """Reference answers and planted faults, deterministic for a seed (see the label card)."""
    chunks, _ = context_chunks()
    rng = random.Random(seed)
    golden = load_golden()
    planter = _Planter(chunks, golden, rng)
    answerable = [g for g in golden if g["type"] != "unanswerable"]
    rows = []
    for i, item in enumerate(sorted(rng.sample(answerable, N_ANSWERABLE), key=lambda g: g["id"])):
        ctx = _evidence_chunks(item, chunks)
        ctx = ctx + [planter.distractor(item, ctx)]
        reference = item["answer"] + " " + _cite(ctx[:-1])
        planted = _superseded(item, chunks, ctx)
        fault = "superseded_number" if planted else FAULTS[i % len(FAULTS)]
        if fault not in ("none", "superseded_number"):
            fault, planted = _first_fault(planter, i, reference, ctx, item)
        answer, context = planted or (reference, ctx)
        faithful = (_superseded_faithful(answer, planter.by_id[context[0]].text)
                    if fault == "superseded_number" else None)
        rows.append(_row(item, answer, context, fault, "reference" if fault == "none" else "planted", faithful))
    return rows + _unanswerable_rows(golden, chunks, rng)


def _unanswerable_rows(golden: list[dict], chunks: list[Any], rng: random.Random) -> list[dict[str, Any]]:
    from inferlearn.rag.pipelines import build_pipeline

    pipeline = build_pipeline("bm25", [c.to_passage() for c in chunks])
    rows = []
    items = sorted(rng.sample([g for g in golden if g["type"] == "unanswerable"], N_UNANSWERABLE), key=lambda g: g["id"])
    for i, item in enumerate(items):
        ctx = pipeline.search(item["question"], k=3).ids
        if i % 2:
            rows.append(_row(item, item["answer"], ctx, "none", "reference"))
        else:
            claim = rng.choice(EXTRA_CLAIMS)
            rows.append(_row(item, f"Yes. {claim} {_cite(ctx[:1])}", ctx, "unsupported_claim", "planted"))
    return rows


def model_rows(folder: Path | None = None) -> list[dict[str, Any]]:
    """Real local-model answers with the labels a person (see the card) gave them."""
    folder = folder or labels_dir()
    answers = [json.loads(x) for x in (folder / "model_answers.jsonl").read_text(encoding="utf-8").splitlines() if x]
    labels = {x["question_id"]: x for x in map(json.loads, (folder / "model_labels.jsonl").read_text(
        encoding="utf-8").splitlines()) if x}
    split = {g["id"]: g["split"] for g in load_golden()}
    rows = []
    for a in answers:
        lab = labels[a["question_id"]]
        rows.append({"question_id": a["question_id"], "answer": a["answer"], "context_ids": a["context_ids"],
                     "source": "model", "fault": lab["fault"], "faithful": lab["faithful"],
                     "relevant": lab["relevant"], "correct": lab["correct"], "labeller": lab["labeller"],
                     "split": split[a["question_id"]], "model": a["model"]})
    return rows


LABELS = ("faithful", "relevant", "correct")


def second_labels(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """The independent second labels (``second_labels.jsonl``) by row id."""
    path = (folder or labels_dir()) / "second_labels.jsonl"
    return {x["id"]: x for x in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if x}


def first_labels(row: dict[str, Any]) -> dict[str, bool]:
    """The labels a row had before adjudication (its final labels when nothing changed)."""
    return row.get("first_labels") or {k: row[k] for k in LABELS}


def adjudicate(rows: list[dict[str, Any]], second: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Where the second labeller disagreed with a rule label, the row takes the second label (the
    reader saw what the rule could not, e.g. a swap that hit a citation id); the rule's labels are
    kept in ``first_labels`` so agreement is still measured on the independent labels. A second
    label written for a different answer text (the set was rebuilt) is an error."""
    import hashlib

    for row in rows:
        other = second.get(row["id"])
        if other is None:
            continue
        if hashlib.sha256(row["answer"].encode()).hexdigest()[:12] != other["answer_sha256"]:
            raise ValueError(f"second label for {row['id']} was written for another answer; relabel it")
        if any(row[k] != other[k] for k in LABELS):
            row["first_labels"] = {k: row[k] for k in LABELS}
            row.update({k: other[k] for k in LABELS}, labeller=row["labeller"] + "+adjudicated")
    return rows


def build_labels(seed: int = SEED, with_model: bool = True) -> list[dict[str, Any]]:
    """Every labelled row, with stable ids ``l-0001``..., adjudicated against the second labels."""
    rows = planted_rows(seed) + (model_rows() if with_model else [])
    rows = [{"id": f"l-{i:04d}", **row} for i, row in enumerate(rows, 1)]
    return adjudicate(rows, second_labels())


def main(argv: list[str] | None = None) -> int:
    """Rebuild ``data/labels/labels.jsonl`` and print counts (``--no-model``: planted rows only)."""
    import sys

    rows = build_labels(with_model="--no-model" not in (sys.argv[1:] if argv is None else argv))
    path = labels_dir() / "labels.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    from collections import Counter

    print(f"wrote {len(rows)} rows to {path}")
    print(dict(Counter((r["source"], r["fault"]) for r in rows)))
    print(dict(Counter(r["split"] for r in rows)))
    from inferlearn.evals.agreement import cohens_kappa

    by_id, second = {r["id"]: r for r in rows}, second_labels()
    for label in LABELS:
        a = [first_labels(by_id[i])[label] for i in second]
        b = [second[i][label] for i in second]
        agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        print(f"double-labelled {len(a)} ({len(a) / len(rows):.1%}): {label} agreement {agree:.3f} "
              f"kappa {cohens_kappa(a, b):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
