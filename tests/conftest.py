"""Shared test fixtures. Area-specific ones live in each area's own conftest (tests/llm/...)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout under test (the real course root)."""
    return REPO


@pytest.fixture(scope="session")
def make_course(tmp_path_factory):
    """Factory: a private nbgrader course in a fresh temp folder with copies of the given phase
    folders and the real ``nbgrader_config.py`` settings (default: the fixture phase);
    ``release=True`` also releases those phases (``build/course/release/``)."""
    from fixtures.course.submissions import FIXTURE_PHASE

    from inferlearn.course.nbg import make_private_course
    from inferlearn.course.release import release_course

    def make(*phase_dirs: Path, name: str = "course", release: bool = False):
        dirs = list(phase_dirs) or [FIXTURE_PHASE]
        course = make_private_course(tmp_path_factory.mktemp(name), dirs, REPO / "nbgrader_config.py")
        if release:
            release_course(course, [d.name for d in dirs], log=lambda *_: None)
        return course

    return make
