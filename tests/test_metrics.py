"""Retrieval metrics equal trec_eval's, on its own test data and on 29 peer cases; statistics."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict

import pytest

from inferlearn.data import shared_datasets_dir
from inferlearn.evals.metrics import (
    average_precision,
    bootstrap_ci,
    evaluate,
    mean_scores,
    ndcg,
    paired_comparison,
    parse_metric,
    precision,
    ranked_ids,
    read_trec_qrels,
    read_trec_run,
    recall,
    reciprocal_rank,
)

SHARED = shared_datasets_dir()
FIXTURES = SHARED / "metrics_fixtures" if SHARED else None
TREC_MEASURES = re.compile(r"^(map|recip_rank|Rprec|ndcg|P_\d+|recall_\d+|ndcg_cut_\d+|success_\d+)$")


def _needs_fixtures():
    if FIXTURES is None or not FIXTURES.is_dir():
        pytest.skip("../shared/datasets/metrics_fixtures is absent (developers and CI have it)")


def _expected(path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and TREC_MEASURES.match(fields[0]):
            out[fields[0]][fields[1]] = float(fields[2])
    return out


@pytest.mark.parametrize("qrels_name, out_name, level", [
    ("qrels.test", "out.test", 1),
    ("qrels.test", "out.test.aq", 1),
    ("qrels.test", "out.test.meas_params", 1),
    ("qrels.rel_level", "out.test.aql", 2),
])
def test_every_measure_matches_trec_eval_output(qrels_name, out_name, level):
    _needs_fixtures()
    folder = FIXTURES / "trec_eval"
    qrels, run = read_trec_qrels(folder / qrels_name), read_trec_run(folder / "results.test")
    expected = _expected(folder / out_name)
    per_query = evaluate(qrels, run, list(expected), relevance_level=level)
    checked = 0
    for measure, values in expected.items():
        label = parse_metric(measure).label
        for qid, value in values.items():
            got = mean_scores({label: per_query[label]})[label] if qid == "all" else per_query[label][qid]
            assert got == pytest.approx(value, abs=5.1e-5), f"{measure} {qid}"
            checked += 1
    assert checked >= 10


def test_trec_eval_readme_averages():
    _needs_fixtures()
    folder = FIXTURES / "trec_eval"
    means = mean_scores(evaluate(read_trec_qrels(folder / "qrels.test"), read_trec_run(folder / "results.test"),
                                 ["map", "recip_rank", "P_10", "recall_10", "ndcg_cut_10"]))
    assert means == pytest.approx({"map": 0.1785, "mrr": 0.4064, "precision@10": 0.3, "recall@10": 0.0317,
                                   "ndcg@10": 0.3016}, abs=5e-5)


PEER_METRICS = {
    "hits@5": "hits@5", "hit_rate@5": "hit_rate@5", "precision@5": "P@5", "map@6": "map@6",
    "mrr@5": "mrr@5", "r-precision": "r-precision", "recall@2": "recall@2", "dcg@10": "dcg@10",
    "ndcg@10": "ndcg@10", "ndcg_burges@10": "ndcg_burges@10", "ndcg (trec_eval, no cutoff)": "ndcg",
    "AP (per query 0,1)": "map", "AP with relevance threshold 2": "map",
    "nDCG (no cutoff, linear gain)": "ndcg", "nDCG@3": "ndcg@3", "Success@2 (hit rate)": "success@2",
    "P@4": "P@4", "P@4 counting only judged docs": "P@4",
}


def _peer_cases():
    if FIXTURES is None or not (FIXTURES / "peer_cases.json").exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/datasets/metrics_fixtures is absent"))]
    cases = json.loads((FIXTURES / "peer_cases.json").read_text())["cases"]
    return [pytest.param(c, id=c["name"]) for c in cases]


@pytest.mark.parametrize("case", _peer_cases())
def test_peer_case(case):
    metric = PEER_METRICS[case["metric"]]
    level = 2 if "threshold 2" in case["metric"] else 1
    per_query = evaluate(case["qrels"], case["run"], [metric], relevance_level=level,
                         judged_only="judged" in case["metric"])
    scores = next(iter(per_query.values()))
    expected = case["expected"]
    if isinstance(expected, dict):
        for qid, value in expected.items():
            got = sum(scores.values()) / len(scores) if qid == "mean" else scores[qid]
            assert got == pytest.approx(value, abs=1e-4), qid
    else:
        assert sum(scores.values()) / len(scores) == pytest.approx(expected, abs=1e-9)


# Hand-computed cases: always run.

RELS = {"a": 1, "b": 0, "c": 2, "d": 1}


def test_ties_are_broken_by_doc_id_in_reverse_order():
    assert ranked_ids({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]
    assert ranked_ids([("a", 1.0), ("b", 1.0)]) == ["b", "a"]
    assert ranked_ids(["x", "y"]) == ["x", "y"]


def test_a_tie_changes_the_score_the_way_trec_eval_does():
    qrels = {"q": {"a": 1}}
    assert evaluate(qrels, {"q": {"a": 1.0, "z": 1.0}}, ["mrr"])["mrr"]["q"] == 0.5
    assert evaluate(qrels, {"q": {"a": 1.0, "0": 1.0}}, ["mrr"])["mrr"]["q"] == 1.0


def test_hand_computed_values():
    ranking = ["c", "x", "a", "b"]
    assert precision(RELS, ranking, 2) == 0.5
    assert precision(RELS, ranking, 10) == 0.2  # divides by k even when fewer were retrieved
    assert recall(RELS, ranking, 3) == pytest.approx(2 / 3)
    assert reciprocal_rank(RELS, ["x", "a"]) == 0.5
    assert reciprocal_rank(RELS, ["x", "a"], k=1) == 0.0
    assert average_precision(RELS, ranking) == pytest.approx((1 + 2 / 3) / 3)
    dcg = 2 + 1 / math.log2(4)
    ideal = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(RELS, ranking, 10) == pytest.approx(dcg / ideal)


def test_graded_relevance_level_changes_binary_metrics_not_ndcg():
    strict = evaluate({"q": RELS}, {"q": ["a", "c"]}, ["recall@2", "ndcg@2"], relevance_level=2)
    assert strict["recall@2"]["q"] == 1.0  # only "c" counts as relevant at level 2
    assert strict["ndcg@2"]["q"] == evaluate({"q": RELS}, {"q": ["a", "c"]}, ["ndcg@2"])["ndcg@2"]["q"]


def test_empty_runs_and_missing_queries_score_zero():
    per_query = evaluate({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {}, "other": {"a": 1.0}},
                         ["ndcg@10", "recall@5", "mrr@10", "P@5", "map", "hit_rate@3"])
    assert all(v == {"q1": 0.0, "q2": 0.0} for v in per_query.values())
    assert mean_scores(evaluate({}, {}, ["ndcg@10"])) == {"ndcg@10": 0.0}


def test_query_without_relevant_docs_scores_zero_not_nan():
    per_query = evaluate({"q": {"a": 0}}, {"q": ["a"]}, ["ndcg@10", "recall@10", "map"])
    assert all(v["q"] == 0.0 for v in per_query.values())


def test_unicode_doc_ids_and_huge_rankings():
    ranking = [f"d{i}" for i in range(100_000)] + ["é文"]
    assert reciprocal_rank({"é文": 1}, ranking) == pytest.approx(1 / 100_001)
    assert ranked_ids({"é": 1.0, "文": 1.0}) == ["文", "é"]


@pytest.mark.parametrize("bad, message", [
    ("ndcg@0", "k (0) must be >= 1"), ("bleu", "unknown metric 'bleu'"), ("P", "precision needs a cutoff"),
])
def test_bad_metric_names_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_metric(bad)


def test_duplicate_docs_in_a_ranking_are_rejected():
    with pytest.raises(ValueError, match="'a' appears more than once"):
        evaluate({"q": {"a": 1}}, {"q": ["a", "a"]}, ["mrr"])


def test_metric_aliases_follow_trec_eval_names():
    assert parse_metric("ndcg_cut_10") == parse_metric("NDCG@10")
    assert parse_metric("recip_rank").label == "mrr"
    assert parse_metric("P_5").label == "precision@5"
    assert parse_metric("success_1").label == "hit_rate@1"


def test_bootstrap_interval_contains_the_mean_and_is_reproducible():
    values = {f"q{i}": float(i % 3 == 0) for i in range(60)}
    ci = bootstrap_ci(values, n_resamples=2000, seed=1)
    assert ci.low <= ci.estimate <= ci.high
    assert ci == bootstrap_ci(values, n_resamples=2000, seed=1)
    assert bootstrap_ci([0.5, 0.5], n_resamples=50) == (0.5, 0.5, 0.5, 0.95)


@pytest.mark.parametrize("kwargs, message", [
    ({"values": []}, "values is empty"), ({"values": [1.0], "confidence": 1.5}, "confidence (1.5)"),
    ({"values": [1.0], "n_resamples": 0}, "n_resamples (0) must be >= 1"),
    ({"values": [float("nan")]}, "NaN"),
])
def test_bootstrap_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bootstrap_ci(**kwargs)


def test_paired_comparison_finds_a_consistent_gain_and_not_noise():
    a = {f"q{i}": 0.5 for i in range(40)}
    better = {q: 0.7 for q in a}
    result = paired_comparison(a, better, n_resamples=2000)
    assert result.diff == pytest.approx(0.2) and result.wins == 40 and result.p_value < 0.01
    assert result.low == pytest.approx(0.2) == result.high
    noisy = {q: 0.5 + (0.1 if i % 2 else -0.1) for i, q in enumerate(a)}
    assert paired_comparison(a, noisy, n_resamples=2000).p_value > 0.5


def test_paired_comparison_needs_the_same_queries():
    with pytest.raises(ValueError, match="1 only in a"):
        paired_comparison({"q1": 1.0, "q2": 0.0}, {"q2": 1.0})
