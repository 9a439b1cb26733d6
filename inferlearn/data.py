"""The course's own data (``data/``): where it is and how to load it.

Notebooks run from many folders (the repo, ``workspace/<phase>/``, nbgrader's
``build/course/autograded/<student>/<phase>/``), so they never use relative paths: they call
these functions. ``INFERLEARN_DATA`` overrides the location.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from inferlearn.config import settings

TICKET_SPLITS = ("train", "dev", "heldout")


def data_dir() -> Path:
    """The ``data/`` folder: ``INFERLEARN_DATA``, else the one beside the installed package,
    else the first ``data/WORLD.md`` found walking up from the current folder.
    Introduced in ``phase2_rag/04_grounded_generation``."""
    override = settings().data
    if override:
        return override
    beside = Path(__file__).resolve().parents[1] / "data"
    if (beside / "WORLD.md").exists():
        return beside
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "data" / "WORLD.md").exists():
            return folder / "data"
    raise FileNotFoundError(
        "cannot find the course data folder (data/WORLD.md); run from inside the course "
        "repository or set INFERLEARN_DATA to its data/ folder"
    )


def shared_datasets_dir() -> Path | None:
    """``../shared/datasets`` beside the checkout (developers and CI only), or None.
    Introduced in ``phase4_production/04_pii``."""
    override = settings().shared_datasets
    candidates = [override] if override else []
    candidates.append(data_dir().parents[1] / "shared" / "datasets")
    return next((p for p in candidates if p.is_dir()), None)


def read_jsonl(path: str | Path) -> list[dict]:
    """Records of a JSON-lines file, with the line number in the error if one is bad.
    Introduced in ``phase2_rag/04_grounded_generation``."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{number} is not valid JSON ({exc})") from None
    return rows


def load_tickets(split: str | None = None) -> pd.DataFrame:
    """Larkspur support tickets (``data/tickets/tickets.jsonl``), optionally one split.

    Columns: id, channel, received, subject, text, team, severity, gold (dict), pii (list),
    injection, split. Introduced in ``phase1_llm_api/01_first_calls_and_tokens``.
    """
    if split is not None and split not in TICKET_SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(TICKET_SPLITS)}")
    frame = pd.DataFrame(read_jsonl(data_dir() / "tickets" / "tickets.jsonl"))
    if split is not None:
        frame = frame[frame["split"] == split].reset_index(drop=True)
    return frame


def load_accounts() -> dict[str, dict]:
    """Larkspur customer accounts by id (``data/accounts/accounts.jsonl``): owner, company, plan,
    region, status, seats. Introduced in ``phase1_llm_api/05_tool_use_loop``."""
    return {row["account_id"]: row for row in read_jsonl(data_dir() / "accounts" / "accounts.jsonl")}
