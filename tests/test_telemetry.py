"""Telemetry: request log lines, Prometheus metrics at /metrics, percentiles and the alert rule."""

from __future__ import annotations

import json
import math
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from inferlearn.prod.telemetry import (
    Metrics,
    Stopwatch,
    alert_fires,
    latency_percentiles,
    log_request,
    metrics_app,
    read_request_log,
    scrub_text,
)


def test_log_request_writes_a_json_line_and_updates_the_metrics(tmp_path):
    metrics, path = Metrics(), tmp_path / "requests.jsonl"
    log_request(path, metrics, route="/v1/answer", status=200, latency_ms=120.0, stages={"retrieve": 15.0},
                model="m", prompt_tokens=900, completion_tokens=80, cost_usd=4e-05, cache="miss",
                abstained=True, prompt="p@v1#abc", breaker="open")
    log_request(path, metrics, route="/v1/answer", status=503, latency_ms=3.0, error="upstream_unavailable")
    frame = read_request_log(path)
    assert list(frame["status"]) == [200, 503] and str(frame["ts"].dtype).startswith("datetime64")
    app = FastAPI()
    app.mount("/metrics", metrics_app(metrics))
    text = TestClient(app).get("/metrics/").text
    for needle in ('inferlearn_requests_total{route="/v1/answer",status="200"} 1.0',
                   'inferlearn_request_seconds_count{route="/v1/answer",stage="retrieve"} 1.0',
                   'inferlearn_tokens_total{kind="prompt",model="m"} 900.0',
                   'inferlearn_errors_total{route="/v1/answer",type="upstream_unavailable"} 1.0',
                   'inferlearn_cache_total{result="miss"} 1.0', 'inferlearn_abstentions_total{route="/v1/answer"} 1.0',
                   'inferlearn_breaker_state{name="llm"} 2.0', 'inferlearn_cost_usd_total{model="m"} 4e-05'):
        assert needle in text, needle


def test_free_text_is_never_logged_raw_without_pii_redaction(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "inferlearn.prod.pii", None)  # as if P4-SAFETY's module were absent
    line = log_request(tmp_path / "r.jsonl", Metrics(), route="/v1/answer", query="my card is 4111 1111 1111 1111")
    assert "4111" not in json.dumps(line) and line["query"]["chars"] == 30
    assert scrub_text("abc")["sha256"] == scrub_text("abc")["sha256"]


def test_read_request_log_reports_a_broken_line_and_a_missing_file(tmp_path):
    (tmp_path / "r.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match="line 2: not JSON"):
        read_request_log(tmp_path / "r.jsonl")
    with pytest.raises(FileNotFoundError, match="no request log"):
        read_request_log(tmp_path / "missing.jsonl")


def test_latency_percentiles_are_nearest_rank_on_unsorted_input_ignoring_nan():
    values = list(range(100, 0, -1)) + [math.nan]
    assert latency_percentiles(values) == {50: 50, 95: 95, 99: 99}
    assert latency_percentiles([7.0], (50, 100)) == {50: 7.0, 100: 7.0}
    with pytest.raises(ValueError, match="no latencies"):
        latency_percentiles([math.nan])
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        latency_percentiles([1], (0,))


def test_alert_needs_every_one_of_the_last_windows_above_the_threshold():
    assert alert_fires([(100, 1), (100, 6), (100, 7)], 0.05, 2)
    assert not alert_fires([(100, 6), (100, 1), (100, 7)], 0.05, 2)
    assert not alert_fires([(100, 6), (0, 0), (100, 7)], 0.05, 2)
    assert not alert_fires([(100, 5)], 0.05, 1), "exactly at the threshold is not above it"
    assert not alert_fires([(100, 9)], 0.05, 2), "too few windows yet"
    with pytest.raises(ValueError):
        alert_fires([], 0.05, 0)


def test_stopwatch_adds_up_repeated_stages():
    watch = Stopwatch()
    for _ in range(2):
        with watch.stage("retrieve"):
            pass
    assert set(watch.stages) == {"retrieve"} and watch.stages["retrieve"] >= 0 and watch.elapsed_ms > 0


def test_any_field_name_is_free_for_the_caller(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERLEARN_REQUEST_LOG", str(tmp_path / "env.jsonl"))
    line = log_request(route="/v1/answer", path="/v1/answer?x=1", metrics="not the registry", status=200)
    assert line["path"] == "/v1/answer?x=1" and line["metrics"] == "not the registry"
    assert json.loads((tmp_path / "env.jsonl").read_text())["status"] == 200
