"""The run registry (SQLite WAL), regression detection, and ``inferlearn eval rag|compare|history``."""

from __future__ import annotations

import multiprocessing
import sqlite3

import numpy as np
import pytest

from inferlearn.cli import main
from inferlearn.evals.registry import Registry, RegistryError, RunRecord, config_hash
from inferlearn.evals.regression import (
    detect_regression,
    format_report,
    holm,
    mcnemar_exact,
    paired_bootstrap,
)


def _scores(n: int = 100, drop: int = 0, seed: int = 0) -> dict[str, dict[str, float]]:
    """recall@5 (continuous) and hit@5 (pass/fail) for n items; ``drop`` passing items turned to 0."""
    rng = np.random.default_rng(seed)
    recall = np.where(rng.random(n) < 0.85, 1.0, rng.choice([0.0, 0.5], n))
    passing = [i for i in range(n) if recall[i] > 0][:drop]
    recall[passing] = 0.0
    ids = [f"g-{i:04d}" for i in range(n)]
    return {"recall@5": dict(zip(ids, recall.tolist(), strict=True)),
            "hit@5": {i: float(v > 0) for i, v in zip(ids, recall, strict=True)}}


def _record(registry: Registry, scores=None, pipeline: str = "bm25") -> str:
    return registry.record(RunRecord(pipeline, scores or _scores(), "test", {"k": 5},
                                     {"rag.answer.system": {"version": "1", "sha256": "abc"}},
                                     {"minilm-l6-int8": "8199be"}, "golden123", "deadbeef"))


def test_a_recorded_run_reads_back_with_metadata_metrics_intervals_and_items(tmp_path):
    registry = Registry(tmp_path / "runs.sqlite3")
    run_id = _record(registry)
    run = registry.get("latest")
    assert run.run_id == run_id and run.run_id.startswith("r-")
    assert run.info["git_sha"] == "deadbeef" and run.info["golden_version"] == "golden123"
    assert run.info["config_hash"] == config_hash({"k": 5}) and run.info["models"] == {"minilm-l6-int8": "8199be"}
    assert run.info["prompts"]["rag.answer.system"]["sha256"] == "abc"
    recall = run.metrics["recall@5"]
    assert recall["low"] <= recall["value"] <= recall["high"] and recall["n"] == 100
    assert run.scores == _scores()
    assert sqlite3.connect(registry.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_runs_resolve_by_prefix_latest_and_last_good(tmp_path):
    registry = Registry(tmp_path / "runs.sqlite3")
    first, second = _record(registry), _record(registry)
    assert registry.resolve("latest") == second
    assert registry.resolve(first[:-1]) == first and registry.resolve(first) == first
    with pytest.raises(RegistryError, match="matches 2 runs"):
        registry.resolve("r-")
    registry.mark(second, "regressed")
    assert registry.resolve("last-good") == first
    assert registry.count() == 2 and len(registry.history()) == 4  # 2 runs x 2 metrics


def test_unknown_run_missing_registry_and_foreign_file_are_clear_errors(tmp_path):
    with pytest.raises(RegistryError, match="no run registry at"):
        Registry(tmp_path / "absent.sqlite3").get("latest")
    registry = Registry(tmp_path / "runs.sqlite3")
    _record(registry)
    with pytest.raises(RegistryError, match="unknown run 'r-nope'"):
        registry.get("r-nope")
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(RegistryError, match="not a run registry"):
        Registry(other).get("latest")
    with pytest.raises(ValueError, match="at least one per-item score"):
        registry.record(RunRecord("bm25", {}))


def test_a_corrupt_registry_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(b"this is not sqlite at all, just some bytes\n" * 200)
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="not a readable registry.*left untouched"):
        Registry(path).get("latest")
    with pytest.raises(RegistryError, match="not a readable registry"):
        _record(Registry(path))
    assert path.read_bytes() == before


def _writer(path: str, n: int, seed: int) -> None:
    registry = Registry(path)
    for i in range(n):
        _record(registry, _scores(60, seed=seed * 100 + i))


