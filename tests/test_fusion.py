"""Reciprocal rank fusion and normalised score blending."""

from __future__ import annotations

import pytest

from inferlearn.rag.fusion import blend_scores, normalize, reciprocal_rank_fusion
from inferlearn.rag.passages import Hit

BM25 = [Hit("a", 12.0), Hit("b", 8.0), Hit("c", 1.0)]
DENSE = [Hit("c", 0.9), Hit("a", 0.8), Hit("d", 0.1)]


def test_rrf_adds_one_over_k_plus_rank():
    fused = reciprocal_rank_fusion([BM25, DENSE], k=60)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [h.id for h in fused] == ["a", "c", "b", "d"]


def test_rrf_takes_plain_id_lists_weights_and_a_limit():
    fused = reciprocal_rank_fusion([["x", "y"], ["y", "z"]], k=0, weights=[1.0, 3.0], limit=2)
    assert fused == [Hit("y", pytest.approx(0.5 + 3.0)), Hit("z", pytest.approx(1.5))]


def test_rrf_ties_go_to_the_better_best_rank_then_the_id():
    assert [h.id for h in reciprocal_rank_fusion([["b", "a"], ["a", "b"]])] == ["a", "b"]
    assert [h.id for h in reciprocal_rank_fusion([["z"], ["y", "q"]])][:2] == ["y", "z"]


def test_empty_input_fuses_to_nothing():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    assert blend_scores([[], []]) == []
    assert normalize([]) == {}


def test_unicode_ids_survive_fusion():
    assert reciprocal_rank_fusion([["文书"], ["é"]], limit=1)[0].id in {"文书", "é"}


def test_huge_rankings_fuse():
    big = [f"d{i}" for i in range(50_000)]
    fused = reciprocal_rank_fusion([big, list(reversed(big))], limit=3)
    assert len(fused) == 3


def test_minmax_and_zscore_normalisation():
    assert normalize(BM25, "minmax") == {"a": 1.0, "b": pytest.approx(7 / 11), "c": 0.0}
    z = normalize(BM25, "zscore")
    assert sum(z.values()) == pytest.approx(0.0, abs=1e-9)
    assert normalize([Hit("a", 3.0), Hit("b", 3.0)], "minmax") == {"a": 1.0, "b": 1.0}
    assert normalize([Hit("a", 3.0)], "zscore") == {"a": 0.0}


def test_blending_adds_normalised_scores_and_floors_missing_docs():
    blended = dict(blend_scores([BM25, DENSE], weights=[1.0, 1.0], method="minmax"))
    assert blended["a"] == pytest.approx(1.0 + 0.875)
    assert blended["b"] == pytest.approx(7 / 11 + 0.0)  # missing from dense: that list's minimum
    assert blended["d"] == pytest.approx(0.0 + 0.0)
    assert blend_scores([BM25, DENSE], weights=[0.0, 1.0], method="zscore")[0].id == "c"


@pytest.mark.parametrize("method", ["minmax", "zscore"])
def test_a_passage_missing_from_a_list_of_equal_scores_still_ranks_below_the_found(method):
    flat = [Hit("a", 2.0), Hit("b", 2.0)]  # every score equal: minmax gives 1.0, zscore 0.0
    other = [Hit("c", 5.0), Hit("a", 1.0), Hit("b", 1.0)]
    blended = dict(blend_scores([flat, other], method=method))
    from_flat = {doc: blended[doc] - normalize(other, method)[doc] for doc in blended}
    assert from_flat["c"] == pytest.approx(from_flat["a"] - 1.0)  # c was not found by `flat`


@pytest.mark.parametrize("call, message", [
    (lambda: reciprocal_rank_fusion([BM25], k=-1), r"k \(-1\) must be a number >= 0"),
    (lambda: reciprocal_rank_fusion([BM25, DENSE], weights=[1.0]), "weights has 1 values for 2 rankings"),
    (lambda: reciprocal_rank_fusion([BM25], weights=[-1.0]), r"weights \(\[-1.0\]\) must be finite numbers >= 0"),
    (lambda: reciprocal_rank_fusion([BM25], weights=[0.0]), "all zero"),
    (lambda: reciprocal_rank_fusion([BM25], limit=0), r"limit \(0\) must be >= 1"),
    (lambda: reciprocal_rank_fusion([["a", "a"]]), "lists 'a' twice"),
    (lambda: normalize(BM25, "softmax"), r"method \('softmax'\) must be one of minmax, zscore"),
    (lambda: normalize([Hit("a", float("nan"))]), "finite"),
])
def test_bad_parameters_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_string_is_not_a_ranking():
    with pytest.raises(TypeError, match="ranking 0 is a string"):
        reciprocal_rank_fusion(["abc"])
