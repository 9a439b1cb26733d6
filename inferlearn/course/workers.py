"""Parallel autograding: N workers, each with its own gradebook, merged by one writer.

A unit of work is one student's submission to one phase (its notebooks are graded one by one,
then its feedback is written). Worker ``slot`` grades into ``build/course/workers/w<slot>.db``, a
copy of the course gradebook taken at the start, so no two processes ever write one SQLite file;
the calling thread is the only writer of the course gradebook and merges each finished unit into
it. A worker that fails costs only the unit it held: its notebooks become "could not grade" rows
and its gradebook is copied afresh. Used by ``inferlearn grade --jobs N`` (README "For instructors").
"""

from __future__ import annotations

import queue
import shutil
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from inferlearn.course.layout import Course
from inferlearn.course.scores import COULD_NOT_GRADE, NotebookScore


@dataclass(frozen=True)
class Unit:
    """One student's submission to one phase."""

    student: str
    phase: str
    names: tuple[str, ...]


def worker_db(course: Course, slot: int) -> Path:
    """The gradebook file of worker ``slot``."""
    return course.course_dir / "workers" / f"w{slot}.db"


def db_url(path: Path) -> str:
    """SQLAlchemy URL of a gradebook file."""
    return f"sqlite:///{path}"


def fresh_copy(course: Course, slot: int) -> Path:
    """Copy the course gradebook to worker ``slot`` (replacing what it had)."""
    path = worker_db(course, slot)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    shutil.copyfile(course.gradebook, path)
    return path


def copy_notebook_scores(source_nb, target_nb, gb) -> None:
    """Scores, comments and flags of one submitted notebook, from one gradebook to another."""
    target_nb.flagged = source_nb.flagged
    target_nb.late_submission_penalty = source_nb.late_submission_penalty
    names = (source_nb.name, source_nb.assignment.assignment.name, source_nb.student.id)
    for grade in source_nb.grades:
        target = gb.find_grade(grade.name, *names)
        target.auto_score, target.manual_score = grade.auto_score, grade.manual_score
        target.extra_credit, target.needs_manual_grade = grade.extra_credit, grade.needs_manual_grade
    for comment in source_nb.comments:
        target = gb.find_comment(comment.name, *names)
        target.auto_comment, target.manual_comment = comment.auto_comment, comment.manual_comment


def merge_submission(source: Path, target: Path, phase: str, student: str) -> bool:
    """Replace ``student``'s ``phase`` submission in ``target`` with the one in ``source``;
    False when ``source`` has none (nothing could be graded)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url(source)) as src, Gradebook(db_url(target)) as dst, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's remove_submission leaves stale relations
        try:
            sub = src.find_submission(phase, student)
        except MissingEntry:
            return False
        who = src.find_student(student)
        dst.update_or_create_student(student, first_name=who.first_name, last_name=who.last_name,
                                     email=who.email, lms_user_id=who.lms_user_id)
        try:
            dst.remove_submission(phase, student)
        except MissingEntry:
            pass
        dst.add_submission(phase, student, timestamp=sub.timestamp, extension=sub.extension)
        for notebook in sub.notebooks:
            copy_notebook_scores(notebook, dst.find_submission_notebook(notebook.name, phase, student), dst)
        dst.db.commit()
    return True


GradeUnit = Callable[[Unit, int, Path], list[NotebookScore]]


def crashed_rows(unit: Unit, error: BaseException) -> list[NotebookScore]:
    """Rows for the notebooks of a unit whose worker failed."""
    return [NotebookScore(unit.student, unit.phase, name, None, None, COULD_NOT_GRADE,
                          f"the grading worker failed: {type(error).__name__}: {error}"[:300])
            for name in unit.names]


class Workers:
    """A pool of ``jobs`` worker slots grading units; the caller's thread merges results."""

    def __init__(self, course: Course, jobs: int, grade_unit: GradeUnit) -> None:
        self.course, self.jobs, self.grade_unit = course, jobs, grade_unit
        self.slots: queue.Queue[int] = queue.Queue()
        self.lock = threading.Lock()  # the course gradebook: copied by workers, merged by the caller
        for slot in range(jobs):
            fresh_copy(course, slot)
            self.slots.put(slot)

    def _run(self, unit: Unit) -> tuple[list[NotebookScore], Path | None]:
        """Grade one unit in a free slot (the slot's gradebook renewed if the unit failed)."""
        slot = self.slots.get()
        try:
            path = worker_db(self.course, slot)
            return self.grade_unit(unit, slot, path), path
        except Exception as error:  # a worker crash costs only this unit
            with self.lock:
                fresh_copy(self.course, slot)
            return crashed_rows(unit, error), None
        finally:
            self.slots.put(slot)

    def run(self, units: list[Unit], on_done: Callable[[Unit, list[NotebookScore]], None]) -> None:
        """Grade every unit; merge each into the course gradebook as it finishes."""
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="grade") as pool:
            pending: dict[Future, Unit] = {pool.submit(self._run, unit): unit for unit in units}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    unit = pending.pop(future)
                    rows, path = future.result()
                    if path is not None:
                        with self.lock:
                            merge_submission(path, self.course.gradebook, unit.phase, unit.student)
                    on_done(unit, rows)
