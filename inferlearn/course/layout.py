"""Where the course lives: the repository root, its phase folders and its notebooks.

The repository is the nbgrader course root (see ``nbgrader_config.py``): each ``phase*/`` folder
holding notebooks is an assignment, ``notebooks/`` holds the ungraded notebooks, and everything
the tools write goes under ``build/``. Learners work in ``workspace/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import inferlearn
from inferlearn.config import settings

PHASE_GLOB = "phase*"
UNGRADED_DIR = "notebooks"
SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__", "build", "workspace", ".venv"}


@dataclass(frozen=True)
class Course:
    """Paths of one course root (the repository, or a private copy for checks and tests)."""

    root: Path

    @property
    def build(self) -> Path:
        """Everything generated: executed notebooks, reports, the nbgrader course."""
        return self.root / "build"

    @property
    def course_dir(self) -> Path:
        """nbgrader's release/submitted/autograded/feedback folders and the gradebook."""
        return self.build / "course"

    @property
    def release_dir(self) -> Path:
        """Student versions of the phase notebooks, one folder per phase."""
        return self.course_dir / "release"

    @property
    def submitted_dir(self) -> Path:
        """Submissions: ``submitted/<student>/<phase>/NN_slug.ipynb``."""
        return self.course_dir / "submitted"

    @property
    def autograded_dir(self) -> Path:
        """Executed, scored submissions."""
        return self.course_dir / "autograded"

    @property
    def feedback_dir(self) -> Path:
        """Feedback HTML for students."""
        return self.course_dir / "feedback"

    @property
    def gradebook(self) -> Path:
        """nbgrader's SQLite gradebook."""
        return self.course_dir / "gradebook.db"

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL of the gradebook."""
        return f"sqlite:///{self.gradebook}"

    @property
    def workspace(self) -> Path:
        """The learner's own copies of the notebooks."""
        return self.root / "workspace"

    def phases(self) -> list[str]:
        """Names of the phase folders that hold at least one notebook, sorted."""
        return sorted(
            p.name for p in self.root.glob(PHASE_GLOB) if p.is_dir() and any(p.glob("*.ipynb"))
        )

    def phase_notebooks(self, phase: str) -> list[Path]:
        """Source notebooks of one phase (flat: nbgrader ignores sub-folders)."""
        return sorted((self.root / phase).glob("*.ipynb"))

    def ungraded_notebooks(self) -> list[Path]:
        """The ungraded course notebooks in ``notebooks/``."""
        return sorted((self.root / UNGRADED_DIR).glob("*.ipynb"))

    def source_notebooks(self) -> list[Path]:
        """Every source notebook: ``notebooks/`` first, then each phase in order."""
        found = self.ungraded_notebooks()
        for phase in self.phases():
            found.extend(self.phase_notebooks(phase))
        return found

    def nested_phase_notebooks(self) -> list[Path]:
        """Notebooks in sub-folders of a phase: nbgrader silently skips them."""
        nested = []
        for phase in self.root.glob(PHASE_GLOB):
            for path in phase.rglob("*/*.ipynb"):
                if not SKIPPED_PARTS.intersection(path.relative_to(phase).parts):
                    nested.append(path)
        return sorted(nested)


def is_course_root(path: Path) -> bool:
    """True for a folder that holds ``nbgrader_config.py`` and ``pyproject.toml``."""
    return (path / "nbgrader_config.py").is_file() and (path / "pyproject.toml").is_file()


def find_root(start: Path | None = None) -> Path:
    """The course root: ``INFERLEARN_COURSE_ROOT``, else the current folder or a parent of it
    that holds the course, else the checkout this package is installed from."""
    chosen = settings().course_root
    if chosen:
        return chosen.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_course_root(folder):
            return folder
    package_checkout = Path(inferlearn.__file__).resolve().parent.parent
    if is_course_root(package_checkout):
        return package_checkout
    raise FileNotFoundError(
        f"no inferlearn course found in {here} or its parents (looked for nbgrader_config.py "
        "beside pyproject.toml); run this from the course checkout or pass --root"
    )


def course_at(root: str | Path | None = None) -> Course:
    """A :class:`Course` for ``root``, or for the course found by :func:`find_root`.
    Introduced in ``notebooks/00_start_here``."""
    return Course(Path(root).resolve() if root else find_root())
