"""Hostile submissions graded in ONE sandboxed batch (--jobs 2) with honest ones.

Attacks (tests/fixtures/course/attacks.py): read the source, hidden tests and gradebook; print
IPython's input history after a test cell ran; write the gradebook, another submission, the
source and the release; connect to a port on 127.0.0.1; allocate 8 GiB; start 300 processes;
write a 1 GiB file; kill their parents; sleep forever ignoring interrupts. Every attack is
bounded (counts, and the 5 s cell / 60 s notebook limits of this batch). Skipped with the fix
when bubblewrap cannot run here: these submissions must never run unsandboxed.
"""

from __future__ import annotations

import hashlib
import re
import socket
import sqlite3
from pathlib import Path

import pytest
from fixtures.course import attacks
from fixtures.course.submissions import (
    FIXTURE_PHASE,
    good_submission,
    hidden_lines,
    html_text,
    leaked_lines,
    load,
    output_text,
    set_source,
    submit,
)

from inferlearn.course import sandbox
from inferlearn.course.grading import Options, grade_course
from inferlearn.course.scores import COULD_NOT_GRADE, GRADED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
PHASE = FIXTURE_PHASE.name
HONEST = ("honest1", "honest2")
OK, why = sandbox.probe()
needs_sandbox = pytest.mark.skipif(not OK, reason=f"no grading sandbox here: {why}")


def digest(paths: list[Path]) -> dict[str, str]:
    """sha256 of every file under ``paths``."""
    found = {}
    for top in paths:
        for path in sorted(p for p in top.rglob("*") if p.is_file()):
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def hostile_submissions(course, port: int) -> dict[str, object]:
    """Every attack as a student's 01_basics (answering nothing), keyed by student."""
    release = course.release_dir / PHASE / "01_basics.ipynb"
    source = course.root / PHASE / "01_basics.ipynb"
    targets = {
        "gradebook": course.gradebook,
        "other-submission": course.submitted_dir / "honest1" / PHASE / "01_basics.ipynb",
        "source": source,
        "release": release,
    }
    codes = {
        "readsrc": attacks.read_source(course.root, source),
        "writer": attacks.write_files(course.root, targets),
        "network": attacks.connect(port),
        "memory": attacks.MEMORY,
        "forker": attacks.FORK,
        "bigfile": attacks.BIG_FILE,
        "killer": attacks.KILL_PARENTS,
        "sleeper": attacks.SLEEP_FOREVER,
    }
    notebooks = {}
    for student, code in codes.items():
        nb = set_source(load(release), "p0-add-solution", code)
        if student == "readsrc":  # runs after the p0-add test cell: its hidden lines are in _ih
            nb = set_source(nb, "p0-mean-solution", attacks.print_history())
        notebooks[student] = nb
    return notebooks


@pytest.fixture(scope="module")
def hostile_batch(make_course):
    if not OK:
        pytest.skip(f"no grading sandbox here: {why}")
    course = make_course(name="hostile", release=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    for student in HONEST:
        for name in ("01_basics.ipynb", "02_text.ipynb"):
            submit(course.submitted_dir, student, PHASE, name, good_submission(course, name))
    for student, nb in hostile_submissions(course, listener.getsockname()[1]).items():
        submit(course.submitted_dir, student, PHASE, "01_basics.ipynb", nb)
    protected = [course.root / PHASE, course.release_dir, course.submitted_dir]
    before = digest(protected)
    opts = Options(timeout=60, cell_timeout=5, jobs=2, sandbox=True, limits=sandbox.Limits(memory_mb=1536))
    rows = grade_course(course, opts=opts, log=lambda *_: None)
    try:
        accepted = listener.accept()
    except BlockingIOError:
        accepted = None
    listener.close()
    return course, {(r.student, r.notebook): r for r in rows}, before, digest(protected), accepted


@needs_sandbox
def test_honest_submissions_keep_full_marks(hostile_batch):
    _, rows, *_ = hostile_batch
    for student in HONEST:
        for name in ("01_basics", "02_text"):
            row = rows[(student, name)]
            assert row.status == GRADED and row.score == row.max_score > 0, row


@needs_sandbox
@pytest.mark.parametrize("student", ["readsrc", "writer", "network", "memory", "forker", "bigfile",
                                     "killer", "sleeper"])
def test_hostile_submission_scores_zero_or_could_not_grade(hostile_batch, student):
    course, rows, *_ = hostile_batch
    row = rows[(student, "01_basics")]
    assert row.status == COULD_NOT_GRADE or (row.status == GRADED and row.score == 0), row
    graded = course.autograded_dir / student / PHASE / "01_basics.ipynb"
    if graded.exists():
        text = output_text(load(graded))
        assert not re.search(r"^ATTACK-OK [\w-]", text, re.MULTILINE), text[:2000]


@needs_sandbox
@pytest.mark.parametrize("student, evidence", [
    ("readsrc", "ATTACK-BLOCKED read-source"),
    ("writer", "ATTACK-BLOCKED write-gradebook"),
    ("network", "ATTACK-BLOCKED connect"),
    ("memory", "ATTACK-BLOCKED memory-8GiB: MemoryError"),
    ("forker", "ATTACK-BLOCKED fork-300"),
    ("bigfile", "File too large"),
])
def test_each_attack_ran_and_was_stopped_by_the_sandbox(hostile_batch, student, evidence):
    course, *_ = hostile_batch
    text = output_text(load(course.autograded_dir / student / PHASE / "01_basics.ipynb"))
    assert evidence in text, text[:2000]


@needs_sandbox
def test_killer_takes_only_its_own_kernel_down(hostile_batch):
    _, rows, *_ = hostile_batch
    row = rows[("killer", "01_basics")]
    assert row.status == COULD_NOT_GRADE and "kernel died" in row.detail, row


@needs_sandbox
def test_source_release_and_submissions_are_byte_identical(hostile_batch):
    _, _, before, after, _ = hostile_batch
    assert before == after


@needs_sandbox
def test_gradebook_holds_no_attack_and_only_true_scores(hostile_batch):
    course, rows, *_ = hostile_batch
    assert b"PWNED" not in course.gradebook.read_bytes()
    with sqlite3.connect(course.gradebook) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT max(auto_score) FROM grade").fetchone()[0] <= 2


@needs_sandbox
def test_no_connection_reached_the_host(hostile_batch):
    assert hostile_batch[4] is None


@needs_sandbox
def test_no_hidden_test_text_in_any_output_or_feedback(hostile_batch):
    course, *_ = hostile_batch
    lines = hidden_lines(load(FIXTURE_PHASE / "01_basics.ipynb")) + hidden_lines(load(FIXTURE_PHASE / "02_text.ipynb"))
    assert lines
    for graded in course.autograded_dir.rglob("*.ipynb"):
        assert not leaked_lines(lines, output_text(load(graded))), graded
        assert not [line for line in lines if line in output_text(load(graded))], graded
    for page in course.feedback_dir.rglob("*.html"):
        assert not [line for line in lines if line in html_text(page.read_text())], page
    readsrc = output_text(load(course.autograded_dir / "readsrc" / PHASE / "01_basics.ipynb"))
    assert "hidden test text removed" in readsrc  # _ih did hold them: redacted, not absent


@needs_sandbox
def test_no_process_outlives_the_batch(hostile_batch):
    import psutil

    course = hostile_batch[0]
    if sandbox.is_root():
        assert sandbox.all_sandbox_processes() == []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        assert not ("bwrap" in cmdline and str(course.root) in cmdline), cmdline
