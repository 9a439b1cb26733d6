"""``inferlearn grade --zip FILE``: take the zip an LMS exports and file it as submissions.

File names are read as nbgrader's ``zip_collect`` reads them, with its
``FileNameCollectorPlugin`` and a ``named_regexp`` that must give ``student_id`` and ``file_id``
(default: Blackboard's ``<assignment>_<student>_attempt_<timestamp>_<file>.ipynb``, nbgrader's own
example). The zip is read member by member, never extracted: names with folders are reduced to
their last part, only ``.ipynb`` files are taken, each is capped in size, and the latest attempt
of a student wins. Described in README "For instructors".
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from inferlearn.course.layout import Course

DEFAULT_REGEXP = r".*_(?P<student_id>\w+?)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>[\w\-]+)(\.ipynb)?$"
MAX_NOTEBOOK_MB = 20


@dataclass(frozen=True)
class Collected:
    """One notebook found in the zip."""

    student: str
    phase: str
    name: str
    timestamp: str
    member: str


def phase_of(course: Course, name: str, phase: str | None) -> str:
    """The phase a notebook belongs to: ``phase`` when given, else the one that has it."""
    if phase:
        return phase
    owners = [p for p in course.phases() if (course.root / p / name).is_file()]
    if len(owners) != 1:
        where = "no phase has" if not owners else f"several phases have ({', '.join(owners)})"
        raise ValueError(f"{where} a notebook named {name}; pass --phase to say which assignment the zip is for")
    return owners[0]


def collect_members(course: Course, archive: zipfile.ZipFile, regexp: str, phase: str | None) -> list[Collected]:
    """The notebooks of the zip whose names match, the latest attempt per student and file."""
    from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

    plugin = FileNameCollectorPlugin(named_regexp=regexp)
    latest: dict[tuple[str, str], Collected] = {}
    for info in archive.infolist():
        base = PurePosixPath(info.filename.replace("\\", "/")).name
        if info.is_dir() or base.startswith(".") or "__MACOSX" in info.filename:
            continue
        found = plugin.collect(base)
        if not found or not found.get("student_id") or not found.get("file_id"):
            continue
        if info.file_size > MAX_NOTEBOOK_MB * 1024 * 1024:
            raise ValueError(f"{info.filename} in the zip is {info.file_size / 1e6:.0f} MB; "
                             f"a notebook may have at most {MAX_NOTEBOOK_MB} MB")
        name = PurePosixPath(found["file_id"]).name
        name = name if name.endswith(".ipynb") else name + ".ipynb"
        item = Collected(found["student_id"], phase_of(course, name, phase), name,
                         found.get("timestamp") or "", info.filename)
        key = (item.student, item.name)
        if key not in latest or item.timestamp >= latest[key].timestamp:
            latest[key] = item
    return sorted(latest.values(), key=lambda c: (c.student, c.name))


def import_zip(course: Course, path: Path, regexp: str = DEFAULT_REGEXP, phase: str | None = None) -> list[str]:
    """File every notebook of an LMS zip under ``submitted/``; the students found, sorted."""
    if not path.is_file():
        raise FileNotFoundError(f"no zip file at {path}; pass the file your LMS exported")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path} is not a zip file ({error}); export the submissions as a zip") from error
    with archive:
        items = collect_members(course, archive, regexp, phase)
        if not items:
            raise ValueError(f"no file in {path} matches the naming {regexp!r}; pass --zip-regexp with "
                             "named groups student_id and file_id")
        for item in items:
            if not item.student.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"student id {item.student!r} in {item.member} is not a plain name")
            folder = course.submitted_dir / item.student / item.phase
            folder.mkdir(parents=True, exist_ok=True)
            (folder / item.name).write_bytes(archive.read(item.member))
    return sorted({item.student for item in items})