def test_two_concurrent_writers_lose_no_run_and_leave_a_sound_file(tmp_path):
    path = tmp_path / "runs.sqlite3"
    _record(Registry(path))  # create the schema first, as a real registry would have it
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(path), 8, s)) for s in (1, 2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 17
    assert conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 200 + 16 * 120
    assert conn.execute("SELECT COUNT(DISTINCT run_id) FROM metrics").fetchone()[0] == 17


def test_holm_adjusts_in_the_given_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5] and holm([0.9, 0.8]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="p-values must be in"):
        holm([1.5])


def test_mcnemar_counts_only_changed_items():
    lost, gained, p = mcnemar_exact([1, 1, 1, 1, 0, 1], [0, 0, 0, 1, 0, 1])
    assert (lost, gained) == (3, 0) and p == pytest.approx(0.125)
    assert mcnemar_exact([1, 0], [1, 0])[2] == 1.0
    assert mcnemar_exact([1, 0, 1], [0, 1, 1])[2] == pytest.approx(0.75)


def test_paired_bootstrap_is_small_for_a_real_drop_and_large_for_a_gain():
    base = np.ones(200)
    assert paired_bootstrap(base, np.r_[np.zeros(20), np.ones(180)]) < 0.01
    assert paired_bootstrap(np.r_[np.zeros(20), np.ones(180)], base) > 0.5


def test_a_planted_drop_regresses_and_no_change_does_not():
    base = _scores(300, seed=1)
    report = detect_regression(base, _scores(300, drop=30, seed=1))
    assert report.regressed and set(report.regressions["metric"]) == {"recall@5", "hit@5"}
    assert dict(zip(report.table["metric"], report.table["test"], strict=True)) == {
        "recall@5": "bootstrap", "hit@5": "mcnemar"}
    text = format_report(report)
    drop = -report.table.set_index("metric").loc["recall@5", "diff"]
    assert drop > 0.09 and "REGRESSED" in text and f"regression: recall@5 fell {drop:.4f}" in text
    assert not detect_regression(base, base).regressed
    assert "no regression" in format_report(detect_regression(base, base))


def test_a_drop_within_tolerance_or_not_significant_is_not_a_regression():
    base = _scores(300, seed=1)
    small = detect_regression(base, _scores(300, drop=3, seed=1))  # 1 point: below the 2-point tolerance
    assert not small.regressed
    few = {"recall@5": {"a": 1.0, "b": 1.0, "c": 1.0}}
    assert not detect_regression(few, {"recall@5": {"a": 0.0, "b": 1.0, "c": 1.0}}).regressed  # 1 of 3: noise
    loose = detect_regression(base, _scores(300, drop=30, seed=1), tolerances={"recall@5": 0.2, "hit@5": 0.2})
    assert not loose.regressed


def test_detect_regression_rejects_bad_input():
    base = _scores(10)
    with pytest.raises(ValueError, match="not scored in both runs"):
        detect_regression(base, base, metrics=["mrr@10"])
    with pytest.raises(ValueError, match="share no scored items"):
        detect_regression({"m": {"a": 1.0}}, {"m": {"b": 1.0}})
    with pytest.raises(ValueError, match="alpha"):
        detect_regression(base, base, alpha=1.5)


# -- the CLI -----------------------------------------------------------------------------------

