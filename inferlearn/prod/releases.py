"""Prompt releases on top of ``inferlearn.prompts``: an active version, a canary, rollback.

Introduced in ``phase4_production/06_prompt_releases_and_monitoring``. A prompt file is never
edited (``inferlearn.prompts``); what changes in production is *which* version answers. The
release state lives in one small JSON file per service::

    releases = Releases("build/releases.json")
    releases.activate("grounded_answer", 1)                 # everyone gets v1
    releases.start_canary("grounded_answer", 2, share=0.1)  # 10% of request ids get v2
    prompt = releases.pick("grounded_answer", request_id)   # deterministic per request id
    log_request(prompt=prompt.ref, ...)                     # name@vN#hash in every log line
    releases.rollback("grounded_answer")                    # canary off, previous version back

The canary split hashes the request (or user) id, so one id always sees the same version and the
share of ids on the canary is close to ``share``. Every change is appended to ``history``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inferlearn.prompts import Prompt, load_prompt


def canary_bucket(request_id: str) -> float:
    """A number in [0, 1) fixed by ``request_id`` (the first 8 bytes of its sha256)."""
    digest = hashlib.sha256(str(request_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Releases:
    """Active and canary versions per prompt name, persisted to ``path`` (JSON)."""

    def __init__(self, path: str | Path, folder: Path | None = None) -> None:
        self.path, self.folder = Path(path), folder
        self._lock = threading.Lock()
        self.state: dict[str, Any] = {"prompts": {}, "history": []}
        if self.path.exists():
            try:
                self.state = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ValueError(f"{self.path} is not valid JSON ({exc}); fix it or delete it "
                                 "to start with no releases") from None

    def _save(self, name: str, action: str, **details: Any) -> None:
        self.state["history"].append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                      "prompt": name, "action": action, **details})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2), encoding="utf-8")
        tmp.replace(self.path)  # atomic: a reader never sees half a file

    def _entry(self, name: str) -> dict[str, Any]:
        entry = self.state["prompts"].get(name)
        if entry is None:
            known = ", ".join(sorted(self.state["prompts"])) or "none"
            raise KeyError(f"prompt {name!r} has no release; activate a version first "
                           f"(released prompts: {known})")
        return entry

    def activate(self, name: str, version: int) -> Prompt:
        """Make ``version`` the one everybody gets (ends any canary); remembers the previous one."""
        prompt = load_prompt(name, version, self.folder)  # fails clearly if it does not exist
        with self._lock:
            entry = self.state["prompts"].setdefault(name, {"active": None, "previous": []})
            if entry["active"] is not None and entry["active"] != version:
                entry["previous"].append(entry["active"])
            entry.update(active=version, hash=prompt.hash, canary=None, share=0.0)
            self._save(name, "activate", version=version, hash=prompt.hash)
        return prompt

    def start_canary(self, name: str, version: int, share: float) -> Prompt:
        """Send ``share`` (0 < share < 1) of request ids to ``version``; the rest keep the active one."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"a canary share lies strictly between 0 and 1, got {share}; "
                             "use activate() to give a version to everyone")
        prompt = load_prompt(name, version, self.folder)
        with self._lock:
            entry = self._entry(name)
            if version == entry["active"]:
                raise ValueError(f"{name} v{version} is already active; a canary tries a different version")
            entry.update(canary=version, canary_hash=prompt.hash, share=share)
            self._save(name, "canary", version=version, hash=prompt.hash, share=share)
        return prompt

    def promote(self, name: str) -> Prompt:
        """The canary becomes the active version for everyone."""
        canary = self._entry(name).get("canary")
        if canary is None:
            raise ValueError(f"{name} has no canary to promote")
        return self.activate(name, canary)

    def rollback(self, name: str) -> Prompt:
        """End the canary if there is one; otherwise go back to the previously active version."""
        with self._lock:
            entry = self._entry(name)
            if entry.get("canary") is not None:
                dropped = entry["canary"]
                entry.update(canary=None, share=0.0)
                self._save(name, "rollback", dropped=dropped, version=entry["active"])
                return load_prompt(name, entry["active"], self.folder)
            if not entry["previous"]:
                raise ValueError(f"{name} v{entry['active']} has no earlier release to roll back to")
            dropped, entry["active"] = entry["active"], entry["previous"].pop()
            self._save(name, "rollback", dropped=dropped, version=entry["active"])
            return load_prompt(name, entry["active"], self.folder)

    def pick(self, name: str, request_id: str) -> Prompt:
        """The version ``request_id`` gets: the canary for ``share`` of ids, else the active one."""
        entry = self._entry(name)
        canary = entry.get("canary")
        on_canary = canary is not None and canary_bucket(request_id) < entry.get("share", 0.0)
        return load_prompt(name, canary if on_canary else entry["active"], self.folder)

    def history(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every release action, oldest first (for one prompt, or all)."""
        return [h for h in self.state["history"] if name is None or h["prompt"] == name]
