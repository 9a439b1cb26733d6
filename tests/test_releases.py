"""Prompt releases: active pointer, canary share by request id, promote, rollback, clear errors."""

from __future__ import annotations

import pytest

from inferlearn.prod.releases import Releases, canary_bucket


def test_activate_then_canary_splits_request_ids_near_the_share_and_sticks(tmp_path):
    releases = Releases(tmp_path / "r.json")
    v1 = releases.activate("route_ticket", 1)
    assert releases.pick("route_ticket", "req-1").ref == v1.ref
    releases.start_canary("route_ticket", 2, share=0.2)
    picks = [releases.pick("route_ticket", f"req-{i}").version for i in range(2000)]
    assert 0.17 < picks.count(2) / 2000 < 0.23
    assert all(releases.pick("route_ticket", f"req-{i}").version == picks[i] for i in range(50))


def test_state_persists_and_rollback_ends_the_canary_then_restores_the_previous_version(tmp_path):
    path = tmp_path / "r.json"
    releases = Releases(path)
    releases.activate("route_ticket", 1)
    releases.activate("route_ticket", 2)
    releases.start_canary("route_ticket", 3, share=0.5)
    again = Releases(path)
    assert again.rollback("route_ticket").version == 2  # canary off
    assert {again.pick("route_ticket", f"r{i}").version for i in range(100)} == {2}
    assert again.rollback("route_ticket").version == 1
    with pytest.raises(ValueError, match="no earlier release"):
        again.rollback("route_ticket")
    actions = [h["action"] for h in Releases(path).history("route_ticket")]
    assert actions == ["activate", "activate", "canary", "rollback", "rollback"]


def test_promote_makes_the_canary_active_for_everyone(tmp_path):
    releases = Releases(tmp_path / "r.json")
    releases.activate("route_ticket", 1)
    releases.start_canary("route_ticket", 3, share=0.1)
    assert releases.promote("route_ticket").version == 3
    assert {releases.pick("route_ticket", f"r{i}").version for i in range(100)} == {3}


def test_bad_requests_get_clear_errors(tmp_path):
    releases = Releases(tmp_path / "r.json")
    with pytest.raises(KeyError, match="no release; activate"):
        releases.pick("route_ticket", "x")
    with pytest.raises(FileNotFoundError, match="no version 9"):
        releases.activate("route_ticket", 9)
    releases.activate("route_ticket", 1)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        releases.start_canary("route_ticket", 2, share=1.0)
    with pytest.raises(ValueError, match="already active"):
        releases.start_canary("route_ticket", 1, share=0.5)
    with pytest.raises(ValueError, match="no canary to promote"):
        releases.promote("route_ticket")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Releases(tmp_path / "broken.json")


def test_canary_bucket_is_stable_and_in_unit_interval():
    assert canary_bucket("abc") == canary_bucket("abc")
    assert all(0 <= canary_bucket(str(i)) < 1 for i in range(100))
