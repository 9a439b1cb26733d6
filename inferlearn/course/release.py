"""``inferlearn release``: the student version of every phase, built by nbgrader.

``nbgrader generate_assignment`` per phase folder that holds notebooks: solutions are replaced by
``# YOUR CODE HERE``, hidden tests removed, test cells locked, and the gradebook learns each
notebook's tests and points. Output: ``build/course/release/<phase>/``.
"""

from __future__ import annotations

from pathlib import Path

from inferlearn.course import nbg
from inferlearn.course.layout import Course


def check_phases(course: Course, phases: list[str] | None) -> list[str]:
    """The phases to work on: all of them, or the named ones after checking they exist."""
    known = course.phases()
    if not phases:
        return known
    unknown = [p for p in phases if p not in known]
    if unknown:
        raise ValueError(
            f"no phase folder with notebooks named {', '.join(unknown)} in {course.root}; "
            f"the phases are: {', '.join(known) or 'none yet'}"
        )
    return list(phases)


def warn_nested(course: Course, log=print) -> None:
    """Say so when notebooks sit in sub-folders of a phase: nbgrader would skip them."""
    for path in course.nested_phase_notebooks():
        log(f"warning: {path.relative_to(course.root)} is in a sub-folder; nbgrader skips it. "
            "Move it up into the phase folder.")


def is_stale(course: Course, phase: str) -> bool:
    """True when a phase's release is missing or older than one of its source notebooks."""
    released = {p.name: p for p in (course.release_dir / phase).glob("*.ipynb")}
    for source in course.phase_notebooks(phase):
        copy = released.get(source.name)
        if copy is None or copy.stat().st_mtime < source.stat().st_mtime:
            return True
    return False


def release_course(
    course: Course, phases: list[str] | None = None, only_stale: bool = False, log=print
) -> list[Path]:
    """Build the release of each phase (or only of stale ones); return the release folders."""
    warn_nested(course, log)
    built = []
    for phase in check_phases(course, phases):
        if only_stale and not is_stale(course, phase):
            continue
        result = nbg.generate_assignment(course, phase)
        count = len(list((course.release_dir / phase).glob("*.ipynb")))
        log(f"released {phase}: {count} notebook(s) in {result.seconds:.1f} s")
        built.append(course.release_dir / phase)
    if not course.phases():
        log(f"no phase folder in {course.root} holds notebooks yet; nothing to release")
    return built
