"""``inferlearn progress``: the learner's points per phase and notebook, from their checks.

Introduced in ``notebooks/00_start_here``. Every ``inferlearn check`` (``make check``) appends
one JSON line per notebook it graded to ``workspace/.inferlearn/checks.jsonl``: the learner's
folder, never the repository. Progress reads the latest check of each notebook, lists the
exercises still open (tests without full points, and every test of a notebook never checked)
and draws points against the maximum per notebook.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from inferlearn.course.layout import Course
from inferlearn.course.scores import COULD_NOT_GRADE, NotebookScore

HISTORY = Path(".inferlearn") / "checks.jsonl"
NOT_CHECKED = "not checked yet"


def history_path(course: Course) -> Path:
    """``workspace/.inferlearn/checks.jsonl`` (hidden from JupyterLab, ignored by git)."""
    return course.workspace / HISTORY


def record_check(course: Course, rows: list[NotebookScore], when: float | None = None) -> Path:
    """Append one line per checked notebook: time, points, maximum, status, failing tests."""
    path = history_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.time() if when is None else when
    with path.open("a") as out:
        for row in rows:
            failed = [{"grade_id": t.grade_id, "score": t.score, "max_score": t.max_score,
                       "hint": t.hint} for t in row.failed]
            out.write(json.dumps({"time": stamp, "phase": row.phase, "notebook": row.notebook,
                                  "score": row.score, "max_score": row.max_score,
                                  "status": row.status, "detail": row.detail,
                                  "failed": failed}) + "\n")
    return path


def load_history(course: Course) -> list[dict[str, Any]]:
    """Every recorded check, oldest first; unreadable lines are skipped."""
    path = history_path(course)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return sorted(records, key=lambda r: r.get("time", 0))


def notebook_exercises(path: Path) -> dict[str, float]:
    """``{grade_id: points}`` of a source notebook's graded test cells, in notebook order."""
    nb = nbformat.read(path, as_version=4)
    found = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id"):
            found[meta["grade_id"]] = float(meta.get("points", 0))
    return found


def open_exercises(exercises: dict[str, float], latest: dict[str, Any] | None) -> list[str]:
    """The grade ids without full points in the latest check (all of them if none)."""
    if latest is None or latest.get("status") == COULD_NOT_GRADE:
        return list(exercises)
    failed = {t["grade_id"] for t in latest.get("failed", [])}
    return [grade_id for grade_id in exercises if grade_id in failed]


def progress_table(course: Course) -> pd.DataFrame:
    """One row per course notebook: points, maximum, checks, last check, open exercises."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    checks: dict[tuple[str, str], int] = {}
    for record in load_history(course):
        key = (record.get("phase", ""), record.get("notebook", ""))
        latest[key] = record
        checks[key] = checks.get(key, 0) + 1
    rows = []
    for phase in course.phases():
        for path in course.phase_notebooks(phase):
            exercises = notebook_exercises(path)
            record = latest.get((phase, path.stem))
            status = record["status"] if record else NOT_CHECKED
            rows.append({
                "phase": phase, "notebook": path.stem,
                "points": (record or {}).get("score") or 0.0,
                "max_points": sum(exercises.values()),
                "checks": checks.get((phase, path.stem), 0),
                "last_checked": pd.to_datetime(record["time"], unit="s") if record else pd.NaT,
                "status": status,
                "open": open_exercises(exercises, record),
            })
    return pd.DataFrame(rows, columns=["phase", "notebook", "points", "max_points", "checks",
                                       "last_checked", "status", "open"])


def format_progress(table: pd.DataFrame) -> str:
    """Points per notebook with a subtotal per phase, then the exercises still open."""
    lines = [f"{'notebook':<46} {'points':>6} {'max':>5}  checked", "-" * 68]
    for phase, group in table.groupby("phase", sort=True):
        for row in group.itertuples():
            when = "never" if pd.isna(row.last_checked) else f"{row.last_checked:%Y-%m-%d %H:%M}"
            note = "" if row.status in ("graded", NOT_CHECKED) else f"  ({row.status})"
            lines.append(f"{phase + '/' + row.notebook:<46} {row.points:>6g} "
                         f"{row.max_points:>5g}  {when}{note}")
        lines.append(f"{'  ' + phase + ' total':<46} {group.points.sum():>6g} "
                     f"{group.max_points.sum():>5g}")
    lines.append("-" * 68)
    lines.append(f"{'total':<46} {table.points.sum():>6g} {table.max_points.sum():>5g}")
    still_open = [(r.phase, r.notebook, r.open, r.status) for r in table.itertuples() if r.open]
    if still_open:
        lines.append("\nexercises still open:")
        for phase, notebook, grade_ids, status in still_open:
            why = " (not checked yet)" if status == NOT_CHECKED else ""
            lines.append(f"  {phase}/{notebook}{why}: {', '.join(grade_ids)}")
    if not table.checks.any():
        lines.append("\nno checks yet: run `make check` (or `inferlearn check`) from the course "
                     "folder to grade your workspace notebooks")
    return "\n".join(lines)


def plot_progress(table: pd.DataFrame, path: Path | None = None):
    """A horizontal bar per notebook: points earned over the maximum. Saved to ``path`` if given."""
    import matplotlib.pyplot as plt

    labels = [f"{r.phase.split('_')[0]}/{r.notebook}" for r in table.itertuples()]
    height = max(2.0, 0.35 * len(labels) + 1)
    fig, ax = plt.subplots(figsize=(7, height))
    ax.barh(labels, table.max_points, color="#dddddd", label="maximum")
    ax.barh(labels, table.points, color="#2b7bba", label="your points (latest check)")
    ax.invert_yaxis()
    ax.set_title(f"Your progress: {table.points.sum():g} of {table.max_points.sum():g} points")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08 * 4 / height), ncol=2, fontsize=8,
              frameon=False)
    fig.tight_layout()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
