"""``inferlearn workspace``: the learner's own copies of the notebooks, never overwritten.

``workspace/<phase>/`` gets the student release of each phase and ``workspace/notebooks/`` the
ungraded notebooks. A file the learner has is never touched. When the course ships a newer
version of a notebook, it is written beside the learner's as ``NN_slug.updated.ipynb`` and the
command says so. ``workspace/.inferlearn/manifest.json`` remembers which course version each
file was copied from, so "newer" means "changed since your copy", not "differs from your work".
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from inferlearn.course.layout import UNGRADED_DIR, Course
from inferlearn.course.release import release_course

MANIFEST = Path(".inferlearn") / "manifest.json"
UPDATED_SUFFIX = ".updated.ipynb"


@dataclass
class WorkspaceChange:
    """What happened to one workspace file."""

    path: Path
    action: str  # "copied", "updated beside:<file name>", "unchanged", "kept"


def content_hash(path: Path) -> str:
    """A hash of a notebook's cells (type and source), so re-generated copies compare equal."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # not a readable notebook: compare its bytes
        return hashlib.sha256(path.read_bytes()).hexdigest()
    text = json.dumps([[c.cell_type, c.source] for c in nb.cells])
    return hashlib.sha256(text.encode()).hexdigest()


def load_manifest(workspace: Path) -> dict[str, str]:
    """``{relative path: hash of the course version it was copied from}``."""
    path = workspace / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def save_manifest(workspace: Path, manifest: dict[str, str]) -> None:
    """Write the manifest (a hidden folder, so JupyterLab does not show it)."""
    path = workspace / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True))


def updated_path(target: Path, known: tuple[str | None, ...] = ()) -> Path:
    """``NN_slug.ipynb`` -> ``NN_slug.updated.ipynb``; if the learner edited that one too,
    the first free ``NN_slug.updated-2.ipynb``, ``-3`` ..."""
    beside = target.with_name(target.stem + UPDATED_SUFFIX)
    number = 1
    while beside.exists() and content_hash(beside) not in known:
        number += 1
        beside = target.with_name(f"{target.stem}.updated-{number}.ipynb")
    return beside


def place(source: Path, target: Path, manifest: dict[str, str], key: str) -> str:
    """Copy one course notebook into the workspace without ever overwriting the learner's."""
    new = content_hash(source)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        manifest[key] = new
        return "copied"
    old = manifest.get(key)
    if old is None:  # the learner's file predates the manifest: take it as based on this version
        manifest[key] = new
        return "kept"
    if old == new:
        return "unchanged"
    beside = updated_path(target, known=(old, new))
    shutil.copyfile(source, beside)
    manifest[key] = new
    return f"updated beside:{beside.name}"


def course_sources(course: Course) -> list[tuple[Path, Path]]:
    """``(course file, workspace file)`` pairs: each phase's release and the ungraded notebooks."""
    pairs = []
    for nb in course.ungraded_notebooks():
        pairs.append((nb, course.workspace / UNGRADED_DIR / nb.name))
    for phase in course.phases():
        for nb in sorted((course.release_dir / phase).glob("*.ipynb")):
            pairs.append((nb, course.workspace / phase / nb.name))
    return pairs


def build_workspace(course: Course, log=print) -> list[WorkspaceChange]:
    """Bring ``workspace/`` up to date with the course, keeping every learner's file as it is."""
    release_course(course, only_stale=True, log=log)
    manifest = load_manifest(course.workspace)
    changes = []
    for source, target in course_sources(course):
        key = str(target.relative_to(course.workspace))
        action = place(source, target, manifest, key)
        changes.append(WorkspaceChange(target, action))
        if action.startswith("updated beside:"):
            log(f"{key}: the course has a newer version; it is in {action.split(':', 1)[1]} "
                "beside your copy (yours is untouched)")
    save_manifest(course.workspace, manifest)
    copied = sum(1 for c in changes if c.action == "copied")
    log(f"workspace {course.workspace}: {copied} notebook(s) copied, "
        f"{len(changes) - copied} already there and left as they are")
    return changes