def test_eval_rag_records_and_compare_and_history_read_it(tmp_path, capsys):
    db = str(tmp_path / "runs.sqlite3")
    argv = ["eval", "rag", "--split", "dev", "--pipeline", "bm25", "--max-queries", "30", "--record",
            "--registry", db]
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "recall@5" in out and out.count("recorded run r-") == 2
    assert main(["eval", "compare", "--registry", db, "--fail-on-regression"]) == 0
    out = capsys.readouterr().out
    assert "no regression" in out and "hit@5" in out and "mcnemar" in out
    plot = tmp_path / "history.png"
    assert main(["eval", "history", "--registry", db, "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 1000 and "bm25" in capsys.readouterr().out


def test_eval_compare_fails_on_a_planted_regression_with_a_table(tmp_path, capsys):
    registry = Registry(tmp_path / "runs.sqlite3")
    base = _record(registry, _scores(300, seed=3))
    _record(registry, _scores(300, drop=30, seed=3))
    code = main(["eval", "compare", "--registry", str(registry.path), "--baseline", base, "--fail-on-regression",
                 "--mark"])
    out = capsys.readouterr().out
    assert code == 1 and "REGRESSED" in out and "p = " in out
    assert registry.get("latest").info["status"] == "regressed"
    assert registry.resolve("last-good") == base
    assert main(["eval", "compare", "--registry", str(registry.path), "--baseline", base]) == 0  # report only


@pytest.mark.parametrize("argv, message", [
    (["eval", "compare", "--baseline", "r-nope"], "unknown run 'r-nope'"),
    (["eval", "history", "--pipeline", "nope"], "no runs of nope"),
    (["eval", "compare", "--tolerance", "recall@5"], "must look like METRIC=DROP"),
    (["eval", "rag", "--pipeline", "nope"], "unknown pipeline 'nope'"),
    (["eval", "rag", "--split", "train", "--max-queries", "2"], "must be dev or test"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    db = tmp_path / "runs.sqlite3"
    _record(Registry(db))
    _record(Registry(db))
    assert main([*argv, "--registry", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_cli_corrupt_or_missing_registry_and_missing_golden_are_one_line(tmp_path, capsys, monkeypatch):
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"\x00garbage" * 512)
    for argv in (["eval", "history"], ["eval", "compare"]):
        assert main([*argv, "--registry", str(corrupt)]) == 2
        assert "not a readable registry" in capsys.readouterr().err
    assert corrupt.read_bytes() == b"\x00garbage" * 512
    assert main(["eval", "history", "--registry", str(tmp_path / "none.sqlite3")]) == 2
    assert "no run registry at" in capsys.readouterr().err
    monkeypatch.setenv("INFERLEARN_DATA", str(tmp_path / "nodata"))
    assert main(["eval", "rag", "--registry", str(tmp_path / "r.sqlite3")]) == 2
    err = capsys.readouterr().err.strip()
    assert "golden set not found" in err and "\n" not in err


def test_eval_rag_judge_says_plainly_when_the_judge_module_is_missing(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "inferlearn.evals.judge", None)  # import fails as if absent
    assert main(["eval", "rag", "--judge", "default", "--registry", str(tmp_path / "r.sqlite3")]) == 2
    err = capsys.readouterr().err.strip()
    assert "judge module is not available" in err and "\n" not in err


def test_the_first_nightly_run_has_no_baseline_and_passes_only_when_allowed(tmp_path, capsys):
    db = tmp_path / "runs.sqlite3"
    _record(Registry(db))
    assert main(["eval", "compare", "--registry", str(db), "--fail-on-regression"]) == 2
    assert "no earlier good run of pipeline 'bm25'" in capsys.readouterr().err
    assert main(["eval", "compare", "--registry", str(db), "--fail-on-regression", "--allow-no-baseline"]) == 0
    assert "it becomes the baseline" in capsys.readouterr().out


def test_the_nightly_workflow_runs_make_eval_nightly_and_keeps_the_registry():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / ".github/workflows/nightly-eval.yml").read_text())
    steps = workflow["jobs"]["eval"]["steps"]
    assert workflow[True]["schedule"][0]["cron"]  # YAML reads the key `on` as True
    assert any("make eval-nightly" in step.get("run", "") for step in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "registry.sqlite3" in upload["with"]["path"]
    makefile = (root / "Makefile").read_text()
    assert "eval-nightly:" in makefile and "--fail-on-regression --mark" in makefile


def test_a_writer_that_cannot_get_the_lock_says_so_and_writes_nothing(tmp_path):
    path = tmp_path / "runs.sqlite3"
    _record(Registry(path))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with pytest.raises(RegistryError, match="locked by another writer"):
            _record(Registry(path, timeout=0.2))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert Registry(path).count() == 1


def test_eval_rag_record_checks_the_registry_before_evaluating(tmp_path, capsys, monkeypatch):
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"\x00garbage" * 512)
    monkeypatch.setattr("inferlearn.evals.retrieval.evaluate_retrieval",
                        lambda *a, **k: pytest.fail("evaluated before checking the registry"))
    assert main(["eval", "rag", "--pipeline", "bm25", "--record", "--registry", str(corrupt)]) == 2
    assert "not a readable registry" in capsys.readouterr().err


def test_eval_rag_with_a_judge_records_generation_and_judge_scores(tmp_path, capsys, monkeypatch):
    """The --judge/--answers path end to end, with the scripted client and stand-in judge and
    generation modules shaped like the interface in inferlearn.evals.judge / generation."""
    import sys
    import types

    import pandas as pd

    from inferlearn.llm.testing import ScriptedClient

    seen = {}

    def judge_answers(items, name="default", *, client=None, model=None, seed=0):
        seen["items"] = items
        return pd.DataFrame({"id": [i["id"] for i in items], "faithful": [True, None],
                             "relevant": [True, False], "p_yes": [0.9, None], "abstained": [False, True],
                             "parse_failures": [0, 1]})

    judge = types.ModuleType("inferlearn.evals.judge")
    judge.JUDGES = {"default": types.SimpleNamespace(version="3", sha256="abc123")}
    judge.judge_answers = judge_answers
    generation = types.ModuleType("inferlearn.evals.generation")
    generation.generation_metrics = lambda items: pd.DataFrame(
        {"id": [i["id"] for i in items], "correctness": [1.0, 0.5], "citation_precision": [1.0, 0.0],
         "citation_recall": [0.5, 0.0]})
    monkeypatch.setitem(sys.modules, "inferlearn.evals.judge", judge)
    monkeypatch.setitem(sys.modules, "inferlearn.evals.generation", generation)
    client = ScriptedClient(["Seven days [x].", "I don't know."])
    monkeypatch.setattr("inferlearn.llm.get_client", lambda *a, **k: client)
    db = tmp_path / "runs.sqlite3"
    code = main(["eval", "rag", "--split", "dev", "--pipeline", "bm25", "--max-queries", "5", "--answers", "2",
                 "--judge", "default", "--model", "scripted-model", "--record", "--registry", str(db)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 parse failure(s) over 2 verdicts" in captured.err and client.remaining == 0
    assert {"question", "answer", "contexts", "reference", "citations", "anchors"} <= set(seen["items"][0])
    run = Registry(db).get("latest")
    assert run.scores["judge_faithful"] == {seen["items"][0]["id"]: 1.0}  # the abstained verdict is not a 0
    assert run.scores["judge_abstained"][seen["items"][1]["id"]] == 1.0
    assert run.scores["correctness"][seen["items"][1]["id"]] == 0.5 and len(run.scores["recall@5"]) == 5
    assert run.info["prompts"]["judge.default"] == {"version": "3", "sha256": "abc123"}
    assert "rag.answer.system" in run.info["prompts"] and "scripted-model" in run.info["models"]


def test_compare_an_older_run_with_the_run_recorded_before_it(tmp_path, capsys):
    registry = Registry(tmp_path / "runs.sqlite3")
    first, second, _third = (_record(registry) for _ in range(3))
    assert main(["eval", "compare", "--registry", str(registry.path), "--run", second, "--baseline", "latest"]) == 0
    assert f"baseline {first} " in capsys.readouterr().out
    assert main(["eval", "compare", "--registry", str(registry.path), "--run", first]) == 2
    assert "no earlier good run" in capsys.readouterr().err


def test_compare_can_gate_on_chosen_metrics_only(tmp_path, capsys):
    registry = Registry(tmp_path / "runs.sqlite3")
    base = _record(registry, _scores(300, seed=3))
    _record(registry, _scores(300, drop=30, seed=3))
    argv = ["eval", "compare", "--registry", str(registry.path), "--baseline", base, "--fail-on-regression"]
    assert main([*argv, "--metric", "hit@5"]) == 1
    out = capsys.readouterr().out
    assert "hit@5" in out and "recall@5" not in out
    assert main([*argv, "--metric", "nope"]) == 2
    assert "metric 'nope' is not scored in both runs" in capsys.readouterr().err
