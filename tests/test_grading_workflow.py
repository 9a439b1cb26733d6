"""inferlearn grade's workflow: sandbox command line, refusal, workers, --jobs equality, --zip.

Fast unit tests first; the two grading runs (sequential against --jobs 2, and the unsandboxed
control that shows the read-source attack does work without the sandbox) are marked slow.
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest
from fixtures.course import attacks
from fixtures.course.submissions import (
    FIXTURE_PHASE,
    good_submission,
    load,
    output_text,
    set_source,
    submit,
)

from inferlearn.cli import main
from inferlearn.course import sandbox, workers
from inferlearn.course.grading import Options, grade_course
from inferlearn.course.layout import Course
from inferlearn.course.lms import import_zip
from inferlearn.course.scores import COULD_NOT_GRADE, GRADED, NotebookScore

PHASE = FIXTURE_PHASE.name


def test_root_mode_drops_to_a_slot_uid_and_unshares_the_network(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "is_root", lambda: True)
    argv = sandbox.bwrap_argv(["python"], tmp_path / "work", [], tmp_path, sandbox.Spec(), sandbox.BASE_UID + 3)
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--die-with-parent" in argv
    assert "--unshare-user" not in argv
    assert f"--reuid={sandbox.BASE_UID + 3}" in argv and "--bounding-set=-all" in argv
    assert "--nproc=96" in argv and argv[-1] == "python"
    assert argv[argv.index("--chdir") + 1] == str(tmp_path / "work")


def test_root_mode_refuses_a_uid_outside_the_sandbox_range(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "is_root", lambda: True)
    with pytest.raises(ValueError, match="acquire_uid"):
        sandbox.bwrap_argv(["python"], tmp_path / "work", [], tmp_path, sandbox.Spec(), 0)


@pytest.mark.skipif(not sandbox.is_root(), reason="uids are only taken in root mode")
def test_each_kernel_takes_a_uid_no_other_holds():
    first, fd1 = sandbox.acquire_uid()
    second, fd2 = sandbox.acquire_uid()
    try:
        assert first != second and sandbox.BASE_UID <= min(first, second)
    finally:
        sandbox.release_uid(first, fd1)
        sandbox.release_uid(second, fd2)


def test_user_mode_uses_a_user_namespace_and_no_setpriv(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "is_root", lambda: False)
    argv = sandbox.bwrap_argv(["python"], tmp_path / "work", [], tmp_path, sandbox.Spec())
    assert "--unshare-user" in argv and "--disable-userns" in argv and "setpriv" not in argv


def test_parent_folders_are_made_traversable():
    assert sandbox.parent_dirs("/root/.pyenv/x") == ["--perms", "0755", "--dir", "/root",
                                                     "--perms", "0755", "--dir", "/root/.pyenv"]


def test_missing_bwrap_is_refused_with_the_fix(monkeypatch, capsys, tmp_path, make_course):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    course = make_course(name="refuse")
    code = main(["grade", "--root", str(course.root)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "apt-get install -y bubblewrap" in err and "--no-sandbox" in err


def test_no_sandbox_skips_the_check(monkeypatch, capsys, make_course):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    course = make_course(name="nosandbox")
    code = main(["grade", "--root", str(course.root), "--no-sandbox"])
    assert code == 2 and "no submissions" in capsys.readouterr().err  # got past the sandbox check


def test_a_crashing_worker_costs_only_its_unit(tmp_path, monkeypatch):
    course = Course(tmp_path)
    course.course_dir.mkdir(parents=True)
    course.gradebook.write_bytes(b"not really sqlite")
    merged = []
    monkeypatch.setattr(workers, "merge_submission", lambda src, dst, phase, student: merged.append(student))
    seen_slots = set()
    lock = threading.Lock()

    def grade_unit(unit, slot, db):
        with lock:
            seen_slots.add(slot)
        if unit.student == "crash":
            raise RuntimeError("worker blew up")
        return [NotebookScore(unit.student, unit.phase, n, 1.0, 1.0, GRADED) for n in unit.names]

    units = [workers.Unit(s, PHASE, ("01_basics", "02_text")) for s in ("a", "crash", "b", "c")]
    done = {}
    workers.Workers(course, 2, grade_unit).run(units, lambda unit, rows: done.__setitem__(unit.student, rows))
    assert sorted(merged) == ["a", "b", "c"]
    assert [r.status for r in done["crash"]] == [COULD_NOT_GRADE, COULD_NOT_GRADE]
    assert "worker blew up" in done["crash"][0].detail
    assert all(r.status == GRADED for s in "abc" for r in done[s])
    assert seen_slots <= {0, 1}


def blackboard_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_zip_import_files_each_student_latest_attempt(tmp_path, make_course):
    course = make_course(name="zip")
    nb = (FIXTURE_PHASE / "01_basics.ipynb").read_bytes()
    path = blackboard_zip(tmp_path / "export.zip", {
        f"{PHASE}_ada_attempt_2026-01-30-15-00-00_01_basics.ipynb": b"old",
        f"{PHASE}_ada_attempt_2026-01-31-09-00-00_01_basics.ipynb": nb,
        f"sub/{PHASE}_bob_attempt_2026-01-30-15-00-00_02_text.ipynb": b"{}",
        f"{PHASE}_bob_attempt_2026-01-30-15-00-00_notes.txt": b"ignored",
        f"../../{PHASE}_evil_attempt_1_01_basics.ipynb": b"x",
    })
    students = import_zip(course, path)
    assert students == ["ada", "bob", "evil"]
    assert (course.submitted_dir / "ada" / PHASE / "01_basics.ipynb").read_bytes() == nb
    assert (course.submitted_dir / "bob" / PHASE / "02_text.ipynb").read_bytes() == b"{}"
    assert (course.submitted_dir / "evil" / PHASE / "01_basics.ipynb").exists()  # path parts dropped
    assert not list(tmp_path.parent.glob("*evil*"))


def test_zip_with_no_matching_name_is_a_clear_error(tmp_path, make_course, capsys):
    course = make_course(name="zipbad")
    path = blackboard_zip(tmp_path / "export.zip", {"readme.txt": b"hi"})
    code = main(["grade", "--root", str(course.root), "--zip", str(path), "--no-sandbox"])
    assert code == 2 and "--zip-regexp" in capsys.readouterr().err


def small_batch(course: Course) -> None:
    release, phase = course.release_dir / PHASE, PHASE
    for student in ("ann", "ben"):
        for name in ("01_basics.ipynb", "02_text.ipynb"):
            submit(course.submitted_dir, student, phase, name, good_submission(course, name))
    submit(course.submitted_dir, "cat", phase, "01_basics.ipynb", load(release / "01_basics.ipynb"))


def summary(rows):
    return sorted((r.student, r.notebook, r.score, r.max_score, r.status, [f.grade_id for f in r.failed])
                  for r in rows)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_jobs_2_gives_the_same_grades_as_sequential(make_course):
    use_sandbox = sandbox.probe()[0]
    results = []
    for jobs in (1, 2):
        course = make_course(name=f"jobs{jobs}", release=True)
        small_batch(course)
        opts = Options(timeout=120, cell_timeout=10, jobs=jobs, sandbox=use_sandbox)
        results.append(summary(grade_course(course, opts=opts, log=lambda *_: None)))
    assert results[0] == results[1]
    assert ("ann", "01_basics", 3.0, 3.0, GRADED, []) in results[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_control_without_the_sandbox_the_read_attack_works(make_course):
    """Proves the hostile suite's read check can fail: unsandboxed, the source is readable."""
    course = make_course(name="control", release=True)
    source = course.root / PHASE / "01_basics.ipynb"
    nb = set_source(load(course.release_dir / PHASE / "01_basics.ipynb"), "p0-add-solution",
                    attacks.read_source(course.root, source))
    submit(course.submitted_dir, "readsrc", PHASE, "01_basics.ipynb", nb)
    grade_course(course, opts=Options(timeout=120, cell_timeout=10, sandbox=False), log=lambda *_: None)
    text = output_text(load(course.autograded_dir / "readsrc" / PHASE / "01_basics.ipynb"))
    assert "ATTACK-OK read-source" in text
